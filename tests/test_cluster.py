"""The batch on dask.distributed: a real scheduler and workers started with the ``dask``
command, the command line against local processes, a worker killed mid-run, unreachable
schedulers, the local cluster's bindings, worker log records and the bound on items in
flight.

Everything listens on 127.0.0.1 only, on ports chosen at run time; every process started
here is ended at teardown, also when a test fails.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import cloudpickle
import dask
import numpy as np
import psutil
import pytest
from PIL import Image

from batch_multi_plot_spectrogram import SettingError, generic_batch_plot
from batch_multi_plot_spectrogram.batch._progress import progress_validator
from batch_multi_plot_spectrogram.batch.executors import _dask as cluster_module
from batch_multi_plot_spectrogram.batch.executors._dask import open_client
from batch_multi_plot_spectrogram.errors import ClusterError

distributed = pytest.importorskip("distributed")

BIN = Path(sys.executable).parent
DASK = str(BIN / "dask")
CLI = str(BIN / "batch-spectrograms")
ARCHIVE = Path(__file__).parents[1] / "sample_data" / "archive"
START_SECONDS = 60.0  # a scheduler or worker answering, on a busy 2-core machine
CLI_SECONDS = 120.0
X = 1.7e9 + np.arange(60) * 4.0
Y = np.logspace(1, 4, 16)
LOG_NAME = "batch_multi_plot_spectrogram.test"
LISTS = ("completed_items", "errors", "no_data")


# -- processes --------------------------------------------------------------------------


def _end_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """End a process started in its own session, and anything it started."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    # A worker can hang in its own shutdown, and children may outlive their parent.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


@dataclass
class DaskProcesses:
    """A ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1."""

    folder: Path
    scheduler: subprocess.Popen | None = None
    address: str = ""
    workers: list[subprocess.Popen] = field(default_factory=list)
    started: int = 0

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        with open(self.folder / f"{name}.log", "w") as output:
            return subprocess.Popen(
                [DASK, *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
                env={**os.environ, "MPLBACKEND": "Agg"},
                start_new_session=True,
            )

    def start_scheduler(self) -> str:
        file = self.folder / "scheduler.json"
        self.scheduler = self._spawn(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                # Without a dashboard the scheduler still serves HTTP, on 0.0.0.0:8787 unless
                # told otherwise.
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(file),
            ],
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            with contextlib.suppress(OSError, ValueError, KeyError):
                self.address = json.loads(file.read_text())["address"]
                return self.address
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "dask scheduler did not start:\n" + _tail(self.folder / "scheduler.log")
                )
            time.sleep(0.1)

    def start_worker(self) -> subprocess.Popen:
        """One single-threaded worker; no nanny, so its pid is the worker process."""
        self.started += 1
        name = f"worker{self.started}"
        proc = self._spawn(
            name,
            [
                "worker",
                self.address,
                "--host",
                "127.0.0.1",
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                "--name",
                name,
                "--local-directory",
                str(self.folder / name),
            ],
        )
        self.workers.append(proc)
        return proc

    def stop(self) -> None:
        # Workers first: one whose scheduler went away first can hang while closing.
        for proc in self.workers:
            _end_group(proc)
        if self.scheduler is not None:
            _end_group(self.scheduler)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{_tail(p)}" for p in sorted(self.folder.glob("*.log")))


def _wait_for_workers(client: Any, count: int, gone: Collection[str] = ()) -> dict[str, int]:
    """Wait until exactly ``count`` workers, none of them in ``gone``, are registered;
    return their pids by address."""
    deadline = time.monotonic() + START_SECONDS
    while True:
        workers = set(client.nthreads())
        if len(workers) == count and not workers.intersection(gone):
            pids = client.run(os.getpid)
            if set(pids) == workers:
                return pids
        if time.monotonic() > deadline:
            raise TimeoutError(f"expected {count} workers, the scheduler has {sorted(workers)}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def dask_processes(tmp_path_factory) -> Iterator[DaskProcesses]:
    """A scheduler and two workers as real processes, and the pickling of this module's
    functions by value (the workers cannot import a test module)."""
    processes = DaskProcesses(tmp_path_factory.mktemp("dask"))
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)
    try:
        processes.start_scheduler()
        processes.start_worker()
        processes.start_worker()
        yield processes
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        processes.stop()


@pytest.fixture(scope="module")
def client(dask_processes) -> Iterator[Any]:
    with distributed.Client(
        dask_processes.address, timeout=START_SECONDS, set_as_default=False
    ) as connected:
        try:
            _wait_for_workers(connected, 2)
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}\n{dask_processes.logs()}") from None
        yield connected


