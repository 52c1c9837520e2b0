"""A whole archive: :func:`render_archive`, :func:`plan_archive`, :func:`list_archive` and
:func:`check_archive`.

An archive is a folder searched for stores of every registered format (or one store).
Every group holding a spectrogram is an item. All items of all stores go through one
executor at once (one pool, one progress bar), while each store keeps its own progress
file and log beside it (or in ``progress_dir``) and its own lock, so that a store can be
resumed, moved or re-rendered on its own.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from .batch import LedgerSpec, RunReport, run_batch, settings_of
from .batch._keys import safe_name, with_digest
from .batch._logs import logger_levels
from .batch._progress import read_statuses
from .batch._tasks import WORKER_MODULES, Status, init_worker
from .batch.executors import BatchExecutor, make_executor
from .errors import (
    ConfigError,
    DiskFullError,
    NoDataError,
    SettingError,
    SpectrogramError,
    StoreError,
)
from .gallery import GalleryObserver, GalleryStore
from .metadata import (
    GroupLoader,
    PlotConfig,
    StoreItem,
    WindowPlan,
    list_groups,
    load_config,
    read_windows_csv,
    window_items,
)
from .metadata._adapter import limit_problems, plan_group, plan_metadata
from .metadata._conventions import METADATA_KEYS
from .options import (
    DEFAULT_MEMORY_BUDGET,
    FigureOptions,
    Origin,
    option,
    output_suffix,
    parse_argument,
)
from .shared_limits import LIMITS_FILE, compute_shared_limits
from .stores import find_stores, location, read_groups
from .stores._remote import is_url, set_storage_options

__all__ = [
    "PROGRESS_SUFFIX",
    "ArchivePlan",
    "ArchiveRun",
    "Problem",
    "StorePlan",
    "StoreProblem",
    "check_archive",
    "group_file_name",
    "limits_path",
    "list_archive",
    "plan_archive",
    "render_archive",
]

PROGRESS_SUFFIX = ".progress.json"
ROOT_NAME = "root"
#: Options of an archive run that act as top-level config keys: they win over the stores'
#: attributes for every row.
STYLE_OPTIONS = ("colormap", "y_scale", "z_scale")


def group_file_name(group: str, output_format: str = "png") -> str:
    """The figure of a group, relative to its store's output folder.

    The root group is ``root.png``; every other group's path keeps its folders, each
    component made safe by :func:`~.batch._keys.safe_name` (a top-level group named
    ``root``, in any case, gets a digest so that it never takes the root group's file).
    """
    suffix = output_suffix(output_format)
    parts = group.strip("/").split("/") if group.strip("/") else []
    if not parts:
        return ROOT_NAME + suffix
    names = [safe_name(p) for p in parts[:-1]]
    names.append(safe_name(parts[-1], reserved={ROOT_NAME} if len(parts) == 1 else ()))
    return "/".join(names) + suffix


def item_file_name(item: StoreItem, output_format: str = "png") -> str:
    """The figure of an item: its group's (:func:`group_file_name`), or for a time window
    the group's name, ``@`` and the window's name, made safe (``orbit_1@2015-...``)."""
    if item.window is None:
        return group_file_name(item.group, output_format)
    group = item.group if item.group.strip("/") else ROOT_NAME
    return group_file_name(f"{group}@{item.window.name}", output_format)


def _unfolded(names: dict[str, str]) -> dict[str, str]:
    """Give a digest (of its owner) to every name that another name equals but for case,
    so that no two share a file where names are compared case-insensitively (macOS,
    Windows). ``names``: owner (a store path, a group path) -> name."""
    folded: dict[str, list[str]] = {}
    for owner, name in names.items():
        folded.setdefault(name.casefold(), []).append(owner)
    out = dict(names)
    for owners in folded.values():
        if len(owners) > 1:
            for owner in owners:
                path = PurePosixPath(names[owner])
                stem = with_digest(path.stem, owner)
                out[owner] = str(path.with_name(stem + path.suffix))
    return out


# ---------------------------------------------------------------------------------------
# Planning
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StorePlan:
    """One store of an archive and what a run does with it.

    Attributes
    ----------
    store
        The store's absolute path.
    label
        Its path relative to the archive: the name of its output folder.
    format
        The variant of its format (``"zarr"``, ``"netcdf4"``, ...).
    output_dir
        Where its figures go.
    progress_path
        Its progress file (its log is ``<progress_path>.log``).
    items
        Its groups, in order: those with spectrograms, then those without (which are
        recorded ``no_data``).
    no_data
        The groups without any spectrogram variable.
    outputs
        Each group's figure, relative to ``output_dir`` (see :func:`group_file_name`;
        names that would differ only by case get a digest).
    """

    store: str
    label: str
    format: str
    output_dir: Path
    progress_path: Path
    items: tuple[StoreItem, ...]
    no_data: frozenset[str] = frozenset()
    outputs: Mapping[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        """The store's log file."""
        return self.progress_path.with_name(self.progress_path.name + ".log")


