"""What the batch core needs of an executor, asked rather than tested by type.

The core submits :func:`~.._tasks.run_item` calls and waits on their futures; everything
else it needs to know goes through the questions of :class:`BatchExecutor`: can a payload
go once to each worker, does the executor stop an item that overruns the timeout, how
many items to keep in flight now, how to stop items, what to release at the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection
from concurrent.futures import Executor, Future
from typing import Any

__all__ = ["BatchExecutor", "FuturesExecutor"]


class BatchExecutor(ABC):
    """An executor as the batch core sees it.

    Attributes
    ----------
    runs_in_caller
        Items run in the calling thread, at submission: the caller's own objects run
        (nothing is pickled) and a signal may interrupt a running item.
    enforces_timeout
        The executor itself stops an item that runs past the item timeout; otherwise the
        core stops waiting for it and ignores a late result.
    """

    runs_in_caller: bool = False
    enforces_timeout: bool = False

    def start(self) -> None:  # noqa: B027 - optional: nothing to start
        """Start workers, if the executor makes its own; called once the run is cleared
        to go (its progress files locked and read), so a refused run starts nothing."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        """Start ``fn(*args)``; its future holds the result or the exception."""

    def share(self, key: str, payload: bytes) -> bool:
        """Send ``payload`` once to each worker, for tasks to find under ``key``.

        Returns False when the executor cannot: the payload then travels with each task.
        """
        return False

    def unshare(self, key: str) -> None:  # noqa: B027 - optional: nothing to forget
        """Forget a payload given to :meth:`share`."""

    @abstractmethod
    def in_flight(self) -> int:
        """How many items to keep submitted but unfinished now (may change over a run)."""

    def stop(self, futures: Collection[Future[Any]]) -> None:
        """Stop these items now (the run is being interrupted)."""
        for future in futures:
            future.cancel()

    def close(self, *, stopping: bool) -> None:  # noqa: B027 - optional: nothing made
        """Release what the batch made for this executor (after :meth:`stop` when
        ``stopping``); an executor of the caller's is left running."""

    @abstractmethod
    def describe(self) -> str:
        """Where items run, for the log (``"2 local worker process(es)"``)."""


class FuturesExecutor(BatchExecutor):
    """Any :class:`concurrent.futures.Executor` of the caller's (never shut down here).

    Parameters
    ----------
    executor
        The executor.
    max_in_flight
        Items to keep submitted.
    """

    def __init__(self, executor: Executor, *, max_in_flight: int) -> None:
        self.executor = executor
        self._in_flight = max_in_flight

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self.executor.submit(fn, *args)

    def in_flight(self) -> int:
        return self._in_flight

    def describe(self) -> str:
        return f"{type(self.executor).__module__}.{type(self.executor).__name__}"