def _run_cli(
    args: list[str],
    *,
    on_start: Callable[[psutil.Process], None] | None = None,
    timeout: float = CLI_SECONDS,
) -> tuple[int, str, float]:
    """Run ``batch-spectrograms``; return its exit code, stderr and duration. The
    command and everything it starts are ended if still there when it returns."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    watcher = None
    try:
        if on_start is not None:
            watcher = threading.Thread(target=on_start, args=(psutil.Process(proc.pid),))
            watcher.start()
        _out, err = proc.communicate(timeout=timeout)
        return proc.returncode, err, time.monotonic() - started
    finally:
        _end_group(proc, grace=0)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        if watcher is not None:
            watcher.join()


def _copy_archive(folder: Path) -> Path:
    """The sample archive without its recorded progress."""
    return Path(
        shutil.copytree(
            ARCHIVE, folder / "archive", ignore=shutil.ignore_patterns("*.progress.json*")
        )
    )


def _progress_entries(folder: Path) -> dict[str, dict[str, set[str]]]:
    entries = {}
    for path in sorted(folder.glob("*.progress.json")):
        document = json.loads(path.read_text())
        progress_validator().validate(document)
        entries[path.name] = {name: set(document[name]) for name in LISTS}
    return entries


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- functions run by the workers (pickled by value) ---------------------------------------


def _rows(item: str) -> list[dict]:
    return [{"x": X, "y": Y, "data": np.full((60, 16), 5.0), "label": item}]


def slow_item(item: str, *, marks: str) -> list[dict]:
    """Note ``item.pid`` in ``marks`` when starting, then take about a second."""
    Path(marks, f"{item}.{os.getpid()}").touch()
    time.sleep(1.0)
    return _rows(item)


def logging_item(item: str, *, marker: str) -> list[dict]:
    log = logging.getLogger(LOG_NAME)
    log.warning("%s warning from %s in pid %d", marker, item, os.getpid())
    log.info("%s info from %s in pid %d", marker, item, os.getpid())
    return _rows(item)


def nothing(item: int) -> list[dict]:
    return []


def executed_tasks(dask_worker: Any) -> int:
    return dask_worker.state.executed_count


# -- the command line on the cluster ----------------------------------------------------------


def test_cli_on_the_cluster_renders_what_local_processes_render(dask_processes, client, tmp_path):
    executed = sum(client.run(executed_tasks).values())
    outcomes = {}
    for name, where in {"cluster": ["--scheduler", dask_processes.address], "local": []}.items():
        folder = tmp_path / name
        archive = _copy_archive(folder)
        out, progress = folder / "out", folder / "progress"
        code, err, _ = _run_cli(
            ["render", str(archive), "-o", str(out), "--progress-dir", str(progress), *where]
        )
        assert code == 0, err
        if name == "cluster":
            assert f"on the dask scheduler at {dask_processes.address}" in err
        outcomes[name] = (
            {p.relative_to(out) for p in out.rglob("*.png")},
            _progress_entries(progress),
        )

    pngs, entries = outcomes["cluster"]
    assert outcomes["cluster"] == outcomes["local"]
    assert len(pngs) == 7 and len(entries) == 3
    assert {len(e["completed_items"]) for e in entries.values()} == {1, 3}
    assert sum(len(e["no_data"]) for e in entries.values()) == 4
    assert not any(e["errors"] for e in entries.values())
    # The 11 items ran on the cluster's workers.
    assert sum(client.run(executed_tasks).values()) - executed >= 11


# -- a worker killed mid-run ------------------------------------------------------------------


def test_worker_killed_mid_run_every_item_is_recorded_once(dask_processes, client, tmp_path):
    pids = _wait_for_workers(client, 2)
    victim = dask_processes.workers[0]
    victim_address = next(a for a, pid in pids.items() if pid == victim.pid)
    marks, out = tmp_path / "marks", tmp_path / "out"
    marks.mkdir()
    items = [f"item_{i:02d}" for i in range(12)]
    killed: list[str] = []

    def kill_mid_item() -> None:
        # SIGKILL the victim while it runs its second item (well inside the sleep).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            mine = list(marks.glob(f"*.{victim.pid}"))
            if len(mine) >= 2:
                os.kill(victim.pid, signal.SIGKILL)
                latest = max(mine, key=lambda p: p.stat().st_mtime_ns)
                killed.append(latest.name.split(".")[0])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_mid_item)
    killer.start()
    try:
        result = generic_batch_plot(
            items,
            out,
            functools.partial(slow_item, marks=str(marks)),
            client=client,
            flush_batch_size=3,
            progress_bar=False,
            dpi=30,
        )
    finally:
        killer.join()
        if not killed:  # never caught mid-item: end it all the same
            victim.kill()
        victim.wait(10)
        # The later tests want two workers again.
        dask_processes.start_worker()
        _wait_for_workers(client, 2, gone={victim_address})

    assert killed and victim.returncode == -signal.SIGKILL
    assert sorted(result) == items
    assert set(result.values()) <= {"ok", "error"}
    document = json.loads((out / "generic_progress.json").read_text())
    progress_validator().validate(document)
    listed = [key for name in LISTS for key in document[name]]
    assert sorted(listed) == items  # each item exactly once
    assert sorted(document["completed_items"]) == sorted(k for k, v in result.items() if v == "ok")
    for key in document["completed_items"]:
        with Image.open(out / f"{key}.png") as image:
            image.load()
    # dask runs a lost worker's task again elsewhere: the killed item still succeeds.
    assert result[killed[0]] == "ok"


# -- unreachable schedulers -------------------------------------------------------------------


def test_cli_with_an_unreachable_scheduler_exits_2_and_writes_nothing(tmp_path):
    archive = _copy_archive(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    address = f"tcp://127.0.0.1:{_free_port()}"
    out, progress = tmp_path / "out", tmp_path / "progress"
    code, err, seconds = _run_cli(
        [
            "render",
            str(archive),
            "-o",
            str(out),
            "--progress-dir",
            str(progress),
            "--scheduler",
            address,
        ]
    )
    assert code == 2, err
    assert seconds < 20
    assert (
        f"Cannot reach the dask scheduler at {address}: no answer within "
        f"{cluster_module.CONNECT_TIMEOUT_SECONDS:g} s."
    ) in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not progress.exists()
    assert sorted(tmp_path.rglob("*")) == before


def test_api_with_an_unreachable_scheduler_raises_cluster_error(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_SECONDS", 2.0)
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        generic_batch_plot(
            ["a"], tmp_path / "out", _rows, scheduler_address=address, progress_bar=False
        )
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, ConnectionError)
    assert str(caught.value) == (
        f"Cannot reach the dask scheduler at {address}: no answer within 2 s. Check that "
        "`dask scheduler` is running there, that the host and port are right, and that "
        "this machine can connect to it."
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("tcp://127.0.0.1", "(missing port number in address '127.0.0.1')"),
        ("tcp://127.0.0.1:port", "(invalid literal for int() with base 10: 'port')"),
        ("tcp://127.0.0.1:70000", "(port 70000 is out of range 1-65535)"),
        ("inproc://127.0.0.1:1", "(scheme 'inproc')"),
        ("", ""),
    ],
)
def test_a_malformed_scheduler_address_is_refused_before_connecting(tmp_path, address, why):
    started = time.monotonic()
    with pytest.raises(SettingError) as caught:
        generic_batch_plot(
            ["a"], tmp_path / "out", _rows, scheduler_address=address, progress_bar=False
        )
    assert time.monotonic() - started < 2
    assert not isinstance(caught.value, ClusterError)
    assert str(caught.value) == (
        "Expected a scheduler address like 'tcp://HOST:8786' (scheme one of tcp, tls, ws, "
        f"wss, ucx; 'tcp://' may be left out). Got {address!r} instead"
        + (f" {why}." if why else ".")
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_with_a_malformed_scheduler_address_exits_2_at_once(tmp_path):
    archive = _copy_archive(tmp_path)
    code, err, _ = _run_cli(
        ["render", str(archive), "-o", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1"]
    )
    assert code == 2, err
    assert "Got 'tcp://127.0.0.1' instead (missing port number" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


# -- a local cluster ----------------------------------------------------------------------


def _listeners(processes: list[psutil.Process]) -> set[tuple[int, str, int]]:
    found = set()
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((proc.pid, conn.laddr.ip, conn.laddr.port))
    return found


def test_local_cluster_listens_on_127_0_0_1_only():
    me = psutil.Process()
    before = _listeners([me, *me.children(recursive=True)])
    with open_client(local_workers=1) as local:
        opened = _listeners([me, *me.children(recursive=True)]) - before
        dashboard = urlsplit(local.dashboard_link)
        scheduler = urlsplit(local.scheduler.address)
    assert dashboard.hostname == "127.0.0.1" and scheduler.hostname == "127.0.0.1"
    assert dashboard.port != 8787  # chosen at run time: clusters side by side never clash
    # scheduler, dashboard, the worker's nanny, the worker and its HTTP server
    assert len(opened) >= 4
    assert {ip for _, ip, _ in opened} == {"127.0.0.1"}
    ports = {port for _, _, port in opened}
    assert dashboard.port in ports and scheduler.port in ports


def _trim_threshold() -> str | None:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def test_local_cluster_workers_keep_the_adaptive_malloc_of_local_processes(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    assert "MALLOC_TRIM_THRESHOLD_" in environ  # what dask sets for its workers
    with open_client(local_workers=1) as local:
        assert list(local.run(_trim_threshold).values()) == [None]
    # Only for the cluster started there: dask's own setting is back.
    assert dask.config.get("distributed.nanny.pre-spawn-environ") == environ


def test_cli_local_cluster_renders_and_listens_on_127_0_0_1_only(tmp_path):
    archive = _copy_archive(tmp_path)
    out = tmp_path / "out"
    seen: set[tuple[int, str, int]] = set()

    def watch(cli: psutil.Process) -> None:
        with contextlib.suppress(psutil.Error):
            while cli.status() != psutil.STATUS_ZOMBIE:
                seen.update(_listeners([cli, *cli.children(recursive=True)]))
                time.sleep(0.2)

    code, err, _ = _run_cli(
        [
            "render",
            str(archive),
            "-o",
            str(out),
            "--progress-dir",
            str(tmp_path / "progress"),
            "--cluster",
            "local",
            "--workers",
            "2",
        ],
        on_start=watch,
    )
    assert code == 0, err
    assert "on a local dask cluster (dashboard http://127.0.0.1:" in err
    assert "ok 7, no_data 4, error 0" in err
    assert len(list(out.rglob("*.png"))) == 7
    # Seen while it ran: the scheduler, its dashboard and the two workers at least.
    assert len(seen) >= 4
    assert {ip for _, ip, _ in seen} == {"127.0.0.1"}


# -- worker logs and the bound on items in flight ---------------------------------------------


@pytest.fixture
def package_logs_info() -> Iterator[None]:
    """The package logger at INFO in this process, as the command line sets it."""
    logger = logging.getLogger("batch_multi_plot_spectrogram")
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def _run_logging_items(client: Any, folder: Path, items: list[str]) -> tuple[str, str]:
    marker = f"marker-{os.getpid()}-{time.monotonic_ns()}"
    result = generic_batch_plot(
        items,
        folder,
        functools.partial(logging_item, marker=marker),
        client=client,
        progress_bar=False,
        dpi=30,
    )
    assert result == dict.fromkeys(items, "ok")
    return marker, (folder / "generic_progress.json.log").read_text()


def test_worker_log_records_reach_the_drivers_log_file(client, tmp_path, package_logs_info):
    items = ["a", "b", "c", "d"]
    marker, text = _run_logging_items(client, tmp_path, items)
    worker_pids = set(client.run(os.getpid).values())
    for item in items:
        line = next(line for line in text.splitlines() if f"{marker} warning from {item} " in line)
        assert " WARNING [" in line and f"] {LOG_NAME}: " in line
        assert int(line.rsplit(" ", 1)[1]) in worker_pids  # logged on a worker


def test_worker_info_records_reach_the_log_file_at_the_drivers_levels(
    client, tmp_path, package_logs_info
):
    marker, text = _run_logging_items(client, tmp_path, ["a", "b"])
    assert f"{marker} info from a " in text and f"{marker} info from b " in text


class CountingExecutor(concurrent.futures.Executor):
    """An executor's futures, counted while outstanding (submitted, not done)."""

    def __init__(self, inner: concurrent.futures.Executor) -> None:
        self.inner = inner
        self.lock = threading.Lock()
        self.outstanding = self.peak = self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        with self.lock:
            self.outstanding += 1
            self.submitted += 1
            self.peak = max(self.peak, self.outstanding)
        future = self.inner.submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, future: concurrent.futures.Future) -> None:
        with self.lock:
            self.outstanding -= 1

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.inner.shutdown(wait=wait, cancel_futures=cancel_futures)