@dataclass(frozen=True)
class StoreProblem:
    """A store that was left out of a run, and why."""

    store: str
    error: BaseException

    @property
    def message(self) -> str:
        return str(self.error)


@dataclass
class ArchivePlan:
    """What :func:`render_archive` would do: every store, its items and where they go."""

    archive: Path | str
    output: Path
    output_format: str
    stores: list[StorePlan]
    unreadable: list[StoreProblem] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        """The number of items of all stores."""
        return sum(len(s.items) for s in self.stores)

    def output_path(self, store: StorePlan, group: str) -> Path:
        """Where the figure of an item (a group, or a window: its key) of a store goes."""
        return store.output_dir / store.outputs[group]


def _base(archive: Path | str) -> Path | str:
    """The folder store labels are relative to: the archive, or the folder of a store."""
    if isinstance(archive, str):  # a URL: a prefix, or a store named by its suffix
        named = archive.rsplit("/", 1)[-1].lower()
        is_remote_store = named.endswith((".zarr", ".nc", ".nc4", ".h5", ".cdf"))
        return archive.rsplit("/", 1)[0] if is_remote_store else archive
    is_store = not archive.is_dir() or archive.name.lower().endswith(".zarr")
    return archive.parent if is_store else archive


def store_label(store: str, base: Path | str) -> str:
    """A store's name in output paths: its path relative to the archive folder, as found
    (a store reached through a symbolic link is named by the link), each component made
    safe by :func:`~.batch._keys.safe_name`. A store named by URL: its path under the
    archive's URL."""
    if isinstance(base, str) or is_url(store):
        prefix = str(base).rstrip("/") + "/"
        rest = store[len(prefix) :] if store.startswith(prefix) else store.rsplit("/", 1)[-1]
        return "/".join(safe_name(part) for part in rest.strip("/").split("/") if part)
    relative = PurePosixPath(Path(os.path.relpath(store, base)).as_posix())
    if not relative.parts or relative.parts[0] == "..":
        relative = PurePosixPath(Path(store).name)
    return "/".join(safe_name(part) for part in relative.parts)


def progress_path_for(label: str, store: str, progress_dir: Path | None) -> Path:
    """``STORE.progress.json`` beside the store, or inside ``progress_dir`` (named from
    the store's label, flattened: ``sub/a.zarr`` -> ``sub__a.zarr-<digest>``)."""
    if progress_dir is None:
        return Path(store).with_name(Path(store).name + PROGRESS_SUFFIX)
    flat = label if "/" not in label else with_digest(label.replace("/", "__"), label)
    return progress_dir / (flat + PROGRESS_SUFFIX)


def remote_progress_dir(archive: str, output: Path) -> Path:
    """Where the progress files and logs of an archive named by URL go by default: a
    folder of the output folder named for the archive (never the bucket)."""
    return output / ".progress" / safe_name(archive)


