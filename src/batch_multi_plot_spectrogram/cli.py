"""The command line: ``batch-spectrograms render | validate | list``.

Argument parsing and wiring only: stores are found by :mod:`.discovery`, groups are read
by :mod:`.adapter`, and every store's items go through the one batch core
(:func:`~.batch.generic_batch_plot`) on one shared executor (local processes, or a dask
cluster's executor).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import click

from .errors import ProgressFileError, ProgressLockedError, SpectrogramError

__all__ = ["main"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
PROGRESS_SUFFIX = ".progress.json"
ROOT_NAME = "root"


def output_name(group: str) -> str:
    """The PNG path of a group inside its store's output folder (``"/"`` is ``root``)."""
    path = group.strip("/")
    return f"{path or ROOT_NAME}.png"


def _store_label(store: str, archive: Path) -> str:
    """A store's name in output paths: its path relative to the archive directory."""
    path = Path(store)
    try:
        rel = path.resolve().relative_to(archive.resolve())
    except ValueError:
        rel = Path(path.name)
    return str(PurePosixPath(*rel.parts)) if rel.parts else path.name


def progress_path_for(store: str, archive: Path, progress_dir: Path | None) -> Path:
    """``STORE.progress.json`` beside the store, or inside ``progress_dir``."""
    if progress_dir is None:
        return Path(store).with_name(Path(store).name + PROGRESS_SUFFIX)
    flat = _store_label(store, archive).replace("/", "__")
    return progress_dir / (flat + PROGRESS_SUFFIX)


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def _refusal(exc: ProgressFileError | ProgressLockedError) -> str:
    """A refused progress file's message, in the words of the command line."""
    text = (str(exc).replace("ignore_progress_json=True", "--ignore-progress")
            .replace("another progress_json_path", "--progress-dir DIR"))
    if "build_datasets_fn" in text:
        text += ("\n(build_datasets_fn carries the plot options: --config and the file's "
                 "contents, --colormap, --y-scale, --z-scale.)")
    if isinstance(exc, ProgressFileError) and "--ignore-progress" not in text:
        text += ("\nOn the command line: --ignore-progress re-renders everything, "
                 "--progress-dir DIR keeps progress elsewhere.")
    return text


def _unwritable(exc: OSError) -> str:
    where = exc.filename if exc.filename is not None else "a file"
    return (f"cannot write {str(where)!r}: {exc.strerror or exc}. Choose a folder you can "
            "write to: --progress-dir DIR for the progress files and logs (they go beside "
            "the stores by default), -o DIR for the PNGs.")


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


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "no_data": 0, "error": 0})
    store_errors: int = 0
    refused: int = 0
    logs: list[str] = field(default_factory=list)

    def add(self, statuses: dict[str, str]) -> None:
        for status in statuses.values():
            self.counts[status] = self.counts.get(status, 0) + 1


def _configure_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("batch_multi_plot_spectrogram")
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    handler.setLevel(level)


def _load_config(config_path: str | None, overrides: dict[str, Any]) -> Any:
    """The plot configuration: the file's keys, with command-line options on top."""
    import tomllib

    from .config import parse_config

    document: dict[str, Any] = {}
    if config_path is not None:
        try:
            with open(config_path, "rb") as fh:
                document = tomllib.load(fh)
        except FileNotFoundError:
            raise click.UsageError(f"config file {config_path} does not exist.") from None
        except tomllib.TOMLDecodeError as exc:
            raise click.UsageError(
                f"config file {config_path} is not valid TOML: {exc}"
            ) from None
    document.update({k: v for k, v in overrides.items() if v is not None})
    if not document:
        return None
    return parse_config(document, path=config_path)


@contextlib.contextmanager
def _executor(
    workers: int | None, item_timeout: float | None, scheduler: str | None, cluster: str | None
) -> Iterator[tuple[dict[str, Any], str]]:
    """Where every store's batch runs: keyword arguments for the batch core that share
    one local process pool or one dask client, and a description for the user."""
    if scheduler is not None or cluster is not None:
        from .cluster import open_client

        if scheduler is not None:
            ctx = open_client(scheduler_address=scheduler)
        else:
            from .executors import usable_cores

            ctx = open_client(local_workers=workers or usable_cores())
        with ctx as client:
            where = (f"the dask scheduler at {scheduler}" if scheduler else
                     f"a local dask cluster (dashboard {client.dashboard_link})")
            yield {"client": client}, where
        return
    from .batch import local_process_pool

    pool = local_process_pool(max_workers=workers, item_timeout=item_timeout)
    try:
        yield ({"executor": pool, "max_workers": pool.max_workers},
               f"{pool.max_workers} local worker process(es)")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v, -vv).")
