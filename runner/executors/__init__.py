"""Executors run one process for a step; docker is imported only when used."""

from runner.executors.local import LocalExecutor
from runner.ports.executor import Executor, ExecutorError, Executors, LineHandler, ProcessResult, ProcessSpec

__all__ = ["Executor", "ExecutorError", "Executors", "LineHandler", "LocalExecutor",
           "ProcessResult", "ProcessSpec"]
