"""The batch logs: the standard :mod:`logging` module, buffered and flushed in batches.

Nothing here runs at import: the library never configures logging on its own. A run
keeps one log file per progress file (per store, for an archive): a :class:`BatchLog`,
a :class:`logging.handlers.MemoryHandler` (capacity ``log_flush_batch_size``) writing to
the file, flushed with each save of its progress file and at the end. For the length of
the run a :class:`LogRouter` listens to the package's loggers and hands each record to
the log of the store it concerns (the ``ledger`` attribute of the record), or to every
log when it concerns the whole run.

Two loggers are involved:

- ``batch_multi_plot_spectrogram`` (the package logger): what the library reports to
  whoever configured logging. The router listens here too, within the levels the
  application set.
- ``batch_multi_plot_spectrogram.run``: the run's own record, one line per item with
  tracebacks of failures, written to the log files only (it does not propagate during a
  run), so tracebacks never reach the console.

Records made while an item runs in a worker (by ``build_datasets_fn`` or the library) are
captured there (:func:`capture_records`), travel back with the item's result as plain
dicts, and are replayed on the driver (:meth:`BatchLog.replay`).
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "LOGGER_NAME",
    "LOG_FORMAT",
    "RUN_LOGGER_NAME",
    "BatchLog",
    "LogRouter",
    "apply_logger_levels",
    "capture_records",
    "logger_levels",
    "record_to_dict",
]

LOGGER_NAME = "batch_multi_plot_spectrogram"
RUN_LOGGER_NAME = f"{LOGGER_NAME}.run"
WARNINGS_LOGGER_NAME = "py.warnings"  # where logging.captureWarnings sends warnings
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


#: Threads that do the I/O of every item of a process (fsspec's and zarr's event loops):
#: their records (the retries of remote reads) go to the items running at the time.
_IO_THREADS = frozenset({"fsspecIO", "zarr_io"})


class _Collector(logging.Handler):
    """Keep the records made by one thread (a worker may run several items at once), and
    those of the shared I/O threads."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread or record.threadName in _IO_THREADS:
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


class _FileHandler(logging.FileHandler):
    """A log file that, when it cannot be written (a full disk), keeps the first error for
    :attr:`BatchLog.failure` instead of printing a traceback for every record."""

    failure: OSError | None = None

    def handleError(self, record: logging.LogRecord) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            if self.failure is None:
                self.failure = error
            return
        super().handleError(record)


class BatchLog:
    """The buffered log file of one progress file.

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
        self._file: _FileHandler | None = None
        self._memory: logging.handlers.MemoryHandler | None = None

    def open(self) -> None:
        """Make the buffered file handler (the file is created at the first write)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = _FileHandler(self.path, mode="a", encoding="utf-8", delay=True)
        self._file.setFormatter(logging.Formatter(LOG_FORMAT))
        # Flush on capacity or on explicit flushes only (the default flushLevel, ERROR,
        # would write at every failing item); a critical record is written at once.
        self._memory = logging.handlers.MemoryHandler(
            self.capacity, flushLevel=logging.CRITICAL, target=self._file, flushOnClose=True
        )

    def handle(self, record: logging.LogRecord) -> None:
        """Buffer one record."""
        if self._memory is not None:
            self._memory.handle(record)

    def flush(self) -> None:
        """Write the buffered records to the file.

        Raises
        ------
        OSError
            When the file could not be written (the first such error of the run).
        """
        if self._memory is not None:
            self._memory.flush()
        if self._file is not None and self._file.failure is not None:
            raise self._file.failure

    def close(self) -> None:
        """Flush and close."""
        if self._memory is None:
            return
        self._memory.close()
        if self._file is not None:
            self._file.close()
        self._memory = None
        self._file = None


class LogRouter(logging.Handler):
    """Hand the records of a run to the log of the store each concerns.

    A record with a ``ledger`` attribute goes to that ledger's log; a record without one
    goes to the log of :attr:`current` (set while an item runs in this thread), else to
    every log. Attach with :meth:`attach` for the length of the run.
    """

    def __init__(self, logs: Mapping[int, BatchLog]) -> None:
        super().__init__()
        self.logs = dict(logs)
        self.current: int | None = None
        self._run_logger_state: tuple[int, bool] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        ledger = getattr(record, "ledger", self.current)
        if ledger is None:
            for log in self.logs.values():
                log.handle(record)
        elif ledger in self.logs:
            self.logs[ledger].handle(record)

    def attach(self) -> None:
        """Listen to the package logger, to Python's warnings when they are logged
        (:func:`logging.captureWarnings`), and to the run logger (which stops
        propagating)."""
        logging.getLogger(LOGGER_NAME).addHandler(self)
        logging.getLogger(WARNINGS_LOGGER_NAME).addHandler(self)
        run = logging.getLogger(RUN_LOGGER_NAME)
        self._run_logger_state = (run.level, run.propagate)
        run.setLevel(logging.INFO)
        run.propagate = False
        run.addHandler(self)

    def detach(self) -> None:
        """Stop listening and restore the run logger."""
        logging.getLogger(LOGGER_NAME).removeHandler(self)
        logging.getLogger(WARNINGS_LOGGER_NAME).removeHandler(self)
        run = logging.getLogger(RUN_LOGGER_NAME)
        run.removeHandler(self)
        if self._run_logger_state is not None:
            run.setLevel(self._run_logger_state[0])
            run.propagate = self._run_logger_state[1]
            self._run_logger_state = None

    def replay(
        self, records: Sequence[Mapping[str, Any]], *, ledger: int, in_process: bool
    ) -> None:
        """Re-emit records captured while an item of ``ledger`` ran.

        Parameters
        ----------
        records
            Dicts from :func:`record_to_dict`.
        ledger
            The ledger of the item.
        in_process
            True when the item ran in this process: its records already went through
            the loggers here, so only those that missed the logs are written to them.
        """
        for data in records:
            record = logging.makeLogRecord(dict(data))
            record.ledger = ledger
            if not in_process:
                # As if logged here: the application's handlers see it, and records of
                # this library reach the log through the package logger.
                logging.getLogger(record.name).handle(record)
            if (
                not _is_ours(record.name)
                and record.name != WARNINGS_LOGGER_NAME
                and (ledger in self.logs)
            ):
                self.logs[ledger].handle(record)