@click.version_option(package_name="batch_multi_plot_spectrogram")
def cli(verbose: int) -> None:
    """Multi-row spectrogram figures from archives of Zarr and NetCDF stores."""
    _configure_logging(verbose)


_archive = click.argument("archive", type=click.Path(path_type=Path))
_config = click.option("--config", "config_path", type=click.Path(dir_okay=False),
                       help="Plot configuration file (TOML).")


@cli.command()
@_archive
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Output directory for the PNGs.")
@_config
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes (default: all cores).")
@click.option("--ignore-progress", is_flag=True,
              help="Re-render everything; start fresh progress files.")
@click.option("--flush-batch-size", type=click.IntRange(min=1), default=10, show_default=True,
              help="Save progress every N finished items.")
@click.option("--log-flush-batch-size", type=click.IntRange(min=1),
              help="Write the log every N records (default: --flush-batch-size).")
@click.option("--item-timeout", type=click.FloatRange(min=0, min_open=True),
              help="Fail an item that runs longer than this many seconds.")
@click.option("--progress-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write progress files here instead of beside the stores.")
@click.option("--colormap", help="Colormap for every row (overrides metadata).")
@click.option("--y-scale", type=click.Choice(["linear", "log"]), help="y scale for every row.")
@click.option("--z-scale", type=click.Choice(["linear", "log"]),
              help="Colour scale for every row.")
