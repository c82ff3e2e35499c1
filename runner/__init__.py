"""gitflows runner: parse, lint, plan and run Kestra-style flows.

Public API: `load_flow`, `parse_flow`, `validate_paths`, `Engine`, `Execution`, `State`.
Imported on first use, so `import runner.<module>` does not load the engine.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runner.engine.engine import Engine
    from runner.engine.execution import Execution
    from runner.events import State
    from runner.language.parse import load_flow, parse_flow
    from runner.language.validate import validate_paths

__all__ = ["Engine", "Execution", "State", "load_flow", "parse_flow", "validate_paths"]
__version__ = "0.1.0"

_HOMES = {"Engine": "runner.engine.engine", "Execution": "runner.engine.execution",
          "State": "runner.events", "load_flow": "runner.language.parse",
          "parse_flow": "runner.language.parse", "validate_paths": "runner.language.validate"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
