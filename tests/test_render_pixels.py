"""The picture is true to the data: every cell lands on its real bin edges.

Each test renders rows whose cells carry known values, saves a real PNG, reads it back
and classifies every pixel of the panel by colour. The colormap is a
``ListedColormap`` of clearly distinct colours and the colour limits are set so that
value ``k`` is drawn in colour ``k``. The expected picture is computed here, from the
rules of the design (edges at midpoints between centres, in log space on a log axis;
time edges at midpoints between samples unless they are further apart than the gap
threshold), independently of the package's own binning code. A pixel passes when its
colour is what the truth shows at that pixel or at a neighbour one pixel away.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.figure import Figure

from batch_multi_plot_spectrogram import generic_plot_spectrogram_set, make_spectrogram

pytestmark = pytest.mark.usefixtures("no_pyplot_figures")

T0 = 946684800.0  # 2000-01-01T00:00:00Z
DPI = 100.0

# 3 levels per channel, without black, white and mid grey (which antialiased text, spines
# and the white background could be confused with): 24 colours at least 127 apart.
_LEVELS = (0.0, 0.5, 1.0)
_COLOURS = [
    (r, g, b)
    for r, g, b in itertools.product(_LEVELS, repeat=3)
    if (r, g, b) not in ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), (0.5, 0.5, 0.5))
]
N = 23  # colours that stand for values 0 .. N-1
UNDER_COLOUR = _COLOURS[N]  # reserved for an explicit "under" colour
BACKGROUND = -1  # the white axes face: no data
UNDER = N  # label of UNDER_COLOUR
OTHER = -2  # anything else (a blend, a line, text)

# Colour limits making value k map to colour k on a linear colour scale...
LINEAR_Z: dict[str, Any] = {"z_scale": "linear", "z_min": -0.5, "z_max": N - 0.5}
# ...and value 10**(k + 0.5) map to colour k on a log colour scale.
LOG_Z: dict[str, Any] = {"z_scale": "log", "z_min": 1.0, "z_max": 10.0**N}


def palette_cmap(under: tuple[float, float, float] | None = None) -> Colormap:
    cmap = ListedColormap(_COLOURS[:N], name="test-palette")
    return cmap.with_extremes(under=under) if under is not None else cmap


def classify(pixels: np.ndarray) -> np.ndarray:
    """Label each pixel: value index 0..N-1, UNDER, BACKGROUND or OTHER."""
    reference = np.array([*_COLOURS, (1.0, 1.0, 1.0)]) * 255.0
    rgb = pixels[..., :3].astype("float64")
    dist = ((rgb[..., None, :] - reference) ** 2).sum(axis=-1)
    labels = dist.argmin(axis=-1)
    labels[labels == len(_COLOURS)] = BACKGROUND
    labels[labels > UNDER] = OTHER  # palette colours no value maps to
    labels[dist.min(axis=-1) > 40.0**2] = OTHER
    return labels


def linear_label(value: float) -> int:
    if np.isnan(value):
        return BACKGROUND
    return int(np.floor(value + 0.5))


# ---------------------------------------------------------------------------------------
# The reference picture
# ---------------------------------------------------------------------------------------


def reference_y_edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Midpoints (of the logarithms on a log axis); outer edges half a spacing out."""
    c = np.log10(centres) if log else centres.astype("float64")
    mid = 0.5 * (c[1:] + c[:-1])
    edges = np.concatenate([[2.0 * c[0] - mid[0]], mid, [2.0 * c[-1] - mid[-1]]])
    return 10.0**edges if log else edges


