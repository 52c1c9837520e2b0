"""True extents and dense data, checked by the pixels of real PNGs.

Channels given as bounds (a lower edge and a width, channels with holes between them,
channels that overlap), samples at a cadence that changes (with and without their stated
spans), and many samples per pixel column (their mean, their max). The colours are the
palette of ``test_render_pixels``: value ``k`` is drawn in colour ``k``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from batch_multi_plot_spectrogram import generic_plot_spectrogram_set
from test_render_pixels import BACKGROUND, DPI, LINEAR_Z, N, Panel, classify, palette_cmap

pytestmark = pytest.mark.usefixtures("no_pyplot_figures")

T0 = 946684800.0  # 2000-01-01T00:00:00Z
Render = Callable[..., tuple[Figure, np.ndarray]]


@pytest.fixture
def draw(close_figures, png_pixels) -> Render:
    def draw_rows(rows: list[dict[str, Any]], **options: Any) -> tuple[Figure, np.ndarray]:
        options = {**LINEAR_Z, "colormap": palette_cmap(), "dpi": DPI, **options}
        fig = close_figures(generic_plot_spectrogram_set(rows, **options))
        return fig, png_pixels(fig)

    return draw_rows


def labels_at(fig: Figure, pixels: np.ndarray, ys: list[float], t: float) -> list[int]:
    """The label of the pixel at time ``t`` and each y value of the first panel."""
    panel = Panel.of(fig, fig.axes[0])
    col = int(np.floor(panel.column_of(t)))
    return [
        int(classify(pixels[int(np.floor(panel.row_of(y))), col][None, None])[0, 0]) for y in ys
    ]


def column_labels(fig: Figure, pixels: np.ndarray, y: float) -> tuple[Panel, np.ndarray]:
    """The labels along the pixel row of value ``y``, over the panel's inner columns."""
    panel = Panel.of(fig, fig.axes[0])
    row = int(np.floor(panel.row_of(y)))
    return panel, classify(pixels[row, panel.cols][None, :])[0]


# -- channels given by their extents ------------------------------------------------------


def test_channels_from_a_lower_edge_and_a_width(draw: Render) -> None:
    # Solar Orbiter EPD's layout: the table holds lower edges; DELTA_PLUS_VAR the widths.
    low = np.array([10.0, 20.0, 40.0, 80.0])
    width = low.copy()
    x = T0 + 60.0 * np.arange(6)
    data = np.tile([3.0, 7.0, 11.0, 15.0], (6, 1))
    row = {"x": x, "y": low, "data": data, "y_bounds": np.stack([low, low + width], 1)}
    fig, pixels = draw([row], y_scale="log")
    # Each channel fills [low, low + width]: 19 is in the first channel, 21 in the second;
    # midpoints between lower edges would put 19 in the second and leave 10-14 empty.
    assert labels_at(fig, pixels, [10.6, 19.0, 21.0, 39.0, 41.0, 150.0], T0 + 150.0) == [
        3,
        3,
        7,
        7,
        11,
        15,
    ]
    assert fig.axes[0].get_ylim() == pytest.approx((10.0, 160.0))


def test_channels_that_do_not_touch_leave_a_blank(draw: Render) -> None:
    # STEREO HET's proton channels, MeV: 19.3 to 20.8 is covered by none.
    bounds = np.array([[13.6, 15.1], [15.1, 17.1], [17.1, 19.3], [20.8, 23.8], [23.8, 26.4]])
    y = bounds.mean(axis=1)
    x = T0 + 60.0 * np.arange(6)
    data = np.tile([2.0, 5.0, 8.0, 12.0, 16.0], (6, 1))
    fig, pixels = draw([{"x": x, "y": y, "data": data, "y_bounds": bounds}])
    assert labels_at(fig, pixels, [14.0, 18.9, 19.6, 20.4, 21.2, 26.0], T0 + 150.0) == [
        2,
        8,
        BACKGROUND,
        BACKGROUND,
        12,
        16,
    ]


def test_overlapping_channels_are_split_in_the_middle_of_their_overlap(draw: Render) -> None:
    bounds = np.array([[1.0, 3.0], [2.0, 4.0]])  # overlap 2-3: split at 2.5
    x = T0 + 60.0 * np.arange(6)
    data = np.tile([4.0, 9.0], (6, 1))
    fig, pixels = draw([{"x": x, "y": bounds.mean(1), "data": data, "y_bounds": bounds}])
    assert labels_at(fig, pixels, [1.2, 2.3, 2.7, 3.8], T0 + 150.0) == [4, 4, 9, 9]


# -- time: cadence changes, stated spans, real gaps ---------------------------------------


