"""The default executor: local worker processes that survive the death of any of them.

:class:`LocalProcessPool` runs items in local worker processes. Each of its N slots is
one process fed one item at a time through its own pipe, so a process that dies
(SIGKILL, segfault, out of memory) or overruns the item timeout is attributable to
exactly one item: that item fails, the process is replaced, and the other items go on. (A
:class:`~concurrent.futures.ProcessPoolExecutor` breaks as a whole when one of its
processes dies, and cannot stop a single hung task.) :class:`LocalProcessExecutor`
offers it to the batch core.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ...errors import (
    CallStoppedError,
    ItemTimeoutError,
    PoolBrokenError,
    SettingError,
    WorkerDiedError,
)
from ._contract import BatchExecutor

__all__ = [
    "LocalProcessExecutor",
    "LocalProcessPool",
    "default_mp_context",
    "shared_payload",
    "usable_cores",
]

_MAX_FAILED_STARTS = 3


def usable_cores() -> int:
    """The number of CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_mp_context() -> multiprocessing.context.BaseContext:
    """A ``forkserver`` context where available, else ``spawn``; never ``fork``.

    Forking a process that runs threads (a progress bar, a dask client, the pool's own
    manager thread) can copy a lock in a held state into the child and hang it.
    """
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _preload(context: multiprocessing.context.BaseContext, modules: Sequence[str]) -> None:
    """Have a forkserver context import ``modules`` (and, as by default, the main
    module) before it forks its first worker."""
    if modules and context.get_start_method() == "forkserver":
        preload = ["__main__", *(m for m in modules if m != "__main__")]
        context.set_forkserver_preload(preload)


# ---------------------------------------------------------------------------------------
# The crash-tolerant local pool
# ---------------------------------------------------------------------------------------


def _describe_exit(exitcode: int | None, pid: int | None) -> str:
    if exitcode is None:
        return f"worker process (pid {pid}) stopped answering"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = {
            "SIGKILL": " (killed, e.g. by the out-of-memory killer or a user)",
            "SIGSEGV": " (a crash in compiled code)",
            "SIGBUS": " (a crash in compiled code)",
            "SIGABRT": " (aborted)",
        }.get(name, "")
        return f"worker process (pid {pid}) was ended by {name}{cause}"
    return f"worker process (pid {pid}) exited with code {exitcode}"


def _exit_when_orphaned(interval: float = 0.25) -> None:
    # A worker whose driver is gone (killed with SIGKILL, say) would otherwise finish its
    # item and idle on its pipe; a daemon thread ends it as soon as its parent changes.
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="orphan watchdog", daemon=True).start()


# Payloads shared with every worker of a pool (LocalProcessPool.share), in a worker.
_SHARED: dict[str, bytes] = {}
_MAX_SHARED = 4


def _keep_shared(key: str, data: bytes) -> None:
    _SHARED.pop(key, None)
    _SHARED[key] = data
    while len(_SHARED) > _MAX_SHARED:
        del _SHARED[next(iter(_SHARED))]


def shared_payload(key: str) -> bytes | None:
    """In a worker of a :class:`LocalProcessPool`: the payload shared under ``key``."""
    return _SHARED.get(key)


def _worker_main(
    conn: Connection, initializer: Callable[..., Any] | None, initargs: Sequence[Any]
) -> None:
    """The loop of a worker process: receive one call, run it, send the outcome back."""
    # Ctrl-C in a terminal reaches the whole process group; the driver decides what
    # stops, and stops workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_when_orphaned()
    if initializer is not None:
        try:
            initializer(*initargs)
        except BaseException:
            with contextlib.suppress(OSError):
                conn.send_bytes(pickle.dumps(("broken", traceback.format_exc())))
            return
    try:
        conn.send_bytes(pickle.dumps(("ready", os.getpid())))
    except OSError:
        return  # the pool was shut down while this process started
    while True:
        try:
            payload = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the pool closed the pipe: time to go
        try:
            message = pickle.loads(payload)
            if message[0] == "share":
                _keep_shared(message[1], message[2])
                continue
            _, fn, args, kwargs = message
            reply: tuple[Any, ...] = ("result", True, fn(*args, **kwargs))
        except BaseException as exc:
            exc.__traceback__ = None
            reply = ("result", False, exc)
        try:
            data = pickle.dumps(reply)
        except Exception as exc:
            data = pickle.dumps(
                (
                    "result",
                    False,
                    RuntimeError(
                        f"The outcome of the call could not be sent back ({exc!r}): {reply[2]!r}"
                    ),
                )
            )
        try:
            conn.send_bytes(data)
        except OSError:
            return


