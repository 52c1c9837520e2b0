"""The batch core: many items through one executor, resumably, crash-safely.

- ``_core``: :func:`generic_batch_plot` and :func:`run_batch`, the driver's loop;
- ``_planning``: what to do with each item (render, skip, fail);
- ``_shipping``: the caller's functions sent once to the workers;
- ``_tasks``: the work of one item, as a worker runs it;
- ``_recording``: ledgers (progress file, lock, log) and when they are saved;
- ``_keys``: item keys and output file names;
- ``_progress``, ``_logs``, ``_signals``: the progress file, the logs, SIGINT/SIGTERM;
- ``executors``: the executor contract and its implementations.

Imports no store library and no dask (the dask executor is loaded only when used).
"""

from __future__ import annotations

from ._core import (
    RunReport,
    generic_batch_plot,
    local_process_pool,
    run_batch,
    settings_of,
)
from ._keys import item_key, safe_file_stem
from ._recording import LedgerSpec
from ._tasks import ItemResult, ItemTask, run_item

__all__ = [
    "ItemResult",
    "ItemTask",
    "LedgerSpec",
    "RunReport",
    "generic_batch_plot",
    "item_key",
    "local_process_pool",
    "run_batch",
    "run_item",
    "safe_file_stem",
    "settings_of",
]
