"""The command line: ``batch-spectrograms render | ingest | validate | list | gallery``.

Argument parsing, messages and exit codes only: the work is done by the library's
archive runner (:mod:`.archive`). Option values are checked by the options' own
validators, so a bad value is reported as the flag that carried it.

Exit codes: 0 nothing failed; 1 some items (or stores) failed; 2 bad usage or
configuration; 3 refused (a progress file locked by another run or written with other
settings, a folder that cannot be written, a full disk); 4 an internal error (a bug);
130 interrupted (Ctrl-C); 143 terminated (SIGTERM). After 130 and 143, progress is saved
and the same command resumes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError, DiskFullError, SettingError, SpectrogramError
from .options import Origin, option

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_INTERNAL = 0, 1, 2, 3, 4
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
#: Seconds between status lines when stderr is not a terminal.
STATUS_SECONDS = 30.0

#: How the command line words each remedy an error may carry.
CLI_REMEDIES = {
    "ignore_progress": "Pass --ignore-progress to start afresh (the file is then overwritten "
    "at the first save)",
    "other_progress_file": "--progress-dir DIR to keep this file and record progress elsewhere",
    "wait_for_lock": "Wait for that run to finish or stop it, or pass --progress-dir DIR",
}
#: The flag of each option of the library that the command line sets.
FLAGS = {
    "colormap": "--colormap",
    "y_scale": "--y-scale",
    "z_scale": "--z-scale",
    "output_format": "--format",
    "progress_dir": "--progress-dir",
    "output": "-o/--output",
    "max_workers": "--workers",
    "item_timeout": "--item-timeout",
    "flush_batch_size": "--flush-batch-size",
    "log_flush_batch_size": "--log-flush-batch-size",
    "group_by": "--group-by",
    "memory_budget": "--memory-budget",
}


class _OptionValue(click.ParamType):
    """A flag checked by the validator of the library's option of the same meaning."""

    def __init__(self, name: str, metavar: str | None = None) -> None:
        self.option = name
        self.name = name
        self.metavar = metavar

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str | None:
        return self.metavar

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return option(self.option).parse(value, Origin.argument(self.option))
        except (SettingError, ConfigError) as exc:
            self.fail(exc.detail or str(exc), param, ctx)


def _message(exc: BaseException) -> str:
    """An error of the library in the words of the command line."""
    if isinstance(exc, SettingError | ConfigError) and exc.option in FLAGS and exc.detail:
        return f"{FLAGS[exc.option]} {exc.detail}"
    if isinstance(exc, SpectrogramError):
        return exc.phrase(CLI_REMEDIES)
    if isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else "a file"
        return (
            f"cannot write {str(where)!r}: {exc.strerror or exc}. Choose a folder you can "
            "write to: --progress-dir DIR for the progress files and logs (they go beside "
            "the stores by default), -o DIR for the figures."
        )
    return str(exc)


def _fail(message: str) -> None:
    click.echo(f"error: {shown(message)}", err=True)


def shown(text: object, *, lines: bool = True) -> str:
    """Text for the terminal: control characters (escape sequences, carriage returns)
    written as escapes, so that names in the data can never drive the terminal. Line
    breaks are kept when ``lines`` (messages), escaped otherwise (one name per line)."""
    return "".join(
        c if c.isprintable() or (lines and c == "\n") else repr(c)[1:-1] for c in str(text)
    )


class _EchoItems(logging.Handler):
    """Echo on stderr the first line of the run log's records: each failing item with its
    store and reason (never the traceback, which stays in the log file), and, when
    verbose, every item."""

    def emit(self, record: logging.LogRecord) -> None:
        if not hasattr(record, "item"):
            return  # about a whole store: the summary and the log say it
        try:
            first = record.getMessage().split("\n", 1)[0]
        except Exception:  # a record that cannot be formatted must not stop the run
            self.handleError(record)
            return
        store = getattr(record, "ledger_name", None)
        if record.levelno == logging.WARNING and first.startswith("problem "):
            # A variable the item was drawn without: always said.
            click.echo(
                "problem: " + shown(_item_of_store(first, "problem", record.item, store)), err=True
            )
        elif record.levelno >= logging.ERROR:
            click.echo(
                "error: " + shown(_item_of_store(first, "error", record.item, store)), err=True
            )
        elif store is not None:
            click.echo(shown(f"{first} [{store}]", lines=False), err=True)


