"""Rendering: numpy rows in, a matplotlib ``Figure`` (or PNG bytes) out.

Every panel is drawn on the rows' real bin edges (see :mod:`.binning`) by a
:class:`~.image.SpectrogramImage`; figures are made with ``matplotlib.figure.Figure``
directly and are never registered with pyplot, so they are freed when dropped.
This module knows nothing of stores, batches or files.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colorbar import Colorbar
from matplotlib.colors import Colormap, Normalize
from matplotlib.figure import Figure

from ..errors import NoDataError, RowError, SettingError
from ..options import FigureOptions, Scale
from ._binning import BinnedRow
from ._colour import DEFAULT_PERCENTILES, colormap_for, colour_limits, make_norm
from ._datasets import Row, parse_dataset, parse_datasets
from ._image import SpectrogramImage
from ._layout import PanelGrid, build_grid
from ._thumbnail import (
    Thumbnail,
    thumbnail_from_canvas,
    thumbnail_from_figure,
    thumbnail_from_png,
)
from ._timeaxis import format_utc, setup_time_axis, to_datenum
from ._zoom import zoom_window

__all__ = [
    "DEFAULT_Y_LABEL",
    "DEFAULT_Z_LABEL",
    "RenderedFigure",
    "close_all_axes_and_clear",
    "figure_bytes",
    "generic_plot_spectrogram_set",
    "make_spectrogram",
    "render_figure",
    "render_png",
    "zoom_window",
]

log = logging.getLogger(__name__)

DEFAULT_Y_LABEL = "Energy (eV)"
DEFAULT_Z_LABEL = "Counts"
EVENT_LINE_STYLE: dict[str, Any] = {
    "color": "red",
    "linewidth": 1.4,
    "linestyle": "-",
    "zorder": 5,
}
NO_DATA_TEXT = "No data"
FONT = {"tick": 8.5, "label": 9.5, "title": 10.5, "suptitle": 13.0}

# The standard look, applied to every figure this module makes (not globally).
_STYLE: Any = {
    "axes.facecolor": "white",
    "xtick.labelsize": FONT["tick"],
    "ytick.labelsize": FONT["tick"],
    "axes.labelsize": FONT["label"],
    "axes.titlesize": FONT["title"],
    "xtick.direction": "out",
    "ytick.direction": "out",
}


# ---------------------------------------------------------------------------------------
# Rows: checked data turned into what a panel needs
# ---------------------------------------------------------------------------------------


@dataclass
class PreparedRow:
    """Everything needed to draw one row, resolved from the row and the global options."""

    row: Row
    binned: BinnedRow
    y_scale: Scale
    z_scale: Scale
    cmap: Colormap
    norm: Normalize | None  # None: nothing to colour (empty row)
    y_lim: tuple[float, float]
    y_label: str
    z_label: str

    @property
    def empty(self) -> bool:
        return self.norm is None


def prepare_row(row: Row, opts: FigureOptions) -> PreparedRow:
    """Resolve scales, colour limits, y limits and labels of one row."""
    y_scale = row.y_scale or opts.y_scale
    z_scale = row.z_scale or opts.z_scale
    cmap = colormap_for(row.colormap or opts.colormap)
    if y_scale == "log":
        bad = np.isfinite(row.y) & (row.y <= 0)
        if bad.any():
            raise RowError(
                f"{row.name}: y holds {int(bad.sum())} value(s) <= 0 (smallest "
                f"{float(row.y[bad].min())!r}), which a log y axis cannot show. Use a "
                "linear y scale, or set those centres to NaN to leave them out."
            )
    binned = BinnedRow(
        row.x,
        row.y,
        row.data,
        log_y=y_scale == "log",
        gap_seconds=row.gap_seconds or opts.gap_seconds,
        x_bounds=row.x_bounds,
        y_bounds=row.y_bounds,
        pixel_reduce=row.pixel_reduce or opts.pixel_reduce,  # type: ignore[arg-type]
    )
    values = binned.finite_values()
    limits = None
    if values.size:
        limits = colour_limits(
            values,
            z_scale,
            row_z=(row.z_min, row.z_max),
            row_v=(row.vmin, row.vmax),
            global_z=(opts.z_min, opts.z_max),
            percentiles=opts.z_percentiles,
            summary=row.z_summary,
        )
        if z_scale == "log" and limits is not None and limits[1] <= 0:
            raise RowError(
                f"{row.name}: colour limits {limits} are not positive, which a log colour "
                "scale cannot show. Use z_scale='linear' or positive z_min/z_max."
            )
    norm = make_norm(z_scale, limits) if limits is not None else None
    lo, hi = binned.y_extent()
    y_lo = row.y_min if row.y_min is not None else opts.y_min
    y_hi = row.y_max if row.y_max is not None else opts.y_max
    if y_scale == "log" and y_lo is not None and y_lo <= 0:
        log.debug("%s: y_min=%r ignored on a log axis", row.name, y_lo)
        y_lo = None
    y_lim = (y_lo if y_lo is not None else lo, y_hi if y_hi is not None else hi)
    if not (np.isfinite(y_lim[0]) and np.isfinite(y_lim[1])):
        y_lim = (1.0, 10.0) if y_scale == "log" else (0.0, 1.0)
    if y_lim[0] >= y_lim[1]:

        def source(key: str, own: float | None, common: float | None, edge: str) -> str:
            if own is not None:
                return f"the row's {key}"
            return f"the {key} option" if common is not None else f"the {edge} bin edge"

        raise RowError(
            f"{row.name}: y_min = {y_lim[0]:g} ({source('y_min', row.y_min, y_lo, 'lowest')})"
            f" is not below y_max = {y_lim[1]:g} "
            f"({source('y_max', row.y_max, y_hi, 'highest')}); nothing would be shown. "
            "Set y_min below y_max, or leave one of them unset."
        )
    return PreparedRow(
        row=row,
        binned=binned,
        y_scale=y_scale,
        z_scale=z_scale,
        cmap=cmap,
        norm=norm,
        y_lim=(float(y_lim[0]), float(y_lim[1])),
        y_label=row.y_label or DEFAULT_Y_LABEL,
        z_label=row.z_label or DEFAULT_Z_LABEL,
    )


# ---------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------


def _draw_panel(
    ax: Axes,
    prepared: PreparedRow,
    x_lim: tuple[float, float],
    lines: Iterable[float],
    *,
    show_x_labels: bool,
) -> list[Any]:
    """Draw one panel; return the artists that belong to this item only."""
    added: list[Any] = []
    ax.set_yscale(prepared.y_scale)
    ax.set_ylim(*prepared.y_lim)
    ax.set_xlim(*to_datenum(np.array(x_lim)))
    if prepared.empty:
        added.append(
            ax.text(
                0.5,
                0.5,
                NO_DATA_TEXT,
                transform=ax.transAxes,
                ha="center",
                va="center",
                fontsize=FONT["title"],
                color="0.35",
            )
        )
    else:
        assert prepared.norm is not None
        image = SpectrogramImage(ax, prepared.binned, prepared.norm, prepared.cmap)
        ax.add_image(image)
        added.append(image)
    for t in lines:
        if x_lim[0] <= t <= x_lim[1]:
            added.append(ax.axvline(float(to_datenum(t)), **EVENT_LINE_STYLE))
    setup_time_axis(ax.xaxis, show_labels=show_x_labels)
    return added


# Average glyph width of the default sans-serif font, in ems: enough to wrap labels.
_EM_PER_CHAR = 0.56


def fit_label(text: str, ax: Axes, fontsize: float = FONT["label"]) -> str:
    """Wrap a vertical axis label onto as many lines as it needs to stay within the
    height of its axes, so labels of neighbouring rows never run into each other."""
    fig = ax.figure
    height_in = ax.get_position().height * fig.bbox.height / fig.dpi
    per_line = max(8, int(height_in * 72.0 / (fontsize * _EM_PER_CHAR)))
    return _wrap(text, per_line)


def _wrap(text: str, per_line: int) -> str:
    """``text`` on lines of at most ``per_line`` characters, broken between words, or in
    a word too long for a line after one of its hyphens, before cutting it anywhere."""
    if len(text) <= per_line:
        return text
    lines = textwrap.wrap(text, per_line, break_on_hyphens=False, break_long_words=False)
    if any(len(line) > per_line for line in lines):
        lines = textwrap.wrap(text, per_line, break_on_hyphens=True)
    return "\n".join(lines or [text])


def _draw_colorbar(
    cax: Axes, prepared: PreparedRow, existing: Colorbar | None = None
) -> Colorbar | None:
    """Draw (or, on a reused figure, update) a row's colorbar; hide it for an empty row."""
    if prepared.empty:
        cax.set_visible(False)
        return existing
    cax.set_visible(True)
    mappable = ScalarMappable(norm=prepared.norm, cmap=prepared.cmap)
    if existing is None:
        cbar = cax.figure.colorbar(mappable, cax=cax)
    else:
        cbar = existing
        cbar.update_normal(mappable)
    cbar.set_label(fit_label(prepared.z_label, cax))
    return cbar