def reference_time_edges(
    x: np.ndarray, gap_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Midpoints between samples; across a gap each side keeps half a cadence."""
    dx = np.diff(x)
    cadence = float(np.median(dx))
    threshold = gap_seconds if gap_seconds is not None else 1.5 * cadence
    left = np.empty_like(x)
    right = np.empty_like(x)
    for i in range(x.size):
        if i > 0 and dx[i - 1] <= threshold:
            left[i] = x[i] - dx[i - 1] / 2.0
        elif i > 0:
            left[i] = x[i] - cadence / 2.0
        else:
            left[i] = x[0] - (dx[0] / 2.0 if dx[0] <= threshold else cadence / 2.0)
        if i < x.size - 1 and dx[i] <= threshold:
            right[i] = x[i] + dx[i] / 2.0
        elif i < x.size - 1:
            right[i] = x[i] + cadence / 2.0
        else:
            right[i] = x[-1] + (dx[-1] / 2.0 if dx[-1] <= threshold else cadence / 2.0)
    return left, right


@dataclass
class Truth:
    """Per record: time edges, y edges and one value per bin."""

    left: np.ndarray
    right: np.ndarray
    y_edges: list[np.ndarray]
    values: list[np.ndarray]


def reference(
    x: np.ndarray,
    y: np.ndarray,
    data: np.ndarray,
    *,
    log_y: bool,
    gap_seconds: float | None = None,
) -> Truth:
    left, right = reference_time_edges(x, gap_seconds)
    y_edges, values = [], []
    for i in range(x.size):
        centres = y[i] if y.ndim == 2 else y
        distinct = np.unique(centres[np.isfinite(centres)])
        merged = []
        for c in distinct:
            cells = data[i][centres == c]
            merged.append(np.nanmean(cells) if np.isfinite(cells).any() else np.nan)
        y_edges.append(reference_y_edges(distinct, log_y))
        values.append(np.array(merged))
    return Truth(left, right, y_edges, values)


def _epoch_datenum() -> float:
    return float(mdates.date2num(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)))


@dataclass
class Panel:
    """Where a panel sits in the PNG, and how pixels map to data."""

    ax: Axes
    fig_height: float
    rows: np.ndarray  # PNG rows strictly inside the panel (spines excluded)
    cols: np.ndarray

    @classmethod
    def of(cls, fig: Figure, ax: Axes, margin: int = 2) -> Panel:
        x0, y0, x1, y1 = ax.bbox.extents
        height = fig.bbox.height
        cols = np.arange(int(np.ceil(x0)) + margin, int(np.floor(x1)) - margin)
        rows = np.arange(int(np.ceil(height - y1)) + margin, int(np.floor(height - y0)) - margin)
        return cls(ax, height, rows, cols)

    def times(self, cols: np.ndarray) -> np.ndarray:
        """UNIX seconds at the centre of pixel columns."""
        bbox = self.ax.bbox
        disp = np.column_stack([cols + 0.5, np.full(cols.size, 0.5 * (bbox.y0 + bbox.y1))])
        datenum = self.ax.transData.inverted().transform(disp)[:, 0]
        return (datenum - _epoch_datenum()) * 86400.0

    def ys(self, rows: np.ndarray) -> np.ndarray:
        """y data values at the centre of PNG pixel rows."""
        bbox = self.ax.bbox
        disp = np.column_stack(
            [np.full(rows.size, 0.5 * (bbox.x0 + bbox.x1)), self.fig_height - (rows + 0.5)]
        )
        return self.ax.transData.inverted().transform(disp)[:, 1]

    def column_of(self, t: float) -> float:
        """Display x (= PNG column coordinate) of a UNIX time."""
        datenum = t / 86400.0 + _epoch_datenum()
        return float(self.ax.transData.transform((datenum, self.ax.get_ylim()[0]))[0])

    def row_of(self, y: float) -> float:
        """PNG row coordinate of a y value."""
        x = self.ax.get_xlim()[0]
        return self.fig_height - float(self.ax.transData.transform((x, y))[1])

    def col_index(self, t: float) -> int:
        """Index (into ``cols``) of the pixel column holding a UNIX time."""
        return int(np.floor(self.column_of(t))) - int(self.cols[0])

    def row_index(self, y: float) -> int:
        """Index (into ``rows``) of the pixel row holding a y value."""
        return int(np.floor(self.row_of(y))) - int(self.rows[0])


def expected_labels(
    panel: Panel,
    truth: Truth,
    rows: np.ndarray,
    cols: np.ndarray,
    label_of: Callable[[float], int],
) -> np.ndarray:
    t = panel.times(cols)
    y = panel.ys(rows)
    rec = np.searchsorted(truth.left, t, side="right") - 1
    inside = (rec >= 0) & (t < truth.right[np.clip(rec, 0, None)])
    per_record = np.full((truth.left.size, rows.size), BACKGROUND)
    for i, (edges, values) in enumerate(zip(truth.y_edges, truth.values, strict=True)):
        k = np.searchsorted(edges, y, side="right") - 1
        ok = (k >= 0) & (k < values.size)
        labels = np.array([label_of(v) for v in values] + [BACKGROUND])
        per_record[i] = labels[np.where(ok, k, values.size)]
    out = per_record[np.clip(rec, 0, None)].T
    out[:, ~inside] = BACKGROUND
    return out


def assert_panel_true(
    fig: Figure,
    ax: Axes,
    pixels: np.ndarray,
    truth: Truth,
    label_of: Callable[[float], int] = linear_label,
    skip_times: tuple[float, ...] = (),
) -> tuple[Panel, np.ndarray]:
    """Every panel pixel shows the truth at that pixel or at most one pixel away.

    Columns within 3 pixels of ``skip_times`` (where event lines are drawn) are skipped.
    """
    panel = Panel.of(fig, ax)
    actual = classify(pixels[np.ix_(panel.rows, panel.cols)])
    rows = np.arange(panel.rows[0] - 1, panel.rows[-1] + 2)
    cols = np.arange(panel.cols[0] - 1, panel.cols[-1] + 2)
    expected = expected_labels(panel, truth, rows, cols, label_of)
    ok = np.zeros(actual.shape, dtype=bool)
    h, w = actual.shape
    for dr, dc in itertools.product((0, 1, 2), repeat=2):
        ok |= expected[dr : dr + h, dc : dc + w] == actual
    for t in skip_times:
        ok[:, np.abs(panel.cols + 0.5 - panel.column_of(t)) < 3.0] = True
    bad = np.argwhere(~ok)
    if bad.size:
        r, c = bad[0]
        raise AssertionError(
            f"{len(bad)} of {actual.size} panel pixels differ from the true picture; first "
            f"at PNG row {panel.rows[r]}, column {panel.cols[c]}: drawn label "
            f"{actual[r, c]}, expected {expected[r + 1, c + 1]} (within one pixel)"
        )
    return panel, actual


def render(
    close_figures: Callable[[Figure], Figure],
    png_pixels: Callable[[Figure], np.ndarray],
    rows: list[dict[str, Any]],
    *,
    cmap: Colormap | None = None,
    **options: Any,
) -> tuple[Figure, np.ndarray]:
    options = {**LINEAR_Z, **options}
    fig = close_figures(
        generic_plot_spectrogram_set(
            rows, colormap=cmap if cmap is not None else palette_cmap(), dpi=DPI, **options
        )
    )
    return fig, png_pixels(fig)


def cell_values(n_time: int, n_y: int, step: int = 5) -> np.ndarray:
    """Value of cell (i, j): (j + step * i) mod N, so neighbours in time and y differ."""
    i, j = np.meshgrid(np.arange(n_time), np.arange(n_y), indexing="ij")
    return ((j + step * i) % N).astype("float64")


def times(n: int, cadence: float = 60.0) -> np.ndarray:
    return T0 + cadence * np.arange(n, dtype="float64")


# A FAST-like table: 16 log-spaced energies, ~12 eV to ~33 keV, one of them at 97.5 eV.
LOG_TABLE = 97.5 * 1.7 ** np.arange(-4, 12)


# ---------------------------------------------------------------------------------------
# Energy tables
# ---------------------------------------------------------------------------------------


def test_log_spaced_energies_on_log_axis(close_figures, png_pixels) -> None:
    x = times(20)
    data = cell_values(20, LOG_TABLE.size)
    fig, pixels = render(
        close_figures,
        png_pixels,
        [{"x": x, "y": LOG_TABLE, "data": data, "label": "EES"}],
        y_scale="log",
    )
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    truth = reference(x, LOG_TABLE, data, log_y=True)
    panel, labels = assert_panel_true(fig, ax, pixels, truth)

    # The 97.5 eV bin is drawn around 97.5 eV, between its log-space edges, not stretched.
    k = int(np.argmin(np.abs(LOG_TABLE - 97.5)))
    lo, hi = 97.5 / np.sqrt(1.7), 97.5 * np.sqrt(1.7)
    record = 7
    col = panel.col_index(x[record])
    drawn = panel.rows[labels[:, col] == linear_label(data[record, k])]
    assert drawn.size > 5
    assert drawn.min() + 0.5 >= panel.row_of(hi) - 1.0  # PNG rows grow downwards
    assert drawn.max() + 0.5 <= panel.row_of(lo) + 1.0
    assert drawn.size >= panel.row_of(lo) - panel.row_of(hi) - 2.0
    centre = float(np.exp(np.mean(np.log(panel.ys(drawn)))))
    assert centre == pytest.approx(97.5, rel=0.05)

    # Each record's columns lie within its time edges (midpoints between samples).
    row = panel.row_index(LOG_TABLE[3])
    for i in (0, 5, 19):
        drawn = panel.cols[labels[row] == linear_label(data[i, 3])]
        assert drawn.size > 5
        assert drawn.min() + 0.5 >= panel.column_of(x[i] - 30.0) - 1.0
        assert drawn.max() + 0.5 <= panel.column_of(x[i] + 30.0) + 1.0


def test_log_spaced_energies_via_make_spectrogram(close_figures, png_pixels) -> None:
    x = times(12)
    data = cell_values(12, LOG_TABLE.size)
    ax, _ = make_spectrogram(
        x_axis_values=x.astype("datetime64[s]"),
        y_axis_values=LOG_TABLE,
        data_array_3d=data,
        y_axis_scale_function="log",
        z_axis_min=LINEAR_Z["z_min"],
        z_axis_max=LINEAR_Z["z_max"],
        colormap=palette_cmap(),
    )
    fig = close_figures(ax.figure)
    truth = reference(x, LOG_TABLE, data, log_y=True)
    assert_panel_true(fig, ax, png_pixels(fig), truth)


def test_two_rows_with_zoom_column(close_figures, png_pixels) -> None:
    x = times(60, cadence=20.0)
    ascending = LOG_TABLE
    descending = np.geomspace(2e4, 15.0, 9)
    rows: list[dict[str, Any]] = [
        {"x": x, "y": ascending, "data": cell_values(60, ascending.size), "label": "EES"},
        {
            "x": x,
            "y": descending,
            "data": cell_values(60, descending.size, step=7),
            "label": "IES",
        },
    ]
    events = (T0 + 500.0, T0 + 560.0)
    fig, pixels = render(
        close_figures,
        png_pixels,
        rows,
        y_scale="log",
        vertical_lines=list(events),
        zoom_duration_minutes=3,
    )
    assert len(fig.axes) == 6
    panels = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is None]
    assert len(panels) == 4
    zoom = panels[1]
    # The zoom column spans 3 minutes around the events: records 20 to 31.
    lo, hi = zoom.get_xlim()
    assert (hi - lo) * 86400.0 == pytest.approx(180.0)
    for ax, row in zip(panels, [rows[0], rows[0], rows[1], rows[1]], strict=True):
        truth = reference(row["x"], row["y"], row["data"], log_y=True)
        assert_panel_true(fig, ax, pixels, truth, skip_times=events)


def test_descending_energy_table(close_figures, png_pixels) -> None:
    x = times(20)
    y = LOG_TABLE[::-1].copy()  # FAST stores energies high to low
    data = cell_values(20, y.size)
    fig, pixels = render(
        close_figures, png_pixels, [{"x": x, "y": y, "data": data}], y_scale="log"
    )
    truth = reference(x, y, data, log_y=True)
    _, labels = assert_panel_true(fig, fig.axes[0], pixels, truth)
    # The highest energy (first column of data) is at the top of the panel.
    top_row = labels[1]
    assert np.isin(linear_label(data[10, 0]), top_row)


def test_irregular_table_on_linear_axis(close_figures, png_pixels) -> None:
    x = times(15)
    y = np.array([0.0, 1.0, 3.0, 7.0, 8.0, 20.0, 50.0, 52.0])
    data = cell_values(15, y.size)
    fig, pixels = render(
        close_figures, png_pixels, [{"x": x, "y": y, "data": data}], y_scale="linear"
    )
    assert fig.axes[0].get_yscale() == "linear"
    assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=False))


def test_record_varying_energy_tables(close_figures, png_pixels) -> None:
    x = times(16)
    a = np.geomspace(10.0, 1e4, 8)
    b = np.geomspace(25.0, 2.5e4, 8)
    y = np.stack([a if i % 2 == 0 else b for i in range(16)])  # (n_time, n_y)
    data = cell_values(16, 8)
    fig, pixels = render(
        close_figures, png_pixels, [{"x": x, "y": y, "data": data}], y_scale="log"
    )
    _, labels = assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=True))
    # Table b reaches above table a: there, even records are blank, odd ones drawn.
    panel = Panel.of(fig, fig.axes[0])
    row = panel.row_index(2.0e4)
    even = panel.col_index(x[4])
    odd = panel.col_index(x[5])
    assert labels[row, even] == BACKGROUND
    assert labels[row, odd] == linear_label(data[5, 7])


def test_repeated_and_unsorted_centres(close_figures, png_pixels) -> None:
    x = times(10)
    y = np.array([300.0, 10.0, 1000.0, 300.0, 30.0, 3000.0])
    data = cell_values(10, y.size)
    # The two 300 eV channels differ: one cell shows their mean.
    data[:, 0] = 2.0 * np.arange(10)
    data[:, 3] = data[:, 0] + 2.0
    fig, pixels = render(
        close_figures, png_pixels, [{"x": x, "y": y, "data": data}], y_scale="log"
    )
    assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=True))


# ---------------------------------------------------------------------------------------
# Time gaps
# ---------------------------------------------------------------------------------------

# Cadence 60 s, one spacing of 80 s (shorter than 1.5 cadences) and one of 600 s.
GAPPY_X = T0 + np.concatenate(
    [60.0 * np.arange(8), 420.0 + 80.0 + 60.0 * np.arange(6), 800.0 + 600.0 + 60.0 * np.arange(8)]
)


def _column_labels(panel: Panel, labels: np.ndarray, t0: float, t1: float) -> np.ndarray:
    """Labels of the columns strictly between two times, at least a pixel inside."""
    c0 = panel.column_of(t0) + 1.5
    c1 = panel.column_of(t1) - 1.5
    cols = (panel.cols + 0.5 > c0) & (panel.cols + 0.5 < c1)
    return labels[:, cols]


def test_long_gap_is_blank_and_short_spacing_is_not(close_figures, png_pixels) -> None:
    x = GAPPY_X
    spacings = np.diff(x)
    assert sorted(set(spacings)) == [60.0, 80.0, 600.0]
    y = np.arange(6.0)
    data = cell_values(x.size, 6)
    fig, pixels = render(close_figures, png_pixels, [{"x": x, "y": y, "data": data}])
    panel, labels = assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=False))
    long_at = int(np.flatnonzero(spacings == 600.0)[0])
    short_at = int(np.flatnonzero(spacings == 80.0)[0])
    # Long gap: blank between half a cadence after and before the neighbouring samples.
    blank = _column_labels(panel, labels, x[long_at] + 30.0, x[long_at + 1] - 30.0)
    assert blank.shape[1] > 20
    assert (blank == BACKGROUND).all()
    # Short spacing: no blank column; the two records meet at the midpoint.
    joined = _column_labels(panel, labels, x[short_at], x[short_at + 1])
    assert joined.shape[1] > 5
    assert not (joined == BACKGROUND).all(axis=0).any()


@pytest.mark.parametrize("where", ["global", "row"])
def test_explicit_gap_seconds(close_figures, png_pixels, where: str) -> None:
    x = GAPPY_X
    y = np.arange(6.0)
    data = cell_values(x.size, 6)
    row: dict[str, Any] = {"x": x, "y": y, "data": data}
    options: dict[str, Any] = {}
    if where == "row":
        row["gap_seconds"] = 70.0
    else:
        options["gap_seconds"] = 70.0
    fig, pixels = render(close_figures, png_pixels, [row], **options)
    panel, labels = assert_panel_true(
        fig, fig.axes[0], pixels, reference(x, y, data, log_y=False, gap_seconds=70.0)
    )
    short_at = int(np.flatnonzero(np.diff(x) == 80.0)[0])
    # With a 70 s threshold the 80 s spacing is a gap too: 20 s of blank in its middle.
    blank = _column_labels(panel, labels, x[short_at] + 30.0, x[short_at + 1] - 30.0)
    assert blank.shape[1] >= 3
    assert (blank == BACKGROUND).all()


# ---------------------------------------------------------------------------------------
# No data and below scale
# ---------------------------------------------------------------------------------------


def test_nan_cells_are_background(close_figures, png_pixels) -> None:
    x = times(20)
    y = np.geomspace(10.0, 1e4, 10)
    data = cell_values(20, 10)
    data[::3, ::4] = np.nan
    data[7] = np.nan  # a whole record missing
    fig, pixels = render(
        close_figures, png_pixels, [{"x": x, "y": y, "data": data}], y_scale="log"
    )
    panel, labels = assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=True))
    col = panel.col_index(x[7])
    assert (labels[:, col] == BACKGROUND).all()
    assert (classify(pixels[panel.rows][:, panel.cols]) == BACKGROUND).sum() > 0


def _log_values(n_time: int, n_y: int) -> np.ndarray:
    return 10.0 ** (cell_values(n_time, n_y) + 0.5)


def _log_label(under: int) -> Callable[[float], int]:
    def label(value: float) -> int:
        if np.isnan(value):
            return BACKGROUND
        if value <= 1.0:
            return under
        return int(np.floor(np.log10(value)))

    return label


@pytest.mark.parametrize("explicit_under", [False, True], ids=["cmap0", "set_under"])
def test_zeros_and_negatives_under_log_colour_are_under_colour(
    close_figures, png_pixels, explicit_under: bool
) -> None:
    x = times(20)
    y = np.geomspace(10.0, 1e4, 8)
    data = _log_values(20, 8)
    data[2::4, 1::3] = 0.0
    data[3::5, ::2] = -7.5
    data[10, 4] = np.nan
    cmap = palette_cmap(under=UNDER_COLOUR if explicit_under else None)
    fig, pixels = render(
        close_figures,
        png_pixels,
        [{"x": x, "y": y, "data": data}],
        cmap=cmap,
        y_scale="log",
        **LOG_Z,
    )
    # The under colour: cmap(0) unless set, never the white background.
    under_label = UNDER if explicit_under else 0
    panel, labels = assert_panel_true(
        fig,
        fig.axes[0],
        pixels,
        reference(x, y, data, log_y=True),
        label_of=_log_label(under_label),
    )
    col = panel.col_index(x[2])
    row = panel.row_index(y[1])
    assert labels[row, col] == under_label != BACKGROUND


def test_zeros_under_log_colour_do_not_widen_percentile_limits(close_figures, png_pixels) -> None:
    x = times(10)
    y = np.geomspace(10.0, 1e4, 4)
    data = np.full((10, 4), 100.0)
    data[:, 0] = 1000.0
    data[::2, 2] = 0.0
    data[1::2, 3] = -1.0
    fig = close_figures(
        generic_plot_spectrogram_set(
            [{"x": x, "y": y, "data": data}],
            z_scale="log",
            y_scale="log",
            z_percentiles=(0, 100),
            colormap=palette_cmap(),
            dpi=DPI,
        )
    )
    norm = cast(Any, fig.axes[1])._colorbar.norm
    assert (norm.vmin, norm.vmax) == (100.0, 1000.0)


@pytest.mark.parametrize("reducer", ["sum", "mean", "max"])
def test_all_nan_collapse_slice_stays_background(close_figures, png_pixels, reducer: str) -> None:
    x = times(12)
    y = np.geomspace(10.0, 1e4, 6)
    values = cell_values(12, 6)
    cube = np.full((12, 3, 6), np.nan)  # (time, pitch angle, energy)
    cube[:, 1, :] = values  # one finite pitch angle per cell: every reducer gives it
    cube[4, :, 2] = np.nan
    cube[::5, :, 5] = np.nan
    expected = values.copy()
    expected[4, 2] = np.nan
    expected[::5, 5] = np.nan
    fig, pixels = render(
        close_figures,
        png_pixels,
        [{"x": x, "y": y, "data": cube}],
        y_scale="log",
        collapse_axis=1,
        collapse=reducer,
    )
    panel, labels = assert_panel_true(
        fig, fig.axes[0], pixels, reference(x, y, expected, log_y=True)
    )
    col = panel.col_index(x[4])
    row = panel.row_index(y[2])
    assert labels[row, col] == BACKGROUND


def test_picture_uses_the_rows_colour_limits(close_figures, png_pixels) -> None:
    # The row's own limits beat the global ones in the picture, not only on the colorbar.
    x = times(12)
    y = np.arange(6.0)
    data = cell_values(12, 6)
    row = {"x": x, "y": y, "data": data, "z_min": -0.5, "z_max": N - 0.5}
    fig, pixels = render(close_figures, png_pixels, [row], z_min=100.0, z_max=200.0)
    assert_panel_true(fig, fig.axes[0], pixels, reference(x, y, data, log_y=False))
    norm = cast(Any, fig.axes[1])._colorbar.norm
    assert (norm.vmin, norm.vmax) == (-0.5, N - 0.5)
