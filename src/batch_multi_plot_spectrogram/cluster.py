"""Connecting the batch to a dask.distributed cluster.

A cluster is just another ``concurrent.futures.Executor`` for the batch core
(``Client.get_executor()``); this module only opens and closes the connection. Anything
it starts listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from .errors import SettingError

__all__ = ["CONNECT_TIMEOUT_SECONDS", "ClusterError", "cluster_threads", "open_client"]

log = logging.getLogger(__name__)

# How long to wait for a scheduler before giving up with a clear error.
CONNECT_TIMEOUT_SECONDS = 10.0


class ClusterError(SettingError, ConnectionError):
    """The scheduler cannot be reached, or a local cluster cannot be started."""


@contextlib.contextmanager
def open_client(
    *,
    scheduler_address: str | None = None,
    local_workers: int | None = None,
    timeout: float = CONNECT_TIMEOUT_SECONDS,
) -> Iterator[Any]:
    """Connect to ``scheduler_address``, or start a LocalCluster of ``local_workers``.

    The local cluster runs one single-threaded worker process per item slot, and binds
    its scheduler and dashboard to 127.0.0.1. The client (and any cluster started here)
    is closed on exit.

    Raises
    ------
    ClusterError
        When the scheduler does not answer within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if (scheduler_address is None) == (local_workers is None):
        raise SettingError(
            "Expected exactly one of scheduler_address (e.g. 'tcp://HOST:8786') or "
            f"local_workers. Got scheduler_address={scheduler_address!r}, "
            f"local_workers={local_workers!r}."
        )
    cluster = None
    if scheduler_address is not None:
        if "://" not in scheduler_address and ":" not in scheduler_address:
            raise SettingError(
                f"Expected a scheduler address like 'tcp://HOST:8786'. "
                f"Got {scheduler_address!r} instead."
            )
        try:
            client = Client(scheduler_address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"Cannot reach the dask scheduler at {scheduler_address} within "
                f"{timeout:g} s ({exc}). Check that `dask scheduler` is running there and "
                "that this machine can connect to it."
            ) from None
    else:
        assert local_workers is not None
        if local_workers < 1:
            raise SettingError(f"Expected at least 1 local worker. Got {local_workers}.")
        cluster = LocalCluster(
            n_workers=local_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        )
        client = Client(cluster, set_as_default=False)
        log.info("local dask cluster with %d workers; dashboard at %s",
                 local_workers, client.dashboard_link)
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def cluster_threads(client: Any) -> int:
    """Worker threads of the cluster behind ``client`` (at least 1)."""
    workers = client.scheduler_info().get("workers", {})
    return max(1, sum(int(w.get("nthreads", 1)) for w in workers.values()))