def _check_x_range(x_range: tuple[float, float] | None) -> None:
    if x_range is not None and not x_range[0] < x_range[1]:
        raise SettingError(f"Expected an x range with start < end. Got {x_range!r} instead.")


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def make_spectrogram(
    x_axis_values: Any,
    y_axis_values: Any,
    data_array_3d: Any,
    collapse_axis: int | None = 1,
    y_axis_scale_function: str = "linear",
    z_axis_scale_function: str = "linear",
    instrument_label: str | None = None,
    vertical_lines_unix: Sequence[float] | None = None,
    y_axis_min: float | None = None,
    y_axis_max: float | None = None,
    z_axis_min: float | None = None,
    z_axis_max: float | None = None,
    y_axis_label: str = DEFAULT_Y_LABEL,
    z_axis_label: str = DEFAULT_Z_LABEL,
    colormap: str | Colormap = "viridis",
    axis_object: Axes | None = None,
    *,
    collapse: str | Callable[..., Any] = "sum",
    gap_seconds: float | None = None,
    pixel_reduce: str = "mean",
    z_percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    x_axis_min: float | None = None,
    x_axis_max: float | None = None,
    colorbar: bool = True,
) -> tuple[Axes, np.ndarray]:
    """Draw one spectrogram panel.

    Parameters
    ----------
    x_axis_values : array_like
        Times, shape (n_time,): UNIX seconds or datetime64, strictly monotonic.
    y_axis_values : array_like
        Bin centres, shape (n_y,) or (n_time, n_y) for tables that change per record,
        in any order (descending tables are fine; repeated centres are merged).
    data_array_3d : array_like
        Values, shape (n_time, n_a, n_b) reduced along ``collapse_axis``, or already
        2-D (n_time, n_y).
    collapse_axis : int, default 1
        Axis of a 3-D cube to reduce (1 or 2; axis 0 is time).
    y_axis_scale_function, z_axis_scale_function : {"linear", "log"}
        Scales of the y axis and of the colours.
    instrument_label : str, optional
        Panel title.
    vertical_lines_unix : sequence of float, optional
        Event times (UNIX seconds) drawn as vertical lines where they fall on the panel.
    y_axis_min, y_axis_max : float, optional
        y limits; default the outer bin edges.
    z_axis_min, z_axis_max : float, optional
        Colour limits; default the ``z_percentiles`` of the finite values (positive
        values only on a log scale).
    y_axis_label, z_axis_label : str
        Axis labels; defaults ``"Energy (eV)"`` and ``"Counts"``.
    colormap : str, default "viridis"
        A matplotlib colormap name.
    axis_object : Axes, optional
        Where to draw. Default: a new ``Figure`` (not registered with pyplot).
    collapse : {"sum", "mean", "max", "min"} or callable, default "sum"
        Reducer for 3-D data; a slice with no finite value stays NaN.
    gap_seconds : float, optional
        Spacing above which two records are separated by a blank gap. Default: 1.5 times
        the local cadence (the larger median spacing of the samples just before and just
        after), so that a change of cadence is not a gap.
    pixel_reduce : {"mean", "max", "min"}, default "mean"
        What a pixel shows when several samples or channels fall in it.
    z_percentiles : (float, float), default (1, 99)
        Percentiles used for colour limits that are not given.
    x_axis_min, x_axis_max : float, optional
        Time limits (UNIX seconds); default the outer time edges.
    colorbar : bool, default True
        Add a colorbar beside the panel.

    Returns
    -------
    ax : Axes
        The panel.
    x_used : ndarray
        The times of the records shown inside the time limits, in the kind of ``x``
        given (UNIX seconds, or datetime64[ns]).

    Raises
    ------
    RowError
        When x, y and data disagree, x is not monotonic, y is not positive on a log
        axis, ``collapse_axis`` is out of range or an array is empty.
    SettingError
        For an unknown scale, colormap or reducer.
    """
    opts = FigureOptions.parse(
        {
            "y_scale": y_axis_scale_function,
            "z_scale": z_axis_scale_function,
            "colormap": colormap,
            "gap_seconds": gap_seconds,
            "pixel_reduce": pixel_reduce,
            "z_percentiles": z_percentiles,
            "collapse_axis": collapse_axis,
            "collapse": collapse,
            "vertical_lines": vertical_lines_unix,
        }
    )
    dataset = {
        "x": x_axis_values,
        "y": y_axis_values,
        "data": data_array_3d,
        "label": instrument_label,
        "y_min": y_axis_min,
        "y_max": y_axis_max,
        "z_min": z_axis_min,
        "z_max": z_axis_max,
        "y_label": y_axis_label,
        "z_label": z_axis_label,
    }
    row = parse_dataset(dataset, 0, collapse_axis=opts.collapse_axis, collapse=opts.collapse)
    prepared = prepare_row(row, opts)
    lo, hi = prepared.binned.x_extent()
    x_lim = (
        x_axis_min if x_axis_min is not None else lo,
        x_axis_max if x_axis_max is not None else hi,
    )
    _check_x_range(x_lim)
    with mpl.rc_context(_STYLE):
        if axis_object is None:
            grid = build_grid(1, False)
            ax, cax = grid.panels[0][0], grid.colorbars[0]
        else:
            ax, cax = axis_object, None
        _draw_panel(ax, prepared, x_lim, opts.vertical_lines, show_x_labels=True)
        ax.set_ylabel(fit_label(prepared.y_label, ax))
        ax.set_xlabel("Time (UTC)")
        if instrument_label:
            ax.set_title(str(instrument_label), loc="left")
        if colorbar and cax is not None:
            _draw_colorbar(cax, prepared)
        elif colorbar and not prepared.empty:
            # The caller's axes: the colorbar takes its room from them.
            mappable = ScalarMappable(norm=prepared.norm, cmap=prepared.cmap)
            cb = ax.figure.colorbar(mappable, ax=ax)
            cb.set_label(fit_label(prepared.z_label, cb.ax))
        elif cax is not None:
            cax.set_visible(False)
    shown = (row.x >= x_lim[0]) & (row.x <= x_lim[1])
    x_in = np.asarray(x_axis_values)
    if x_in.dtype.kind == "M":
        x_used = np.sort(x_in.astype("datetime64[ns]"))[shown]
    else:
        x_used = row.x[shown]
    return ax, x_used


