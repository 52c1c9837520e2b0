"""The batch core: :func:`generic_batch_plot`, one code path over any executor.

The driver plans items, submits :func:`run_item` with a small :class:`ItemTask` to an
executor, collects :class:`ItemResult` s as they finish and records them. Only the driver
writes the progress file and the log; workers write PNGs (atomically) and nothing else.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import hashlib
import inspect
import logging
import numbers
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path, PurePath
from types import FrameType
from typing import Any, Literal

import cloudpickle
import numpy as np
from matplotlib.colors import Colormap
from tqdm import tqdm

from .atomic import write_bytes_atomic
from .datasets import ItemPlot, parse_datasets, parse_reducer
from .errors import NoDataError, SettingError
from .executors import (
    LocalProcessPool,
    SerialExecutor,
    make_executor,
    parse_executor,
    shared_payload,
    usable_cores,
)
from .logs import (
    RUN_LOGGER_NAME,
    BatchLog,
    apply_logger_levels,
    capture_records,
    logger_levels,
)
from .progress import Progress, ProgressLock, Status
from .render import parse_options, parse_vertical_lines, render_png

__all__ = [
    "PLOT_OPTION_NAMES",
    "ItemResult",
    "ItemTask",
    "generic_batch_plot",
    "item_key",
    "local_process_pool",
    "run_item",
    "safe_file_stem",
]

log = logging.getLogger(__name__)

#: The options a figure takes; ``ItemPlot.options`` may set any of them for one item.
PLOT_OPTION_NAMES: tuple[str, ...] = (
    "vertical_lines",
    "zoom_duration_minutes",
    "colormap",
    "y_scale",
    "z_scale",
    "y_min",
    "y_max",
    "z_min",
    "z_max",
    "figure_title",
    "gap_seconds",
    "z_percentiles",
    "collapse_axis",
    "collapse",
    "dpi",
)

_POLL_SECONDS = 0.1  # how often the driver looks at signals, timeouts and the flush clock
# How often the in-flight bound follows a cluster that grows or shrinks.
_RESIZE_SECONDS = 5.0
_LARGE_FUNCTIONS = 10_000_000  # bytes of pickled functions worth a warning when re-sent


# ---------------------------------------------------------------------------------------
# Item keys and file names
# ---------------------------------------------------------------------------------------


def item_key(item: Any) -> str:
    """The stable name of an item, used in the progress file and for its PNG.

    - a ``str`` is its own key;
    - integers (``int``, numpy integers) give ``str(int(item))``, so ``5`` and
      ``numpy.int64(5)`` are the same item;
    - other real numbers give ``repr(float(item))`` (``2.5`` -> ``"2.5"``);
    - an ``os.PathLike`` gives its ``os.fspath`` (``Path("a/b")`` -> ``"a/b"``);
    - a tuple gives the keys of its parts joined by ``"/"`` (``("2000", 1)`` ->
      ``"2000/1"``);
    - anything else gives ``str(item)``, unless that looks like a default object repr
      (``<... object at 0x...>``), which changes from run to run.

    Raises
    ------
    SettingError
        For booleans and for objects without a stable ``str``.
    """
    if isinstance(item, str):
        return str(item)
    if isinstance(item, bool | np.bool_):
        raise SettingError(
            f"Expected an item to be a str, int, float, os.PathLike or tuple of those. Got "
            f"the boolean {item!r} instead, which names no item; pass names or numbers."
        )
    if isinstance(item, numbers.Integral):
        return str(int(item))
    if isinstance(item, numbers.Real):
        return repr(float(item))
    if isinstance(item, os.PathLike):
        return os.fsdecode(os.fspath(item))
    if isinstance(item, tuple):
        return "/".join(item_key(part) for part in item)
    text = str(item)
    if " object at 0x" in text:
        raise SettingError(
            f"Cannot name the item {text}: its str() is a default object repr, which changes "
            f"from run to run, so progress could not be resumed. Pass items as str, int, "
            f"float, os.PathLike or tuples of those, or give {type(item).__qualname__} a "
            "__str__ that names the item."
        )
    return text


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 150


def safe_file_stem(key: str) -> str:
    """A file name stem for ``key``, safe on any file system.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``; a leading dot gets a ``_`` in
    front and over-long names are cut. Whenever anything changed, ``-`` and 10 hex digits
    of the key's SHA-256 are appended, so two different keys never share a file.
    """
    stem = _UNSAFE.sub("_", key)
    changed = stem != key
    if not stem or stem.startswith("."):
        stem, changed = "_" + stem, True
    if len(stem) > _MAX_STEM:
        stem, changed = stem[:_MAX_STEM], True
    if changed:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        stem = f"{stem}-{digest}"
    return stem


def _output_path(
    key: str, output_dir: Path, output_name_fn: Callable[[str], Any] | None
) -> Path:
    if output_name_fn is None:
        return output_dir / f"{safe_file_stem(key)}.png"
    relative = output_name_fn(key)
    try:
        parts = PurePath(os.fspath(relative))
    except TypeError:
        parts = None
    if parts is None or parts.is_absolute() or ".." in parts.parts or str(parts) in ("", "."):
        raise SettingError(
            f"output_name_fn({key!r}) returned {relative!r}; expected a relative file path "
            "inside output_dir such as 'orbits/orbit_001.png' (no '..', not absolute)."
        )
    return output_dir / parts


# ---------------------------------------------------------------------------------------
# The work of one item, run by any executor
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ItemTask:
    """What a worker needs to render one item.

    ``functions`` is the cloudpickled tuple ``(build_datasets_fn, vertical_lines_fn,
    title_fn, plot_options)``, identical for every task of a batch; workers unpickle it
    once and keep it under ``functions_digest``. It is empty when the tuple is already
    known where the task runs: registered in this process (``executor="serial"``: the
    caller's own objects run), or sent once to each worker of a local pool.
    """

    index: int
    key: str
    item: Any
    output_path: str
    functions_digest: str
    functions: bytes = b""


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one item.

    ``records`` are the log records made while the item ran, as dicts (see
    :func:`.logs.record_to_dict`); ``traceback`` is set for errors only.
    """

    index: int
    key: str
    status: Status
    output_path: str | None
    message: str
    traceback: str | None
    records: tuple[dict[str, Any], ...]
    seconds: float
    pid: int


_FunctionSet = tuple[Callable[[Any], Any], Callable[[Any], Any] | None,
                     Callable[[Any], Any] | None, dict[str, Any]]

# digest -> functions. Entries starting with "local:" belong to a batch running in this
# process and are removed when it ends; unpickled ones are few (one per batch).
_FUNCTIONS: dict[str, _FunctionSet] = {}
_MAX_UNPICKLED = 4


def _functions_of(task: ItemTask) -> _FunctionSet:
    found = _FUNCTIONS.get(task.functions_digest)
    if found is None:
        blob = task.functions or shared_payload(task.functions_digest)
        if not blob:
            raise RuntimeError(
                f"The functions of this batch ({task.functions_digest}) are not known in "
                "this process: the task ran outside its batch."
            )
        found, levels = cloudpickle.loads(blob)
        apply_logger_levels(levels)
        _FUNCTIONS[task.functions_digest] = found
        unpickled = [k for k in _FUNCTIONS if not k.startswith("local:")]
        for stale in unpickled[:-_MAX_UNPICKLED]:
            del _FUNCTIONS[stale]
    return found


def _render_item(task: ItemTask) -> tuple[Status, str, str | None]:
    build, lines_fn, title_fn, options = _functions_of(task)
    returned = build(task.item)
    item_options: dict[str, Any] = {}
    if isinstance(returned, ItemPlot):
        item_options = dict(returned.options)
        returned = returned.datasets
        unknown = sorted(set(item_options) - set(PLOT_OPTION_NAMES))
        if unknown:
            raise SettingError(
                f"ItemPlot.options has unknown key(s) {unknown}. Accepted: "
                f"{sorted(PLOT_OPTION_NAMES)}."
            )
    datasets = parse_datasets(returned)
    if not datasets:
        what = "None" if returned is None else "no dataset"
        return "no_data", f"build_datasets_fn returned {what}", None
    plot_options = dict(options, figure_title=task.key)
    if lines_fn is not None:
        lines = lines_fn(task.item)
        if lines is not None:
            plot_options["vertical_lines"] = lines
    if title_fn is not None:
        title = title_fn(task.item)
        if title is not None:
            plot_options["figure_title"] = str(title)
    plot_options.update(item_options)
    png = render_png(datasets, **plot_options)
    write_bytes_atomic(task.output_path, png, make_parents=True)
    return "ok", f"{len(png)} bytes", task.output_path


def run_item(task: ItemTask) -> ItemResult:
    """Build, render and write the PNG of one item; never raises for the item's faults.

    Returns
    -------
    ItemResult
        ``ok`` once the PNG is completely on disk; ``no_data`` when
        ``build_datasets_fn`` returned nothing or the renderer found nothing to plot;
        ``error`` (with the traceback) for any exception.
    """
    started = time.perf_counter()
    output: str | None = None
    trace: str | None = None
    with capture_records() as records:
        try:
            status, message, output = _render_item(task)
        except NoDataError as exc:
            status, message = "no_data", f"nothing to plot: {exc}"
        except (Exception, SystemExit) as exc:  # one bad item must not stop the batch
            status, message, trace = "error", f"{type(exc).__name__}: {exc}", \
                traceback.format_exc()
    return ItemResult(
        index=task.index,
        key=task.key,
        status=status,
        output_path=output,
        message=message,
        traceback=trace,
        records=tuple(records),
        seconds=time.perf_counter() - started,
        pid=os.getpid(),
    )


def _init_worker(levels: Mapping[str, int]) -> None:
    """Prepare a worker process before it takes items: the driver's logger levels, and
    the heavy libraries loaded now, so that the first item's time (and its timeout)
    does not include them."""
    apply_logger_levels(levels)
    import importlib

    for module in ("batch_multi_plot_spectrogram.render", "xarray", "dask.array"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


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
    workers = usable_cores() if max_workers is None else _positive_int(max_workers,
                                                                        "max_workers")
    timeout = _positive_number(item_timeout, "item_timeout", optional=True)
    return LocalProcessPool(workers, item_timeout=timeout, initializer=_init_worker,
                            initargs=(logger_levels(),))


# ---------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise SettingError(f"Expected {name} to be an integer >= 1. Got {value!r} instead.")
    return int(value)


def _positive_number(value: object, name: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
        allowed = " or None" if optional else ""
        raise SettingError(f"Expected {name} to be a number > 0{allowed}. Got {value!r} instead.")
    return float(value)


def _optional_callable(value: object, name: str) -> Callable[..., Any] | None:
    if value is not None and not callable(value):
        raise SettingError(f"Expected {name} to be a callable or None. Got {value!r} instead.")
    return value


def _parse_plot_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check the call-level plot options once, before anything runs."""
    renderer_side = {k: v for k, v in options.items()
                     if k not in ("vertical_lines", "zoom_duration_minutes", "dpi")}
    checked = parse_options(**renderer_side)
    parse_reducer(options["collapse"])
    out = dict(options)
    out["y_scale"], out["z_scale"] = checked.y_scale, checked.z_scale
    out["z_percentiles"] = tuple(checked.z_percentiles)
    out["dpi"] = _positive_number(options["dpi"], "dpi")
    out["zoom_duration_minutes"] = _positive_number(
        options["zoom_duration_minutes"], "zoom_duration_minutes", optional=True
    )
    lines = options["vertical_lines"]
    out["vertical_lines"] = None if lines is None else parse_vertical_lines(lines)
    return out


def _callable_name(fn: Any) -> str | None:
    """A stable name for a callable in the settings fingerprint.

    A callable that is a dataclass instance (such as the store adapter's loader, whose
    fields carry the plot configuration) is named with a digest of its fields too, so a
    change of configuration is a change of settings.
    """
    if fn is None:
        return None
    module = getattr(fn, "__module__", None) or type(fn).__module__
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    if dataclasses.is_dataclass(fn) and not isinstance(fn, type):
        digest = hashlib.sha256(repr(fn).encode()).hexdigest()[:16]
        return f"{module}.{name}[{digest}]"
    return f"{module}.{name}"


def _describe(value: Any) -> Any:
    """A JSON value that stands for an option in the settings fingerprint."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    if isinstance(value, Colormap):
        return f"Colormap:{value.name}"
    if callable(value):
        return _callable_name(value)
    return repr(value)


# ---------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------


class _Interrupted(BaseException):
    """Raised by the signal handler inside sections that may be cut short."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _SignalGuard:
    """Temporary SIGINT and SIGTERM handlers for the length of a batch.

    The first signal sets :attr:`received`; the driver sees it within
    ``_POLL_SECONDS`` and stops. Only inside :meth:`interruptible` sections (code of the
    caller: iterating ``items``, running an item with ``executor="serial"``) does it raise
    at once; bookkeeping is never cut short, unless a second signal comes.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._interruptible = False

    def install(self) -> None:
        # Handlers can only be set from the main thread; elsewhere, leave them alone.
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue  # ignored on purpose (nohup, background job) or set outside Python
            self._previous[signum] = previous
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if self._interruptible or not first:
            self._interruptible = False
            raise _Interrupted(signum)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.received is not None:
            raise _Interrupted(self.received)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


# ---------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------


@dataclass
class _Pending:
    index: int
    key: str
    submitted: float


class _Batch:
    """The state of one run of :func:`generic_batch_plot`."""

    def __init__(
        self,
        *,
        output_dir: Path,
        progress_path: Path,
        log_path: Path,
        settings: dict[str, Any],
        functions: _FunctionSet,
        executor: Literal["processes", "serial"] | Executor,
        max_workers: int,
        max_in_flight: int,
        item_timeout: float | None,
        flush_batch_size: int,
        log_capacity: int,
        flush_interval: float,
        ignore_progress: bool,
        install_signal_handlers: bool,
        progress_bar: bool,
        output_name_fn: Callable[[str], Any] | None,
        max_in_flight_fn: Callable[[], int] | None = None,
    ) -> None:
        self.output_dir = output_dir
        self.progress_path = progress_path
        self.settings = settings
        self.executor_spec = executor
        self.max_workers = max_workers
        self.max_in_flight = max_in_flight
        self.max_in_flight_fn = max_in_flight_fn
        self.in_flight_checked = time.monotonic()
        self.item_timeout = item_timeout
        self.flush_batch_size = flush_batch_size
        self.flush_interval = flush_interval
        self.ignore_progress = ignore_progress
        self.output_name_fn = output_name_fn
        self.show_bar = progress_bar
        self.lock = ProgressLock(progress_path)
        self.log = BatchLog(log_path, log_capacity)
        self.guard = _SignalGuard(install_signal_handlers)
        self.run_log = logging.getLogger(RUN_LOGGER_NAME)
        self.progress = Progress(progress_path, str(output_dir), settings)
        self.statuses: dict[str, str] = {}
        self.pending: dict[Future[Any], _Pending] = {}
        self.pending_keys: set[str] = set()
        self.paths_used: dict[Path, str] = {}
        self.counts = {"ok": 0, "no_data": 0, "error": 0, "skipped": 0}
        self.failed: list[str] = []
        self.unsaved = 0
        self.last_save = time.monotonic()
        self.started = time.monotonic()
        self.pool: Executor | None = None
        self.owned = False
        self.bar: Any = None
        self._functions = functions
        self._digest, self._blob = "", b""

    # -- set-up ---------------------------------------------------------------------------

    def _prepare_functions(self) -> None:
        if self.executor_spec == "serial":
            # In-process: run the caller's own objects (breakpoints and state work).
            self._digest = f"local:{uuid.uuid4().hex}"
            _FUNCTIONS[self._digest] = self._functions
            return
        try:
            # The driver's logger levels travel with the functions, so workers of any
            # executor (a dask cluster's too) keep the records the driver would log.
            self._blob = cloudpickle.dumps((self._functions, logger_levels()))
        except Exception as exc:
            raise SettingError(
                f"build_datasets_fn (with vertical_lines_fn, title_fn and the plot options) "
                f"cannot be sent to worker processes: {type(exc).__name__}: {exc}. Make it "
                "picklable (no open files, locks or connections in its closure; open them "
                "inside the function), or use executor='serial'."
            ) from exc
        self._digest = hashlib.sha256(self._blob).hexdigest()[:16]

    def _send_functions(self) -> None:
        if isinstance(self.pool, LocalProcessPool):
            # Once per worker process rather than with every task: a closure may hold data.
            self.pool.share(self._digest, self._blob)
            self._blob = b""
        elif len(self._blob) > _LARGE_FUNCTIONS:
            log.warning(
                "build_datasets_fn (with its closure, vertical_lines_fn, title_fn and the plot "
                "options) pickles to %.0f MB, sent with every item to %s. Load large data "
                "inside the function instead of capturing it.",
                len(self._blob) / 1e6, self._describe_executor(),
            )

    def _describe_executor(self) -> str:
        if self.executor_spec == "processes":
            return f"{self.max_workers} local worker process(es)"
        if isinstance(self.executor_spec, LocalProcessPool):
            return f"{self.executor_spec.max_workers} local worker process(es), shared"
        if self.executor_spec == "serial":
            return "this process (serial)"
        return f"{type(self.executor_spec).__module__}.{type(self.executor_spec).__name__}"

    # -- the run --------------------------------------------------------------------------

    def run(self, items: Iterable[Any]) -> dict[str, str]:
        self._prepare_functions()
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.progress_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            outcome = self._run(items)
        except _Interrupted as exc:  # a second signal cut the clean-up short
            outcome = exc
        finally:
            if self._digest.startswith("local:"):
                _FUNCTIONS.pop(self._digest, None)
        signum = outcome.signum if isinstance(outcome, _Interrupted) else self.guard.received
        if signum == signal.SIGINT or isinstance(outcome, KeyboardInterrupt):
            raise KeyboardInterrupt
        if signum == signal.SIGTERM:
            # The previous handler is back: let it (by default: termination) have the signal.
            signal.raise_signal(signal.SIGTERM)
            return self.statuses
        if outcome is not None:
            raise outcome
        return self.statuses

    def _run(self, items: Iterable[Any]) -> BaseException | None:
        """Run the batch and clean up; return what stopped it early, if anything."""
        outcome: BaseException | None = None
        try:
            self.lock.acquire()
            try:
                notes: list[str] = []
                if not self.ignore_progress:
                    self.progress, notes = Progress.load(
                        self.progress_path, str(self.output_dir), self.settings
                    )
                self.log.open()
                try:
                    self._start(items, notes)
                    self.guard.install()
                    try:
                        self.pool, self.owned = make_executor(
                            self.executor_spec,
                            max_workers=self.max_workers,
                            item_timeout=self.item_timeout,
                            initializer=_init_worker,
                            initargs=(logger_levels(),),
                        )
                        self._send_functions()
                        self._loop(items)
                    except BaseException as exc:
                        outcome = exc
                    stopping = outcome is not None or self.guard.received is not None
                    self._stop_executor(stopping)
                    if isinstance(self.pool, LocalProcessPool):
                        self.pool.unshare(self._digest)
                    self._collect_finished()
                    self._save()
                    self._summarise(outcome)
                finally:
                    if self.bar is not None:
                        self.bar.close()
                    self.log.close()
            finally:
                self.lock.release()
        finally:
            self.guard.restore()
        return outcome

    def _start(self, items: Iterable[Any], notes: list[str]) -> None:
        total: int | None
        try:
            total = len(items)  # type: ignore[arg-type]
        except TypeError:
            total = None
        recorded = self.progress.counts()
        self.run_log.info(
            "batch started: %s item(s) to %s with %s; progress %s (recorded: %d ok, "
            "%d no_data, %d error%s); log %s",
            "an unknown number of" if total is None else total, self.output_dir,
            self._describe_executor(), self.progress_path, recorded["ok"],
            recorded["no_data"], recorded["error"],
            ", ignored: ignore_progress_json=True" if self.ignore_progress else "",
            self.log.path,
        )
        for note in notes:
            log.warning("%s", note)
        self.bar = tqdm(
            total=total, unit="item", desc="spectrograms", file=sys.stderr,
            disable=not self.show_bar, dynamic_ncols=True, mininterval=0.5,
        )

    def _loop(self, items: Iterable[Any]) -> None:
        with self.guard.interruptible():
            iterator = enumerate(iter(items))
        exhausted = False
        while self.guard.received is None:
            while not exhausted and len(self.pending) < self.max_in_flight:
                try:
                    with self.guard.interruptible():
                        index, item = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                self._plan(index, item)
                if self.guard.received is not None:
                    return
            if exhausted and not self.pending:
                return
            self._collect()
            self._maybe_save()
            self._follow_executor_size()

    def _follow_executor_size(self) -> None:
        """Re-read the in-flight bound of an executor whose size changes (a cluster)."""
        if self.max_in_flight_fn is None:
            return
        now = time.monotonic()
        if now - self.in_flight_checked >= _RESIZE_SECONDS:
            self.in_flight_checked = now
            with contextlib.suppress(Exception):  # a busy scheduler: keep the old bound
                self.max_in_flight = max(1, int(self.max_in_flight_fn()))

    def _plan(self, index: int, item: Any) -> None:
        key = item_key(item)
        if key in self.statuses or key in self.pending_keys:
            self.run_log.warning("skipped item %r at index %d: the same key came before",
                                 key, index)
            self._advance_bar()
            return
        try:
            path = _output_path(key, self.output_dir, self.output_name_fn)
        except Exception as exc:
            self._record(self._failure(index, key, exc))
            return
        recorded = self.progress.status_of(key)
        if recorded == "no_data" or (recorded == "ok" and path.exists()):
            self.statuses[key] = recorded
            self.counts["skipped"] += 1
            self._advance_bar()
            return
        if recorded == "ok":
            self.run_log.info("re-rendering %r: recorded ok but %s is missing", key, path)
        if self.output_name_fn is not None:
            other = self.paths_used.setdefault(path, key)
            if other != key:
                self._record(self._failure(index, key, SettingError(
                    f"output_name_fn gave item {key!r} the file {str(path)!r}, which item "
                    f"{other!r} already uses; it must give each item its own path."
                )))
                return
        task = ItemTask(index=index, key=key, item=item, output_path=str(path),
                        functions_digest=self._digest, functions=self._blob)
        assert self.pool is not None
        try:
            if isinstance(self.pool, SerialExecutor):
                with self.guard.interruptible():
                    future = self.pool.submit(run_item, task)
            else:
                future = self.pool.submit(run_item, task)
        except Exception as exc:  # e.g. an item that cannot be pickled
            self._record(self._failure(index, key, exc, "could not be sent to a worker: "))
            return
        self.pending[future] = _Pending(index, key, time.monotonic())
        self.pending_keys.add(key)

    def _collect(self) -> None:
        done, _ = concurrent.futures.wait(
            self.pending, timeout=_POLL_SECONDS, return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            self._record(self._outcome(future, self._pop(future)))
        if self.item_timeout is not None and not isinstance(self.pool, LocalProcessPool):
            # An executor of the caller's cannot stop a running task: give up waiting.
            now = time.monotonic()
            for future, pending in list(self.pending.items()):
                if now - pending.submitted > self.item_timeout:
                    future.cancel()
                    self._pop(future)
                    self._record(self._failure(pending.index, pending.key, TimeoutError(
                        f"no result {self.item_timeout} s after submission (item_timeout); "
                        "the executor cannot stop the task, its late result is ignored"
                    )))

    def _collect_finished(self) -> None:
        # After a stop: keep what finished before the workers were ended.
        for future in list(self.pending):
            if future.done() and not future.cancelled() and future.exception() is None:
                self._record(self._outcome(future, self._pop(future)))

    def _pop(self, future: Future[Any]) -> _Pending:
        pending = self.pending.pop(future)
        self.pending_keys.discard(pending.key)
        return pending

    def _outcome(self, future: Future[Any], pending: _Pending) -> ItemResult:
        try:
            result = future.result()
        except BaseException as exc:  # also a KeyboardInterrupt raised by a worker's code
            return self._failure(pending.index, pending.key, exc)
        if not isinstance(result, ItemResult):
            return self._failure(pending.index, pending.key, TypeError(
                f"the executor returned {type(result).__name__}, not an ItemResult"
            ))
        return result

    def _failure(self, index: int, key: str, exc: BaseException, prefix: str = "") -> ItemResult:
        return ItemResult(
            index=index, key=key, status="error", output_path=None,
            message=f"{prefix}{type(exc).__name__}: {exc}",
            traceback="".join(traceback.format_exception(exc)), records=(), seconds=0.0,
            pid=os.getpid(),
        )

    def _record(self, result: ItemResult) -> None:
        self.log.replay(result.records, in_process=result.pid == os.getpid())
        self.progress.record(result.key, result.status, result.index)
        self.statuses[result.key] = result.status
        self.counts[result.status] += 1
        where = f"{result.key!r} (#{result.index})"
        if result.status == "ok":
            self.run_log.info("ok       %s -> %s in %.2f s", where, result.output_path,
                              result.seconds)
        elif result.status == "no_data":
            self.run_log.info("no_data  %s: %s", where, result.message)
        else:
            self.failed.append(result.key)
            self.run_log.error("error    %s: %s\n%s", where, result.message,
                               (result.traceback or "(no traceback)").rstrip())
            if self.bar is not None:
                self.bar.set_postfix_str(f"errors={self.counts['error']}", refresh=False)
        self._advance_bar()
        self.unsaved += 1
        if self.unsaved >= self.flush_batch_size:
            self._save()

    def _advance_bar(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def _maybe_save(self) -> None:
        if self.unsaved and time.monotonic() - self.last_save >= self.flush_interval:
            self._save()

    def _save(self) -> None:
        self.progress.save()
        self.log.flush()
        self.unsaved = 0
        self.last_save = time.monotonic()

    def _stop_executor(self, stopping: bool) -> None:
        pool = self.pool
        if pool is None:
            return
        if stopping:
            for future in self.pending:
                future.cancel()
            if isinstance(pool, LocalProcessPool) and self.owned:
                pool.terminate()
            elif isinstance(pool, LocalProcessPool):
                pool.stop(self.pending)  # a shared pool: end this batch's items only
            elif self.owned:
                pool.shutdown(wait=False, cancel_futures=True)
        elif self.owned:
            pool.shutdown(wait=True)

    def _summarise(self, outcome: BaseException | None) -> None:
        c = self.counts
        done = (f"{c['ok']} ok, {c['no_data']} no_data, {c['error']} error, "
                f"{c['skipped']} skipped as complete, in {time.monotonic() - self.started:.1f} s")
        signum = outcome.signum if isinstance(outcome, _Interrupted) else self.guard.received
        if signum is not None or isinstance(outcome, KeyboardInterrupt):
            name = signal.Signals(signum).name if signum is not None else "KeyboardInterrupt"
            self.run_log.warning("batch stopped by %s after %s; progress saved, run again to "
                                 "continue", name, done)
        elif outcome is not None:
            self.run_log.error("batch stopped by an error after %s", done, exc_info=outcome)
        else:
            self.run_log.info("batch finished: %s", done)
        if self.failed:
            shown = ", ".join(repr(k) for k in self.failed[:5])
            more = f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
            log.warning("%d item(s) failed: %s%s; reasons and tracebacks are in %s",
                        len(self.failed), shown, more, self.log.path)


def _call_arguments(scope: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a generic_batch_plot call, from its local scope."""
    names = list(inspect.signature(generic_batch_plot).parameters)[3:]
    return {name: scope[name] for name in names}


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
    executor: Literal["processes", "serial"] | Executor = "processes",
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
    z_percentiles: tuple[float, float] = (1.0, 99.0),
    collapse_axis: int | None = 1,
    collapse: Any = "sum",
    dpi: float = 150,
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
        Folder of the PNGs, created if needed. An item's PNG is
        ``output_dir/<key>.png``, where characters other than letters, digits, ``.``,
        ``_`` and ``-`` become ``_`` and, if any did, a short hash of the key is appended
        (``"2000/01/orbit"`` -> ``2000_01_orbit-<hash>.png``), so keys never collide.
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
        (for debugging). Or any :class:`concurrent.futures.Executor`, such as a dask
        ``Client(...).get_executor()``; it is not shut down by this call.
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
        (it may hold ``/``: folders are created). It must give each item its own path.
    vertical_lines_fn, title_fn
        Per-item event lines (UNIX seconds) and figure title, from the item; ``None``
        keeps the call-level value. The title defaults to the item's key.
    colormap, y_scale, z_scale, y_min, y_max, z_min, z_max, zoom_duration_minutes, \
vertical_lines, gap_seconds, z_percentiles, collapse_axis, collapse, dpi
        Plot options of every figure, as in
        :func:`~batch_multi_plot_spectrogram.generic_plot_spectrogram_set`. Per item,
        ``ItemPlot.options`` take precedence over ``vertical_lines_fn``/``title_fn``,
        which take precedence over these.

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
        settings (plot options and the names of the callables): recorded work is never
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
    flush_batch_size = _positive_int(flush_batch_size, "flush_batch_size")
    log_capacity = (flush_batch_size if log_flush_batch_size is None
                    else _positive_int(log_flush_batch_size, "log_flush_batch_size"))
    flush_interval = _positive_number(flush_interval_seconds, "flush_interval_seconds")
    assert flush_interval is not None
    workers = usable_cores() if max_workers is None else _positive_int(max_workers,
                                                                        "max_workers")
    timeout = _positive_number(item_timeout, "item_timeout", optional=True)
    in_flight_fn: Callable[[], int] | None = None
    if client is not None or scheduler_address is not None:
        if client is not None and scheduler_address is not None:
            raise SettingError("Pass either client or scheduler_address, not both.")
        if not (isinstance(executor, str) and executor == "processes"):
            raise SettingError(
                f"executor={executor!r} cannot be combined with a dask client or "
                "scheduler_address: the cluster is the executor."
            )
        if scheduler_address is not None:
            from .cluster import open_client

            with open_client(scheduler_address=scheduler_address) as connected:
                return generic_batch_plot(
                    items, output_dir, build_datasets_fn, **{
                        **_call_arguments(locals()), "client": connected,
                        "scheduler_address": None,
                    })
        from .cluster import cluster_threads

        executor = client.get_executor()
        if max_workers is None:
            workers = cluster_threads(client)
        if max_in_flight is None:
            # Clusters grow and shrink (adaptive scaling, queued HPC jobs): follow them.
            def in_flight_now() -> int:
                return 2 * cluster_threads(client)

            in_flight_fn = in_flight_now
    executor = parse_executor(executor, timeout)
    if executor == "serial":
        in_flight = 1
    elif max_in_flight is None:
        in_flight = 2 * workers
    else:
        in_flight = _positive_int(max_in_flight, "max_in_flight")
    callables = {
        "build_datasets_fn": build_datasets_fn,
        "vertical_lines_fn": _optional_callable(vertical_lines_fn, "vertical_lines_fn"),
        "title_fn": _optional_callable(title_fn, "title_fn"),
        "output_name_fn": _optional_callable(output_name_fn, "output_name_fn"),
    }
    options = _parse_plot_options({
        "vertical_lines": vertical_lines, "zoom_duration_minutes": zoom_duration_minutes,
        "colormap": colormap, "y_scale": y_scale, "z_scale": z_scale, "y_min": y_min,
        "y_max": y_max, "z_min": z_min, "z_max": z_max, "gap_seconds": gap_seconds,
        "z_percentiles": z_percentiles, "collapse_axis": collapse_axis,
        "collapse": collapse, "dpi": dpi,
    })
    settings = {name: _describe(value) for name, value in sorted(options.items())}
    settings.update({name: _callable_name(fn) for name, fn in callables.items()})
    if progress_bar is None:
        progress_bar = sys.stderr is not None and sys.stderr.isatty()

    out = Path(os.path.abspath(Path(os.fspath(output_dir)).expanduser()))
    progress_path = Path(os.fspath(progress_json_path)).expanduser()
    if not progress_path.is_absolute():
        progress_path = out / progress_path
    if log_path is None:
        resolved_log = progress_path.with_name(progress_path.name + ".log")
    else:
        resolved_log = Path(os.fspath(log_path)).expanduser()
        if not resolved_log.is_absolute():
            resolved_log = out / resolved_log

    batch = _Batch(
        output_dir=out,
        progress_path=progress_path,
        log_path=resolved_log,
        settings=settings,
        functions=(build_datasets_fn, callables["vertical_lines_fn"], callables["title_fn"],
                   options),
        executor=executor,
        max_workers=workers,
        max_in_flight=in_flight,
        item_timeout=timeout,
        flush_batch_size=flush_batch_size,
        log_capacity=log_capacity,
        flush_interval=flush_interval,
        ignore_progress=bool(ignore_progress_json),
        install_signal_handlers=bool(install_signal_handlers),
        progress_bar=bool(progress_bar),
        output_name_fn=callables["output_name_fn"],
        max_in_flight_fn=in_flight_fn,
    )
    return batch.run(items)
