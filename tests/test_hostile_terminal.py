"""What a user, a batch system and another user of the machine see of a run: lines per
item, summaries, exit codes after signals, refusals and bugs, the status line of batch
logs, library warnings, and the local dask cluster's door.

Commands are the real ``batch-spectrograms`` in a subprocess (one worker) on real stores;
the status line and the cluster are driven from Python, as a program would.
"""

from __future__ import annotations

import json
import operator
import os
import re
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.batch._progress import ProgressLock
from cli_runner import Ran, cli, finish, pngs, run, started, summary, wait_for
from store_factories import spectrogram_group, write_store

HINT = "Progress is saved: run the same command again to resume (finished items are skipped)."
#: Seconds a command may take to end after a signal, on a busy machine.
STOP_SECONDS = 60.0


def orbits(count: int, first: int = 0) -> dict[str, Any]:
    return {f"orbit_{i:02d}": spectrogram_group(n_time=16, seed=i) for i in range(first, count)}


# -- 8. one line per item, summaries, the rate ----------------------------------------------


@dataclass(frozen=True)
class Runs:
    archive: Path
    store: Path
    out: Path
    first: Ran
    again: Ran
    verbose: Ran
    verbose_out: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A store of two good groups and one that fails, rendered, rendered again, and
    rendered afresh elsewhere with ``-v`` after the subcommand."""
    root = tmp_path_factory.mktemp("runs")
    archive, out, verbose_out = root / "archive", root / "plots", root / "verbose"
    groups = {
        **orbits(2),
        "bad": spectrogram_group(seed=9, attrs={"rows": "ghost"}),
    }
    store = write_store(archive / "s.zarr", "zarr3", groups)
    first = cli("render", archive, "-o", out, "--workers", "1")
    again = cli("render", archive, "-o", out, "--workers", "1")
    verbose = cli(
        "render",
        archive,
        "-o",
        verbose_out,
        "--progress-dir",
        root / "progress",
        "--workers",
        "1",
        "-v",
    )
    return Runs(archive, store, out, first, again, verbose, verbose_out)


def _error_line(ran: Ran, store: Path) -> str:
    (line,) = [x for x in ran.err.splitlines() if x.startswith("error: item 'bad'")]
    assert re.match(rf"error: item 'bad' \(#\d+\) of store {re.escape(repr(str(store)))}: ", line)
    assert "rows names 'ghost', which is not a variable of the group" in line
    return line


def test_a_failing_item_is_printed_with_its_store_and_reason(runs: Runs) -> None:
    first = runs.first
    assert first.returncode == 1, first
    _error_line(first, runs.store)
    assert "Traceback" not in first.err
    counts = summary(first.err)
    assert (counts["ok"], counts["error"], "already done" in counts) == (2, 1, False), first


def test_verbose_after_the_subcommand_prints_one_line_per_item(runs: Runs) -> None:
    verbose = runs.verbose
    assert verbose.returncode == 1, verbose
    lines = verbose.err.splitlines()
    for key in ("orbit_00", "orbit_01"):
        png = runs.verbose_out / "s.zarr" / f"{key}.png"
        (line,) = [x for x in lines if f"'{key}'" in x]
        expected = rf"ok +'{key}' \(#\d+\) -> {re.escape(str(png))} in \d+\.\d\d s \[(.*)\]"
        match = re.fullmatch(expected, line)
        assert match and match[1] == str(runs.store), line
    _error_line(verbose, runs.store)
    assert "Traceback" not in verbose.err


def test_a_failing_item_is_printed_with_its_store_whatever_their_names(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    groups = {
        "bad group": spectrogram_group(seed=9, attrs={"rows": "ghost"}),
        "orbit 1": spectrogram_group(seed=1),
    }
    store = write_store(archive / "odd\x1b[2J store.nc", "netcdf4", groups)

    result = cli("render", archive, "-o", out, "--workers", "1")

    assert result.returncode == 1, result
    assert b"\x1b" not in result.stderr, result
    (line,) = [x for x in result.err.splitlines() if x.startswith("error: item 'bad group'")]
    quoted = re.escape(repr(str(store)))
    assert re.match(rf"error: item 'bad group' \(#\d+\) of store {quoted}: StoreError: ", line)
    assert len(pngs(out)) == 1 and summary(result.err)["ok"] == 1, result


def test_a_rerun_counts_items_done_before_apart_and_out_of_the_rate(runs: Runs) -> None:
    again = runs.again
    assert again.returncode == 1, again  # the failing item is tried again, and fails
    counts = summary(again.err)
    assert (counts["ok"], counts["error"], counts.get("already done")) == (0, 1, 2), again
    # One item ran in this run: the rate is over it alone.
    assert counts["seconds"] > 0
    assert counts["rate"] == pytest.approx(1 / counts["seconds"], rel=0.1, abs=0.02), again


# -- 8. signals: how to resume, and the exit codes ------------------------------------------


def test_sigterm_and_ctrl_c_tell_how_to_resume_and_a_rerun_completes(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    n_items = 24
    write_store(archive / "many.zarr", "zarr3", orbits(n_items))
    progress = archive / "many.zarr.progress.json"
    args = ("render", archive, "-o", out, "--workers", "1")

    def figures() -> int:
        return len(pngs(out))

    def completed() -> list[str]:
        return list(json.loads(progress.read_text())["completed_items"])

    # SIGTERM to the command, as a batch system sends it.
    with started(*args, stderr=tmp_path / "term.err") as proc:
        wait_for(proc, lambda: figures() >= 3, "3 figures were written", progress=figures)
        proc.send_signal(signal.SIGTERM)
        code = finish(proc, progress=lambda: None, stall_seconds=STOP_SECONDS)
    err = (tmp_path / "term.err").read_text(encoding="utf-8")
    assert code == 143, err
    assert err.splitlines()[-1] == HINT, err
    assert "Traceback" not in err
    terminated = summary(err)
    assert terminated["stopped"] == "terminated"
    after_term = completed()
    assert 3 <= len(after_term) < n_items and terminated["ok"] == len(after_term), err

    # Ctrl-C: SIGINT to the whole process group, as a terminal sends it.
    with started(*args, stderr=tmp_path / "int.err") as proc:
        wait_for(
            proc,
            lambda: figures() >= len(after_term) + 2,
            "2 more figures were written",
            progress=figures,
        )
        os.killpg(proc.pid, signal.SIGINT)
        code = finish(proc, progress=lambda: None, stall_seconds=STOP_SECONDS)
    err = (tmp_path / "int.err").read_text(encoding="utf-8")
    assert code == 130, err
    assert err.splitlines()[-1] == HINT, err
    assert "Traceback" not in err
    interrupted = summary(err)
    assert interrupted["stopped"] == "interrupted"
    assert interrupted["already done"] == len(after_term), err
    after_int = completed()
    assert len(after_int) == len(after_term) + interrupted["ok"] < n_items

    rerun = cli(*args)
    assert rerun.returncode == 0, rerun
    counts = summary(rerun.err)
    assert (counts["ok"], counts["already done"]) == (n_items - len(after_int), len(after_int))
    assert figures() == n_items and len(completed()) == n_items


# A program whose run receives SIGTERM at the instant it has locked its progress file and
# announces its start (a handler of the run logger, as an application may add, sends it).
TERMINATED_AT_START = textwrap.dedent("""\
    import logging, os, signal, sys
    import numpy as np
    from batch_multi_plot_spectrogram import generic_batch_plot

    class TerminateAtStart(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("batch started"):
                os.kill(os.getpid(), signal.SIGTERM)

    def rows(item):
        return [{"x": 1.7e9 + np.arange(40) * 4.0, "y": np.logspace(1, 4, 8),
                 "data": np.ones((40, 8))}]

    if __name__ == "__main__":
        logging.getLogger("batch_multi_plot_spectrogram.run").addHandler(TerminateAtStart())
        generic_batch_plot(["a", "b"], sys.argv[1], rows, executor="serial", dpi=30)
""")


def test_sigterm_as_soon_as_the_progress_file_is_locked_still_saves_it(tmp_path: Path) -> None:
    script, out = tmp_path / "terminated.py", tmp_path / "plots"
    script.write_text(TERMINATED_AT_START, encoding="utf-8")

    result = run([sys.executable, script, out])

    assert result.returncode == -signal.SIGTERM, result
    document = json.loads((out / "generic_progress.json").read_text(encoding="utf-8"))
    assert (document["completed_items"], document["errors"]) == ([], [])
    log = (out / "generic_progress.json.log").read_text(encoding="utf-8")
    assert "batch stopped by SIGTERM" in log
    assert not (out / "generic_progress.json.lock.owner").exists()


# -- 8. refusals and bugs ------------------------------------------------------------------


def test_a_store_locked_by_another_run_is_refused_with_exit_code_3(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    write_store(archive / "s.zarr", "zarr3", orbits(1))
    progress = archive / "s.zarr.progress.json"
    with ProgressLock(progress):
        result = cli("render", archive, "-o", out, "--workers", "1")
    assert result.returncode == 3, result
    assert (
        f"error: Progress file {str(progress)!r} is in use by another run (pid {os.getpid()}"
        in result.err
    ), result
    assert "stores refused 1" in result.err
    assert not out.exists() or pngs(out) == []
    assert not progress.exists()


# A store format whose code has a bug: the command line runs as installed, with one more
# format registered through the public extension point.
FAULTY_FORMAT = textwrap.dedent("""\
    import sys
    from batch_multi_plot_spectrogram.cli import main
    from batch_multi_plot_spectrogram.stores import StoreBackend, register_backend

    class Faulty(StoreBackend):
        name, description, suffixes = "faulty", "faulty stores (*.faulty)", (".faulty",)

        def matches(self, path):
            raise RuntimeError("the faulty format cannot tell its stores")

        def check(self, path):
            return "faulty"

        def read_groups(self, path, keys):
            return []

        def open_group(self, path, group):
            raise NotImplementedError

    register_backend(Faulty())
    main(sys.argv[1:])
""")


def test_an_internal_error_exits_4_saying_so_with_the_traceback(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    write_store(archive / "s.zarr", "zarr3", orbits(1))
    (archive / "notes.txt").write_text("how the archive was made\n", encoding="utf-8")
    result = run(
        [sys.executable, "-c", FAULTY_FORMAT, "render", archive, "-o", out, "--workers", "1"]
    )
    assert result.returncode == 4, result
    assert (
        "\ninternal error: RuntimeError: the faulty format cannot tell its stores. This is a "
        "bug in batch-spectrograms; please report it with the traceback below.\n"
    ) in result.err, result
    assert "Traceback (most recent call last)" in result.err
    assert not out.exists()


# -- 8. the status line of batch logs, and warnings ------------------------------------------

STATUS = re.compile(
    r"spectrograms: (\d+) done, (\d+) to go(?: \(about \d+ min left\))?, (\d+) error\(s\), "
    r"(\d+\.\d\d) items/s(?:; (\d+) already done)?"
)


def test_a_status_line_is_printed_while_rendering_without_a_progress_bar(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    store = write_store(archive / "s.zarr", "zarr3", orbits(2))
    quiet: dict[str, Any] = {
        "max_workers": 1,
        "progress_bar": False,
        "install_signal_handlers": False,
    }
    render_archive(archive, out, **quiet)
    write_store(store, "zarr3", orbits(8, first=2), append=True)
    capfd.readouterr()

    run = render_archive(archive, out, status_every=0.2, **quiet)

    err = capfd.readouterr().err
    assert run.counts() == {"ok": 6, "no_data": 0, "error": 0, "problems": 0, "already_done": 2}
    lines = [line for line in err.splitlines() if line.startswith("spectrograms: ")]
    assert lines, f"no status line in:\n{err}"
    for line in lines:
        match = STATUS.fullmatch(line)
        assert match, line
        done, left, errors, _, skipped = match.groups()
        # Only the items of this run are counted as done, to go, and in the rate.
        assert int(done) + int(left) == 6 and int(errors) == 0, line
        assert skipped == "2", line


def test_a_library_warning_in_a_worker_goes_to_the_log_not_the_terminal(
    tmp_path: Path,
) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    # A title with a character the font lacks: matplotlib warns while the worker draws.
    titled = spectrogram_group(seed=1, attrs={"title": "orbit \N{SATELLITE} pass"})
    write_store(archive / "s.zarr", "zarr3", {"orbit": titled})

    result = cli("render", archive, "-o", out, "--workers", "1")

    assert result.returncode == 0, result
    assert "Glyph" not in result.err and "Warning" not in result.err, result
    log = (archive / "s.zarr.progress.json.log").read_text(encoding="utf-8")
    warned = [line for line in log.splitlines() if "py.warnings" in line]
    assert warned, log
    assert all("[batch-worker-" in line for line in warned), warned
    assert any("UserWarning: Glyph 128752" in line for line in warned), warned


# -- 6. the local cluster admits only the client that started it -----------------------------


_OUTSIDER = textwrap.dedent(
    """
    import operator, sys
    from distributed import Client
    from distributed.security import Security

    address, own_certificate = sys.argv[1], sys.argv[2] == "1"
    security = Security.temporary() if own_certificate else None
    try:
        client = Client(address, timeout=5, set_as_default=False, security=security)
    except Exception as exc:  # any refusal will do
        print(f"refused: {type(exc).__name__}")
        raise SystemExit(0)
    try:
        print(f"connected, and ran a task: {client.submit(operator.add, 2, 2).result(30)}")
    finally:
        client.close()
    """
)


def _outsider(address: str, own_certificate: bool = False) -> str:
    """What a client of another user gets from the scheduler at ``address``: tried in a
    process of its own, so that a handshake left hanging (a refusal too) is ended."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _OUTSIDER, address, "1" if own_certificate else "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        return "refused: no answer within 90 s"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
        proc.wait(timeout=30)
    lines = out.strip().splitlines()
    return lines[-1] if lines else f"no outcome (exit {proc.returncode})"


def test_the_local_cluster_refuses_clients_without_its_certificate() -> None:
    pytest.importorskip("distributed")
    from batch_multi_plot_spectrogram.batch.executors._dask import open_client

    with open_client(local_workers=1) as own:
        assert own.submit(operator.add, 40, 2).result(120) == 42
        host_port = own.scheduler.address.split("://", 1)[1]
        tried = {
            "tls, no certificate": _outsider(f"tls://{host_port}"),
            "tcp": _outsider(f"tcp://{host_port}"),
            "tls, a certificate of its own": _outsider(f"tls://{host_port}", own_certificate=True),
        }
        assert own.submit(operator.add, 1, 1).result(120) == 2
    assert all(outcome.startswith("refused") for outcome in tried.values()), tried