def _figure_rows(datasets: Any, opts: FigureOptions) -> list[PreparedRow]:
    rows = [
        parse_dataset(ds, i, collapse_axis=opts.collapse_axis, collapse=opts.collapse)
        for i, ds in enumerate(parse_datasets(datasets))
    ]
    if not rows:
        raise NoDataError("datasets is empty: there is no row to plot.")
    return [prepare_row(r, opts) for r in rows]


@dataclass
class _FigurePlan:
    """What a figure will show, decided before any artist is made."""

    rows: list[PreparedRow]
    full: tuple[float, float]
    zoom: tuple[float, float] | None
    lines: tuple[float, ...]
    title: str | None


def _plan_figure(datasets: Any, opts: FigureOptions) -> _FigurePlan:
    rows = _figure_rows(datasets, opts)
    lines = opts.vertical_lines
    window = zoom_window(lines, opts.zoom_duration_minutes)
    if window is not None and not any(
        not p.empty and p.binned.has_data_between(*window) for p in rows
    ):
        window = None
    full = (min(p.binned.x_extent()[0] for p in rows), max(p.binned.x_extent()[1] for p in rows))
    if opts.time_range is not None:
        full = opts.time_range  # a time window: the figure shows exactly it
    return _FigurePlan(rows, full, window, lines, opts.figure_title)