def _cadence_change(gap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Samples every 1 s, then every 5 s, then every 1 s (and, with ``gap``, a 300 s gap
    in the first stretch); each sample's span is its accumulation time, and the spans of
    neighbours touch."""
    first = np.arange(0.0, 600.0)
    if gap:
        first = first[(first < 200.0) | (first >= 500.0)]
    middle = 602.0 + 5.0 * np.arange(120)
    last = 1200.0 + np.arange(600.0)
    x = T0 + np.concatenate([first, middle, last])
    span = np.concatenate([np.ones(first.size), np.full(middle.size, 5.0), np.ones(last.size)])
    return x, np.stack([x - span / 2.0, x + span / 2.0], 1)


@pytest.mark.parametrize("with_bounds", [False, True], ids=["cadence-only", "stated-spans"])
def test_a_change_of_cadence_draws_no_gap(draw: Render, with_bounds: bool) -> None:
    x, spans = _cadence_change(gap=False)
    row: dict[str, Any] = {"x": x, "y": np.array([1.0, 2.0]), "data": np.full((x.size, 2), 6.0)}
    if with_bounds:
        row["x_bounds"] = spans
    fig, pixels = draw([row])
    panel, labels = column_labels(fig, pixels, 1.0)
    inside = (panel.times(panel.cols) > x[0] + 2.0) & (panel.times(panel.cols) < x[-1] - 2.0)
    assert (labels[inside] == 6).all(), np.flatnonzero(labels[inside] != 6)


@pytest.mark.parametrize("with_bounds", [False, True], ids=["cadence-only", "stated-spans"])
def test_a_real_gap_stays_blank(draw: Render, with_bounds: bool) -> None:
    x, spans = _cadence_change(gap=True)
    row: dict[str, Any] = {"x": x, "y": np.array([1.0, 2.0]), "data": np.full((x.size, 2), 6.0)}
    if with_bounds:
        row["x_bounds"] = spans
    fig, pixels = draw([row])
    panel, labels = column_labels(fig, pixels, 1.0)
    t = panel.times(panel.cols)
    in_gap = (t > T0 + 202.0) & (t < T0 + 498.0)
    assert in_gap.sum() > 20
    assert (labels[in_gap] == BACKGROUND).all()
    around = ((t > x[0] + 2.0) & (t < T0 + 197.0)) | ((t > T0 + 503.0) & (t < x[-1] - 2.0))
    assert (labels[around] == 6).all()


# -- dense data: many samples per pixel ----------------------------------------------------


def _dense_row(width: int, x0_fraction: float = 0.0) -> tuple[dict[str, Any], np.ndarray]:
    """40,000 one-second samples over ``width`` pixel columns; column ``k`` holds samples
    of values ``2a`` and ``2a + 2`` in turn (a = k mod 10), so their mean is the odd value
    ``2a + 1`` that no single sample has, and their max ``2a + 2``. One column holds a
    single spike of value 22 among samples of at most 20."""
    x = T0 + np.arange(40_000.0)
    span = 40_000.0  # the row's extent: [x0 - 0.5, x_last + 0.5]
    column = np.floor((x - (x[0] - 0.5)) * width / span).astype(int)
    a = column % 10
    values = np.where(np.arange(x.size) % 2 == 0, 2.0 * a, 2.0 * a + 2.0)
    spike = np.flatnonzero(column == width // 2)[5]
    values[spike] = 22.0
    return {"x": x, "y": np.array([1.0, 2.0]), "data": np.stack([values, values], 1)}, column


def _image_columns(fig: Figure, panel: Panel, width: int) -> np.ndarray:
    """For each PNG column of the panel, the column of the image drawn 1:1 under it."""
    bbox = fig.axes[0].bbox
    step = bbox.width / width
    return np.floor((panel.cols + 0.5 - bbox.x0) / step).astype(int)


@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_40000_samples_in_1200_columns_show_their_mean_or_max(draw: Render, reduce: str) -> None:
    # A figure whose panel is about 1,200 pixels wide: 33 samples per column.
    probe, _ = draw([_dense_row(100)[0]], dpi=157.0)
    width = round(probe.axes[0].bbox.width)
    assert 1150 <= width <= 1250
    row, column = _dense_row(width)
    fig, pixels = draw([row], dpi=157.0, pixel_reduce=reduce)
    panel, labels = column_labels(fig, pixels, 1.0)
    k = _image_columns(fig, panel, width)
    a = k % 10
    expected = 2 * a + (1 if reduce == "mean" else 2)
    spike_column = width // 2
    if reduce == "max":
        expected[k == spike_column] = 22
    assert np.isin(k, column).all()
    wrong = np.flatnonzero(labels != expected)
    assert wrong.size == 0, (wrong[:10], labels[wrong[:10]], expected[wrong[:10]])
    # Every sample counted: with a mean, the column of the spike is off by a fraction only.
    if reduce == "mean":
        assert 22 not in labels


def test_one_spike_among_dense_samples_is_visible_with_max_only(draw: Render) -> None:
    x = T0 + np.arange(20_000.0)
    values = np.full(x.size, 1.0)
    values[12_345] = 20.0
    row = {"x": x, "y": np.array([1.0, 2.0]), "data": np.stack([values, values], 1)}
    seen = {}
    for reduce in ("mean", "max"):
        fig, pixels = draw([row], pixel_reduce=reduce)
        _, labels = column_labels(fig, pixels, 1.0)
        seen[reduce] = int((labels == 20).sum())
    assert seen["max"] >= 1
    assert seen["mean"] == 0
    assert N > 20
