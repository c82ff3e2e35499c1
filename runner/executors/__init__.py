"""Executors run one process for a step; docker is imported only when used."""

from runner.executors.base import (
    Executor,
    ExecutorError,
    Executors,
    LineHandler,
    ProcessResult,
    ProcessSpec,
)
from runner.executors.local import LocalExecutor

__all__ = ["Executor", "ExecutorError", "Executors", "LineHandler", "LocalExecutor",
           "ProcessResult", "ProcessSpec"]
