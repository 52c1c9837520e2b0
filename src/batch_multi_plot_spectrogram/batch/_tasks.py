"""The work of one item, as any executor runs it: a small frozen task in, a result out.

:func:`run_item` is a plain module-level function, so every executor can run it by name.
A worker writes only the item's own files, each atomically: its figure and, when the
task asks, its thumbnail and record (see :mod:`._previews`); the driver writes the rest.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
import os
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._atomic import write_bytes_atomic
from ..errors import NoDataError, SettingError
from ..options import FigureOptions
from ..render import THUMBNAIL_WIDTH, render_figure
from ..render._datasets import ItemPlot, parse_datasets
from ._logs import apply_logger_levels, capture_records
from ._previews import record_document, write_record
from ._shipping import functions_of

__all__ = ["WORKER_MODULES", "ItemResult", "ItemTask", "Status", "init_worker", "run_item"]

Status = Literal["ok", "no_data", "error"]

log = logging.getLogger(__name__)

#: The heavy modules a worker needs: imported by :func:`init_worker`, and once by the
#: forkserver before it forks workers (see ``LocalProcessPool(preload=...)``).
WORKER_MODULES: tuple[str, ...] = (
    "numpy",
    "matplotlib",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "xarray",
    "dask.array",
    "zarr",
    "h5netcdf",
    "batch_multi_plot_spectrogram.render",
)


@dataclass(frozen=True, slots=True)
class ItemTask:
    """What a worker needs to render one item.

    ``functions`` is the pickled tuple ``(build_datasets_fn, vertical_lines_fn, title_fn,
    figure options)`` of the run, named ``functions_digest``; it is empty when the workers
    already have it (see :mod:`._shipping`). ``thumbnail_path`` and ``record_path``, when
    set, are where the item's thumbnail and record go (see :mod:`._previews`).
    """

    index: int
    key: str
    item: Any
    output_path: str
    functions_digest: str
    functions: bytes = b""
    thumbnail_path: str | None = None
    record_path: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """The outcome of one item.

    ``records`` are the log records made while the item ran, as dicts (see
    :func:`._logs.record_to_dict`); ``traceback`` is set for errors only. ``info`` tells
    what an ``ok`` figure shows: ``start`` and ``end`` (UNIX seconds of its first and last
    sample) and ``title``; and, when the task asked for previews and they were written,
    ``thumbnail`` (its path) with ``thumbnail_size`` (width, height), and ``record`` (the
    path of the item's record, for any status). ``errno`` is the error number of an
    ``OSError`` that failed the item (``ENOSPC``: the disk is full). ``problems`` are what
    the item could not draw (``ItemPlot.problems``), one line each.
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
    info: dict[str, Any] = field(default_factory=dict)
    errno: int | None = None
    problems: tuple[str, ...] = ()


def _render_item(
    task: ItemTask,
) -> tuple[Status, str, str | None, dict[str, Any], tuple[str, ...]]:
    build, lines_fn, title_fn, options = functions_of(task.functions_digest, task.functions)
    returned = build(task.item)
    item_options: Mapping[str, Any] = {}
    problems: tuple[str, ...] = ()
    if isinstance(returned, ItemPlot):
        item_options = returned.options
        problems = tuple(returned.problems)
        returned = returned.datasets
        unknown = sorted(set(item_options) - set(FigureOptions.names()))
        if unknown:
            raise SettingError(
                f"ItemPlot.options has unknown key(s) {unknown}. Accepted: "
                f"{sorted(FigureOptions.names())}."
            )
    datasets = parse_datasets(returned)
    if not datasets:
        what = "None" if returned is None else "no dataset"
        return "no_data", f"build_datasets_fn returned {what}", None, {}, problems
    # Per item: ItemPlot.options win over vertical_lines_fn and title_fn, which win over
    # the options of the call; the title defaults to the item's key.
    options = dataclasses.replace(options, figure_title=task.key or None)
    per_item: dict[str, Any] = {}
    if lines_fn is not None:
        lines = lines_fn(task.item)
        if lines is not None:
            per_item["vertical_lines"] = lines
    if title_fn is not None:
        title = title_fn(task.item)
        if title is not None:
            per_item["figure_title"] = str(title)
    options = options.updated({**per_item, **item_options})
    width = THUMBNAIL_WIDTH if task.thumbnail_path is not None else None
    figure = render_figure(datasets, options, thumbnail_width=width)
    write_bytes_atomic(task.output_path, figure.data, make_parents=True)
    info: dict[str, Any] = {"start": figure.start, "end": figure.end, "title": figure.title}
    if task.thumbnail_path is not None and figure.thumbnail is not None:
        try:
            write_bytes_atomic(task.thumbnail_path, figure.thumbnail.data, make_parents=True)
        except OSError as exc:  # the figure is there: the item is done all the same
            log.warning("thumbnail %s not written: %s", task.thumbnail_path, exc)
        else:
            info["thumbnail"] = task.thumbnail_path
            info["thumbnail_size"] = (figure.thumbnail.width, figure.thumbnail.height)
    return "ok", f"{len(figure.data)} bytes", task.output_path, info, problems


def _write_record(task: ItemTask, status: Status, message: str, info: dict[str, Any]) -> None:
    if task.record_path is None:
        return
    document = record_document(
        key=task.key, status=status, message=message, figure=task.output_path, info=info
    )
    try:
        write_record(task.record_path, document)
    except (OSError, ValueError) as exc:  # a record is a convenience, never a failure
        log.warning("record %s not written: %s", task.record_path, exc)
    else:
        info["record"] = task.record_path


def run_item(task: ItemTask) -> ItemResult:
    """Build, render and write the figure of one item; never raises for the item's faults.

    Returns
    -------
    ItemResult
        ``ok`` once the file is completely on disk; ``no_data`` when
        ``build_datasets_fn`` returned nothing or the renderer found nothing to plot;
        ``error`` (with the traceback) for any exception.
    """
    started = time.perf_counter()
    output: str | None = None
    trace: str | None = None
    info: dict[str, Any] = {}
    number: int | None = None
    problems: tuple[str, ...] = ()
    with capture_records() as records:
        try:
            status, message, output, info, problems = _render_item(task)
        except NoDataError as exc:
            status, message = "no_data", f"nothing to plot: {exc}"
        except (Exception, SystemExit) as exc:  # one bad item must not stop the batch
            status, message = "error", f"{type(exc).__name__}: {exc}"
            trace = traceback.format_exc()
            number = exc.errno if isinstance(exc, OSError) else None
        _write_record(task, status, message, info)
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
        info=info,
        errno=number,
        problems=problems,
    )


