"""Ingest CDF files into one Zarr store or NetCDF file: :func:`ingest_cdf`.

Each CDF file becomes one group of the store, as the CDF backend presents it (masters
applied, time as CF datetime, attributes in a form NetCDF and Zarr accept), so that
rendering the store gives the same figures as rendering the files.

What was ingested is recorded in each group's own attributes (``ingest_source``,
``ingest_size``, ``ingest_mtime_ns``, ``ingest_sha256`` and the same for its master): a
file whose size, modification time and content hash match its group's record is skipped;
a changed one replaces its group. Nothing else records progress, so the store can never
disagree with what it holds.

Crash safety:

- **Zarr**: a worker writes the group as a store of its own in a hidden staging folder
  beside the store, then renames its folder into place (a replaced group is renamed
  away first, then deleted). A rename is atomic, so a group is either complete or absent,
  and the store opens whatever instant a run is killed; a rerun writes the missing
  groups. Parent groups are written by the driver, atomically, before any worker runs.
- **NetCDF** (HDF5 is updated in place, and a crash while writing can damage the whole
  file): workers write each group to a file of its own in the staging folder; the driver
  adds them to a copy of the store and replaces the store with the copy (``os.replace``)
  at the end of the run, or when it is interrupted. A run killed outright leaves the store
  as it was before the run; the rerun redoes that run's files.

One run at a time per store: a lock file beside the store (``.<name>.ingest.lock``).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from tqdm.auto import tqdm

from ._atomic import write_text_atomic
from .batch._logs import apply_logger_levels, capture_records, logger_levels
from .batch._passes import run_pass
from .batch._signals import Interrupted, SignalGuard
from .batch._tasks import init_worker
from .batch.executors import make_executor
from .errors import ProgressLockedError, SettingError, StoreError, StoreNotFoundError
from .options import GROUP_BY, parse_argument
from .stores._cdf import cdf_name_parts, describe_cdf, is_master_name, open_layout

__all__ = [
    "GROUP_BY",
    "IngestResult",
    "IngestRun",
    "IngestTask",
    "find_cdf_files",
    "ingest_cdf",
    "ingest_file",
    "ingest_group_name",
]

logger = logging.getLogger(__name__)

IngestStatus = Literal["written", "skipped", "no_data", "error"]
#: The attributes of a group that record where it came from.
RECORD_KEYS = (
    "ingest_source",
    "ingest_size",
    "ingest_mtime_ns",
    "ingest_sha256",
    "ingest_master",
    "ingest_master_sha256",
)
_HASH_BLOCK = 2**20


# ---------------------------------------------------------------------------------------
# Files and group names
# ---------------------------------------------------------------------------------------


def find_cdf_files(sources: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Every ``*.cdf`` file among ``sources`` (files, or folders searched recursively;
    hidden names skipped), absolute and sorted.

    Raises
    ------
    StoreNotFoundError
        When a source does not exist, or no CDF file is found.
    """
    found: set[str] = set()
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise StoreNotFoundError(
                f"{str(source)!r} does not exist. Pass CDF files or folders holding them."
            )
        if path.is_file():
            found.add(str(path.absolute()))
            continue
        for current, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.update(
                str((Path(current) / n).absolute())
                for n in names
                if n.lower().endswith(".cdf") and not n.startswith(".")
            )
    if not found:
        where = ", ".join(repr(str(s)) for s in sources)
        raise StoreNotFoundError(f"No CDF files (*.cdf) found in {where}.")
    return sorted(found)


def _clean(name: str) -> str:
    return "".join("_" if c in '/\\:*?"<>|' else c for c in name).strip(". ") or "file"


