"""Crash tolerance: killed drivers, killed and hung workers, SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

import batch_multi_plot_spectrogram
from batch_multi_plot_spectrogram import generic_batch_plot
from batch_multi_plot_spectrogram.batch._progress import progress_validator

SRC = str(Path(batch_multi_plot_spectrogram.__file__).parents[1])
X = 1.7e9 + np.arange(60) * 4.0
Y = np.logspace(1, 4, 16)
FLUSH, WORKERS = 5, 2
MARK = "BATCH_SPECTROGRAMS_TEST_RUN"  # set in the environment of the processes of a test

# A driver run as a real process: 2 workers, flush every 5 items, items of ~0.1-0.2 s.
DRIVER = textwrap.dedent(f"""
    import os, sys, time
    import numpy as np
    sys.path.insert(0, {SRC!r})
    from batch_multi_plot_spectrogram import generic_batch_plot

    OUT, N, SLEEP = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])

    if __name__ == "__main__":
        build = lambda item: (
            time.sleep(SLEEP),
            [dict(x=1.7e9 + np.arange(60) * 4.0, y=np.logspace(1, 4, 16),
                  data=np.random.default_rng(int(item[5:])).gamma(2.0, 50.0, (60, 16)),
                  label="EES")],
        )[1]
        generic_batch_plot([f"item_{{i:03d}}" for i in range(N)], OUT, build,
                           flush_batch_size={FLUSH}, max_workers={WORKERS}, dpi=30,
                           progress_bar=False)
""")


def _start_driver(tmp_path: Path, out: Path, n: int, sleep: float) -> subprocess.Popen:
    """Start the driver script; its stderr goes to a file (no pipe to fill or leak), and
    it and every process it starts carry a marker in their environment."""
    script = tmp_path / "driver.py"
    if not script.exists():
        script.write_text(DRIVER)
    stderr = (tmp_path / "driver.err").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, str(script), str(out), str(n), str(sleep)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env={**os.environ, MARK: str(tmp_path)},
        )
    finally:
        stderr.close()  # the child has its own copy


def _stderr(tmp_path: Path) -> str:
    return (tmp_path / "driver.err").read_text()


def _marked(tmp_path: Path) -> list[psutil.Process]:
    """Every live process started for this test (the driver, its forkserver, workers),
    whatever its parent: found by the marker in its environment."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARK) == str(tmp_path):
                found.append(proc)
        except psutil.Error:  # gone, or not ours to read
            continue
    return found


def _assert_no_orphans(tmp_path: Path) -> None:
    _, alive = psutil.wait_procs(_marked(tmp_path), timeout=30)
    alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"processes outlived their killed driver: {alive}"


def _pngs(out: Path) -> int:
    return len(list(out.glob("*.png"))) if out.exists() else 0


def _checked_state(out: Path) -> dict[str, tuple[int, int]]:
    """Check the invariants of a folder after a crash; return the stamps of its PNGs."""
    progress = out / "generic_progress.json"
    if progress.exists():
        document = json.loads(progress.read_text())  # parses: never torn
        progress_validator().validate(document)
        lists = document["completed_items"] + document["errors"] + document["no_data"]
        assert len(lists) == len(set(lists))
        for key in document["completed_items"]:
            with Image.open(out / f"{key}.png") as image:
                image.load()  # recorded ok => the PNG is complete
    stamps = {}
    for png in out.glob("*.png"):
        st = png.stat()
        stamps[png.name] = (st.st_ino, st.st_mtime_ns)
    return stamps


def _completed(out: Path) -> list[str]:
    progress = out / "generic_progress.json"
    if not progress.exists():
        return []
    return json.loads(progress.read_text())["completed_items"]