@dataclass
class _Job:
    future: Future[Any]
    payload: bytes


class _Slot:
    """One worker process and the job it runs, if any."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.ready = False
        self.job: _Job | None = None
        self.deadline: float | None = None
        self.pid: int | None = None
        self.shared_sent: set[str] = set()  # keys of the payloads its process has
        self.failed_starts = 0  # processes in a row that ended before they were ready


class LocalProcessPool(Executor):
    """A pool of worker processes that survives the death of any of them.

    Parameters
    ----------
    max_workers
        Number of worker processes (slots).
    item_timeout
        Seconds a call may run once its worker started it; past it the process is
        killed, the call's future fails with :class:`ItemTimeoutError` and the slot gets
        a new process. None: no limit.
    initializer, initargs
        Called once in each new worker process before its first call.
    mp_context
        The multiprocessing context; default :func:`default_mp_context`.
    preload
        Modules to import in the forkserver, when the context is ``forkserver``, so that
        every worker is forked with them loaded instead of importing them itself. It acts
        only if this process's forkserver is not running yet (it is one per process).

    Notes
    -----
    Calls and results travel pickled, so ``fn`` must be importable by name in the
    workers (a module-level function); data every call needs can go once to each worker
    with :meth:`share`. A call whose worker dies fails with
    :class:`WorkerDiedError`; one whose call raises fails with that exception.
    """

    def __init__(
        self,
        max_workers: int,
        *,
        item_timeout: float | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: Sequence[Any] = (),
        mp_context: multiprocessing.context.BaseContext | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        if max_workers < 1:
            raise SettingError(f"Expected max_workers >= 1. Got {max_workers!r} instead.")
        self._context = mp_context or default_mp_context()
        _preload(self._context, preload)
        self._timeout = item_timeout
        self._initializer = initializer
        self._initargs = tuple(initargs)
        self._slots = [_Slot(i) for i in range(max_workers)]
        self._queue: deque[_Job] = deque()
        self._lock = threading.Lock()
        self._shutdown = False
        self._terminate = False
        self._broken: str | None = None
        self._stop_requests: list[tuple[set[Future[Any]], threading.Event]] = []
        self._shared: dict[str, bytes] = {}
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._thread = threading.Thread(
            target=self._manage, name="LocalProcessPool manager", daemon=True
        )
        self._thread.start()

    @property
    def max_workers(self) -> int:
        """Number of worker slots."""
        return len(self._slots)

    @property
    def item_timeout(self) -> float | None:
        """Seconds a call may run before its worker is killed (None: no limit)."""
        return self._timeout

    def worker_pids(self) -> list[int]:
        """The pids of the live worker processes."""
        return [s.pid for s in self._slots if s.process is not None and s.pid is not None]

    # -- the Executor interface -----------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        payload = pickle.dumps(("call", fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        future: Future[Any] = Future()
        with self._lock:
            if self._broken is not None:
                raise PoolBrokenError(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._queue.append(_Job(future, payload))
        self._wake()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting calls; finish the queued ones unless ``cancel_futures``."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._queue:
                    self._queue.popleft().future.cancel()
        self._wake()
        if wait:
            self._thread.join()

    def share(self, key: str, data: bytes) -> None:
        """Send ``data`` once to each worker process, before its next call.

        Calls read it in the worker with :func:`shared_payload` ``(key)``. A large
        payload that every call needs (a pickled function with its closure) then
        travels once per process instead of once per call. A worker keeps the last few.
        """
        with self._lock:
            self._shared[key] = data

    def unshare(self, key: str) -> None:
        """Stop sending the payload ``key`` to new worker processes."""
        with self._lock:
            self._shared.pop(key, None)
            for slot in self._slots:
                slot.shared_sent.discard(key)

    def stop(self, futures: Iterable[Future[Any]], timeout: float = 10.0) -> None:
        """End the given calls now, queued or running, and keep the pool working.

        The worker processes running them are killed and replaced; their futures fail
        with :class:`CallStoppedError`. Returns once that is done (or after ``timeout``).
        """
        request = (set(futures), threading.Event())
        with self._lock:
            if self._thread.is_alive():
                self._stop_requests.append(request)
            else:
                request[1].set()
        self._wake()
        request[1].wait(timeout)

    def terminate(self) -> None:
        """Stop now: cancel queued calls, end the worker processes, fail running calls."""
        with self._lock:
            self._shutdown = True
            self._terminate = True
            while self._queue:
                self._queue.popleft().future.cancel()
        self._wake()
        self._thread.join()

    # -- the manager thread ---------------------------------------------------------------

    def _wake(self) -> None:
        # Under the lock: once the manager has closed the pipe, its descriptor number may
        # belong to another file of this process.
        with self._lock:
            if not self._closed:
                with contextlib.suppress(BlockingIOError, OSError):
                    os.write(self._wake_w, b"\0")

    def _manage(self) -> None:
        try:
            for slot in self._slots:
                self._start(slot)
            while True:
                with self._lock:
                    if self._terminate:
                        break
                    broken = self._assign()
                    idle = all(s.job is None for s in self._slots)
                    if self._shutdown and not self._queue and idle and not broken:
                        break
                for slot in broken:
                    self._retire(slot)
                self._wait_and_handle()
                self._handle_stop_requests()
        except BaseException as exc:  # a bug here must not leave the driver waiting forever
            with self._lock:
                self._broken = f"The worker pool stopped on an internal error: {exc!r}"
            self._fail_all(exc)
        finally:
            self._stop_processes(graceful=not self._terminate)
            self._fail_all(RuntimeError("The worker pool was stopped before this call ran."))
            with self._lock:
                requests, self._stop_requests = self._stop_requests, []
            for _, done in requests:
                done.set()
            with self._lock:
                self._closed = True
                for fd in (self._wake_r, self._wake_w):
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _handle_stop_requests(self) -> None:
        with self._lock:
            requests, self._stop_requests = self._stop_requests, []
            for futures, _ in requests:
                for queued in [j for j in self._queue if j.future in futures]:
                    self._queue.remove(queued)
                    queued.future.cancel()
        for futures, done in requests:
            for slot in self._slots:
                job = slot.job
                if job is not None and job.future in futures:
                    slot.job = None
                    self._retire(slot, kill=True)
                    job.future.set_exception(
                        CallStoppedError(
                            "The call was stopped before it finished; its worker process was "
                            "ended and replaced."
                        )
                    )
            done.set()

    def _start(self, slot: _Slot) -> None:
        parent_end, child_end = self._context.Pipe(duplex=True)
        process = self._context.Process(  # type: ignore[attr-defined]
            target=_worker_main,
            args=(child_end, self._initializer, self._initargs),
            name=f"batch-worker-{slot.number}",
            daemon=True,
        )
        process.start()
        child_end.close()
        slot.process, slot.conn, slot.pid = process, parent_end, process.pid
        slot.ready, slot.deadline = False, None

    def _assign(self) -> list[_Slot]:
        """Hand queued jobs to idle slots whose worker is ready (with the lock held).

        Returns the slots whose pipe turned out broken, to be retired without the lock.
        """
        broken = []
        for slot in self._slots:
            if not self._queue:
                break
            if slot.job is not None or not slot.ready or slot.conn is None:
                continue
            job = self._queue.popleft()
            if not job.future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                for key in self._shared.keys() - slot.shared_sent:
                    slot.conn.send_bytes(pickle.dumps(("share", key, self._shared[key])))
                    slot.shared_sent.add(key)
                slot.conn.send_bytes(job.payload)
            except OSError:
                job.future.set_exception(
                    WorkerDiedError(
                        f"The {_describe_exit(None, slot.pid)} before it got this call."
                    )
                )
                broken.append(slot)
                continue
            slot.job = job
            slot.deadline = None if self._timeout is None else time.monotonic() + self._timeout
        return broken

    def _wait_and_handle(self) -> None:
        waitables: list[Any] = [self._wake_r]
        for slot in self._slots:
            if slot.conn is not None:
                waitables.append(slot.conn)
            if slot.process is not None:
                waitables.append(slot.process.sentinel)
        deadlines = [s.deadline for s in self._slots if s.deadline is not None]
        timeout = None if not deadlines else max(0.0, min(deadlines) - time.monotonic())
        ready = multiprocessing.connection.wait(waitables, timeout)
        if self._wake_r in ready:
            with contextlib.suppress(BlockingIOError, OSError):
                while os.read(self._wake_r, 4096):
                    pass
        for slot in self._slots:
            # Handling a message may replace the slot's process; a new process may reuse
            # a closed descriptor number, so only the process waited on counts as ended.
            process = slot.process
            if slot.conn is not None and slot.conn in ready and not self._receive(slot):
                self._on_exit(slot)
            if process is not None and slot.process is process and process.sentinel in ready:
                self._on_exit(slot)
        now = time.monotonic()
        for slot in self._slots:
            if slot.deadline is not None and slot.deadline <= now and slot.job is not None:
                self._on_timeout(slot)

    def _receive(self, slot: _Slot) -> bool:
        """Handle one message from a slot's worker; False when its pipe is closed."""
        assert slot.conn is not None
        try:
            message = pickle.loads(slot.conn.recv_bytes())
        except (EOFError, OSError):
            return False  # the process is gone; the caller finds out how it ended
        except Exception as exc:  # a result that cannot be unpickled here
            message = ("result", False, RuntimeError(f"The result could not be read: {exc!r}"))
        kind = message[0]
        if kind == "ready":
            slot.ready, slot.failed_starts = True, 0
            self._wake()
        elif kind == "broken":
            with self._lock:
                self._broken = (
                    f"Worker processes cannot start: their initializer failed.\n{message[1]}"
                )
            self._fail_all(PoolBrokenError(self._broken))
        elif kind == "result" and slot.job is not None:
            job, slot.job, slot.deadline = slot.job, None, None
            if message[1]:
                job.future.set_result(message[2])
            else:
                job.future.set_exception(message[2])
            self._wake()
        return True

    def _on_exit(self, slot: _Slot) -> None:
        process = slot.process
        if process is None:
            return
        # A result sent just before the process ended is still in the pipe: take it first.
        with contextlib.suppress(EOFError, OSError):
            while slot.conn is not None and slot.job is not None and slot.conn.poll():
                if not self._receive(slot):
                    break
        process.join(timeout=1.0)
        job = slot.job
        slot.job = None
        how = _describe_exit(process.exitcode, slot.pid)
        if job is not None:
            job.future.set_exception(WorkerDiedError(f"The {how} while running this item."))
        if not slot.ready:
            # Processes that die before they are ready would be replaced forever while
            # the queue waits: after a few in a row, give up with the reason.
            slot.failed_starts += 1
            if slot.failed_starts >= _MAX_FAILED_STARTS:
                with self._lock:
                    self._broken = (
                        f"Worker processes end before they are ready: the last {how}. "
                        "Check that this package imports in a fresh Python process."
                    )
                self._fail_all(PoolBrokenError(self._broken))
        self._retire(slot)

    def _on_timeout(self, slot: _Slot) -> None:
        job, pid = slot.job, slot.pid
        slot.job = None
        self._retire(slot, kill=True)
        if job is not None:
            job.future.set_exception(
                ItemTimeoutError(
                    f"The item ran longer than the item timeout of {self._timeout:g} s; its "
                    f"worker process (pid {pid}) was killed. Raise the timeout if items may take "
                    "this long."
                )
            )

    def _retire(self, slot: _Slot, *, kill: bool = False) -> None:
        """End a slot's process (if needed) and start a new one unless shutting down."""
        process, conn = slot.process, slot.conn
        slot.process, slot.conn, slot.pid = None, None, None
        slot.ready, slot.deadline, slot.shared_sent = False, None, set()
        if process is not None and process.is_alive():
            if kill:
                process.kill()
            else:
                process.terminate()
            process.join(timeout=2.0)
        if conn is not None:
            conn.close()
        with self._lock:
            stopping = self._shutdown and not self._queue
            broken = self._broken is not None
        if not (stopping or broken or self._terminate):
            self._start(slot)

    def _stop_processes(self, *, graceful: bool) -> None:
        live = [s for s in self._slots if s.process is not None]
        if graceful:
            # Closing the pipe is the worker's signal to leave its loop and exit. One still
            # starting has nothing to finish: end it rather than wait for its imports.
            for slot in live:
                if slot.conn is not None:
                    slot.conn.close()
                    slot.conn = None
                if not slot.ready and slot.process is not None:
                    slot.process.terminate()
            deadline = time.monotonic() + 2.0
            for slot in live:
                assert slot.process is not None
                slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for slot in live:
            assert slot.process is not None
            if slot.process.is_alive():
                slot.process.terminate()
        deadline = time.monotonic() + 1.0
        for slot in live:
            assert slot.process is not None
            slot.process.join(timeout=max(0.0, deadline - time.monotonic()))
            if slot.process.is_alive():
                slot.process.kill()
                slot.process.join(timeout=1.0)
            if slot.conn is not None:
                slot.conn.close()
            slot.process, slot.conn, slot.ready, slot.pid = None, None, False, None

    def _fail_all(self, exc: BaseException) -> None:
        with self._lock:
            jobs = list(self._queue)
            self._queue.clear()
        jobs += [s.job for s in self._slots if s.job is not None]
        for slot in self._slots:
            slot.job, slot.deadline = None, None
        for job in jobs:
            if job.future.done():
                continue
            if job.future.running() or job.future.set_running_or_notify_cancel():
                job.future.set_exception(exc)