def ingest_group_name(path: str | os.PathLike[str], group_by: str = "day") -> str:
    """The group a CDF file becomes.

    ``day``: ``<source>/<YYYY-MM-DD>`` from an ISTP file name
    (``<source>_<YYYYMMDD[hhmmss]>_v<version>.cdf``), with ``T<hhmmss>`` when the name
    has a time; ``file`` (and names that do not follow ISTP): the file's name without
    ``.cdf``.
    """
    group_by = parse_argument("group_by", group_by)
    file = Path(path)
    parts = cdf_name_parts(file)
    if group_by == "file" or parts is None or is_master_name(file):
        return _clean(file.stem)
    day = parts["date"]
    stamp = f"{day[:4]}-{day[4:6]}-{day[6:]}" + (f"T{parts['time']}" if parts["time"] else "")
    return f"{_clean(parts['source'])}/{stamp}"


def _version(path: str) -> tuple[int, ...]:
    parts = cdf_name_parts(path)
    if parts is None:
        return ()
    return tuple(int(p) for p in re.findall(r"\d+", parts["version"]))


# ---------------------------------------------------------------------------------------
# The work of one file (in a worker)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngestTask:
    """What a worker needs to ingest one file."""

    source: str
    group: str
    store: str
    kind: Literal["zarr", "netcdf"]
    staging: str
    recorded: tuple[Any, ...] | None = None
    masters: tuple[tuple[str, str], ...] = ()
    zarr_format: int = 3


@dataclass(frozen=True, slots=True)
class IngestResult:
    """The outcome of one file. ``staged`` is the group's file for the driver to add
    (NetCDF stores only)."""

    source: str
    group: str
    status: IngestStatus
    message: str
    seconds: float = 0.0
    staged: str | None = None
    records: tuple[dict[str, Any], ...] = ()
    traceback: str | None = None


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _signature(source: str, master: str | None) -> tuple[Any, ...]:
    st = os.stat(source)
    return (
        os.path.basename(source),
        int(st.st_size),
        int(st.st_mtime_ns),
        _sha256(source),
        os.path.basename(master) if master else "",
        _sha256(master) if master else "",
    )