def _fill_grid(
    grid: PanelGrid, plan: _FigurePlan, colorbars: list[Colorbar | None] | None = None
) -> tuple[list[Any], list[Colorbar | None]]:
    """Draw a plan into a grid of matching shape.

    Returns the artists that belong to this item only (removed when the figure is
    reused) and the colorbars (updated in place on reuse).
    """
    added: list[Any] = []
    colorbars = list(colorbars) if colorbars is not None else [None] * len(plan.rows)
    fig = grid.figure
    last = len(plan.rows) - 1
    windows = [plan.full] + ([plan.zoom] if plan.zoom is not None else [])
    for i, prepared in enumerate(plan.rows):
        for j, x_lim in enumerate(windows):
            ax = grid.panels[i][j]
            added += _draw_panel(ax, prepared, x_lim, plan.lines, show_x_labels=i == last)
            if j > 0:
                ax.tick_params(labelleft=False)
        first = grid.panels[i][0]
        first.set_ylabel(fit_label(prepared.y_label, first))
        _set_title(first, prepared.row.label or "")
        if grid.two_columns:
            _set_title(grid.panels[i][1], "Zoom" if i == 0 else "")
        colorbars[i] = _draw_colorbar(grid.colorbars[i], prepared, colorbars[i])
    for ax in grid.panels[last]:
        ax.set_xlabel("Time (UTC)")
    # Title and footer at fixed distances (in inches) from the figure's edges, whatever
    # its height; a title wider than the figure is wrapped.
    height = fig.get_figheight()
    title = _fit_width(plan.title or "", fig.get_figwidth(), FONT["suptitle"])
    fig.suptitle(title, fontsize=FONT["suptitle"], y=1.0 - _TITLE_INCH / height, va="top")
    first_t, final_t = _data_range(plan)
    footer = f"Data: {format_utc(first_t)} to {format_utc(final_t)} UTC"
    if len(plan.lines) == 1:
        footer += f"    Event: {format_utc(plan.lines[0])} UTC"
    elif plan.lines:
        footer += f"    Events: {format_utc(min(plan.lines))} to {format_utc(max(plan.lines))} UTC"
    added.append(
        fig.text(
            0.5,
            _FOOTER_INCH / height,
            footer,
            ha="center",
            va="bottom",
            fontsize=FONT["tick"],
            color="0.25",
        )
    )
    return added, colorbars