class LocalProcessExecutor(BatchExecutor):
    """A :class:`LocalProcessPool` offered to the batch core.

    Either a pool of the caller's (shared between batches: only this batch's items are
    ever stopped), or a pool this batch makes at :meth:`start` and ends at :meth:`close`.

    Parameters
    ----------
    pool
        A pool of the caller's; None to make one of ``max_workers`` processes.
    max_workers, item_timeout, initializer, initargs, preload
        The pool to make (see :class:`LocalProcessPool`).
    max_in_flight
        Items to keep submitted (default: twice the pool's workers).
    """

    def __init__(
        self,
        pool: LocalProcessPool | None = None,
        *,
        max_workers: int = 1,
        item_timeout: float | None = None,
        initializer: Callable[..., Any] | None = None,
        initargs: Sequence[Any] = (),
        max_in_flight: int | None = None,
        preload: Sequence[str] = (),
    ) -> None:
        self.pool = pool
        self.owned = pool is None
        self._make = (max_workers, item_timeout, initializer, tuple(initargs), tuple(preload))
        self.workers = pool.max_workers if pool is not None else max_workers
        timeout = pool.item_timeout if pool is not None else item_timeout
        self.enforces_timeout = timeout is not None
        self._in_flight = max_in_flight or 2 * self.workers

    def start(self) -> None:
        if self.pool is None:
            workers, timeout, initializer, initargs, preload = self._make
            self.pool = LocalProcessPool(
                workers,
                item_timeout=timeout,
                initializer=initializer,
                initargs=initargs,
                preload=preload,
            )

    def _running(self) -> LocalProcessPool:
        if self.pool is None:
            raise RuntimeError("the executor was not started")
        return self.pool

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future[Any]:
        return self._running().submit(fn, *args)

    def share(self, key: str, payload: bytes) -> bool:
        # Once per worker process rather than with every task: a closure may hold data.
        self._running().share(key, payload)
        return True

    def unshare(self, key: str) -> None:
        if self.pool is not None:
            self.pool.unshare(key)

    def in_flight(self) -> int:
        return self._in_flight

    def stop(self, futures: Collection[Future[Any]]) -> None:
        for future in futures:
            future.cancel()
        if self.pool is None:
            return
        if self.owned:
            self.pool.terminate()
        else:
            self.pool.stop(futures)  # a shared pool: end this batch's items only

    def close(self, *, stopping: bool) -> None:
        if self.owned and self.pool is not None and not stopping:
            self.pool.shutdown(wait=True)

    def describe(self) -> str:
        shared = "" if self.owned else ", shared"
        return f"{self.workers} local worker process(es){shared}"
