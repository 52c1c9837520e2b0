"""The batch log: the standard :mod:`logging` module, buffered and flushed in batches.

Nothing here runs at import: the library never configures logging on its own. For the
length of a batch, :class:`BatchLog` attaches a :class:`logging.handlers.MemoryHandler`
(capacity ``log_flush_batch_size``) writing to a file; the batch core flushes it with
each progress save and at the end.

Two loggers are involved:

- ``batch_multi_plot_spectrogram`` (the package logger): what the library reports to
  whoever configured logging. The batch file handler listens here too, within the levels
  the application set.
- ``batch_multi_plot_spectrogram.run``: the run's own record, one line per item with
  tracebacks of failures, written to the batch log file only (it does not propagate
  during a batch), so tracebacks never reach the console.

Records made while an item runs in a worker (by ``build_datasets_fn`` or the library) are
captured there (:func:`capture_records`), travel back with the item's result as plain
dicts, and are replayed on the driver (:meth:`BatchLog.replay`).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LOGGER_NAME",
    "LOG_FORMAT",
    "RUN_LOGGER_NAME",
    "BatchLog",
    "apply_logger_levels",
    "capture_records",
    "logger_levels",
    "record_to_dict",
]

LOGGER_NAME = "batch_multi_plot_spectrogram"
RUN_LOGGER_NAME = f"{LOGGER_NAME}.run"
LOG_FORMAT = "%(asctime)s %(levelname)-7s [%(processName)s] %(name)s: %(message)s"

_PLAIN = (str, int, float, bool, type(None))


def _is_ours(name: str) -> bool:
    return name == LOGGER_NAME or name.startswith(LOGGER_NAME + ".")


def record_to_dict(record: logging.LogRecord) -> dict[str, Any]:
    """A picklable copy of a record, rebuilt with :func:`logging.makeLogRecord`.

    The message is formatted and any exception turned into text, as
    :class:`logging.handlers.SocketHandler` does.
    """
    data = dict(record.__dict__)
    try:
        data["msg"] = record.getMessage()
    except Exception:  # a record whose args do not fit its format string
        data["msg"] = f"{record.msg!r} % {record.args!r} (arguments do not match)"
    data["args"] = None
    if record.exc_info and not record.exc_text:
        data["exc_text"] = logging.Formatter().formatException(record.exc_info)
    data["exc_info"] = None
    data.pop("message", None)
    for key, value in data.items():
        if not isinstance(value, _PLAIN):
            data[key] = repr(value)  # extras of any type: keep them readable and picklable
    return data


class _Collector(logging.Handler):
    """Keep the records made by one thread (a worker may run several items at once)."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.records.append(record_to_dict(record))


@contextlib.contextmanager
def capture_records() -> Iterator[list[dict[str, Any]]]:
    """Collect, as dicts, the records this thread logs while the block runs.

    Records reach the collector through the root logger, so records of loggers that do
    not propagate, or that their levels filter out, are not collected.
    """
    collector = _Collector(threading.get_ident())
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        yield collector.records
    finally:
        root.removeHandler(collector)


def logger_levels() -> dict[str, int]:
    """The levels set in this process: the root's (under ``""``) and any logger's own."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


def apply_logger_levels(levels: Mapping[str, int]) -> None:
    """Set logger levels as :func:`logger_levels` returned them (in a worker process)."""
    for name, level in levels.items():
        logging.getLogger(name or None).setLevel(level)


class BatchLog:
    """The buffered log file of one batch.

    Parameters
    ----------
    path
        The log file; records are appended.
    capacity
        Number of records held in memory before they are written.
    """

    def __init__(self, path: str | os.PathLike[str], capacity: int) -> None:
        self.path = Path(path)
        self.capacity = capacity
        self._file: logging.FileHandler | None = None
        self._memory: logging.handlers.MemoryHandler | None = None
        self._run_logger_state: tuple[int, bool] | None = None

    @property
    def run_logger(self) -> logging.Logger:
        """The file-only logger of the run."""
        return logging.getLogger(RUN_LOGGER_NAME)

    def open(self) -> None:
        """Attach the buffered file handler."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = logging.FileHandler(self.path, mode="a", encoding="utf-8", delay=True)
        self._file.setFormatter(logging.Formatter(LOG_FORMAT))
        # Flush on capacity or on explicit flushes only (the default flushLevel, ERROR,
        # would write at every failing item); a critical record is written at once.
        self._memory = logging.handlers.MemoryHandler(
            self.capacity, flushLevel=logging.CRITICAL, target=self._file, flushOnClose=True
        )
        logging.getLogger(LOGGER_NAME).addHandler(self._memory)
        run = self.run_logger
        self._run_logger_state = (run.level, run.propagate)
        run.setLevel(logging.INFO)
        run.propagate = False
        run.addHandler(self._memory)

    def replay(self, records: Sequence[Mapping[str, Any]], *, in_process: bool) -> None:
        """Re-emit records captured while an item ran.

        Parameters
        ----------
        records
            Dicts from :func:`record_to_dict`.
        in_process
            True when the item ran in this process: its records already went through
            the loggers here, so only those that missed the batch log are written to it.
        """
        if self._memory is None:
            return
        for data in records:
            record = logging.makeLogRecord(dict(data))
            if not in_process:
                # As if logged here: the application's handlers see it, and records of
                # this library reach the batch log through the package logger.
                logging.getLogger(record.name).handle(record)
            if not _is_ours(record.name):
                self._memory.handle(record)

    def flush(self) -> None:
        """Write the buffered records to the file."""
        if self._memory is not None:
            self._memory.flush()

    def close(self) -> None:
        """Flush, detach the handlers and restore the run logger."""
        if self._memory is None:
            return
        self._memory.flush()
        logging.getLogger(LOGGER_NAME).removeHandler(self._memory)
        run = self.run_logger
        run.removeHandler(self._memory)
        if self._run_logger_state is not None:
            run.setLevel(self._run_logger_state[0])
            run.propagate = self._run_logger_state[1]
        self._memory.close()
        if self._file is not None:
            self._file.close()
        self._memory = None
        self._file = None

    def __enter__(self) -> BatchLog:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