_TITLE_INCH = 0.06  # from the top edge of the figure to the top of its title
_FOOTER_INCH = 0.048  # from the bottom edge to the bottom of the footer


def _fit_width(text: str, width_in: float, fontsize: float) -> str:
    """Wrap a line of text onto as many lines as it needs to fit ``width_in`` inches."""
    return _wrap(text, max(20, int(width_in * 72.0 / (fontsize * _EM_PER_CHAR)) - 4))


def _set_title(ax: Axes, text: str) -> None:
    # A fixed position: the layout leaves room above every panel, and automatic title
    # placement costs a tight-bbox pass over every shared axes at each draw.
    ax.set_title(text, loc="left", y=1.0, pad=3.0)


def generic_plot_spectrogram_set(
    datasets: Sequence[Mapping[str, Any]],
    *,
    vertical_lines: Sequence[float] | None = None,
    zoom_duration_minutes: float | None = None,
    colormap: str | Colormap = "viridis",
    y_scale: str = "linear",
    z_scale: str = "linear",
    y_min: float | None = None,
    y_max: float | None = None,
    z_min: float | None = None,
    z_max: float | None = None,
    figure_title: str | None = None,
    gap_seconds: float | None = None,
    pixel_reduce: str = "mean",
    z_percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    collapse_axis: int | None = 1,
    collapse: str | Callable[..., Any] = "sum",
    dpi: float = 150.0,
) -> Figure:
    """Render a multi-row spectrogram figure, one row per dataset dict.

    Parameters
    ----------
    datasets : list of dict
        One dict per row with ``x``, ``y`` and ``data`` (see
        :class:`~batch_multi_plot_spectrogram.DatasetDict`) and optional per-row
        ``label``, ``y_min``, ``y_max``, ``z_min``, ``z_max``, ``vmin``, ``vmax``,
        ``y_label``, ``z_label``, ``y_scale``, ``z_scale``, ``colormap``,
        ``collapse_axis``, ``collapse`` and ``gap_seconds``.
    vertical_lines : sequence of float, optional
        Event times (UNIX seconds), drawn on every panel they fall in.
    zoom_duration_minutes : float, optional
        With ``vertical_lines``: add a right-hand column showing this many minutes around
        the events (widened to 1.5 times their span), only when some row has data there.
    colormap, y_scale, z_scale :
        Defaults for every row (a row's own key wins).
    y_min, y_max : float, optional
        y limits for rows that set none.
    z_min, z_max : float, optional
        Colour limits. A row's ``z_min``/``z_max`` win; a row's ``vmin``/``vmax`` are
        clamped by these; otherwise these apply; otherwise robust percentiles.
    figure_title : str, optional
        Title above the figure.
    gap_seconds : float, optional
        Time gap threshold for rows that set none (default 1.5 times the local cadence,
        so that a change of cadence is not a gap).
    pixel_reduce : {"mean", "max", "min"}, default "mean"
        What a pixel shows when several samples or channels fall in it (rows may set
        their own): their mean, NaN ignored, or their max or min. Every finite sample
        contributes to the pixel it lies in.
    z_percentiles : (float, float), default (1, 99)
        Percentiles for colour limits nobody set.
    collapse_axis : int, default 1
        Axis reduced in 3-D data (a row's ``collapse_axis`` wins).
    collapse : {"sum", "mean", "max", "min"} or callable, default "sum"
        Reducer for 3-D data.
    dpi : float, default 150
        Resolution of the figure.

    Returns
    -------
    Figure
        Not registered with pyplot; save it with ``fig.savefig`` and free it with
        :func:`close_all_axes_and_clear` (or just drop it).

    Raises
    ------
    RowError
        Naming the row (label or index) and what is wrong with it.
    NoDataError
        When ``datasets`` is empty.
    SettingError
        For an unknown scale or colormap, or a malformed option.
    """
    opts = FigureOptions.parse(
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
            "figure_title": figure_title,
            "gap_seconds": gap_seconds,
            "pixel_reduce": pixel_reduce,
            "z_percentiles": z_percentiles,
            "collapse_axis": collapse_axis,
            "collapse": collapse,
            "dpi": dpi,
        }
    )
    plan = _plan_figure(datasets, opts)
    with mpl.rc_context(_STYLE):
        grid = build_grid(len(plan.rows), plan.zoom is not None, dpi=opts.dpi)
        _fill_grid(grid, plan)
    return grid.figure


