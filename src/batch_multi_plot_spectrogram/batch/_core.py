"""The batch core: :func:`generic_batch_plot`, one code path over any executor.

:func:`run_batch` plans items as they come (:mod:`._planning`), submits
:func:`~._tasks.run_item` with a small :class:`~._tasks.ItemTask` to a
:class:`~.executors.BatchExecutor`, collects results as they finish and records them in
their ledgers (:mod:`._recording`). Only the driver writes progress files and logs;
workers write the figures (atomically) and nothing else. :func:`generic_batch_plot` runs
it with one ledger; the archive runner with one per store.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import hashlib
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from ..errors import DiskFullError, ProgressFileError, ProgressLockedError, SettingError
from ..options import FigureOptions, describe_value, parse_argument
from ._logs import RUN_LOGGER_NAME, LogRouter, logger_levels
from ._planning import Done, Failed, Planner, Repeat
from ._recording import Ledger, LedgerSpec, Recorder, RunObserver, absolute
from ._shipping import FunctionSet, Shipment
from ._signals import Interrupted, SignalGuard
from ._tasks import WORKER_MODULES, ItemResult, init_worker, run_item
from .executors import BatchExecutor, LocalProcessPool, make_executor, usable_cores

__all__ = [
    "RunReport",
    "generic_batch_plot",
    "local_process_pool",
    "run_batch",
    "settings_of",
]

log = logging.getLogger(__name__)

_POLL_SECONDS = 0.1  # how often the driver looks at signals, timeouts and the flush clock


@dataclass
class RunReport:
    """What a run did.

    Attributes
    ----------
    ledgers
        Every ledger, with the status of each of its items (``statuses``), those skipped
        as already done (``skipped``) and its counts.
    refused
        Ledgers that could not be opened (locked, unreadable or another run's progress
        file, unwritable folder), by number, with the reason; their items were not run.
    seconds
        How long the run took.
    unsaved
        What could not be saved at the end (a full disk), one sentence each.
    """

    ledgers: list[Ledger]
    refused: dict[int, BaseException] = field(default_factory=dict)
    seconds: float = 0.0
    unsaved: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Items per outcome over all ledgers (``skipped`` apart)."""
        out = {"ok": 0, "no_data": 0, "error": 0, "skipped": 0}
        for ledger in self.ledgers:
            for name, value in ledger.counts.items():
                out[name] += value
        return out


@dataclass
class _Pending:
    ledger: Ledger
    index: int
    key: str
    submitted: float


def _failure(index: int, key: str, exc: BaseException, prefix: str = "") -> ItemResult:
    return ItemResult(
        index=index,
        key=key,
        status="error",
        output_path=None,
        message=f"{prefix}{type(exc).__name__}: {exc}",
        traceback="".join(traceback.format_exception(exc)),
        records=(),
        seconds=0.0,
        pid=os.getpid(),
    )