def _config(config: PlotConfig | str | os.PathLike[str] | None) -> PlotConfig | None:
    if config is not None and not isinstance(config, PlotConfig):
        config = load_config(config)
    # The driver's listing reads remote stores with them; workers get them with the loader.
    set_storage_options(dict(config.storage) if config is not None else None)
    return config


def plan_archive(
    archive: str | os.PathLike[str],
    output: str | os.PathLike[str] = ".",
    *,
    config: PlotConfig | str | os.PathLike[str] | None = None,
    progress_dir: str | os.PathLike[str] | None = None,
    output_format: str = "png",
    windows: WindowPlan | None = None,
) -> ArchivePlan:
    """Find the stores of an archive and list their items, reading metadata only (and,
    with ``windows``, the groups' time coordinates).

    Parameters
    ----------
    archive
        A folder of stores (searched recursively), or one store.
    output
        The output folder: each store's figures go to ``output/<store label>/``.
    config
        A :class:`~batch_multi_plot_spectrogram.metadata.PlotConfig` or the path of a
        TOML config file; its ``rows``, ``y_dim`` and ``collapse_dim`` decide items too.
    progress_dir
        Where the progress files go (default: beside each store).
    output_format
        ``"png"``, ``"pdf"`` or ``"svg"``.
    windows
        Cut each group into time windows, each an item (``group@2015-12-01T12:00``).

    Returns
    -------
    ArchivePlan
        Stores that cannot be listed are in ``unreadable``, with the reason.

    Raises
    ------
    StoreNotFoundError
        When ``archive`` does not exist or holds no store.
    ConfigError
        When the config file is unusable.
    """
    fmt = option("output_format").parse(output_format, Origin.argument("output_format"))
    checked = _config(config)
    named = location(archive)
    root: Path | str = named if is_url(named) else Path(named)
    out = Path(os.path.abspath(os.fspath(output)))
    folder = None if progress_dir is None else Path(os.path.abspath(os.fspath(progress_dir)))
    if folder is None and isinstance(root, str):
        folder = remote_progress_dir(root, out)
    base = _base(root)
    plan = ArchivePlan(root, out, fmt, [])
    listings = []
    for store in find_stores(root):
        try:
            listings.append(list_groups(store, config=checked))
        except Exception as exc:  # one store's fault: the others go on
            plan.unreadable.append(StoreProblem(store, _store_failure(store, exc)))
    labels = _unfolded({s.store: store_label(s.store, base) for s in listings})
    for listing in listings:
        store, label = listing.store, labels[listing.store]
        backend = listing.items[0].backend if listing.items else None
        found = listing.items
        if windows is not None:
            found = tuple(w for item in found for w in window_items(item, windows, checked))
        items = found + tuple(StoreItem(store, g, backend) for g in listing.no_data)
        outputs = _unfolded({item.key: item_file_name(item, fmt) for item in items})
        plan.stores.append(
            StorePlan(
                store=store,
                label=label,
                format=listing.format,
                output_dir=out / label,
                progress_path=progress_path_for(label, store, folder),
                items=items,
                no_data=frozenset(listing.no_data),
                outputs=outputs,
            )
        )
    return plan


def _store_failure(store: str, exc: BaseException) -> SpectrogramError:
    """Any failure to read a store as a :class:`StoreError` naming the store and cause."""
    if isinstance(exc, SpectrogramError):
        return exc
    cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    error = StoreError(
        f"store {store!r} cannot be read: {type(exc).__name__}: {cause}. The other stores "
        "are read as usual; fix or remove this one."
    )
    error.__cause__ = exc
    return error


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------


