"""Executors of the batch core, behind one small contract (:class:`BatchExecutor`).

- :class:`SerialExecutor`: in the calling thread, for debugging;
- :class:`LocalProcessExecutor`: the default, crash-tolerant local worker processes;
- :class:`FuturesExecutor`: any :class:`concurrent.futures.Executor` of the caller's;
- :class:`~._dask.DaskExecutor`: a dask.distributed cluster (imported only when used).

:func:`make_executor` turns the executor arguments of the API into one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Literal

from ...errors import SettingError
from ._contract import BatchExecutor, FuturesExecutor
from ._local import LocalProcessExecutor, LocalProcessPool, usable_cores
from ._serial import SerialExecutor

__all__ = [
    "BatchExecutor",
    "ExecutorSpec",
    "FuturesExecutor",
    "LocalProcessExecutor",
    "LocalProcessPool",
    "SerialExecutor",
    "make_executor",
    "usable_cores",
]

ExecutorSpec = Literal["processes", "serial"] | Executor | BatchExecutor


def make_executor(
    executor: object,
    *,
    max_workers: int | None,
    item_timeout: float | None,
    max_in_flight: int | None,
    client: Any = None,
    scheduler_address: str | None = None,
    initializer: Callable[..., Any] | None = None,
    initargs: Sequence[Any] = (),
    preload: Sequence[str] = (),
) -> BatchExecutor:
    """Turn the executor arguments of the API into a :class:`BatchExecutor`.

    Every check comes first. A cluster is connected to now (so that an unreachable
    scheduler is reported before anything is written); local worker processes start at
    :meth:`BatchExecutor.start`, a forkserver importing ``preload`` for them first (see
    :class:`LocalProcessPool`).

    Raises
    ------
    SettingError
        For an unknown executor, an ``item_timeout`` with ``"serial"`` (an item in the
        caller's own thread cannot be stopped), or a cluster with another executor.
    """
    if client is not None or scheduler_address is not None:
        if client is not None and scheduler_address is not None:
            raise SettingError("Pass either client or scheduler_address, not both.")
        if not (isinstance(executor, str) and executor == "processes"):
            raise SettingError(
                f"executor={executor!r} cannot be combined with a dask client or "
                "scheduler_address: the cluster is the executor."
            )
        from ._dask import dask_executor

        return dask_executor(
            client=client, scheduler_address=scheduler_address, max_in_flight=max_in_flight
        )
    if isinstance(executor, BatchExecutor):
        return executor
    workers = max_workers or usable_cores()
    if isinstance(executor, LocalProcessPool):
        return LocalProcessExecutor(executor, max_in_flight=max_in_flight)
    if isinstance(executor, Executor):
        return FuturesExecutor(executor, max_in_flight=max_in_flight or 2 * workers)
    if executor == "serial":
        if item_timeout is not None:
            raise SettingError(
                f"item_timeout={item_timeout!r} cannot be enforced with executor='serial': "
                "items run in this thread and cannot be stopped. Use executor='processes' "
                "or leave item_timeout=None."
            )
        return SerialExecutor()
    if executor == "processes":
        return LocalProcessExecutor(
            max_workers=workers,
            item_timeout=item_timeout,
            initializer=initializer,
            initargs=initargs,
            max_in_flight=max_in_flight,
            preload=preload,
        )
    raise SettingError(
        "Expected executor to be 'processes', 'serial', a concurrent.futures.Executor "
        f"(e.g. a dask Client's get_executor()) or a BatchExecutor. Got {executor!r} instead."
    )
