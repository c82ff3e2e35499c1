"""gitflows runner: parse, lint, plan and run Kestra-style flows.

Public API: `load_flow`, `validate_paths`, `Engine`, `State`.
"""

from runner.engine.engine import Engine
from runner.engine.execution import Execution
from runner.events import State
from runner.language.parse import load_flow, parse_flow
from runner.language.validate import validate_paths

__all__ = ["Engine", "Execution", "State", "load_flow", "parse_flow", "validate_paths"]
__version__ = "0.1.0"