@dataclass
class ArchiveRun:
    """What :func:`render_archive` did.

    Attributes
    ----------
    plan
        The stores and items of the run.
    statuses
        Each item's status (``ok``, ``no_data`` or ``error``), including those skipped as
        already done, with their recorded status.
    skipped
        The items skipped because they were already done.
    refused
        Stores whose progress file could not be used (locked by another run, another
        run's settings, corrupt, unwritable): their items were not run.
    seconds
        How long the run took.
    unsaved
        What could not be saved when a full disk stopped the run, one sentence each.
    problems
        For the items of this run that were drawn without some of their variables, what
        could not be drawn (one line per variable).
    """

    plan: ArchivePlan
    statuses: dict[StoreItem, Status] = field(default_factory=dict)
    skipped: set[StoreItem] = field(default_factory=set)
    refused: list[StoreProblem] = field(default_factory=list)
    seconds: float = 0.0
    unsaved: list[str] = field(default_factory=list)
    problems: dict[StoreItem, tuple[str, ...]] = field(default_factory=dict)

    @property
    def unreadable(self) -> list[StoreProblem]:
        """Stores that could not be listed."""
        return self.plan.unreadable

    @property
    def logs(self) -> list[Path]:
        """The log of every store that ran."""
        refused = {p.store for p in self.refused}
        return [s.log_path for s in self.plan.stores if s.store not in refused]

    def counts(self) -> dict[str, int]:
        """Items of this run per status, those skipped as ``already_done``, and the
        ``problems`` of the items drawn without some of their variables."""
        out = {
            "ok": 0,
            "no_data": 0,
            "error": 0,
            "already_done": len(self.skipped),
            "problems": sum(len(p) for p in self.problems.values()),
        }
        for item, status in self.statuses.items():
            if item not in self.skipped:
                out[status] += 1
        return out


def _collect(plan: ArchivePlan, report: RunReport, run: ArchiveRun) -> ArchiveRun:
    for number, store in enumerate(plan.stores):
        ledger = report.ledgers[number]
        if number in report.refused:
            run.refused.append(StoreProblem(store.store, report.refused[number]))
            continue
        by_group = {item.key: item for item in store.items}
        for key, status in ledger.statuses.items():
            item = by_group.get(key, StoreItem(store.store, key))
            run.statuses[item] = status
            if key in ledger.skipped:
                run.skipped.add(item)
            if key in ledger.problems:
                run.problems[item] = ledger.problems[key]
    run.seconds = report.seconds
    run.unsaved = list(report.unsaved)
    return run


def _refuse_inside_stores(plan: ArchivePlan, folders: Mapping[str, Any]) -> None:
    """Refuse to write inside an input store (a Zarr store is a folder): the figures
    would become part of the data, and the store's format may not allow them."""
    stores = [Path(s.store) for s in plan.stores if Path(s.store).is_dir()]
    for name, folder in folders.items():
        if folder is None:
            continue
        where = Path(os.path.abspath(os.fspath(folder)))
        for store in stores:
            if where.is_relative_to(store) or where.resolve().is_relative_to(store.resolve()):
                detail = (
                    f"{str(where)!r} is inside the input store {str(store)!r}. Write "
                    "outside the stores of the archive."
                )
                error = SettingError(f"{name} {detail}")
                error.option, error.detail = name, detail
                raise error


def _work(plan: ArchivePlan) -> Iterator[tuple[int, StoreItem]]:
    for number, store in enumerate(plan.stores):
        for item in store.items:
            yield number, item


