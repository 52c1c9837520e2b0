"""The batch on a dask.distributed cluster: the only module that imports dask's own.

A cluster is just another executor for the batch core (``Client.get_executor()``), offered
by :class:`DaskExecutor`, which keeps twice the cluster's worker threads in flight and
follows a cluster that grows or shrinks. :func:`open_client` connects to a scheduler or
starts a local cluster; anything it starts listens on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from ...errors import ClusterError, SettingError
from ._contract import BatchExecutor

__all__ = [
    "CONNECT_TIMEOUT_SECONDS",
    "DaskExecutor",
    "cluster_threads",
    "dask_executor",
    "open_client",
    "parse_scheduler_address",
]

log = logging.getLogger(__name__)

# How long to wait for a scheduler before giving up with a clear error.
CONNECT_TIMEOUT_SECONDS = 10.0
_TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"


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

    expected = (
        f"Expected a scheduler address like 'tcp://HOST:8786' (scheme one of "
        f"{', '.join(_SCHEMES)}; 'tcp://' may be left out)."
    )
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
        raise SettingError(
            f"{expected} Got {address!r} instead (port {port} is out of range 1-65535)."
        )
    return address


@contextlib.contextmanager
def open_client(
    *,
    scheduler_address: str | None = None,
    local_workers: int | None = None,
    timeout: float | None = None,
) -> Iterator[Any]:
    """Connect to ``scheduler_address``, or start a LocalCluster of ``local_workers``.

    The local cluster runs one single-threaded worker process per item slot, binds its
    scheduler and dashboard to 127.0.0.1, and speaks TLS with a temporary certificate that
    only this process holds, so that no other user of the machine can submit work to it.
    The client (and any cluster started here) is closed on exit. ``timeout`` defaults to
    :data:`CONNECT_TIMEOUT_SECONDS`.

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
    from distributed.security import Security

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
            # TLS with a certificate made for this cluster alone: other users of this
            # machine can reach 127.0.0.1 too, and a scheduler runs whatever code it is
            # sent. Only this process holds the key, so only it can submit.
            security = Security.temporary()
            with dask.config.set({_TRIM_SETTING: None}):
                cluster = LocalCluster(
                    n_workers=local_workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",
                    security=security,
                )
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"Cannot start a local dask cluster of {local_workers} worker(s) on "
                f"127.0.0.1: {type(exc).__name__}: {exc}"
            ) from exc
        try:
            client = Client(cluster, security=security, set_as_default=False)
        except BaseException:
            cluster.close()
            raise
        log.info(
            "local dask cluster with %d workers; dashboard at %s",
            local_workers,
            client.dashboard_link,
        )
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


# How often the in-flight bound follows a cluster that grows or shrinks.
_RESIZE_SECONDS = 5.0


class DaskExecutor(BatchExecutor):
    """A dask.distributed cluster offered to the batch core.

    Parameters
    ----------
    client
        A connected ``distributed.Client``.
    max_in_flight
        Items to keep submitted; default twice the cluster's worker threads, re-read every
        few seconds (adaptive clusters and queued HPC jobs change size).
    on_close
        Called once at the end of the run (closes a client this run opened).
    """

    def __init__(
        self,
        client: Any,
        *,
        max_in_flight: int | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self._executor = client.get_executor()
        self._fixed = max_in_flight
        self._bound = max_in_flight or 2 * cluster_threads(client)
        self._checked = time.monotonic()
        self._on_close = on_close

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self._executor.submit(fn, *args)

    def in_flight(self) -> int:
        if self._fixed is None and time.monotonic() - self._checked >= _RESIZE_SECONDS:
            self._checked = time.monotonic()
            with contextlib.suppress(Exception):  # a busy scheduler: keep the old bound
                self._bound = 2 * cluster_threads(self.client)
        return self._bound

    def close(self, *, stopping: bool) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            on_close()

    def describe(self) -> str:
        address = getattr(getattr(self.client, "scheduler", None), "address", None)
        return f"the dask cluster at {address}" if address else "a dask cluster"


def dask_executor(
    *,
    client: Any = None,
    scheduler_address: str | None = None,
    max_in_flight: int | None = None,
) -> DaskExecutor:
    """The executor for a connected ``client``, or for a client connected to
    ``scheduler_address`` now (and closed at the end of the run)."""
    if client is not None:
        return DaskExecutor(client, max_in_flight=max_in_flight)
    stack = contextlib.ExitStack()
    connected = stack.enter_context(open_client(scheduler_address=scheduler_address))
    try:
        return DaskExecutor(connected, max_in_flight=max_in_flight, on_close=stack.close)
    except BaseException:
        stack.close()
        raise
