"""Recording a run: one ledger per progress file, saved in batches.

A *ledger* is where a set of items records what became of them: a progress file (with
its lock) and a log file, beside one store of an archive, or where one call of
:func:`generic_batch_plot` asked. One run may keep many ledgers (an archive of many
stores) while all its items go through one executor; each ledger is locked, read, saved
and logged on its own, so that a store keeps its own resumable state.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..errors import DiskFullError
from ._logs import RUN_LOGGER_NAME, BatchLog
from ._progress import Progress, ProgressLock
from ._tasks import ItemResult, Status

__all__ = ["Ledger", "LedgerSpec", "Recorder", "RunObserver"]

log = logging.getLogger(__name__)


class RunObserver(Protocol):
    """Told of every recorded item, every save of a ledger, and the end of the run (in
    the driver)."""

    def recorded(self, ledger: int, result: ItemResult) -> None:
        """An item of ledger number ``ledger`` finished (or was found unplaceable)."""

    def saved(self, ledger: int) -> None:
        """Ledger number ``ledger`` was just saved: its progress file is on disk."""

    def finished(self) -> None:
        """Every open ledger was saved for the last time: the run ends (done, stopped by
        a signal or by an error). Called even when no ledger could be opened."""


@dataclass(frozen=True)
class LedgerSpec:
    """Where a set of items records its progress.

    Attributes
    ----------
    name
        What the items are, for messages: a store's path, or the output folder.
    output_dir
        Absolute path of the folder the figures go to.
    progress_path
        The progress file.
    log_path
        The log file.
    """

    name: str
    output_dir: Path
    progress_path: Path
    log_path: Path


@dataclass
class Ledger:
    """The state of one ledger during a run."""

    number: int
    spec: LedgerSpec
    settings: dict[str, Any]
    log_capacity: int
    progress: Progress = field(init=False)
    lock: ProgressLock = field(init=False)
    log: BatchLog = field(init=False)
    statuses: dict[str, Status] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(
        default_factory=lambda: {"ok": 0, "no_data": 0, "error": 0, "skipped": 0}
    )
    failed: list[str] = field(default_factory=list)
    problems: dict[str, tuple[str, ...]] = field(default_factory=dict)
    unsaved: int = 0
    last_save: float = field(default_factory=time.monotonic)
    next_index: int = 0
    is_open: bool = False

    def __post_init__(self) -> None:
        self.progress = Progress(self.spec.progress_path, str(self.spec.output_dir), self.settings)
        self.lock = ProgressLock(self.spec.progress_path)
        self.log = BatchLog(self.spec.log_path, self.log_capacity)

    def open(self, *, ignore_progress: bool) -> list[str]:
        """Lock the progress file, read it, and open the log.

        Returns notes for the log. On any failure the lock is released and nothing is
        left open.

        Raises
        ------
        ProgressLockedError, ProgressFileError, OSError
            When another run holds the file, it cannot be used, or a folder cannot be made.
        """
        self.spec.output_dir.mkdir(parents=True, exist_ok=True)
        self.spec.progress_path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            notes: list[str] = []
            if not ignore_progress:
                self.progress, notes = Progress.load(
                    self.spec.progress_path, str(self.spec.output_dir), self.settings
                )
            self.log.open()
        except BaseException:
            self.lock.release()
            raise
        self.is_open = True
        return notes

    def take_index(self) -> int:
        """The index of the next item of this ledger, in the order items came."""
        index = self.next_index
        self.next_index += 1
        return index

    def skip(self, key: str, status: Status) -> None:
        """An item already done: its recorded status stands."""
        self.statuses[key] = status
        self.skipped.add(key)
        self.counts["skipped"] += 1

    def record(self, result: ItemResult) -> None:
        """Record the outcome of one finished item (and the file it wrote)."""
        output = None
        if result.output_path is not None:
            output = Path(result.output_path).relative_to(self.spec.output_dir).as_posix()
        self.progress.record(result.key, result.status, result.index, output, result.problems)
        self.statuses[result.key] = result.status
        self.skipped.discard(result.key)
        self.counts[result.status] += 1
        if result.status == "error":
            self.failed.append(result.key)
        if result.problems:
            self.problems[result.key] = result.problems
        self.unsaved += 1

    def close(self) -> None:
        """Close the log and release the lock."""
        if not self.is_open:
            return
        self.is_open = False
        try:
            self.log.close()
        finally:
            self.lock.release()

    def done_text(self, seconds: float) -> str:
        c = self.counts
        return (
            f"{c['ok']} ok, {c['no_data']} no_data, {c['error']} error, "
            f"{c['skipped']} skipped as complete, in {seconds:.1f} s"
        )


class Recorder:
    """Records finished items in their ledgers and saves them in batches.

    A ledger is saved every ``flush_batch_size`` of its items, and at least every
    ``flush_interval`` seconds while its items finish.
    """

    def __init__(
        self,
        ledgers: list[Ledger],
        *,
        flush_batch_size: int,
        flush_interval: float,
        observer: RunObserver | None = None,
    ) -> None:
        self.ledgers = ledgers
        self.flush_batch_size = flush_batch_size
        self.flush_interval = flush_interval
        self.observer = observer
        self.run_log = logging.getLogger(RUN_LOGGER_NAME)

    def record(self, ledger: Ledger, result: ItemResult) -> None:
        ledger.record(result)
        if self.observer is not None:
            self.observer.recorded(ledger.number, result)
        where = f"{result.key!r} (#{result.index})"
        extra = {"ledger": ledger.number, "ledger_name": ledger.spec.name, "item": result.key}
        if result.status == "ok":
            self.run_log.info(
                "ok       %s -> %s in %.2f s",
                where,
                result.output_path,
                result.seconds,
                extra=extra,
            )
        elif result.status == "no_data":
            self.run_log.info("no_data  %s: %s", where, result.message, extra=extra)
        else:
            self.run_log.error(
                "error    %s: %s\n%s",
                where,
                result.message,
                (result.traceback or "(no traceback)").rstrip(),
                extra=extra,
            )
        for problem in result.problems:
            self.run_log.warning("problem  %s: %s", where, problem, extra=extra)
        if ledger.unsaved >= self.flush_batch_size:
            self.save(ledger)

    def save(self, ledger: Ledger) -> None:
        """Save one ledger, and tell the observer.

        Raises
        ------
        DiskFullError
            When the disk holding the progress file or the log is full (the previous
            progress file is left intact).
        """
        progress = f"the progress file {str(ledger.spec.progress_path)!r}"
        with _full_disk_stops(progress, "saved", "the previous one is left intact"):
            ledger.progress.save()
        ledger.unsaved, ledger.last_save = 0, time.monotonic()
        log = f"the log {str(ledger.spec.log_path)!r}"
        with _full_disk_stops(log, "written", "the progress file is saved"):
            ledger.log.flush()
        if self.observer is not None:
            self.observer.saved(ledger.number)

    def save_due(self) -> None:
        """Save the ledgers whose last save is older than the flush interval."""
        now = time.monotonic()
        for ledger in self.ledgers:
            if ledger.is_open and ledger.unsaved and now - ledger.last_save >= self.flush_interval:
                self.save(ledger)

    def finish(self) -> None:
        """After the run's last save: tell the observer."""
        if self.observer is not None:
            self.observer.finished()


def absolute(path: str | os.PathLike[str]) -> Path:
    """``path`` made absolute, with ``~`` expanded (symbolic links kept)."""
    return Path(os.path.abspath(Path(os.fspath(path)).expanduser()))


@contextlib.contextmanager
def _full_disk_stops(what: str, done: str, kept: str) -> Iterator[None]:
    """A full disk while ``what`` is written becomes a :class:`DiskFullError` saying
    what could not be ``done`` and what is ``kept``; other errors pass unchanged."""
    try:
        yield
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            f"The disk is full: {what} could not be {done} ({exc.strerror}); {kept}."
        ) from exc
