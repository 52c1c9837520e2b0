"""Items run one after another in the calling thread, for debugging."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from ._contract import BatchExecutor

__all__ = ["SerialExecutor"]


class SerialExecutor(BatchExecutor):
    """Run each submitted call at once, in the calling thread.

    Exceptions become the future's exception; ``KeyboardInterrupt`` and other
    ``BaseException`` s that are not ``Exception`` s propagate from :meth:`submit`.
    """

    runs_in_caller = True

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            result = fn(*args)
        except Exception as exc:
            future.set_exception(exc)
        else:
            future.set_result(result)
        return future

    def in_flight(self) -> int:
        return 1

    def describe(self) -> str:
        return "this process (serial)"