def render_archive(
    archive: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    config: PlotConfig | str | os.PathLike[str] | None = None,
    progress_dir: str | os.PathLike[str] | None = None,
    ignore_progress_json: bool = False,
    output_format: str = "png",
    colormap: str | None = None,
    y_scale: str | None = None,
    z_scale: str | None = None,
    executor: Any = "processes",
    max_workers: int | None = None,
    item_timeout: float | None = None,
    client: Any = None,
    scheduler_address: str | None = None,
    flush_batch_size: int = 10,
    log_flush_batch_size: int | None = None,
    progress_bar: bool | None = None,
    install_signal_handlers: bool = True,
    status_every: float | None = None,
    gallery: bool = True,
    shared_limits: bool = False,
    window: str | float | None = None,
    windows: str | os.PathLike[str] | None = None,
    memory_budget: int | str = DEFAULT_MEMORY_BUDGET,
) -> ArchiveRun:
    """Render every item of every store of an archive, resumably and in parallel.

    Parameters
    ----------
    archive
        A folder of stores (searched recursively), or one store.
    output
        The output folder; each store's figures go to ``output/<store label>/<group>.png``
        (the store label is its path relative to the archive; the root group is
        ``root``).
    config
        A :class:`~batch_multi_plot_spectrogram.metadata.PlotConfig` or the path of a TOML
        config file; it wins over the stores' attributes.
    progress_dir
        Where each store's progress file and log go (default: beside the store, as
        ``<store>.progress.json`` and ``<store>.progress.json.log``).
    ignore_progress_json
        Render everything again, ignoring recorded progress.
    output_format
        ``"png"`` (default), ``"pdf"`` or ``"svg"``.
    colormap, y_scale, z_scale
        Styles for every row, winning over the stores' attributes and the config file.
    executor, max_workers, item_timeout, client, scheduler_address
        Where items run, as in :func:`~batch_multi_plot_spectrogram.generic_batch_plot`:
        local worker processes by default, or a dask cluster.
    flush_batch_size, log_flush_batch_size, progress_bar, install_signal_handlers
        As in :func:`~batch_multi_plot_spectrogram.generic_batch_plot`; progress is saved
        per store.
    status_every
        Without a progress bar, print a status line on stderr this often (seconds), for
        the logs of batch systems. Default: none.
    gallery
        Make the run browsable: workers write a thumbnail and a small record of each item
        under ``output/<store label>/.thumbs/``, and ``output/index.html`` (with its index
        ``gallery.json``) shows every item of the output folder with its status, rewritten
        as progress is saved and when the run ends (see
        :mod:`batch_multi_plot_spectrogram.gallery`).
    shared_limits
        Give every figure of a row the same colour limits: the percentiles of the row's
        values over the whole archive, from a first pass over the items on the same
        workers (see :mod:`batch_multi_plot_spectrogram.shared_limits`; its state is
        saved in :func:`limits_path` and resumed). A config file may also set
        ``shared_limits`` for some rows (the pass then runs for those), or set it false
        to keep a row's limits its own.
    window
        Cut each group into windows this long (``"6h"``, ``"1d"``, ``"30min"``, or
        seconds), aligned to UTC: each window is an item, ``group@2015-12-01T12:00``,
        whose figure shows exactly the window (``no_data`` when it holds no record).
    windows
        A CSV file of intervals (``start,end[,name][,events]``, with a header row): one
        figure per interval that overlaps a group, named ``group@NAME`` (default: its
        start), its ``events`` (separated by ``;``) drawn as event lines with a zoom
        column. Not with ``window``.
    memory_budget
        Bytes a worker may use for one group, as a number or a size (``"800MB"``,
        ``"2GiB"``). Values are read a block of records at a time within it; a group whose
        rows would not fit at full resolution is folded into 4096 time cells as it is read
        (see the README's "Memory"). Default 1.5 GB.

    Returns
    -------
    ArchiveRun
        The status of every item, and the stores left out (unreadable or refused), each
        with its reason.

    Raises
    ------
    StoreNotFoundError
        When ``archive`` does not exist or holds no store.
    ConfigError
        When the config file is unusable.
    SettingError
        For an unusable option (naming it), or a ``progress_dir`` that cannot be made.
    DiskFullError
        At the first figure or progress file that the disk has no room for: the run stops
        there, progress is saved where it can be; its ``run`` attribute is the
        :class:`ArchiveRun` of what was done.
    KeyboardInterrupt
        After SIGINT, once every store's progress is saved; its ``run`` attribute is the
        :class:`ArchiveRun` of what was done.

    Examples
    --------
    >>> run = render_archive("archive", "plots", config="plots.toml")  # doctest: +SKIP
    >>> run.counts()  # doctest: +SKIP
    {'ok': 7, 'no_data': 4, 'error': 0, 'already_done': 0, 'problems': 0}
    """
    styles = {
        name: parse_argument(name, value)
        for name, value in (("colormap", colormap), ("y_scale", y_scale), ("z_scale", z_scale))
        if value is not None
    }
    options = FigureOptions.parse({**styles, "output_format": output_format})
    run_options = {
        name: parse_argument(name, value)
        for name, value in (
            ("flush_batch_size", flush_batch_size),
            ("log_flush_batch_size", log_flush_batch_size),
            ("max_workers", max_workers),
            ("item_timeout", item_timeout),
            ("gallery", gallery),
            ("shared_limits", shared_limits),
            ("memory_budget", memory_budget),
        )
    }
    checked = _config(config)
    cut = window_plan(window, windows)
    plan = plan_archive(
        archive,
        output,
        config=checked,
        progress_dir=progress_dir,
        output_format=options.output_format,
        windows=cut,
    )
    _refuse_inside_stores(plan, {"output": plan.output, "progress_dir": progress_dir})
    if progress_dir is None and isinstance(plan.archive, str):
        progress_dir = remote_progress_dir(plan.archive, plan.output)

    def runner_of() -> BatchExecutor:
        return make_executor(
            executor,
            max_workers=run_options["max_workers"],
            item_timeout=run_options["item_timeout"],
            max_in_flight=None,
            client=client,
            scheduler_address=scheduler_address,
            initializer=init_worker,
            initargs=(logger_levels(),),
            preload=WORKER_MODULES,
        )

    runner = runner_of()
    if progress_dir is not None:
        # Only once the workers are there: a failed connection leaves nothing behind.
        folder = Path(os.fspath(progress_dir))
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            runner.close(stopping=True)
            detail = (
                f"{str(folder)!r} cannot be made a folder: {exc.strerror or exc}. "
                "Pass a folder you can write to."
            )
            error = SettingError(f"progress_dir {detail}")
            error.option, error.detail = "progress_dir", detail
            raise error from None
    if run_options["shared_limits"]:
        styles["shared_limits"] = True
    loader = GroupLoader(
        checked, tuple(styles.items()), memory_budget=run_options["memory_budget"]
    )
    if progress_bar is None:
        progress_bar = sys.stderr is not None and sys.stderr.isatty()
    if run_options["shared_limits"] or (checked is not None and checked.mentions("shared_limits")):
        try:
            state = compute_shared_limits(
                _summary_items(plan),
                loader,
                runner_of,
                limits_path(plan.archive, progress_dir),
                settings={**loader.describe_settings(), "options": options.describe()},
                fresh=bool(ignore_progress_json),
                item_timeout=run_options["item_timeout"],
                save_every=run_options["flush_batch_size"],
                progress_bar=bool(progress_bar),
                install_signal_handlers=bool(install_signal_handlers),
            )
        except BaseException:
            runner.close(stopping=True)
            raise
        loader = dataclasses.replace(loader, shared=state.for_loader())
    run = ArchiveRun(plan)
    observer = None
    if run_options["gallery"]:
        observer = _gallery_observer(plan, ignore_progress=bool(ignore_progress_json))
    try:
        report = run_batch(
            _work(plan),
            ledgers=[
                LedgerSpec(s.store, s.output_dir, s.progress_path, s.log_path) for s in plan.stores
            ],
            functions=(loader, None, None, options),
            settings=settings_of(
                options, {"build_datasets_fn": loader, "output_name_fn": group_file_name}
            ),
            executor=runner,
            output_name=lambda number, group: plan.stores[number].outputs[group],
            item_timeout=run_options["item_timeout"],
            flush_batch_size=run_options["flush_batch_size"],
            log_capacity=run_options["log_flush_batch_size"],
            ignore_progress=bool(ignore_progress_json),
            install_signal_handlers=bool(install_signal_handlers),
            progress_bar=bool(progress_bar),
            totals=[len(s.items) for s in plan.stores],
            refuse="skip",
            status_every=status_every,
            observer=observer,
            previews=observer is not None,
        )
    except (KeyboardInterrupt, DiskFullError) as stopped:
        done: RunReport | None = getattr(stopped, "report", None)
        if done is not None:
            # What was done travels with the exception, for the caller to report.
            collected = _collect(plan, done, run)
            setattr(stopped, "run", collected)  # noqa: B010
            _note_refused(observer, plan, collected)
        raise
    _collect(plan, report, run)
    _note_refused(observer, plan, run)
    return run


