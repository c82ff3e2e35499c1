"""Group commit: writes that queue up behind a writer land together, in one transaction.

A durable write costs one fsync (or one ref update) whatever it carries, so threads that
would each wait for their own share one: the first caller lands its item and leaves;
those that queued meanwhile are landed, all at once, by the next of them. Each caller
returns once its own item is written, with its own result, or raises what the batch
raised (as `failed` maps it: every caller gets its own exception object).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(eq=False)
class _Waiting(Generic[Item, Result]):
    item: Item
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None


class GroupCommit(Generic[Item, Result]):
    def __init__(self, land: Callable[[list[Item]], Sequence[Result]],
                 failed: Callable[[BaseException], BaseException]) -> None:
        """land(items) writes every item in one go and returns their results, in order;
        failed(error) is the exception a caller raises when its batch failed."""
        self._land = land
        self._failed = failed
        self._queue: list[_Waiting[Item, Result]] = []
        self._changed = threading.Condition()
        self._landing = False  # a thread is landing a batch

    def submit(self, item: Item) -> Result:
        """Write item, together with whatever else queued up meanwhile; its result."""
        mine: _Waiting[Item, Result] = _Waiting(item)
        batch: list[_Waiting[Item, Result]] = []
        with self._changed:
            self._queue.append(mine)
            while self._landing and not mine.done:
                self._changed.wait()
            if not mine.done:  # nobody is landing: take every queued item, ours too
                self._landing = True
                batch, self._queue = self._queue, []
        if batch:
            self._land_batch(batch)
        if mine.error is not None:
            if not isinstance(mine.error, Exception):
                raise mine.error  # KeyboardInterrupt and the like stay what they are
            raise self._failed(mine.error) from mine.error
        return mine.result  # type: ignore[return-value]  # set with done, error None

    def _land_batch(self, batch: list[_Waiting[Item, Result]]) -> None:
        results: Sequence[Result | None] = [None] * len(batch)
        error: BaseException | None = None
        try:
            results = self._land([waiting.item for waiting in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"group commit landed {len(results)} of {len(batch)} items")
        except BaseException as err:  # every caller of the batch sees it
            error = err
        with self._changed:
            for index, waiting in enumerate(batch):
                waiting.done, waiting.error = True, error
                if error is None:
                    waiting.result = results[index]
            self._landing = False
            self._changed.notify_all()
