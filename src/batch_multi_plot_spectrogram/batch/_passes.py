"""A pass over many tasks on an executor, for the work beside the batch core (ingesting
files, summarising items for shared colour limits): tasks kept in flight as the
executor asks, each result handed over as it finishes, and a clean stop on a signal."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

from ._signals import SignalGuard
from .executors import BatchExecutor

__all__ = ["run_pass"]

T = TypeVar("T")

#: Seconds between looks at the futures (and at the signal guard).
POLL_SECONDS = 0.2


def run_pass(
    executor: BatchExecutor,
    fn: Callable[[T], Any],
    tasks: Iterable[T],
    finished: Callable[[T, Future[Any]], None],
    guard: SignalGuard,
    *,
    item_timeout: float | None = None,
    timed_out: Callable[[T], None] | None = None,
    between: Callable[[], None] | None = None,
) -> BaseException | None:
    """Run ``fn(task)`` for every task, as many at once as ``executor.in_flight()``.

    ``finished(task, future)`` is called in this thread as each finishes (its future
    holds the result or the exception), ``between()`` after each look at the futures.
    A task running longer than ``item_timeout`` on an executor that does not stop it is
    stopped and given to ``timed_out``. Submitting stops at the first signal ``guard``
    receives (the caller installs it). The executor is started here and closed at the
    end; when stopping, the tasks still running are stopped, and those that finished
    meanwhile are handed to ``finished`` all the same.

    Returns
    -------
    BaseException or None
        What stopped the pass early (an exception of the caller's functions, or
        :class:`~._signals.Interrupted`), if anything; the caller decides what to raise.
    """
    pending: dict[Future[Any], tuple[T, float]] = {}
    outcome: BaseException | None = None
    try:
        executor.start()
        queue = iter(tasks)
        exhausted = False
        while guard.received is None:
            while not exhausted and len(pending) < executor.in_flight():
                # A signal may cut short the caller's iterator, or a task run at
                # submission (an executor that runs tasks in this thread).
                with guard.interruptible():
                    try:
                        task = next(queue)
                    except StopIteration:
                        exhausted = True
                        break
                    pending[executor.submit(fn, task)] = (task, time.monotonic())
            if exhausted and not pending:
                break
            done, _ = concurrent.futures.wait(
                list(pending), timeout=POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in done:
                finished(pending.pop(future)[0], future)
            if item_timeout is not None and not executor.enforces_timeout:
                now = time.monotonic()
                late = [f for f, (_, started) in pending.items() if now - started > item_timeout]
                if late:
                    executor.stop(late)
                    for future in late:
                        task = pending.pop(future)[0]
                        if timed_out is not None:
                            timed_out(task)
            if between is not None:
                between()
    except BaseException as exc:
        outcome = exc
    stopping = outcome is not None or guard.received is not None
    if stopping:
        executor.stop(list(pending))
    executor.close(stopping=stopping)
    for future, (task, _) in list(pending.items()):
        if future.done() and not future.cancelled():
            finished(task, future)
    return outcome