def init_worker(levels: Mapping[str, int], warm_up: bool = True) -> None:
    """Prepare a worker process before it takes items: the driver's logger levels, and
    the heavy libraries loaded now and (``warm_up``) one tiny figure drawn, so that the
    first item's time (and its timeout) includes neither the imports nor the first
    draw's font loading and caches."""
    apply_logger_levels(levels)
    # Warnings of the libraries become log records: they travel back with the item and
    # reach its log, instead of the terminal of whoever started the workers.
    logging.captureWarnings(True)
    for module in WORKER_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if warm_up:
        _draw_once()


def _draw_once() -> None:
    """Draw and encode a throwaway one-row figure (its text, image, colour bar, date
    ticks), then free it; a failure here is the first item's to report, not the worker's."""
    import numpy as np

    from ..render import close_all_axes_and_clear, figure_bytes, generic_plot_spectrogram_set

    row = {
        "x": np.array([0, 60_000_000_000], dtype="datetime64[ns]"),
        "y": np.array([1.0, 10.0]),
        "data": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "label": "warm-up",
        "z_scale": "log",
    }
    figure = None
    try:
        figure = generic_plot_spectrogram_set([row], figure_title="warm-up", dpi=20)
        figure_bytes(figure, "png")
    except Exception as exc:  # never keep a worker from starting
        log.debug("the warm-up figure failed: %s", exc)
    finally:
        close_all_axes_and_clear(figure)