def _item_of_store(first: str, word: str, key: object, store: str | None) -> str:
    """``"WORD 'KEY' (#N): reason"`` -> ``"item 'KEY' (#N) of store 'STORE': reason"``,
    whatever the key and the store hold (spaces, backslashes, escapes)."""
    found = re.match(rf"{word}\s+({re.escape(repr(key))} \(#\d+\))(.*)", first, re.S)
    if found is None:
        return first
    of_store = "" if store is None else f" of store {store!r}"
    return f"item {found[1]}{of_store}{found[2]}"


class _Shown(logging.Formatter):
    """Log records for the terminal, with control characters escaped (line breaks are
    kept, for tracebacks): a record may quote names from the data."""

    def format(self, record: logging.LogRecord) -> str:
        return shown(super().format(record))


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Shown("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("batch_multi_plot_spectrogram")
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    handler.setLevel(level)
    # Warnings of the libraries below (xarray, zarr, ...) are for the log files, not the
    # terminal: as log records, they reach the log of the store they concern.
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.propagate = False
    if verbose > 1:
        warnings_logger.addHandler(handler)


@contextlib.contextmanager
def _echo_items(verbose: int) -> Iterator[None]:
    from .batch._logs import RUN_LOGGER_NAME

    handler = _EchoItems(logging.INFO if verbose else logging.WARNING)
    run_logger = logging.getLogger(RUN_LOGGER_NAME)
    run_logger.addHandler(handler)
    try:
        yield
    finally:
        run_logger.removeHandler(handler)


class _Terminate:
    """SIGTERM while the command line runs: during a render, the batch core stops cleanly
    and hands the signal back here, where it is noted so that the summary and the way to
    resume can be printed; at any other time it ends the program at once."""

    def __init__(self) -> None:
        self.received = False
        self.rendering = False
        self._previous: Any = None

    def __enter__(self) -> _Terminate:
        with contextlib.suppress(ValueError):  # not the main thread: leave it alone
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        self.received = True
        if not self.rendering:
            raise SystemExit(EXIT_TERMINATED)


def _verbose_option(fn: Any) -> Any:
    return click.option(
        "-v",
        "--verbose",
        "sub_verbose",
        count=True,
        help="More output on stderr: -v one line per item, -vv debug records.",
    )(fn)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More output on stderr (-v, -vv).")
@click.version_option(package_name="batch_multi_plot_spectrogram")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Multi-row spectrogram figures from archives of CDF, NetCDF and Zarr stores."""
    ctx.obj = {"verbose": verbose}


def _verbosity(sub_verbose: int) -> int:
    """The verbosity given before and after the subcommand, with logging set up for it."""
    ctx = click.get_current_context()
    verbose = int((ctx.obj or {}).get("verbose", 0)) + sub_verbose
    _configure_logging(verbose)
    return verbose


# Text, not a Path: a URL (s3://bucket/prefix) keeps its double slash.
_archive = click.argument("archive", type=click.Path())
_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Plot configuration file (TOML).",
)


def _window_options(fn: Any) -> Any:
    """``--window`` and ``--windows``: time windows of each group as items."""
    fn = click.option(
        "--windows",
        "windows_path",
        type=click.Path(dir_okay=False),
        help="CSV of intervals (header start,end[,name][,events]): one figure per interval.",
    )(fn)
    return click.option(
        "--window",
        metavar="LENGTH",
        help="Cut each group into UTC-aligned windows (6h, 1d, 30min), one figure each.",
    )(fn)


def _summary(run: Any, stopped: str | None, gallery: Path | None = None) -> None:
    counts = run.counts()
    done = counts["ok"] + counts["no_data"] + counts["error"]
    rate = done / run.seconds if run.seconds > 0 else 0.0
    click.echo(
        f"{stopped + ': ' if stopped else ''}ok {counts['ok']}, "
        f"no_data {counts['no_data']}, error {counts['error']}"
        + (f", already done {counts['already_done']}" if counts["already_done"] else "")
        + (f", problems {counts['problems']}" if counts["problems"] else "")
        + (f", unreadable stores {len(run.unreadable)}" if run.unreadable else "")
        + (f", stores refused {len(run.refused)}" if run.refused else "")
        + f" in {run.seconds:.1f} s ({rate:.2f} items/s)",
        err=True,
    )
    if gallery is not None and gallery.exists():
        click.echo(f"gallery: {shown(gallery)}", err=True)
    for path in run.logs:
        click.echo(f"log: {shown(path, lines=False)}", err=True)


def _parse_masters(values: tuple[str, ...]) -> dict[str, str]:
    masters: dict[str, str] = {}
    for value in values:
        pattern, sep, path = value.partition("=")
        if not sep or not pattern.strip() or not path.strip():
            raise click.BadParameter(
                f"expected SOURCE=MASTER.cdf (a logical source or a glob on file names, then "
                f"the master CDF). Got {value!r} instead.",
                param_hint="--master",
            )
        masters[pattern.strip()] = path.strip()
    return masters


def _dry_run(plan: Any) -> None:
    for store in plan.stores:
        click.echo(shown(f"{store.store}: {len(store.items)} item(s)", lines=False))
        for item in store.items:
            group = shown(item.key, lines=False)
            if item.group in store.no_data:
                click.echo(f"  {group}: no spectrogram variable (no_data)")
            else:
                output = shown(plan.output_path(store, item.key), lines=False)
                click.echo(f"  {group} -> {output}")
    for problem in plan.unreadable:
        _fail(_message(problem.error))
    sys.exit(EXIT_FAILED if plan.unreadable else EXIT_OK)


@cli.command()
@_archive
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(path_type=Path),
    help="Output directory for the figures.",
)
@_config
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes (default: all cores)."
)
@click.option(
    "--ignore-progress", is_flag=True, help="Re-render everything; start fresh progress files."
)
@click.option(
    "--flush-batch-size",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Save progress every N finished items.",
)
@click.option(
    "--log-flush-batch-size",
    type=click.IntRange(min=1),
    help="Write the log every N records (default: --flush-batch-size).",
)
@click.option(
    "--item-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Fail an item that runs longer than this many seconds.",
)
@click.option(
    "--progress-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write progress files here instead of beside the stores.",
)
@click.option(
    "--colormap",
    type=_OptionValue("colormap", "NAME"),
    help="Colormap for every row (overrides metadata).",
)
@click.option(
    "--y-scale", type=_OptionValue("y_scale", "[linear|log]"), help="y scale for every row."
)
@click.option(
    "--z-scale", type=_OptionValue("z_scale", "[linear|log]"), help="Colour scale for every row."
)
@click.option(
    "--format",
    "output_format",
    type=_OptionValue("output_format", "[png|pdf|svg]"),
    default="png",
    show_default=True,
    help="File format of the figures.",
)
@click.option(
    "--master",
    "masters",
    multiple=True,
    metavar="SOURCE=MASTER.cdf",
    help="Use this master CDF for a logical source (or a glob on CDF file names); repeatable.",
)
@click.option(
    "--no-gallery",
    is_flag=True,
    help="Write no thumbnails and no OUTPUT/index.html (the gallery of the run).",
)
@click.option(
    "--shared-limits",
    is_flag=True,
    help="Same colour limits for every figure of a row: percentiles of the whole archive "
    "(a first pass reads every item; it resumes if stopped).",
)
@click.option(
    "--memory-budget",
    type=_OptionValue("memory_budget", "SIZE"),
    help="Memory a worker may use for one group, e.g. 800MB or 2GiB (default 1.5GB); "
    "larger groups are folded into 4096 time cells.",
)
@click.option("--dry-run", is_flag=True, help="List what would be rendered, render nothing.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this dask scheduler.")
@click.option(
    "--cluster",
    type=click.Choice(["local"]),
    help="Start a local dask cluster of --workers workers (with a dashboard).",
)
@_window_options
@_verbose_option
def render(
    archive: str,
    output: Path,
    config_path: str | None,
    workers: int | None,
    ignore_progress: bool,
    flush_batch_size: int,
    log_flush_batch_size: int | None,
    item_timeout: float | None,
    progress_dir: Path | None,
    colormap: str | None,
    y_scale: str | None,
    z_scale: str | None,
    output_format: str,
    masters: tuple[str, ...],
    no_gallery: bool,
    shared_limits: bool,
    memory_budget: int | None,
    dry_run: bool,
    scheduler: str | None,
    cluster: str | None,
    window: str | None,
    windows_path: str | None,
    sub_verbose: int,
) -> None:
    """Render every item of every store under ARCHIVE into OUTPUT.

    OUTPUT/index.html then shows every item with its thumbnail and status (open it in a
    browser; --no-gallery skips it).
    """
    from .archive import plan_archive, render_archive, window_plan
    from .batch.executors import usable_cores
    from .metadata import load_config
    from .stores import CDFBackend, register_backend

    if masters:
        # Each item carries its backend to the workers, and with it these masters.
        register_backend(CDFBackend(_parse_masters(masters)))

    verbose = _verbosity(sub_verbose)
    if scheduler and cluster:
        raise click.UsageError("use either --scheduler or --cluster, not both.")
    if workers is not None and scheduler:
        raise click.UsageError(
            "--workers applies to local runs and --cluster local; the "
            "scheduler's workers are its own."
        )
    if item_timeout is not None and (scheduler or cluster):
        raise click.UsageError("--item-timeout applies to local worker processes only.")
    try:
        config = None if config_path is None else load_config(config_path)
        if dry_run:
            _dry_run(
                plan_archive(
                    archive,
                    output,
                    config=config,
                    progress_dir=progress_dir,
                    output_format=output_format,
                    windows=window_plan(window, windows_path),
                )
            )
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    terminal = sys.stderr is not None and sys.stderr.isatty()
    arguments: dict[str, Any] = {
        "config": config,
        "progress_dir": progress_dir,
        "ignore_progress_json": ignore_progress,
        "output_format": output_format,
        "colormap": colormap,
        "y_scale": y_scale,
        "z_scale": z_scale,
        "max_workers": workers,
        "item_timeout": item_timeout,
        "scheduler_address": scheduler,
        "flush_batch_size": flush_batch_size,
        "log_flush_batch_size": log_flush_batch_size,
        # A bar on a terminal (not with one line per item); otherwise a status line every
        # 30 s, for the logs of batch systems.
        "progress_bar": terminal and not verbose,
        "status_every": None if terminal else STATUS_SECONDS,
        "gallery": not no_gallery,
        "shared_limits": shared_limits,
        "window": window,
        "windows": windows_path,
    }
    if memory_budget is not None:
        arguments["memory_budget"] = memory_budget
    stopped: str | None = None
    with _Terminate() as terminate:
        try:
            with contextlib.ExitStack() as stack:
                if cluster is not None:
                    from .batch.executors._dask import open_client

                    client = stack.enter_context(
                        open_client(local_workers=workers or usable_cores())
                    )
                    arguments.update(client=client, max_workers=None)
                    where = f"a local dask cluster (dashboard {client.dashboard_link})"
                elif scheduler is not None:
                    where = f"the dask scheduler at {scheduler}"
                else:
                    where = f"{workers or usable_cores()} local worker process(es)"
                stack.enter_context(_echo_items(verbose))
                click.echo(shown(f"rendering {archive} on {where}", lines=False), err=True)
                terminate.rendering = True
                try:
                    run = render_archive(archive, output, **arguments)
                except KeyboardInterrupt as interrupt:
                    if not hasattr(interrupt, "run"):
                        raise  # before the run began: nothing to report
                    run, stopped = interrupt.run, "interrupted"
                except DiskFullError as full:
                    _fail(_message(full))
                    run = full.run  # type: ignore[attr-defined]
                    _report(run, None, _gallery_page(run, no_gallery))
                    sys.exit(EXIT_REFUSED)
                finally:
                    terminate.rendering = False
        except KeyboardInterrupt:
            click.echo("interrupted before anything was rendered.", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except SpectrogramError as exc:
            _fail(_message(exc))
            sys.exit(EXIT_USAGE)
    if terminate.received:
        stopped = "terminated"
    _report(run, stopped, _gallery_page(run, no_gallery))
    if stopped is not None:
        click.echo(
            "Progress is saved: run the same command again to resume (finished items are "
            "skipped).",
            err=True,
        )
        sys.exit(EXIT_TERMINATED if stopped == "terminated" else EXIT_INTERRUPTED)
    if run.refused:
        sys.exit(EXIT_REFUSED)
    counts = run.counts()
    failed = counts["error"] or counts["problems"] or run.unreadable
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def _gallery_page(run: Any, no_gallery: bool) -> Path | None:
    from .gallery import PAGE_NAME

    return None if no_gallery else Path(run.plan.output) / PAGE_NAME


def _report(run: Any, stopped: str | None = None, gallery: Path | None = None) -> None:
    for problem in run.unreadable:
        _fail(_message(problem.error))
    for problem in run.refused:
        _fail(_message(problem.error))
    for sentence in run.unsaved:
        _fail(sentence)
    _summary(run, stopped, gallery)


@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "store",
    required=True,
    type=click.Path(path_type=Path),
    help="The store to write: STORE.zarr (Zarr) or STORE.nc (NetCDF-4).",
)
@click.option(
    "--group-by",
    default="day",
    type=_OptionValue("group_by", "day|file"),
    show_default=True,
    help="One group per day (<source>/<YYYY-MM-DD>, the newest version) or per file.",
)
@click.option(
    "--master",
    "masters",
    multiple=True,
    metavar="SOURCE=MASTER.cdf",
    help="Use this master CDF for a logical source (or a glob on file names); repeatable.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), help="Worker processes (default: all cores)."
)
@click.option(
    "--item-timeout",
    type=click.FloatRange(min=0, min_open=True),
    help="Fail a file that takes longer than this many seconds.",
)
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this dask scheduler.")
@_verbose_option
def ingest(
    sources: tuple[Path, ...],
    store: Path,
    group_by: str,
    masters: tuple[str, ...],
    workers: int | None,
    item_timeout: float | None,
    scheduler: str | None,
    sub_verbose: int,
) -> None:
    """Ingest the CDF files of SOURCES (files or folders) into one Zarr or NetCDF store.

    Each file becomes one group, its master CDF applied; a file already ingested and
    unchanged is skipped, a changed one replaced. Render the store with `render`.
    """
    from .batch.executors import usable_cores
    from .ingest import ingest_cdf

    _verbosity(sub_verbose)
    if workers is not None and scheduler:
        raise click.UsageError("--workers applies to local runs; the scheduler's are its own.")
    if item_timeout is not None and scheduler:
        raise click.UsageError("--item-timeout applies to local worker processes only.")
    where = (
        f"the dask scheduler at {scheduler}"
        if scheduler
        else f"{workers or usable_cores()} local worker process(es)"
    )
    click.echo(shown(f"ingesting into {store} on {where}"), err=True)
    interrupted = False
    try:
        run = ingest_cdf(
            list(sources),
            store,
            group_by=group_by,
            masters=_parse_masters(masters),
            max_workers=workers,
            item_timeout=item_timeout,
            scheduler_address=scheduler,
        )
    except KeyboardInterrupt as stopped:
        if not hasattr(stopped, "run"):
            sys.exit(EXIT_INTERRUPTED)
        run, interrupted = stopped.run, True
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    for source, status in run.statuses.items():
        if status == "error":
            _fail(f"{source}: {run.messages[source]}")
    counts = run.counts()
    click.echo(
        f"{'interrupted: ' if interrupted else ''}written {counts['written']}, skipped "
        f"{counts['skipped']}, no_data {counts['no_data']}, error {counts['error']} in "
        f"{run.seconds:.1f} s",
        err=True,
    )
    if run.log is not None:
        click.echo(f"log: {shown(run.log)}", err=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FAILED if counts["error"] else EXIT_OK)


@cli.command()
@_archive
@_config
@_verbose_option
def validate(archive: str, config_path: str | None, sub_verbose: int) -> None:
    """Check stores, metadata and config under ARCHIVE; report every problem."""
    from .archive import check_archive

    _verbosity(sub_verbose)
    problems = check_archive(archive, config_path, open_groups=True)
    for problem in problems:
        where = problem.path + (f" [{problem.group}]" if problem.group else "")
        click.echo(f"{problem.kind}: {shown(where, lines=False)}: {shown(problem.message)}")
    if problems:
        click.echo(f"{len(problems)} problem(s) found.", err=True)
        sys.exit(EXIT_USAGE)
    click.echo("no problems found.", err=True)


@cli.command(name="list")
@_archive
@_config
@click.option(
    "--progress-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the progress files are, if not beside the stores.",
)
@click.option(
    "--limits",
    "show_limits",
    is_flag=True,
    help="Print the shared colour limits of each row (render --shared-limits) instead.",
)
@_window_options
@_verbose_option
def list_items(
    archive: str,
    config_path: str | None,
    progress_dir: Path | None,
    show_limits: bool,
    window: str | None,
    windows_path: str | None,
    sub_verbose: int,
) -> None:
    """Print every item under ARCHIVE with its progress status."""
    from .archive import limits_path, list_archive
    from .shared_limits import read_shared_limits

    _verbosity(sub_verbose)
    if show_limits:
        path = limits_path(archive, progress_dir)
        state = read_shared_limits(path)
        if state is None:
            _fail(f"{shown(path)}: no shared colour limits. Render with --shared-limits first.")
            sys.exit(EXIT_FAILED)
        click.echo(shown(f"{path}: {len(state.seen)} item(s) summarised", lines=False))
        for key, (low, high) in state.limits().items():
            values = state.rows[key].count
            scale = "log" if state.log_scale.get(key) else "linear"
            click.echo(shown(f"  {key}: {low:.4g} to {high:.4g} ({scale}; {values} values)"))
        for name, reason in state.failed.items():
            _fail(shown(f"{name}: left out: {reason}"))
        sys.exit(EXIT_FAILED if state.failed else EXIT_OK)
    try:
        plan, statuses = list_archive(
            archive,
            config=config_path,
            progress_dir=progress_dir,
            window=window,
            windows=windows_path,
        )
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    for store in plan.stores:
        click.echo(shown(store.store, lines=False))
        for item in store.items:
            status = statuses[store.store].get(item.key, "pending")
            click.echo(f"  {status:<8} {shown(item.key, lines=False)}")
    for problem in plan.unreadable:
        _fail(_message(problem.error))
    sys.exit(EXIT_FAILED if plan.unreadable else EXIT_OK)


@cli.command()
@click.argument("output", type=click.Path(path_type=Path))
@click.option(
    "--no-thumbnails",
    is_flag=True,
    help="Do not make missing thumbnails of PNG figures (each means reading the figure).",
)
@_verbose_option
def gallery(output: Path, no_thumbnails: bool, sub_verbose: int) -> None:
    """Rebuild OUTPUT/index.html from the files in OUTPUT.

    For runs made before galleries existed, or after output folders were copied or
    merged: items are found from their records in .thumbs folders, the previous index and
    the figures themselves.
    """
    from .gallery import PAGE_NAME, rebuild_gallery

    _verbosity(sub_verbose)
    try:
        document = rebuild_gallery(output, make_thumbnails=not no_thumbnails)
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        _fail(f"cannot write into {str(output)!r}: {exc.strerror or exc}.")
        sys.exit(EXIT_USAGE)
    counts = document["counts"]
    listed = ", ".join(f"{counts[name]} {name}" for name in counts if counts[name])
    click.echo(f"{len(document['items'])} item(s){': ' + listed if listed else ''}", err=True)
    click.echo(f"gallery: {shown(output / PAGE_NAME)}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``batch-spectrograms``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        cli.main(args=argv, prog_name="batch-spectrograms")
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: say so, with what is needed to report it
        click.echo(
            f"internal error: {shown(type(exc).__name__)}: {shown(exc)}. This is a bug in "
            "batch-spectrograms; please report it with the traceback below.",
            err=True,
        )
        click.echo(shown("".join(traceback.format_exception(exc))), err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