class _Run:
    """The driver of one run."""

    def __init__(
        self,
        *,
        ledgers: list[Ledger],
        executor: BatchExecutor,
        shipment: Shipment,
        planner: Planner,
        item_timeout: float | None,
        recorder: Recorder,
        ignore_progress: bool,
        guard: SignalGuard,
        show_bar: bool,
        status_every: float | None,
        totals: Sequence[int] | None,
        refuse: Literal["raise", "skip"],
    ) -> None:
        self.ledgers = ledgers
        self.executor = executor
        self.shipment = shipment
        self.planner = planner
        self.item_timeout = item_timeout
        self.recorder = recorder
        self.ignore_progress = ignore_progress
        self.guard = guard
        self.show_bar = show_bar
        self.status_every = status_every
        self.total: int | None = None
        self.last_status = time.monotonic()
        self.totals = totals
        self.refuse = refuse
        self.report = RunReport(ledgers)
        self.router = LogRouter({})
        self.pending: dict[Future[Any], _Pending] = {}
        self.pending_keys: dict[int, set[str]] = {ledger.number: set() for ledger in ledgers}
        self.run_log = logging.getLogger(RUN_LOGGER_NAME)
        self.started = time.monotonic()
        self.bar: Any = None

    # -- the run --------------------------------------------------------------------------

    def run(self, work: Iterable[tuple[int, Any]]) -> RunReport:
        try:
            outcome = self._run(work)
        except Interrupted as exc:  # a second signal cut the clean-up short
            outcome = exc
        finally:
            self.shipment.release(self.executor)
        self.report.seconds = time.monotonic() - self.started
        signum = outcome.signum if isinstance(outcome, Interrupted) else self.guard.received
        if signum == signal.SIGINT or isinstance(outcome, KeyboardInterrupt):
            # A plain KeyboardInterrupt (a subclass would not end the interpreter by
            # SIGINT), carrying what was done.
            stopped = KeyboardInterrupt()
            stopped.report = self.report  # type: ignore[attr-defined]
            raise stopped
        if signum == signal.SIGTERM:
            # The previous handler is back: let it (by default: termination) have the signal.
            signal.raise_signal(signal.SIGTERM)
            return self.report
        if isinstance(outcome, DiskFullError):
            outcome.report = self.report  # type: ignore[attr-defined]
        if outcome is not None:
            raise outcome
        return self.report

    def _open_ledgers(self) -> list[tuple[Ledger, list[str]]]:
        opened = []
        try:
            for ledger in self.ledgers:
                try:
                    notes = ledger.open(ignore_progress=self.ignore_progress)
                except (ProgressFileError, ProgressLockedError, OSError) as exc:
                    if self.refuse == "raise":
                        raise
                    self.report.refused[ledger.number] = exc
                    continue
                opened.append((ledger, notes))
        except BaseException:
            for ledger, _ in opened:
                ledger.close()
            raise
        return opened

    def _run(self, work: Iterable[tuple[int, Any]]) -> BaseException | None:
        """Run and clean up; return what stopped the run early, if anything."""
        outcome: BaseException | None = None
        # Signals are caught from before the first lock is taken: a run stopped at any
        # instant after that saves its progress file.
        self.guard.install()
        try:
            opened = self._open_ledgers()
        except BaseException:
            self.guard.restore()
            raise
        self.router = LogRouter({ledger.number: ledger.log for ledger, _ in opened})
        self.router.attach()
        try:
            self._start(opened)
            try:
                if opened:
                    self.executor.start()
                    self.shipment.send(self.executor)
                    self._loop(work)
            except BaseException as exc:
                outcome = exc
            stopping = outcome is not None or self.guard.received is not None
            if stopping:
                self.executor.stop(list(self.pending))
            self.executor.close(stopping=stopping)
            self._collect_finished()
            for ledger, _ in opened:
                try:
                    self.recorder.save(ledger)
                except DiskFullError as exc:
                    self.report.unsaved.append(exc.reason)
                    if outcome is None:
                        outcome = exc
            self.recorder.finish()
            self._summarise(outcome)
        finally:
            self.guard.restore()
            if self.bar is not None:
                self.bar.close()
            self.router.detach()
            for ledger, _ in opened:
                ledger.close()
        return outcome

    def _start(self, opened: list[tuple[Ledger, list[str]]]) -> None:
        total: int | None = None
        if self.totals is not None:
            total = sum(self.totals[ledger.number] for ledger, _ in opened)
        for ledger, notes in opened:
            recorded = ledger.progress.counts()
            size = "an unknown number of" if self.totals is None else self.totals[ledger.number]
            self.run_log.info(
                "batch started: %s item(s) to %s with %s; progress %s (recorded: %d ok, "
                "%d no_data, %d error%s); log %s",
                size,
                ledger.spec.output_dir,
                self.executor.describe(),
                ledger.spec.progress_path,
                recorded["ok"],
                recorded["no_data"],
                recorded["error"],
                ", ignored: ignore_progress_json=True" if self.ignore_progress else "",
                ledger.spec.log_path,
                extra={"ledger": ledger.number},
            )
            for note in notes:
                log.warning("%s", note, extra={"ledger": ledger.number})
        self.total = total
        self.bar = tqdm(
            total=total,
            unit="item",
            desc="spectrograms",
            file=sys.stderr,
            disable=not self.show_bar,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def _loop(self, work: Iterable[tuple[int, Any]]) -> None:
        with self.guard.interruptible():
            iterator = iter(work)
        exhausted = False
        while self.guard.received is None:
            while not exhausted and len(self.pending) < self.executor.in_flight():
                try:
                    with self.guard.interruptible():
                        number, item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                ledger = self.ledgers[number]
                if ledger.is_open:
                    self._plan(ledger, item)
                if self.guard.received is not None:
                    return
            if exhausted and not self.pending:
                return
            self._collect()
            self.recorder.save_due()
            self._status()

    def _status(self) -> None:
        """Without a progress bar: a status line every ``status_every`` seconds (for the
        logs of batch systems). Items already done before this run are not counted in the
        rate."""
        now = time.monotonic()
        if self.status_every is None or now - self.last_status < self.status_every:
            return
        self.last_status = now
        counts = self.report.counts()
        done = counts["ok"] + counts["no_data"] + counts["error"]
        rate = done / max(now - self.started, 1e-9)
        line = f"spectrograms: {done} done"
        if self.total is not None:
            left = self.total - done - counts["skipped"]
            line += f", {left} to go"
            if rate > 0:
                line += f" (about {left / rate / 60:.0f} min left)"
        line += f", {counts['error']} error(s), {rate:.2f} items/s"
        if counts["skipped"]:
            line += f"; {counts['skipped']} already done"
        print(line, file=sys.stderr, flush=True)

    def _plan(self, ledger: Ledger, item: Any) -> None:
        index = ledger.take_index()
        try:
            decision = self.planner.plan(ledger, index, item, self.pending_keys[ledger.number])
        except SettingError:
            raise  # an item without a stable key stops the run, after saving
        if isinstance(decision, Repeat):
            self.run_log.warning(
                "skipped item %r at index %d: the same key came before",
                decision.key,
                index,
                extra={"ledger": ledger.number},
            )
            self._advance_bar()
            return
        if isinstance(decision, Done):
            ledger.skip(decision.key, decision.status)
            self._advance_bar()
            return
        if isinstance(decision, Failed):
            self._record(ledger, _failure(index, decision.key, decision.error))
            return
        task = decision.task
        if decision.missing:
            self.run_log.info(
                "re-rendering %r: recorded ok but %s is missing",
                task.key,
                task.output_path,
                extra={"ledger": ledger.number},
            )
        try:
            if self.executor.runs_in_caller:
                self.router.current = ledger.number
                try:
                    with self.guard.interruptible():
                        future = self.executor.submit(run_item, task)
                finally:
                    self.router.current = None
            else:
                future = self.executor.submit(run_item, task)
        except Exception as exc:  # e.g. an item that cannot be pickled
            self._record(ledger, _failure(index, task.key, exc, "could not be sent to a worker: "))
            return
        self.pending[future] = _Pending(ledger, index, task.key, time.monotonic())
        self.pending_keys[ledger.number].add(task.key)

    def _collect(self) -> None:
        done, _ = concurrent.futures.wait(
            self.pending, timeout=_POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            pending = self._pop(future)
            self._record(pending.ledger, self._outcome(future, pending))
        if self.item_timeout is not None and not self.executor.enforces_timeout:
            # An executor that cannot stop a running task: give up waiting for it.
            now = time.monotonic()
            for future, pending in list(self.pending.items()):
                if now - pending.submitted > self.item_timeout:
                    future.cancel()
                    self._pop(future)
                    self._record(
                        pending.ledger,
                        _failure(
                            pending.index,
                            pending.key,
                            TimeoutError(
                                f"no result {self.item_timeout} s after submission "
                                "(item_timeout); the executor cannot stop the task, its late "
                                "result is ignored"
                            ),
                        ),
                    )

    def _collect_finished(self) -> None:
        # After a stop: keep what finished before the workers were ended.
        for future in list(self.pending):
            if future.done() and not future.cancelled() and future.exception() is None:
                pending = self._pop(future)
                self._record(pending.ledger, self._outcome(future, pending))

    def _pop(self, future: Future[Any]) -> _Pending:
        pending = self.pending.pop(future)
        self.pending_keys[pending.ledger.number].discard(pending.key)
        return pending

    def _outcome(self, future: Future[Any], pending: _Pending) -> ItemResult:
        try:
            result = future.result()
        except BaseException as exc:  # also a KeyboardInterrupt raised by a worker's code
            return _failure(pending.index, pending.key, exc)
        if not isinstance(result, ItemResult):
            return _failure(
                pending.index,
                pending.key,
                TypeError(f"the executor returned {type(result).__name__}, not an ItemResult"),
            )
        return result

    def _record(self, ledger: Ledger, result: ItemResult) -> None:
        self.router.replay(
            result.records, ledger=ledger.number, in_process=result.pid == os.getpid()
        )
        self.recorder.record(ledger, result)
        if result.status == "error" and self.bar is not None:
            errors = sum(lg.counts["error"] for lg in self.ledgers)
            self.bar.set_postfix_str(f"errors={errors}", refresh=False)
        self._advance_bar()
        if result.errno == errno.ENOSPC:
            # Every item after this one would fail the same way: stop at the first.
            raise DiskFullError(
                f"The disk is full: the figure of item {result.key!r} could not be written "
                f"({result.message}). The run stopped there; free some space and run it "
                "again to continue."
            )

    def _advance_bar(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _summarise(self, outcome: BaseException | None) -> None:
        seconds = time.monotonic() - self.started
        signum = outcome.signum if isinstance(outcome, Interrupted) else self.guard.received
        for ledger in self.ledgers:
            if not ledger.is_open:
                continue
            extra = {"ledger": ledger.number}
            done = ledger.done_text(seconds)
            if signum is not None or isinstance(outcome, KeyboardInterrupt):
                name = signal.Signals(signum).name if signum is not None else "KeyboardInterrupt"
                self.run_log.warning(
                    "batch stopped by %s after %s; progress saved, run again to continue",
                    name,
                    done,
                    extra=extra,
                )
            elif isinstance(outcome, DiskFullError):
                self.run_log.warning("batch stopped: %s After %s", outcome, done, extra=extra)
            elif outcome is not None:
                self.run_log.error(
                    "batch stopped by an error after %s", done, exc_info=outcome, extra=extra
                )
            else:
                self.run_log.info("batch finished: %s", done, extra=extra)
            if ledger.failed:
                shown = ", ".join(repr(k) for k in ledger.failed[:5])
                more = f" and {len(ledger.failed) - 5} more" if len(ledger.failed) > 5 else ""
                log.warning(
                    "%d item(s) failed: %s%s; reasons and tracebacks are in %s",
                    len(ledger.failed),
                    shown,
                    more,
                    ledger.spec.log_path,
                    extra=extra,
                )


def run_batch(
    work: Iterable[tuple[int, Any]],
    *,
    ledgers: Sequence[LedgerSpec],
    functions: FunctionSet,
    settings: Mapping[str, Any],
    executor: BatchExecutor,
    output_name: Callable[[int, str], Any] | None = None,
    item_timeout: float | None = None,
    flush_batch_size: int = 10,
    log_capacity: int | None = None,
    flush_interval: float = 60.0,
    ignore_progress: bool = False,
    install_signal_handlers: bool = True,
    progress_bar: bool = False,
    totals: Sequence[int] | None = None,
    refuse: Literal["raise", "skip"] = "raise",
    observer: RunObserver | None = None,
    status_every: float | None = None,
    previews: bool = False,
) -> RunReport:
    """Run items of one or more ledgers through one executor (arguments checked already).

    Parameters
    ----------
    work
        ``(ledger number, item)`` pairs, read lazily, once.
    ledgers
        Where the items of each ledger record their progress.
    functions
        ``(build_datasets_fn, vertical_lines_fn, title_fn, figure options)``.
    settings
        What shapes the pictures, recorded in every progress file and compared on resume.
    executor
        Where items run.
    output_name
        ``output_name(ledger number, key)``: an item's output file relative to its
        ledger's folder (default: its key's safe file name, see
        :func:`~._keys.safe_name`).
    totals
        The number of items of each ledger, when known (for the progress bar and log).
    refuse
        What a ledger that cannot be opened does: stop the run (``"raise"``) or be left
        out, with the reason in :attr:`RunReport.refused` (``"skip"``).
    observer
        Told of every recorded item, every save and the end of the run (see
        :class:`~._recording.RunObserver`).
    status_every
        Without a progress bar, print a status line on stderr this often (seconds).
    previews
        Have workers write each item's thumbnail and record beside its figure (see
        :mod:`._previews`).

    Raises
    ------
    KeyboardInterrupt
        After SIGINT, once progress and logs are saved; its ``report`` attribute is the
        :class:`RunReport` of what was done.
    """
    options = functions[3]
    shipment = Shipment.pack(functions, in_caller=executor.runs_in_caller)
    opened = [
        Ledger(n, spec, dict(settings), log_capacity or flush_batch_size)
        for n, spec in enumerate(ledgers)
    ]
    run = _Run(
        ledgers=opened,
        executor=executor,
        shipment=shipment,
        planner=Planner(shipment, options.output_format, output_name, previews=previews),
        item_timeout=item_timeout,
        recorder=Recorder(
            opened,
            flush_batch_size=flush_batch_size,
            flush_interval=flush_interval,
            observer=observer,
        ),
        ignore_progress=ignore_progress,
        guard=SignalGuard(install_signal_handlers),
        show_bar=progress_bar,
        status_every=None if progress_bar else status_every,
        totals=totals,
        refuse=refuse,
    )
    return run.run(work)


def local_process_pool(
    *, max_workers: int | None = None, item_timeout: float | None = None
) -> LocalProcessPool:
    """A crash-tolerant pool of worker processes for :func:`generic_batch_plot`.

    What ``executor="processes"`` makes for one batch, for callers that share one pool
    between several batches (pass it as ``executor=``; it is then not shut down by the
    batch). Shut it down when done.

    Parameters
    ----------
    max_workers
        Worker processes (default: all usable cores).
    item_timeout
        Seconds an item may run before its worker is killed and the item fails.
    """
    workers = parse_argument("max_workers", max_workers) or usable_cores()
    timeout = parse_argument("item_timeout", item_timeout)
    return LocalProcessPool(
        workers,
        item_timeout=timeout,
        initializer=init_worker,
        initargs=(logger_levels(),),
        preload=WORKER_MODULES,
    )


def _callable_setting(fn: Any) -> Any:
    """How a callable stands in the settings: its qualified name, with its own readable
    settings when it describes them (``describe_settings()``), else, for a dataclass
    instance, a digest of its fields (so that a change of fields is a change of settings).
    """
    if fn is None:
        return None
    name = describe_value(fn)
    describe = getattr(fn, "describe_settings", None)
    if callable(describe):
        return {"callable": name, **describe_value(describe())}
    if dataclasses.is_dataclass(fn) and not isinstance(fn, type):
        return f"{name}[{hashlib.sha256(repr(fn).encode()).hexdigest()[:16]}]"
    return name


def settings_of(options: FigureOptions, callables: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a progress file records: the figure options (without the per-item
    title) and the callables, readable."""
    settings = options.describe()
    settings.pop("figure_title", None)
    settings.update({name: _callable_setting(fn) for name, fn in sorted(callables.items())})
    return settings


def _by_key(fn: Callable[[str], Any] | None) -> Callable[[int, str], Any] | None:
    """An ``output_name_fn(key)`` as the planner calls it (with the ledger number)."""
    if fn is None:
        return None
    return lambda _ledger, key: fn(key)


def _optional_callable(value: object, name: str) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise SettingError(f"Expected {name} to be a callable or None. Got {value!r} instead.")
    return value


def generic_batch_plot(
    items: Iterable[Any],
    output_dir: str | os.PathLike[str],
    build_datasets_fn: Callable[[Any], Any],
    *,
    flush_batch_size: int = 10,
    log_flush_batch_size: int | None = None,
    progress_json_path: str | os.PathLike[str] = "generic_progress.json",
    ignore_progress_json: bool = False,
    install_signal_handlers: bool = True,
    log_path: str | os.PathLike[str] | None = None,
    max_workers: int | None = None,
    executor: Any = "processes",
    item_timeout: float | None = None,
    client: Any = None,
    scheduler_address: str | None = None,
    max_in_flight: int | None = None,
    flush_interval_seconds: float = 60.0,
    progress_bar: bool | None = None,
    output_name_fn: Callable[[str], str] | None = None,
    vertical_lines_fn: Callable[[Any], Any] | None = None,
    title_fn: Callable[[Any], str | None] | None = None,
    colormap: Any = "viridis",
    y_scale: str = "linear",
    z_scale: str = "linear",
    y_min: float | None = None,
    y_max: float | None = None,
    z_min: float | None = None,
    z_max: float | None = None,
    zoom_duration_minutes: float | None = None,
    vertical_lines: Any = None,
    gap_seconds: float | None = None,
    pixel_reduce: str = "mean",
    z_percentiles: tuple[float, float] = (1.0, 99.0),
    collapse_axis: int | None = 1,
    collapse: Any = "sum",
    dpi: float = 150,
    output_format: str = "png",
) -> dict[str, str]:
    """Render one multi-row spectrogram PNG per item, resumably and in parallel.

    For each item, ``build_datasets_fn(item)`` returns the rows of its figure; the figure
    is written to ``output_dir`` as a PNG. Progress is recorded in a JSON file so that a
    later call with the same arguments skips finished items; an interrupted or killed run
    loses at most the items finished since the last save.

    Parameters
    ----------
    items
        The items, any iterable (read lazily, once). Each item's *key* names it in the
        progress file and in the PNG's name: a ``str`` is itself; ``int`` and numpy
        integers give ``str(int(item))`` (``5`` and ``numpy.int64(5)`` are one item);
        other real numbers ``repr(float(item))``; ``os.PathLike`` its ``os.fspath``;
        tuples their parts' keys joined by ``"/"``; anything else ``str(item)``, which must
        not be a default object repr. A key seen twice is rendered once.
    output_dir
        Folder of the figures, created if needed. An item's figure is
        ``output_dir/<key>.png`` (``.pdf``, ``.svg`` with ``output_format``), where
        characters other than letters, digits, ``.``, ``_`` and ``-`` become ``_`` and, if
        any did (or the name begins with ``.`` or ``-``, is a Windows device name, is over
        200 bytes long or ends like such a hash), a short hash of the key is appended
        (``"2000/01/orbit"`` -> ``2000_01_orbit-<hash>.png``), so keys never share a file.
        Keys that differ only by case get a hash too, for file systems that ignore case.
    build_datasets_fn
        ``build_datasets_fn(item)`` returns a list of dataset dicts (keys ``x``, ``y``,
        ``data``, optional ``label``, ``y_min``, ``vmin``, ...; see
        :class:`~batch_multi_plot_spectrogram.DatasetDict`), or an
        :class:`~batch_multi_plot_spectrogram.ItemPlot` whose ``options`` override the
        plot options of this call for that item, or ``[]``/``None`` when the item has no
        data. Any callable works, lambdas and closures defined in ``__main__`` or a
        notebook included: it is sent to worker processes with cloudpickle.
    flush_batch_size
        The progress file (and the log) is saved after every ``flush_batch_size``
        finished items, whatever their status; also after ``flush_interval_seconds``, at
        the end, on SIGINT/SIGTERM and on an exception.
    log_flush_batch_size
        Records held in memory before the log file is written (default:
        ``flush_batch_size``). The log is also written at every progress save.
    progress_json_path
        The progress file. A relative path is taken relative to ``output_dir`` (the
        default is ``output_dir/generic_progress.json``). Besides the spec's keys
        (``completed_items``, ``errors``, ``no_data``, ``last_index``,
        ``schema_version``) it records the output folder and the picture-shaping settings.
        One run at a time may use it: a lock file ``<progress>.lock`` refuses a second.
    ignore_progress_json
        Ignore any recorded progress and render every item; the file is overwritten at
        the first save.
    install_signal_handlers
        While the batch runs, handle SIGINT (Ctrl-C) and SIGTERM: stop submitting, end
        running items, save progress and log, restore the previous handlers, then raise
        ``KeyboardInterrupt`` (SIGINT) or deliver SIGTERM again to the previous handler.
        Pass False in embedded environments to leave handlers alone. Handlers are only
        installed from the main thread, and never over a signal set to be ignored.
    log_path
        The log file (appended to): one line per item, with the reason and traceback of
        every failure. Default: ``<progress file>.log``. A relative path is taken
        relative to ``output_dir``.
    max_workers
        Number of worker processes of the default executor (default: all usable cores).
    executor
        ``"processes"`` (default): local worker processes, one item each at a time; a
        process that dies (killed, out of memory, crash) or overruns ``item_timeout``
        fails only its own item and is replaced. ``"serial"``: in this process, in order
        (for debugging). Or a pool from :func:`local_process_pool`, any
        :class:`concurrent.futures.Executor` (such as a dask
        ``Client(...).get_executor()``), or a
        :class:`~batch_multi_plot_spectrogram.batch.executors.BatchExecutor`; an executor
        of the caller's is not shut down by this call.
    item_timeout
        Seconds an item may take. With ``"processes"`` its worker is killed and the item
        recorded as ``error``; with another executor (where running tasks cannot be
        stopped) the time counts from submission and a late result is ignored. Not
        available with ``"serial"``. Default: no limit.
    client, scheduler_address
        Run on a dask.distributed cluster: a connected ``Client``, or the address of a
        scheduler (``"tcp://HOST:8786"``) to connect to for this call. Items go through
        ``client.get_executor()``, the same batch core as any executor; each task is
        small (the item and the pickled functions), workers read the data themselves,
        and only this process writes progress and the log. A task whose worker is lost
        is retried by dask on another worker and ends as ``error`` after dask's allowed
        failures. Default ``max_in_flight``: twice the cluster's worker threads.
    max_in_flight
        Items submitted but not finished at any time (default: twice ``max_workers``;
        1 with ``"serial"``). Bounds memory and futures whatever the number of items.
    flush_interval_seconds
        Save progress at least this often while items finish.
    progress_bar
        Show a progress bar (items done, rate, time left) on stderr. Default: when stderr
        is a terminal.
    output_name_fn
        ``output_name_fn(key)`` gives the PNG's path relative to ``output_dir`` instead
        (it may hold ``/``: folders are created). It must give each item its own path:
        two items of a run, or an item and the one a progress file records for that
        path, may not share a file (compared case-insensitively).
    vertical_lines_fn, title_fn
        Per-item event lines (UNIX seconds) and figure title, from the item; ``None``
        keeps the call-level value. The title defaults to the item's key.
    colormap, y_scale, z_scale, y_min, y_max, z_min, z_max, zoom_duration_minutes, \
vertical_lines, gap_seconds, pixel_reduce, z_percentiles, collapse_axis, collapse, dpi
        Plot options of every figure, as in
        :func:`~batch_multi_plot_spectrogram.generic_plot_spectrogram_set`. Per item,
        ``ItemPlot.options`` take precedence over ``vertical_lines_fn``/``title_fn``,
        which take precedence over these.
    output_format
        ``"png"`` (default), ``"pdf"`` or ``"svg"``.

    Returns
    -------
    dict
        Item key -> ``"ok"`` (PNG written), ``"no_data"`` (nothing to plot) or
        ``"error"`` (see the log), for every item of this call, including those skipped
        as already complete (with their recorded status).

    Raises
    ------
    ProgressFileError
        When the progress file is corrupt, truncated, not a progress file, of an unknown
        ``schema_version``, or was written for another ``output_dir`` or other plot
        settings (plot options and the callables): recorded work is never
        silently reused for other pictures. The file is left untouched and nothing is
        rendered; pass ``ignore_progress_json=True`` or another ``progress_json_path``.
    ProgressLockedError
        When another run holds the progress file (the message names its pid and host).
    SettingError
        For invalid options, items without a stable key, or a ``build_datasets_fn`` that
        cannot be sent to worker processes.
    KeyboardInterrupt
        After a SIGINT, once progress and log are saved.

    Notes
    -----
    Resuming skips an item only when it is recorded ``ok`` and its PNG exists, or recorded
    ``no_data``; items recorded as ``error`` are tried again, and an item that succeeds is
    moved out of ``errors``. ``last_index`` is the index in ``items`` of the item that
    finished last. With ``"processes"``, scripts must guard their entry point with
    ``if __name__ == "__main__":``, as for any use of :mod:`multiprocessing`.

    Examples
    --------
    >>> generic_batch_plot(items, "plots_generic", load_datasets_for_item)  # doctest: +SKIP
    {'orbit_001': 'ok', 'orbit_002': 'no_data', 'orbit_003': 'ok'}
    """
    if not callable(build_datasets_fn):
        raise SettingError(
            f"Expected build_datasets_fn to be a callable taking one item. Got "
            f"{build_datasets_fn!r} instead."
        )
    run_options = {
        name: parse_argument(name, value)
        for name, value in (
            ("flush_batch_size", flush_batch_size),
            ("log_flush_batch_size", log_flush_batch_size),
            ("flush_interval_seconds", flush_interval_seconds),
            ("max_workers", max_workers),
            ("max_in_flight", max_in_flight),
            ("item_timeout", item_timeout),
        )
    }
    callables = {
        "build_datasets_fn": build_datasets_fn,
        "vertical_lines_fn": _optional_callable(vertical_lines_fn, "vertical_lines_fn"),
        "title_fn": _optional_callable(title_fn, "title_fn"),
        "output_name_fn": _optional_callable(output_name_fn, "output_name_fn"),
    }
    options = FigureOptions.parse(
        {
            "vertical_lines": vertical_lines,
            "zoom_duration_minutes": zoom_duration_minutes,
            "colormap": colormap,
            "y_scale": y_scale,
            "z_scale": z_scale,
            "y_min": y_min,
            "y_max": y_max,
            "z_min": z_min,
            "z_max": z_max,
            "gap_seconds": gap_seconds,
            "pixel_reduce": pixel_reduce,
            "z_percentiles": z_percentiles,
            "collapse_axis": collapse_axis,
            "collapse": collapse,
            "dpi": dpi,
            "output_format": output_format,
        }
    )
    if progress_bar is None:
        progress_bar = sys.stderr is not None and sys.stderr.isatty()

    out = absolute(output_dir)
    progress_path = Path(os.fspath(progress_json_path)).expanduser()
    if not progress_path.is_absolute():
        progress_path = out / progress_path
    if log_path is None:
        resolved_log = progress_path.with_name(progress_path.name + ".log")
    else:
        resolved_log = Path(os.fspath(log_path)).expanduser()
        if not resolved_log.is_absolute():
            resolved_log = out / resolved_log

    runner = make_executor(
        executor,
        max_workers=run_options["max_workers"],
        item_timeout=run_options["item_timeout"],
        max_in_flight=run_options["max_in_flight"],
        client=client,
        scheduler_address=scheduler_address,
        initializer=init_worker,
        initargs=(logger_levels(),),
        preload=WORKER_MODULES,
    )
    try:
        sized: int | None = len(items)  # type: ignore[arg-type]
    except TypeError:
        sized = None
    report = run_batch(
        ((0, item) for item in items),
        ledgers=[LedgerSpec(str(out), out, progress_path, resolved_log)],
        functions=(
            build_datasets_fn,
            callables["vertical_lines_fn"],
            callables["title_fn"],
            options,
        ),
        settings=settings_of(options, callables),
        executor=runner,
        output_name=_by_key(callables["output_name_fn"]),
        item_timeout=run_options["item_timeout"],
        flush_batch_size=run_options["flush_batch_size"],
        log_capacity=run_options["log_flush_batch_size"],
        flush_interval=run_options["flush_interval_seconds"],
        ignore_progress=bool(ignore_progress_json),
        install_signal_handlers=bool(install_signal_handlers),
        progress_bar=bool(progress_bar),
        totals=None if sized is None else [sized],
    )
    return dict(report.ledgers[0].statuses)
