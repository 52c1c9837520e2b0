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

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "ClusterError",
    "cluster_threads",
    "open_client",
    "parse_scheduler_address",
]

log = logging.getLogger(__name__)

# How long to wait for a scheduler before giving up with a clear error.
CONNECT_TIMEOUT_SECONDS = 10.0
_TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


class ClusterError(SettingError, ConnectionError):
    """The scheduler cannot be reached, or a local cluster cannot be started."""


# Schemes of dask comms that address a scheduler as HOST:PORT (not "inproc", which only
# reaches a scheduler inside this very process).
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def parse_scheduler_address(address: object) -> str:
    """Check a scheduler address: ``[SCHEME://]HOST:PORT``; return it unchanged.

    Raises
    ------
    SettingError
        For anything else, before any connection is tried.
    """
    from distributed.comm import parse_address, parse_host_port

    expected = (f"Expected a scheduler address like 'tcp://HOST:8786' (scheme one of "
                f"{', '.join(_SCHEMES)}; 'tcp://' may be left out).")
    if not isinstance(address, str) or not address.strip():
        raise SettingError(f"{expected} Got {address!r} instead.")
    try:
        scheme, location = parse_address(address)
        _host, port = parse_host_port(location)
    except ValueError as exc:
        raise SettingError(f"{expected} Got {address!r} instead ({exc}).") from None
    if scheme not in _SCHEMES:
        raise SettingError(f"{expected} Got {address!r} instead (scheme {scheme!r}).")
    if not 0 < port < 65536:
        raise SettingError(f"{expected} Got {address!r} instead (port {port} is out of "
                           "range 1-65535).")
    return address


@contextlib.contextmanager
def open_client(
    *,
    scheduler_address: str | None = None,
    local_workers: int | None = None,
    timeout: float | None = None,
) -> Iterator[Any]:
    """Connect to ``scheduler_address``, or start a LocalCluster of ``local_workers``.

    The local cluster runs one single-threaded worker process per item slot, and binds
    its scheduler and dashboard to 127.0.0.1. The client (and any cluster started here)
    is closed on exit. ``timeout`` defaults to :data:`CONNECT_TIMEOUT_SECONDS`.

    Raises
    ------
    SettingError
        For a malformed ``scheduler_address`` (see :func:`parse_scheduler_address`), or
        not exactly one of ``scheduler_address`` and ``local_workers``.
    ClusterError
        When the scheduler does not answer within ``timeout`` seconds, or the local
        cluster cannot be started.
    """
    import dask
    from distributed import Client, LocalCluster

    if (scheduler_address is None) == (local_workers is None):
        raise SettingError(
            "Expected exactly one of scheduler_address (e.g. 'tcp://HOST:8786') or "
            f"local_workers. Got scheduler_address={scheduler_address!r}, "
            f"local_workers={local_workers!r}."
        )
    cluster = None
    if scheduler_address is not None:
        # Checked first: a Client made for a malformed address fails with a bare
        # ValueError and can leave the next Client of this process waiting.
        parse_scheduler_address(scheduler_address)
        wait = CONNECT_TIMEOUT_SECONDS if timeout is None else timeout
        try:
            client = Client(scheduler_address, timeout=wait, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            reason = str(exc)
            detail = "" if not reason or reason.startswith("Timed out") else f" ({reason})"
            raise ClusterError(
                f"Cannot reach the dask scheduler at {scheduler_address}: no answer within "
                f"{wait:g} s{detail}. Check that `dask scheduler` is running there, that "
                "the host and port are right, and that this machine can connect to it."
            ) from None
    else:
        assert local_workers is not None
        if local_workers < 1:
            raise SettingError(f"Expected at least 1 local worker. Got {local_workers}.")
        try:
            # dask starts its worker processes with MALLOC_TRIM_THRESHOLD_ set, which
            # turns off glibc's adaptive mmap threshold: every large figure buffer is then
            # mapped afresh, making each figure about a quarter slower than in a local
            # worker process. A value set in this process's environment still wins.
            with dask.config.set({_TRIM_SETTING: None}):
                cluster = LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                )
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"Cannot start a local dask cluster of {local_workers} worker(s) on "
                f"127.0.0.1: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            client = Client(cluster, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
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
    # Client.nthreads() counts every worker; scheduler_info() lists only the first five
    # in some versions of distributed.
    return max(1, sum(int(n) for n in client.nthreads().values()))