def limits_path(
    archive: str | os.PathLike[str], progress_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Where the shared colour limits of an archive are kept: ``shared-limits.json`` in
    the archive folder (``<store>.shared-limits.json`` beside a single store), or in
    ``progress_dir`` (for an archive named by URL: where its progress files go)."""
    named = location(archive)
    if is_url(named):
        folder = Path(".progress") / safe_name(named) if progress_dir is None else progress_dir
        return Path(os.fspath(folder)) / LIMITS_FILE
    where = Path(named).absolute()
    base = _base(where)
    name = LIMITS_FILE if base == where else f"{where.name}.{LIMITS_FILE}"
    folder = base if progress_dir is None else progress_dir
    return Path(os.fspath(folder)) / name


def _summary_items(plan: ArchivePlan) -> Iterator[tuple[str, StoreItem]]:
    """The items of the shared-limits pass, named ``<store label>::<item key>``."""
    for store in plan.stores:
        for item in store.items:
            if item.group not in store.no_data:
                yield f"{store.label}::{item.key}", item


def window_plan(
    window: str | float | None, windows: str | os.PathLike[str] | None
) -> WindowPlan | None:
    """The windows of a run from its ``window`` length or ``windows`` file (or None).

    Raises
    ------
    SettingError
        For an unusable length, or both given.
    ConfigError
        For an unusable windows file.
    """
    if window is not None and windows is not None:
        detail = "give either a window length or a windows file, not both."
        error = SettingError(f"window and windows: {detail}")
        error.option, error.detail = "window", detail
        raise error
    if window is not None:
        return WindowPlan(length=parse_argument("window", window))
    if windows is not None:
        return WindowPlan(intervals=read_windows_csv(windows))
    return None


def _gallery_observer(plan: ArchivePlan, *, ignore_progress: bool) -> GalleryObserver:
    """The observer that keeps ``plan.output/index.html`` up to date during the run."""
    stores = []
    for store in plan.stores:
        figures = {item.key: plan.output_path(store, item.key) for item in store.items}
        standing: dict[str, str] = {}
        if not ignore_progress:
            try:
                recorded = read_statuses(store.progress_path)
            except SpectrogramError:
                recorded = {}  # the run refuses the store and says why
            # What the run will skip (see the batch's planning): the rest is pending.
            standing = {
                key: status
                for key, status in recorded.items()
                if key in figures
                and (status == "no_data" or (status == "ok" and figures[key].exists()))
            }
        stores.append(
            GalleryStore(store.label, store.output_dir, figures, standing, plan.output_format)
        )
    base = _base(plan.archive)
    problems = [(store_label(p.store, base), p.message) for p in plan.unreadable]
    return GalleryObserver(plan.output, stores, problems=problems)


def _note_refused(observer: GalleryObserver | None, plan: ArchivePlan, run: ArchiveRun) -> None:
    """Show the stores the run could not lock or use above the gallery, with the reason."""
    if observer is None or not run.refused:
        return
    base = _base(plan.archive)
    observer.add_problems((store_label(p.store, base), p.message) for p in run.refused)
    observer.write(None)


# ---------------------------------------------------------------------------------------
# Listing and checking
# ---------------------------------------------------------------------------------------


def list_archive(
    archive: str | os.PathLike[str],
    *,
    config: PlotConfig | str | os.PathLike[str] | None = None,
    progress_dir: str | os.PathLike[str] | None = None,
    window: str | float | None = None,
    windows: str | os.PathLike[str] | None = None,
) -> tuple[ArchivePlan, dict[str, Mapping[str, Status]]]:
    """The items of an archive and their recorded status (with ``window`` or ``windows``,
    the time windows of each group, as :func:`render_archive` cuts them).

    Returns
    -------
    plan, statuses
        The plan (see :func:`plan_archive`) and, per store, each group's recorded status
        (a group missing from it is pending). A store whose progress file cannot be read
        is moved to ``plan.unreadable``.
    """
    plan = plan_archive(
        archive, config=config, progress_dir=progress_dir, windows=window_plan(window, windows)
    )
    statuses: dict[str, Mapping[str, Status]] = {}
    readable = []
    for store in plan.stores:
        try:
            statuses[store.store] = read_statuses(store.progress_path)
        except SpectrogramError as exc:
            plan.unreadable.append(StoreProblem(store.store, exc))
            continue
        readable.append(store)
    plan.stores = readable
    return plan, statuses


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found by :func:`check_archive`.

    Attributes
    ----------
    kind
        ``"config"`` (the config file), ``"store"`` (a path or store that cannot be read),
        ``"group"`` (a group whose variables cannot be plotted) or ``"attribute"`` (an
        attribute with an unusable value).
    path
        The config file or store concerned.
    group
        The group concerned, if any.
    message
        What is wrong, what is accepted and how to fix it.
    """

    kind: Literal["config", "store", "group", "attribute"]
    path: str
    group: str | None
    message: str

    def __str__(self) -> str:
        return self.message


def _problem(exc: SpectrogramError, store: str, group: str) -> Problem:
    kind: Literal["group", "attribute"] = "attribute" if isinstance(exc, ConfigError) else "group"
    return Problem(kind, store, group, str(exc))


def check_archive(
    path: str | os.PathLike[str],
    config: PlotConfig | str | os.PathLike[str] | None = None,
    *,
    open_groups: bool = False,
) -> list[Problem]:
    """Collect every problem of an archive without rendering or reading data.

    Checks the config file, finds the stores, lists their groups and plans every figure:
    which variables, along which dimensions, with which attribute values.

    Parameters
    ----------
    path
        The archive directory, or one store.
    config
        A :class:`~batch_multi_plot_spectrogram.metadata.PlotConfig`, the path of a TOML
        config file, or None.
    open_groups
        Also open every group with xarray (lazily, no data), to catch what only decoding
        reveals (e.g. undecodable times). Slower on archives of many groups.

    Returns
    -------
    list of Problem
        Empty when all is well.
    """
    problems: list[Problem] = []
    if config is not None and not isinstance(config, PlotConfig):
        config_path = os.fspath(config)
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            problems.append(Problem("config", config_path, None, str(exc)))
            config = None
    set_storage_options(dict(config.storage) if isinstance(config, PlotConfig) else None)
    try:
        stores = find_stores(path)
    except StoreError as exc:
        return [*problems, Problem("store", os.fspath(path), None, str(exc))]
    for store in stores:
        try:
            metas = read_groups(store, METADATA_KEYS)
        except Exception as exc:  # one store's fault: the others are checked as usual
            problems.append(Problem("store", store, None, str(_store_failure(store, exc))))
            continue
        for meta in metas:
            if not meta.variables:
                continue
            plan = plan_metadata(meta, config)
            found = list(plan.problems)
            found.extend(limit_problems(plan))
            if open_groups and plan.rows and not found:
                try:
                    _, ds = plan_group(store, meta.path, config=config)
                    ds.close()
                except NoDataError:
                    pass  # nothing to plot (a master CDF without records) is no problem
                except Exception as exc:  # a group that cannot be opened: its problem
                    found.append(_store_failure(store, exc))
            problems.extend(_problem(exc, store, meta.path) for exc in found)
    return problems