@pytest.mark.slow
@pytest.mark.timeout(900)  # each kill restarts the driver and its workers
def test_kill_9_of_the_driver_at_random_instants(tmp_path):
    n_items, wanted_kills = 40, 15
    rng = random.Random(20261124)
    kills = batches = 0
    kill_points: list[int] = []  # items recorded when killed: shows the spread
    worst_rerender = 0
    out = tmp_path / "batch0"
    previous: dict[str, tuple[int, int]] | None = None
    while kills < wanted_kills or previous is not None:
        finishing = kills >= wanted_kills  # after enough kills: let the batch finish
        # The kill point comes from progress seen on disk, not from the clock, so that
        # kills spread over the run however busy the machine is: after 0 to 6 more
        # figures of this round, then a random fraction of an item.
        target = _pngs(out) + rng.randint(0, 6)
        proc = _start_driver(tmp_path, out, n_items, 0.1)
        try:
            deadline = time.monotonic() + 120
            while not finishing and proc.poll() is None and _pngs(out) < target:
                assert time.monotonic() < deadline, "the driver made no progress"
                time.sleep(0.01)
            if not finishing and proc.poll() is None:
                time.sleep(rng.uniform(0.0, 0.15))
            # A driver that ended before the kill finished its batch (and must have ended
            # well: that is checked below).
            finished = finishing or proc.poll() is not None
            if not finished:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors = _stderr(tmp_path)
        if not finished:
            _assert_no_orphans(tmp_path)
            kills += 1
        stamps = _checked_state(out)
        if previous is not None:
            rerendered = [k for k, v in previous.items() if stamps.get(k, v) != v]
            worst_rerender = max(worst_rerender, len(rerendered))
            assert len(rerendered) <= FLUSH + WORKERS, rerendered
        previous = stamps
        if not finished:
            kill_points.append(len(_completed(out)))
            continue
        assert proc.returncode == 0, errors
        assert sorted(_completed(out)) == [f"item_{i:03d}" for i in range(n_items)]
        batches += 1
        previous = None
        out = tmp_path / f"batch{batches}"
    assert kills >= wanted_kills and batches >= 1
    # The kills landed all along the runs, not only at start-up.
    assert len({p // 10 for p in kill_points}) >= 3, kill_points
    print(
        f"\n{kills} kills over {batches} batch(es); items recorded at the kills: "
        f"{kill_points}; worst re-rendering after a kill: {worst_rerender}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_the_driver_promptly_and_a_rerun_completes(tmp_path, sig):
    out = tmp_path / "out"
    proc = _start_driver(tmp_path, out, 40, 0.2)
    try:
        deadline = time.monotonic() + 120
        while _pngs(out) < 8:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(sig)
        # A stop ends the items in flight at once: within a minute even on a busy machine.
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    errors = _stderr(tmp_path)
    _assert_no_orphans(tmp_path)
    if sig == signal.SIGINT:
        assert proc.returncode == -signal.SIGINT and "KeyboardInterrupt" in errors
    else:
        assert proc.returncode == -signal.SIGTERM
    stamps = _checked_state(out)
    done_before = _completed(out)
    assert 8 <= len(done_before) < 40
    log_text = (out / "generic_progress.json.log").read_text()
    assert f"batch stopped by {signal.Signals(sig).name}" in log_text
    # Every finished item was saved: only items cut short by the stop may run again.
    rerun = _start_driver(tmp_path, out, 40, 0.0)
    try:
        rerun.wait(timeout=300)
    finally:
        if rerun.poll() is None:
            rerun.kill()
            rerun.wait()
    assert rerun.returncode == 0, _stderr(tmp_path)
    assert sorted(_completed(out)) == [f"item_{i:03d}" for i in range(40)]
    after = _checked_state(out)
    rerendered = [k for k, v in stamps.items() if after[k] != v]
    assert len(rerendered) <= WORKERS, rerendered


def _rows(item: str) -> list[dict]:
    return [{"x": X, "y": Y, "data": np.full((60, 16), 5.0), "label": item}]


@pytest.mark.slow
def test_worker_killed_or_crashing_mid_item_fails_only_that_item(tmp_path):
    pid_file = tmp_path / "victim.pid"

    def build(item):
        if item == "victim":
            pid_file.write_text(str(os.getpid()))
            time.sleep(60)
        if item == "segfault":
            import ctypes

            ctypes.string_at(0)  # a crash in compiled code
        return _rows(item)

    def killer():
        deadline = time.monotonic() + 60
        while not pid_file.exists() or not pid_file.read_text():
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    thread = threading.Thread(target=killer)
    thread.start()
    started = time.monotonic()
    # One worker: the batch can only finish if dead workers are replaced.
    result = generic_batch_plot(
        ["a", "victim", "b", "segfault", "c"], tmp_path, build, max_workers=1, dpi=30
    )
    thread.join()
    assert time.monotonic() - started < 30
    assert result == {"a": "ok", "victim": "error", "b": "ok", "segfault": "error", "c": "ok"}
    document = json.loads((tmp_path / "generic_progress.json").read_text())
    assert sorted(document["errors"]) == ["segfault", "victim"]
    log_text = (tmp_path / "generic_progress.json.log").read_text()
    assert "'victim' (#1): WorkerDiedError" in log_text and "ended by SIGKILL" in log_text
    assert "'segfault' (#3): WorkerDiedError" in log_text and "SIGSEGV" in log_text


@pytest.mark.slow
def test_hung_item_is_stopped_at_item_timeout(tmp_path):
    pid_file = tmp_path / "hung.pid"

    def build(item):
        if item == "hangs":
            pid_file.write_text(str(os.getpid()))
            time.sleep(120)
        return _rows(item)

    started = time.monotonic()
    result = generic_batch_plot(
        ["a", "hangs", "b", "c"], tmp_path, build, max_workers=1, item_timeout=2.0, dpi=30
    )
    assert time.monotonic() - started < 20
    assert result == {"a": "ok", "hangs": "error", "b": "ok", "c": "ok"}
    assert not psutil.pid_exists(int(pid_file.read_text()))
    log_text = (tmp_path / "generic_progress.json.log").read_text()
    assert "'hangs' (#1): ItemTimeoutError" in log_text
    assert "the item timeout of 2 s" in log_text and "was killed" in log_text
