"""The command line: ``batch-spectrograms render | validate | list | gallery``.

Argument parsing, messages and exit codes only: the work is done by the library's
archive runner (:mod:`.archive`). Option values are checked by the options' own
validators, so a bad value is reported as the flag that carried it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError, SettingError, SpectrogramError
from .options import Origin, option

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

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
    "max_workers": "--workers",
    "item_timeout": "--item-timeout",
    "flush_batch_size": "--flush-batch-size",
    "log_flush_batch_size": "--log-flush-batch-size",
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
    click.echo(f"error: {message}", err=True)


class _EchoFailures(logging.Handler):
    """Echo on stderr the first line of each error record of the run log: the item and
    its reason, never the traceback (that stays in the log file)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            first = record.getMessage().split("\n", 1)[0]
        except Exception:  # a record that cannot be formatted must not stop the run
            self.handleError(record)
            return
        click.echo("error: " + re.sub(r"^error\s+", "item ", first), err=True)


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("batch_multi_plot_spectrogram")
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    handler.setLevel(level)


@contextlib.contextmanager
def _echo_failures() -> Iterator[None]:
    from .batch._logs import RUN_LOGGER_NAME

    handler = _EchoFailures()
    run_logger = logging.getLogger(RUN_LOGGER_NAME)
    run_logger.addHandler(handler)
    try:
        yield
    finally:
        run_logger.removeHandler(handler)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v, -vv).")
@click.version_option(package_name="batch_multi_plot_spectrogram")
def cli(verbose: int) -> None:
    """Multi-row spectrogram figures from archives of Zarr and NetCDF stores."""
    _configure_logging(verbose)


_archive = click.argument("archive", type=click.Path(path_type=Path))
_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Plot configuration file (TOML).",
)


def _summary(run: Any, interrupted: bool, gallery: Path | None = None) -> None:
    counts = run.counts()
    done = sum(counts.values())
    rate = done / run.seconds if run.seconds > 0 else 0.0
    click.echo(
        f"{'interrupted: ' if interrupted else ''}ok {counts['ok']}, "
        f"no_data {counts['no_data']}, error {counts['error']}"
        + (f", unreadable stores {len(run.unreadable)}" if run.unreadable else "")
        + (f", stores refused {len(run.refused)}" if run.refused else "")
        + f" in {run.seconds:.1f} s ({rate:.2f} items/s)",
        err=True,
    )
    if gallery is not None and gallery.exists():
        click.echo(f"gallery: {gallery}", err=True)
    for path in run.logs:
        click.echo(f"log: {path}", err=True)


def _dry_run(plan: Any) -> None:
    for store in plan.stores:
        click.echo(f"{store.store}: {len(store.items)} item(s)")
        for item in store.items:
            if item.group in store.no_data:
                click.echo(f"  {item.group}: no spectrogram variable (no_data)")
            else:
                click.echo(f"  {item.group} -> {plan.output_path(store, item.group)}")
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
    "--no-gallery",
    is_flag=True,
    help="Write no thumbnails and no OUTPUT/index.html (the gallery of the run).",
)
@click.option("--dry-run", is_flag=True, help="List what would be rendered, render nothing.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this dask scheduler.")
@click.option(
    "--cluster",
    type=click.Choice(["local"]),
    help="Start a local dask cluster of --workers workers (with a dashboard).",
)
def render(
    archive: Path,
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
    no_gallery: bool,
    dry_run: bool,
    scheduler: str | None,
    cluster: str | None,
) -> None:
    """Render every item of every store under ARCHIVE into OUTPUT.

    OUTPUT/index.html then shows every item with its thumbnail and status (open it in a
    browser; --no-gallery skips it).
    """
    from .archive import plan_archive, render_archive
    from .batch.executors import usable_cores
    from .metadata import load_config

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
                )
            )
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
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
        "gallery": not no_gallery,
    }
    interrupted = False
    try:
        with contextlib.ExitStack() as stack:
            if cluster is not None:
                from .batch.executors._dask import open_client

                client = stack.enter_context(open_client(local_workers=workers or usable_cores()))
                arguments.update(client=client, max_workers=None)
                where = f"a local dask cluster (dashboard {client.dashboard_link})"
            elif scheduler is not None:
                where = f"the dask scheduler at {scheduler}"
            else:
                where = f"{workers or usable_cores()} local worker process(es)"
            stack.enter_context(_echo_failures())
            click.echo(f"rendering {archive} on {where}", err=True)
            try:
                run = render_archive(archive, output, **arguments)
            except KeyboardInterrupt as stopped:
                if not hasattr(stopped, "run"):
                    raise  # before the run began: nothing to report
                run, interrupted = stopped.run, True
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    for problem in run.unreadable:
        _fail(_message(problem.error))
    for problem in run.refused:
        _fail(_message(problem.error))
    from .gallery import PAGE_NAME

    _summary(run, interrupted, None if no_gallery else run.plan.output / PAGE_NAME)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if run.refused:
        sys.exit(EXIT_USAGE)
    failed = run.counts()["error"] or run.unreadable
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


@cli.command()
@_archive
@_config
def validate(archive: Path, config_path: str | None) -> None:
    """Check stores, metadata and config under ARCHIVE; report every problem."""
    from .archive import check_archive

    problems = check_archive(archive, config_path, open_groups=True)
    for problem in problems:
        where = problem.path + (f" [{problem.group}]" if problem.group else "")
        click.echo(f"{problem.kind}: {where}: {problem.message}")
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
def list_items(archive: Path, config_path: str | None, progress_dir: Path | None) -> None:
    """Print every item under ARCHIVE with its progress status."""
    from .archive import list_archive

    try:
        plan, statuses = list_archive(archive, config=config_path, progress_dir=progress_dir)
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    for store in plan.stores:
        click.echo(store.store)
        for item in store.items:
            click.echo(f"  {statuses[store.store].get(item.group, 'pending'):<8} {item.group}")
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
def gallery(output: Path, no_thumbnails: bool) -> None:
    """Rebuild OUTPUT/index.html from the files in OUTPUT.

    For runs made before galleries existed, or after output folders were copied or
    merged: items are found from their records in .thumbs folders, the previous index and
    the figures themselves.
    """
    from .gallery import PAGE_NAME, rebuild_gallery

    try:
        document = rebuild_gallery(output, make_thumbnails=not no_thumbnails)
    except SpectrogramError as exc:
        _fail(_message(exc))
        sys.exit(EXIT_USAGE)
    except OSError as exc:
        _fail(f"cannot write into {str(output)!r}: {exc.strerror or exc}.")
        sys.exit(EXIT_USAGE)
    counts = document["counts"]
    shown = ", ".join(f"{counts[name]} {name}" for name in counts if counts[name])
    click.echo(f"{len(document['items'])} item(s){': ' + shown if shown else ''}", err=True)
    click.echo(f"gallery: {output / PAGE_NAME}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``batch-spectrograms``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    cli.main(args=argv, prog_name="batch-spectrograms")


if __name__ == "__main__":
    main()