def close_all_axes_and_clear(fig: Figure | None) -> None:
    """Free a figure made by this package: remove its axes and artists.

    Safe to call twice, or with ``None``. Figures made here are not registered with
    pyplot, so nothing else holds them once the caller drops its reference.
    """
    if fig is None:
        return
    for ax in list(fig.axes):
        ax.cla()
        fig.delaxes(ax)
    fig.clear()


PNG_COMPRESS_LEVEL = 3


def figure_bytes(fig: Figure, output_format: str = "png", *, dpi: float | None = None) -> bytes:
    """Encode a figure in an output format (``"png"``, ``"pdf"`` or ``"svg"``)."""
    buf = io.BytesIO()
    extra: dict[str, Any] = {}
    if output_format == "png":
        extra["pil_kwargs"] = {"compress_level": PNG_COMPRESS_LEVEL}
    elif output_format == "pdf":
        # No creation date: the same figure gives the same bytes on every run.
        extra["metadata"] = {"CreationDate": None}
    elif output_format == "svg":
        extra["metadata"] = {"Date": None}
    fig.savefig(buf, format=output_format, dpi=dpi or fig.dpi, **extra)
    return buf.getvalue()


class _ReusableFigure:
    """A figure kept by one process and refilled for each item of the same shape.

    Building axes, and above all their tick objects, dominates the cost of a new
    figure; items of a batch share their layout, so only data, norms, limits and texts
    are swapped. The picture is the same as that of a new figure.
    """

    def __init__(self, n_rows: int, two_columns: bool, dpi: float) -> None:
        self.grid = build_grid(n_rows, two_columns, dpi=dpi)
        # An Agg canvas of its own: a PNG is drawn into its buffer, which stays there for
        # the thumbnail (savefig draws on the figure's own canvas when it is of the
        # format's kind).
        FigureCanvasAgg(self.grid.figure)
        self.colorbars: list[Colorbar | None] = [None] * n_rows
        self.transient: list[Any] = []

    def render(
        self, plan: _FigurePlan, output_format: str, thumbnail_width: int | None = None
    ) -> tuple[bytes, Thumbnail | None]:
        for artist in self.transient:
            artist.remove()
        self.transient = []
        self.transient, self.colorbars = _fill_grid(self.grid, plan, self.colorbars)
        data = figure_bytes(self.grid.figure, output_format)
        thumbnail = None
        if thumbnail_width is not None:
            thumbnail = _thumbnail(self.grid.figure, data, output_format, thumbnail_width)
        return data, thumbnail


