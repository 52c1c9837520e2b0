"""The buffered batch log and the travel of worker log records."""

from __future__ import annotations

import contextlib
import logging
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import batch_multi_plot_spectrogram
from batch_multi_plot_spectrogram.batch._logs import (
    LOGGER_NAME,
    RUN_LOGGER_NAME,
    BatchLog,
    LogRouter,
    apply_logger_levels,
    capture_records,
    logger_levels,
    record_to_dict,
)

SRC = str(Path(batch_multi_plot_spectrogram.__file__).parents[1])


@contextlib.contextmanager
def routed(*paths: Path, capacity: int = 100) -> Iterator[tuple[list[BatchLog], LogRouter]]:
    """One log per path, numbered from 0, with a router attached for the block."""
    logs = [BatchLog(path, capacity) for path in paths]
    for log in logs:
        log.open()
    router = LogRouter(dict(enumerate(logs)))
    router.attach()
    try:
        yield logs, router
    finally:
        router.detach()
        for log in logs:
            log.close()


@pytest.fixture
def batch_log(tmp_path):
    with routed(tmp_path / "run.log", capacity=3) as (logs, _):
        yield logs[0]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_importing_the_package_configures_no_logging():
    code = (
        "import logging, batch_multi_plot_spectrogram, batch_multi_plot_spectrogram.batch\n"
        f"lg = logging.getLogger({LOGGER_NAME!r})\n"
        "print(len(lg.handlers), lg.level, len(logging.getLogger().handlers))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": SRC},
    )
    assert out.stdout.split() == ["0", "0", "0"]


def test_records_are_buffered_until_capacity_or_flush(tmp_path, batch_log):
    run = logging.getLogger(RUN_LOGGER_NAME)
    run.info("one")
    run.info("two")
    assert _lines(tmp_path / "run.log") == []  # still in memory
    run.info("three")  # capacity 3 reached
    assert len(_lines(tmp_path / "run.log")) == 3
    run.info("four")
    assert len(_lines(tmp_path / "run.log")) == 3
    batch_log.flush()
    lines = _lines(tmp_path / "run.log")
    assert len(lines) == 4 and lines[-1].endswith(f"{RUN_LOGGER_NAME}: four")


def test_errors_do_not_force_a_write(tmp_path, batch_log):
    logging.getLogger(RUN_LOGGER_NAME).error("an item failed")
    assert _lines(tmp_path / "run.log") == []


def test_run_logger_writes_to_the_file_only_and_is_restored(tmp_path):
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    root = logging.getLogger()
    keep = Keep()
    root.addHandler(keep)
    run = logging.getLogger(RUN_LOGGER_NAME)
    before = (run.level, run.propagate, list(run.handlers))
    try:
        with routed(tmp_path / "run.log"):
            run.error("traceback text for the file only")
        assert seen == []  # did not reach the application's handlers
        assert "traceback text for the file only" in (tmp_path / "run.log").read_text()
    finally:
        root.removeHandler(keep)
    assert (run.level, run.propagate, list(run.handlers)) == before
    assert logging.getLogger(LOGGER_NAME).handlers == []


def test_package_records_reach_the_file_within_the_application_levels(tmp_path):
    lib = logging.getLogger(f"{LOGGER_NAME}.render")
    with routed(tmp_path / "run.log"):
        lib.warning("a library warning")
        lib.info("an info the application did not ask for")  # default level: WARNING
    text = (tmp_path / "run.log").read_text()
    assert "a library warning" in text
    assert "did not ask for" not in text


def test_capture_keeps_only_this_thread_and_formats_exceptions():
    user = logging.getLogger("userlib.capture")
    user.setLevel(logging.INFO)
    handlers_before = list(logging.getLogger().handlers)
    try:
        with capture_records() as records:
            user.info("value %d", 7)
            other = threading.Thread(target=lambda: user.warning("from another thread"))
            other.start()
            other.join()
            try:
                raise ValueError("inner")
            except ValueError:
                user.exception("failed")
        assert [r["msg"] for r in records] == ["value 7", "failed"]
        assert records[0]["args"] is None and records[0]["levelname"] == "INFO"
        assert "ValueError: inner" in records[1]["exc_text"]
        assert records[1]["exc_info"] is None
        pickle.dumps(records)
    finally:
        user.setLevel(logging.NOTSET)
    assert logging.getLogger().handlers == handlers_before


def test_record_to_dict_survives_odd_arguments_and_extras():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%s and %s", ("one",), None)
    record.custom = object()
    data = record_to_dict(record)
    assert "arguments do not match" in data["msg"]
    assert data["custom"].startswith("<object object")
    rebuilt = logging.makeLogRecord(pickle.loads(pickle.dumps(data)))
    assert rebuilt.getMessage() == data["msg"]


def test_replay_of_remote_records_reaches_file_and_application_handlers(tmp_path):
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    user = logging.getLogger("userlib.replay")
    keep = Keep()
    user.addHandler(keep)
    user.propagate = False
    user.setLevel(logging.INFO)
    remote = [
        record_to_dict(
            logging.LogRecord(
                "userlib.replay", logging.INFO, "f.py", 3, "user says %s", ("hi",), None
            )
        ),
        record_to_dict(
            logging.LogRecord(
                f"{LOGGER_NAME}.render", logging.WARNING, "r.py", 9, "renderer warns", None, None
            )
        ),
    ]
    try:
        with routed(tmp_path / "run.log") as (_, router):
            router.replay(remote, ledger=0, in_process=False)
            router.replay(remote, ledger=0, in_process=True)  # went through the loggers
        text = (tmp_path / "run.log").read_text()
    finally:
        user.removeHandler(keep)
        user.propagate = True
        user.setLevel(logging.NOTSET)
    assert seen == ["user says hi"]
    assert text.count("user says hi") == 2  # once per replay: in-process ones miss the file
    assert text.count("renderer warns") == 1  # in-process: the package logger had it


def test_logger_levels_round_trip():
    name = "userlib.levels"
    logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        levels = logger_levels()
        assert levels[name] == logging.DEBUG and "" in levels
        logging.getLogger(name).setLevel(logging.ERROR)
        apply_logger_levels(levels)
        assert logging.getLogger(name).level == logging.DEBUG
    finally:
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_records_go_to_the_log_of_their_ledger_or_to_every_log(tmp_path):
    run = logging.getLogger(RUN_LOGGER_NAME)
    lib = logging.getLogger(f"{LOGGER_NAME}.stores")
    remote = [
        record_to_dict(
            logging.LogRecord(
                "userlib.ledger", logging.WARNING, "f.py", 1, "user record of store b", None, None
            )
        )
    ]
    with routed(tmp_path / "a.log", tmp_path / "b.log") as (_, router):
        run.info("item of store a", extra={"ledger": 0})
        run.info("item of store b", extra={"ledger": 1})
        lib.warning("about the whole run")
        router.current = 0
        lib.warning("while an item of store a runs here")
        router.current = None
        router.replay(remote, ledger=1, in_process=False)
    a, b = (tmp_path / "a.log").read_text(), (tmp_path / "b.log").read_text()
    assert "item of store a" in a and "item of store a" not in b
    assert "item of store b" in b and "item of store b" not in a
    assert "about the whole run" in a and "about the whole run" in b
    assert "while an item of store a runs here" in a
    assert "while an item of store a runs here" not in b
    assert "user record of store b" in b and "user record of store b" not in a