def _fsync_tree(folder: str) -> None:
    for current, _, names in os.walk(folder):
        for name in names:
            fd = os.open(os.path.join(current, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        with contextlib.suppress(OSError):
            fd = os.open(current, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def _dataset_for_store(task: IngestTask, signature: tuple[Any, ...]) -> Any:
    layout = describe_cdf(task.source, dict(task.masters))
    if layout.n_records == 0:
        return None
    ds = open_layout(layout)
    ds.attrs.update(dict(zip(RECORD_KEYS, signature, strict=True)))
    if "rows" not in ds.attrs:
        # A Zarr store keeps no order of its variables (its rows would be sorted): name
        # the rows, in the file's order, so that the store draws what the file draws.
        from .metadata._adapter import _dataset_meta, plan_metadata

        plan = plan_metadata(_dataset_meta(task.source, "/", ds, ds.attrs), None)
        if plan.rows:
            ds.attrs["rows"] = [row.plan.variable for row in plan.rows]
    for var in ds.variables.values():
        if var.dtype.kind == "M":
            # Nanoseconds since 1970 in int64: exact, whatever the CDF epoch type.
            var.encoding.update(units="nanoseconds since 1970-01-01", dtype="int64")
    return ds


def _install_group(staged: str, target: Path, staging: str) -> None:
    """Rename a finished group folder into place, replacing any group of that name."""
    old = None
    if target.exists():
        old = os.path.join(staging, f"replaced-{uuid.uuid4().hex}")
        os.rename(target, old)
    os.rename(staged, target)
    with contextlib.suppress(OSError):
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _ingest(task: IngestTask) -> tuple[IngestStatus, str, str | None]:
    from .stores._cdf import find_master

    master = find_master(task.source, dict(task.masters))
    signature = _signature(task.source, master)
    if task.recorded is not None and tuple(task.recorded) == signature:
        return "skipped", "already ingested (same size, modification time and hash)", None
    ds = _dataset_for_store(task, signature)
    if ds is None:
        what = (
            "a master CDF: attributes and support data only"
            if is_master_name(task.source)
            else "no records"
        )
        return "no_data", f"nothing to ingest: the file holds no records ({what})", None
    token = uuid.uuid4().hex
    try:
        if task.kind == "zarr":
            staged = os.path.join(task.staging, f"group-{token}.zarr")
            ds.to_zarr(staged, mode="w", consolidated=False, zarr_format=task.zarr_format)
            _fsync_tree(staged)
            _install_group(staged, Path(task.store, *task.group.split("/")), task.staging)
            return "written", f"{len(ds.data_vars)} variables", None
        staged = os.path.join(task.staging, f"group-{token}.nc")
        ds.to_netcdf(staged, mode="w", engine="h5netcdf")
        return "written", f"{len(ds.data_vars)} variables", staged
    finally:
        ds.close()


def ingest_file(task: IngestTask) -> IngestResult:
    """Ingest one CDF file into its group; never raises for the file's faults."""
    started = time.perf_counter()
    staged: str | None = None
    trace: str | None = None
    with capture_records() as records:
        try:
            status, message, staged = _ingest(task)
        except (StoreError, OSError, ValueError, TypeError, KeyError) as exc:
            status, message = "error", f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
        except Exception as exc:  # one bad file must not stop the others
            status, message = "error", f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
    return IngestResult(
        task.source,
        task.group,
        status,
        message,
        time.perf_counter() - started,
        staged,
        tuple(records),
        trace,
    )


def init_ingest_worker(levels: Mapping[str, int]) -> None:
    """Prepare a worker: the driver's logger levels, and xarray and zarr loaded now."""
    apply_logger_levels(levels)
    init_worker(levels, warm_up=False)  # ingest draws no figure
    for module in ("zarr", "h5netcdf", "cdflib"):
        with contextlib.suppress(ImportError):
            __import__(module)


# ---------------------------------------------------------------------------------------
# The store side (in the driver)
# ---------------------------------------------------------------------------------------


def _store_kind(store: Path) -> Literal["zarr", "netcdf"]:
    name = store.name.lower()
    if name.endswith(".zarr"):
        return "zarr"
    if name.endswith((".nc", ".nc4", ".h5")):
        return "netcdf"
    raise SettingError(
        f"Expected the output store to end in .zarr (a Zarr store) or .nc (a NetCDF file). "
        f"Got {str(store)!r} instead."
    )


def _zarr_format(store: Path) -> int:
    if (store / ".zgroup").is_file() and not (store / "zarr.json").is_file():
        return 2
    return 3


def _group_document(zarr_format: int) -> tuple[str, str]:
    if zarr_format == 2:
        return ".zgroup", json.dumps({"zarr_format": 2})
    return "zarr.json", json.dumps(
        {"zarr_format": 3, "node_type": "group", "attributes": {}}, indent=2
    )


def _prepare_zarr(store: Path, groups: Iterable[str]) -> int:
    """Create the store and the parents of ``groups``, each atomically; the format."""
    if store.exists() and not any((store / m).is_file() for m in ("zarr.json", ".zgroup")):
        raise StoreError(
            f"{str(store)!r} exists but is not a Zarr store (no zarr.json or .zgroup). "
            "Choose another output path."
        )
    fmt = _zarr_format(store) if store.exists() else 3
    marker, text = _group_document(fmt)
    folders = {store}
    for group in groups:
        parts = group.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folders.add(store.joinpath(*parts[:depth]))
    for folder in sorted(folders, key=lambda p: len(p.parts)):
        if not (folder / marker).is_file():
            folder.mkdir(parents=True, exist_ok=True)
            write_text_atomic(folder / marker, text)
    return fmt


def _recorded_zarr(store: Path) -> dict[str, tuple[Any, ...]]:
    """Each ingested group's record, from the groups' own metadata documents."""
    found: dict[str, tuple[Any, ...]] = {}
    if not store.is_dir():
        return found
    for current, dirs, names in os.walk(store):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        attrs: dict[str, Any] | None = None
        if "zarr.json" in names:
            with contextlib.suppress(OSError, ValueError):
                document = json.loads(Path(current, "zarr.json").read_text(encoding="utf-8"))
                if document.get("node_type") == "group":
                    attrs = document.get("attributes") or {}
                else:
                    dirs[:] = []  # an array: its folders are chunks
                    continue
        elif ".zarray" in names:
            dirs[:] = []
            continue
        elif ".zgroup" in names and ".zattrs" in names:
            with contextlib.suppress(OSError, ValueError):
                attrs = json.loads(Path(current, ".zattrs").read_text(encoding="utf-8"))
        if attrs is None:
            continue
        if "ingest_sha256" in attrs:
            group = str(PurePosixPath(*Path(current).relative_to(store).parts))
            found[group] = tuple(attrs.get(k) for k in RECORD_KEYS)
            dirs[:] = []  # a group's arrays hold no other group
    return found


def _recorded_netcdf(store: Path) -> dict[str, tuple[Any, ...]]:
    import h5py

    found: dict[str, tuple[Any, ...]] = {}
    if not store.is_file():
        return found

    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.decode()
        return value.item() if hasattr(value, "item") else value

    try:
        with h5py.File(store, "r") as fh:

            def visit(name: str, node: Any) -> None:
                if isinstance(node, h5py.Group) and "ingest_sha256" in node.attrs:
                    found[name] = tuple(
                        plain(node.attrs[k]) if k in node.attrs else None for k in RECORD_KEYS
                    )

            fh.visititems(visit)
    except OSError as exc:
        raise StoreError(
            f"{str(store)!r} cannot be opened as a NetCDF-4 file: {exc}. Choose another "
            "output path, or remove the damaged file."
        ) from None
    return found


class _NetCDFWriter:
    """Adds staged groups to a copy of a NetCDF store; the copy replaces the store at
    :meth:`commit`."""

    def __init__(self, store: Path, staging: Path) -> None:
        self.store = store
        self.work = staging / f"work-{uuid.uuid4().hex}.nc"
        self.started = False
        self.added = 0

    def _start(self) -> None:
        if self.started:
            return
        if self.store.exists():
            shutil.copy2(self.store, self.work)
        else:
            import xarray as xr

            xr.Dataset(attrs={"Conventions": "CF-1.8"}).to_netcdf(
                self.work, mode="w", engine="h5netcdf"
            )
        self.started = True

    def add(self, staged: str, group: str) -> None:
        import h5py
        import xarray as xr

        self._start()
        with h5py.File(self.work, "a") as fh:
            if group in fh:
                del fh[group]  # its space is reused by later writes, or reclaimed by h5repack
        with xr.open_dataset(staged, engine="h5netcdf") as ds:
            ds.load().to_netcdf(self.work, mode="a", group=group, engine="h5netcdf")
        os.remove(staged)
        self.added += 1

    def commit(self) -> None:
        if not self.started:
            return
        fd = os.open(self.work, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.work, self.store)
        self.started = False


# ---------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------


@dataclass
class IngestRun:
    """What :func:`ingest_cdf` did.

    Attributes
    ----------
    store
        The output store.
    statuses
        Each CDF file's outcome: ``written`` (its group was written or replaced),
        ``skipped`` (already ingested, unchanged, or superseded by a newer version of the
        same day), ``no_data`` (no records: a master alone) or ``error``.
    messages
        Each file's message (the reason, for errors).
    groups
        Each file's group.
    log
        The run's log file.
    """

    store: Path
    statuses: dict[str, IngestStatus] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    log: Path | None = None
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Files per status."""
        out = {"written": 0, "skipped": 0, "no_data": 0, "error": 0}
        for status in self.statuses.values():
            out[status] += 1
        return out

    def written(self) -> list[str]:
        """The files whose group was written in this run."""
        return [s for s, status in self.statuses.items() if status == "written"]


def _assign_groups(files: Sequence[str], group_by: str) -> tuple[dict[str, str], dict[str, str]]:
    """Each file's group; and the files left out, with the reason (an older version of
    a day, or the same group as another file)."""
    by_group: dict[str, list[str]] = {}
    for file in files:
        by_group.setdefault(ingest_group_name(file, group_by), []).append(file)
    chosen: dict[str, str] = {}
    left: dict[str, str] = {}
    for group, members in by_group.items():
        members.sort(key=lambda f: (_version(f), f))
        keep = members[-1]
        chosen[keep] = group
        for other in members[:-1]:
            same_source = (cdf_name_parts(other) or {}).get("source") == (
                cdf_name_parts(keep) or {}
            ).get("source")
            left[other] = (
                f"superseded by {os.path.basename(keep)} (a newer version of group {group!r})"
                if same_source and _version(other) != _version(keep)
                else f"group {group!r} is already taken by {keep}; pass --group-by file"
            )
    return chosen, left


@contextlib.contextmanager
def _store_lock(store: Path) -> Any:
    from filelock import FileLock, Timeout

    lock = FileLock(str(store.with_name(f".{store.name}.ingest.lock")))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ProgressLockedError(
            f"{str(store)!r} is being ingested into by another run (lock "
            f"{lock.lock_file!r}). Wait for that run to finish, or stop it."
        ) from None
    try:
        yield
    finally:
        lock.release()


def _replay(records: Iterable[Mapping[str, Any]]) -> None:
    for data in records:
        record = logging.makeLogRecord(dict(data))
        target = logging.getLogger(record.name)
        if target.isEnabledFor(record.levelno):
            target.handle(record)


def ingest_cdf(
    sources: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    store: str | os.PathLike[str],
    *,
    group_by: str = "day",
    masters: Mapping[str, str] | None = None,
    executor: Any = "processes",
    max_workers: int | None = None,
    item_timeout: float | None = None,
    client: Any = None,
    scheduler_address: str | None = None,
    progress_bar: bool | None = None,
    install_signal_handlers: bool = True,
) -> IngestRun:
    """Ingest CDF files into a Zarr store (``*.zarr``) or a NetCDF file (``*.nc``).

    Parameters
    ----------
    sources
        CDF files, or folders searched recursively for ``*.cdf``.
    store
        The output store; created when missing, else completed.
    group_by
        ``"day"`` (``<source>/<YYYY-MM-DD>``, the newest version of each day) or ``"file"``
        (the file's name).
    masters
        Explicit master CDFs: a glob on file names, or a logical source, mapped to the
        master to use (instead of one found beside the files).
    executor, max_workers, item_timeout, client, scheduler_address
        Where files are converted, as for ``render_archive``: local worker processes by
        default, or a dask cluster (which must see the same file system).
    progress_bar, install_signal_handlers
        As for ``render_archive``.

    Returns
    -------
    IngestRun
        Each file's outcome.

    Raises
    ------
    StoreNotFoundError
        When a source is missing or holds no CDF file.
    SettingError
        For an unusable option or output path.
    ProgressLockedError
        When another run is ingesting into the same store.
    KeyboardInterrupt
        After SIGINT, once finished groups are in place; its ``run`` attribute is the
        :class:`IngestRun` so far.
    """
    started = time.monotonic()
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    group_by = parse_argument("group_by", group_by)
    max_workers = parse_argument("max_workers", max_workers)
    item_timeout = parse_argument("item_timeout", item_timeout)
    target = Path(os.path.abspath(os.fspath(store)))
    kind = _store_kind(target)
    files = find_cdf_files(sources)
    chosen, left = _assign_groups(files, group_by)
    run = IngestRun(target)
    for file, reason in left.items():
        run.statuses[file], run.messages[file] = "skipped", reason
        run.groups[file] = ingest_group_name(file, group_by)
    runner = make_executor(
        executor,
        max_workers=max_workers,
        item_timeout=item_timeout,
        max_in_flight=None,
        client=client,
        scheduler_address=scheduler_address,
        initializer=init_ingest_worker,
        initargs=(logger_levels(),),
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    log_path = target.with_name(f"{target.name}.ingest.log")
    run.log = log_path
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s [%(processName)s] %(name)s: %(message)s")
    )
    package = logging.getLogger("batch_multi_plot_spectrogram")
    previous_level = package.level
    package.addHandler(handler)
    if package.getEffectiveLevel() > logging.INFO:
        package.setLevel(logging.INFO)
    guard = SignalGuard(bool(install_signal_handlers))
    if progress_bar is None:
        progress_bar = sys.stderr is not None and sys.stderr.isatty()
    outcome: BaseException | None = None
    try:
        with _store_lock(target):
            staging = target.with_name(f".{target.name}.ingest-staging")
            shutil.rmtree(staging, ignore_errors=True)  # what a killed run left
            staging.mkdir(parents=True)
            try:
                outcome = _run(
                    run, chosen, kind, target, staging, masters, runner, guard, progress_bar
                )
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    finally:
        package.removeHandler(handler)
        package.setLevel(previous_level)
        handler.close()
    run.seconds = time.monotonic() - started
    counts = run.counts()
    logger.info(
        "ingest finished: %d written, %d skipped, %d no_data, %d error in %.1f s",
        counts["written"],
        counts["skipped"],
        counts["no_data"],
        counts["error"],
        run.seconds,
    )
    signum = outcome.signum if isinstance(outcome, Interrupted) else guard.received
    if signum == signal.SIGINT or isinstance(outcome, KeyboardInterrupt):
        stopped = KeyboardInterrupt()
        stopped.run = run  # type: ignore[attr-defined]
        raise stopped
    if signum == signal.SIGTERM:
        signal.raise_signal(signal.SIGTERM)
    if outcome is not None:
        raise outcome
    return run


def _run(
    run: IngestRun,
    chosen: Mapping[str, str],
    kind: Literal["zarr", "netcdf"],
    target: Path,
    staging: Path,
    masters: Mapping[str, str] | None,
    runner: Any,
    guard: SignalGuard,
    progress_bar: bool,
) -> BaseException | None:
    """Submit every file, collect and install results; what stopped the run, if anything."""
    zarr_format = 3
    if kind == "zarr":
        zarr_format = _prepare_zarr(target, chosen.values())
        recorded = _recorded_zarr(target)
        writer = None
    else:
        recorded = _recorded_netcdf(target)
        writer = _NetCDFWriter(target, staging)
    master_items = tuple(sorted((masters or {}).items()))
    tasks = [
        IngestTask(
            source=file,
            group=group,
            store=str(target),
            kind=kind,
            staging=str(staging),
            recorded=recorded.get(group),
            masters=master_items,
            zarr_format=zarr_format,
        )
        for file, group in sorted(chosen.items(), key=lambda fg: fg[1])
    ]
    logger.info(
        "ingest started: %d file(s) into %s with %s", len(tasks), target, runner.describe()
    )
    bar = tqdm(
        total=len(tasks) + len(run.statuses),
        initial=len(run.statuses),
        unit="file",
        desc="ingest",
        file=sys.stderr,
        disable=not progress_bar,
        dynamic_ncols=True,
        mininterval=0.5,
    )

    def finished(task: IngestTask, future: concurrent.futures.Future[Any]) -> None:
        _record(run, task, future, writer)
        bar.update(1)

    guard.install()
    try:
        outcome = run_pass(runner, ingest_file, tasks, finished, guard)
        if writer is not None:
            writer.commit()
    finally:
        guard.restore()
        bar.close()
    return outcome


def _record(
    run: IngestRun,
    task: IngestTask,
    future: concurrent.futures.Future[Any],
    writer: _NetCDFWriter | None,
) -> None:
    try:
        result: IngestResult = future.result()
    except BaseException as exc:  # the worker died or overran the timeout
        result = IngestResult(task.source, task.group, "error", f"{type(exc).__name__}: {exc}")
    _replay(result.records)
    status, message = result.status, result.message
    if status == "written" and writer is not None and result.staged is not None:
        try:
            writer.add(result.staged, task.group)
        except (OSError, ValueError) as exc:
            status, message = "error", f"cannot add the group to the store: {exc}"
    run.statuses[task.source] = status
    run.messages[task.source] = message
    run.groups[task.source] = task.group
    if status == "error":
        logger.error(
            "error %s -> %s: %s%s",
            task.source,
            task.group,
            message,
            f"\n{result.traceback}" if result.traceback else "",
        )
    else:
        logger.info("%s %s -> %s: %s", status, task.source, task.group, message)