def _thumbnail(fig: Figure, data: bytes, output_format: str, width: int) -> Thumbnail | None:
    """The thumbnail of a figure just encoded, or None (with a warning) when it cannot be
    made: a thumbnail is a convenience, never a reason to lose the figure."""
    try:
        if output_format == "png":
            return thumbnail_from_canvas(fig, width) or thumbnail_from_png(data, width)
        return thumbnail_from_figure(fig, width)
    except Exception as exc:
        log.warning("no thumbnail: %s: %s", type(exc).__name__, exc)
        return None


# One reusable figure per shape, per process; a batch rarely has more than a few shapes.
_REUSABLE: dict[tuple[int, bool, float], _ReusableFigure] = {}
_MAX_REUSABLE = 4


@dataclass(frozen=True)
class RenderedFigure:
    """A figure rendered to a file's bytes, and what it shows.

    Attributes
    ----------
    data
        The file's bytes, in the output format.
    start, end
        The first and last sample time shown, UNIX seconds.
    title
        The figure's title.
    thumbnail
        A small JPEG of the same picture, when one was asked for (and could be made).
    """

    data: bytes
    start: float
    end: float
    title: str | None
    thumbnail: Thumbnail | None = None


def render_figure(
    datasets: Sequence[Mapping[str, Any]],
    options: FigureOptions,
    *,
    thumbnail_width: int | None = None,
) -> RenderedFigure:
    """Render a figure as :func:`generic_plot_spectrogram_set` does, as a file's bytes in
    ``options.output_format``.

    ``options`` are taken as checked. The figure is kept and reused by the next call of
    the same shape (rows, zoom column, dpi) in this process, which makes batches cheaper.
    With ``thumbnail_width``, a JPEG thumbnail that wide is made from the same render
    (see :mod:`._thumbnail`); if it cannot be made, a warning is logged and the figure
    is returned without one.

    Raises
    ------
    NoDataError
        When there is no row, or no row holds a finite value.
    """
    plan = _plan_figure(datasets, options)
    if all(p.empty for p in plan.rows):
        raise NoDataError("no row holds a finite value: nothing to plot.")
    key = (len(plan.rows), plan.zoom is not None, float(options.dpi))
    with mpl.rc_context(_STYLE):
        entry = _REUSABLE.pop(key, None)
        if entry is None:
            entry = _ReusableFigure(key[0], key[1], key[2])
        data, thumbnail = entry.render(plan, options.output_format, thumbnail_width)
    _REUSABLE[key] = entry  # most recently used last
    while len(_REUSABLE) > _MAX_REUSABLE:
        _REUSABLE.pop(next(iter(_REUSABLE)))
    # A figure of a time window spans the window, whatever its data.
    start, end = options.time_range or _data_range(plan)
    return RenderedFigure(data, start, end, plan.title, thumbnail)


def _data_range(plan: _FigurePlan) -> tuple[float, float]:
    """The first and last sample time of a figure, UNIX seconds."""
    return (min(float(p.row.x[0]) for p in plan.rows), max(float(p.row.x[-1]) for p in plan.rows))


def render_png(datasets: Sequence[Mapping[str, Any]], **options: Any) -> bytes:
    """PNG bytes of the figure :func:`generic_plot_spectrogram_set` would make with the
    same options (see :func:`render_figure`)."""
    return render_figure(datasets, FigureOptions.parse({**options, "output_format": "png"})).data