@click.option("--dry-run", is_flag=True, help="List what would be rendered, render nothing.")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this dask scheduler.")
@click.option("--cluster", type=click.Choice(["local"]),
              help="Start a local dask cluster of --workers workers (with a dashboard).")
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
    dry_run: bool,
    scheduler: str | None,
    cluster: str | None,
) -> None:
    """Render every item of every store under ARCHIVE into OUTPUT."""
    from .batch import generic_batch_plot
    from .discovery import StoreItem, find_stores, list_groups

    if scheduler and cluster:
        raise click.UsageError("use either --scheduler or --cluster, not both.")
    if workers is not None and scheduler:
        raise click.UsageError("--workers applies to local runs and --cluster local; the "
                               "scheduler's workers are its own.")
    if item_timeout is not None and (scheduler or cluster):
        raise click.UsageError("--item-timeout applies to local worker processes only.")
    started = time.perf_counter()
    try:
        config = _load_config(config_path, {"colormap": colormap, "y_scale": y_scale,
                                            "z_scale": z_scale})
        stores = find_stores(archive)
    except SpectrogramError as exc:
        _fail(str(exc))
        sys.exit(EXIT_USAGE)
    base = archive if archive.is_dir() and not archive.name.endswith(".zarr") else archive.parent
    tally = _Tally()
    plans = []
    no_data: dict[str, set[str]] = {}
    for store in stores:
        try:
            listing = list_groups(store, config=config)
        except SpectrogramError as exc:
            _fail(str(exc))
            tally.store_errors += 1
            continue
        items = list(listing.items) + [StoreItem(store, g) for g in listing.no_data]
        no_data[store] = set(listing.no_data)
        plans.append((store, items))
    if dry_run:
        for store, items in plans:
            click.echo(f"{store}: {len(items)} item(s)")
            folder = output / _store_label(store, base)
            for item in items:
                if item.group in no_data[store]:
                    click.echo(f"  {item.group}: no spectrogram variable (no_data)")
                else:
                    click.echo(f"  {item.group} -> {folder / output_name(item.group)}")
        sys.exit(EXIT_FAILED if tally.store_errors else EXIT_OK)
    from .adapter import GroupLoader
    from .logs import RUN_LOGGER_NAME
    from .progress import read_statuses

    loader = GroupLoader(config)
    interrupted = False
    stopped: tuple[Path, list[Any]] | None = None
    echo_failures = _EchoFailures()
    run_logger = logging.getLogger(RUN_LOGGER_NAME)
    run_logger.addHandler(echo_failures)
    try:
        with _executor(workers, item_timeout, scheduler, cluster) as (run_on, where):
            # Only once the workers are there: a failed connection leaves nothing behind.
            if progress_dir is not None:
                try:
                    progress_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    _fail(f"--progress-dir {str(progress_dir)!r} cannot be made a folder: "
                          f"{exc.strerror or exc}. Pass a folder you can write to.")
                    sys.exit(EXIT_USAGE)
            click.echo(f"rendering {sum(len(i) for _, i in plans)} item(s) from "
                       f"{len(plans)} store(s) on {where}", err=True)
            for store, items in plans:
                progress = progress_path_for(store, base, progress_dir)
                try:
                    statuses = generic_batch_plot(
                        items,
                        output / _store_label(store, base),
                        loader,
                        flush_batch_size=flush_batch_size,
                        log_flush_batch_size=log_flush_batch_size,
                        progress_json_path=progress.resolve(),
                        ignore_progress_json=ignore_progress,
                        output_name_fn=output_name,
                        **run_on,
                    )
                except (ProgressFileError, ProgressLockedError) as exc:
                    _fail(_refusal(exc))
                    tally.refused += 1
                    continue
                except SpectrogramError as exc:
                    _fail(str(exc))
                    tally.store_errors += 1
                    continue
                except OSError as exc:
                    _fail(_unwritable(exc))
                    tally.refused += 1
                    continue
                except KeyboardInterrupt:
                    stopped = (progress, items)
                    raise
                tally.add(statuses)
                tally.logs.append(str(progress) + ".log")
    except KeyboardInterrupt:
        interrupted = True
        if stopped is not None:
            # The batch saved its progress before stopping: count what it recorded.
            progress, items = stopped
            with contextlib.suppress(SpectrogramError, OSError):
                recorded = read_statuses(progress)
                tally.add({i.key: recorded[i.key] for i in items if i.key in recorded})
            tally.logs.append(str(progress) + ".log")
    except SpectrogramError as exc:
        _fail(str(exc))
        sys.exit(EXIT_USAGE)
    finally:
        run_logger.removeHandler(echo_failures)
    elapsed = time.perf_counter() - started
    done = sum(tally.counts.values())
    click.echo(
        f"{'interrupted: ' if interrupted else ''}ok {tally.counts['ok']}, "
        f"no_data {tally.counts['no_data']}, error {tally.counts['error']}"
        + (f", unreadable stores {tally.store_errors}" if tally.store_errors else "")
        + (f", stores refused {tally.refused}" if tally.refused else "")
        + f" in {elapsed:.1f} s ({done / elapsed if elapsed > 0 else 0:.2f} items/s)",
        err=True,
    )
    for path in tally.logs:
        click.echo(f"log: {path}", err=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)
    if tally.refused:
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_FAILED if tally.counts["error"] or tally.store_errors else EXIT_OK)


@cli.command()
@_archive
@_config
def validate(archive: Path, config_path: str | None) -> None:
    """Check stores, metadata and config under ARCHIVE; report every problem."""
    from .adapter import check_archive

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
@click.option("--progress-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the progress files are, if not beside the stores.")
def list_items(archive: Path, config_path: str | None, progress_dir: Path | None) -> None:
    """Print every item under ARCHIVE with its progress status."""
    from .discovery import find_stores, list_groups
    from .progress import read_statuses

    try:
        config = _load_config(config_path, {})
        stores = find_stores(archive)
    except SpectrogramError as exc:
        _fail(str(exc))
        sys.exit(EXIT_USAGE)
    base = archive if archive.is_dir() and not archive.name.endswith(".zarr") else archive.parent
    failed = False
    for store in stores:
        try:
            listing = list_groups(store, config=config)
            statuses = read_statuses(progress_path_for(store, base, progress_dir))
        except SpectrogramError as exc:
            _fail(str(exc))
            failed = True
            continue
        click.echo(store)
        for group in [i.group for i in listing.items] + list(listing.no_data):
            click.echo(f"  {statuses.get(group, 'pending'):<8} {group}")
    sys.exit(EXIT_FAILED if failed else EXIT_OK)


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``batch-spectrograms``."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    cli.main(args=argv, prog_name="batch-spectrograms")


if __name__ == "__main__":
    main()