@pytest.mark.parametrize("max_in_flight", [None, 3])
def test_items_in_flight_on_the_cluster_are_bounded(client, tmp_path, monkeypatch, max_in_flight):
    counting = CountingExecutor(client.get_executor())
    monkeypatch.setattr(client, "get_executor", lambda **kwargs: counting)
    items = (i for i in range(1000))
    result = generic_batch_plot(
        items,
        tmp_path,
        nothing,
        client=client,
        max_in_flight=max_in_flight,
        flush_batch_size=1000,
        progress_bar=False,
    )
    assert len(result) == 1000 and set(result.values()) == {"no_data"}
    assert counting.submitted == 1000 and counting.outstanding == 0
    # Default: twice the cluster's worker threads (2 single-threaded workers).
    bound = 4 if max_in_flight is None else max_in_flight
    assert counting.peak == bound
    document = json.loads((tmp_path / "generic_progress.json").read_text())
    assert len(document["no_data"]) == 1000


def test_cli_refuses_workers_with_a_remote_scheduler(tmp_path: Path) -> None:
    # The scheduler's workers are its own: a --workers count would be silently ignored.
    code, err, _ = _run_cli(
        [
            "render",
            str(tmp_path),
            "-o",
            str(tmp_path / "out"),
            "--scheduler",
            "tcp://127.0.0.1:1",
            "--workers",
            "3",
        ]
    )
    assert code == 2
    assert "--workers applies to local runs and --cluster local" in err
    assert not (tmp_path / "out").exists()
