"""The rendering API: spec examples, options and their precedence, the zoom column, event
lines, the UTC time axis and the figure layout."""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import itertools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import matplotlib.dates as mdates
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from numpy.testing import assert_allclose, assert_array_equal

from batch_multi_plot_spectrogram import (
    close_all_axes_and_clear,
    generic_plot_spectrogram_set,
    make_spectrogram,
)
from batch_multi_plot_spectrogram.render import figure_bytes, render_png

pytestmark = pytest.mark.usefixtures("no_pyplot_figures")

T0 = 946684800.0  # 2000-01-01T00:00:00Z
UTC = dt.UTC
HAS_BATCH = importlib.util.find_spec("batch_multi_plot_spectrogram.batch") is not None


# ---------------------------------------------------------------------------------------
# Helpers: read a figure back through matplotlib's public artists
# ---------------------------------------------------------------------------------------


def colorbars(fig: Figure) -> list[Colorbar]:
    """The figure's colorbars, top row first (a colorbar registers on its axes)."""
    return [
        cast(Any, ax)._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None
    ]


def panels(fig: Figure) -> list[Axes]:
    """The visible data panels, in the order they were made (row by row)."""
    return [ax for ax in fig.axes if ax.get_visible() and getattr(ax, "_colorbar", None) is None]


def datenum(unix_seconds: float) -> float:
    """Matplotlib date number of a UNIX time, computed without the package."""
    return float(mdates.date2num(dt.datetime.fromtimestamp(unix_seconds, tz=UTC)))


def lines_at(ax: Axes, unix_seconds: float) -> list[Line2D]:
    """Vertical lines drawn on ``ax`` at a UNIX time."""
    x = datenum(unix_seconds)
    return [
        line
        for line in ax.lines
        if np.allclose(line.get_xdata(), x, rtol=0.0, atol=1e-7)  # 1e-7 day ~ 9 ms
    ]


def row_dict(
    n_time: int = 30,
    n_y: int = 8,
    *,
    cadence: float = 60.0,
    start: float = T0,
    log_y: bool = False,
    seed: int = 0,
    **keys: Any,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = start + cadence * np.arange(n_time, dtype="float64")
    y = np.geomspace(10.0, 1e4, n_y) if log_y else np.arange(n_y, dtype="float64")
    data = rng.lognormal(1.0, 1.0, size=(n_time, n_y))
    return {"x": x, "y": y, "data": data, **keys}


def the_norm(fig: Figure, row: int = 0) -> tuple[float, float]:
    norm = colorbars(fig)[row].norm
    assert norm.vmin is not None and norm.vmax is not None
    return float(norm.vmin), float(norm.vmax)


@pytest.fixture
def plot(close_figures: Callable[[Figure], Figure]) -> Callable[..., Figure]:
    """``generic_plot_spectrogram_set`` whose figures are freed after the test."""

    def make(datasets: Any, **options: Any) -> Figure:
        return close_figures(generic_plot_spectrogram_set(datasets, **options))

    return make


# ---------------------------------------------------------------------------------------
# The spec's examples, run as written on real arrays
# ---------------------------------------------------------------------------------------


def test_spec_example_low_level_single_panel(close_figures) -> None:
    rng = np.random.default_rng(1)
    time_sec = T0 + 4.0 * np.arange(300)
    energy_ev = np.geomspace(30_000.0, 4.0, 48)  # stored high to low, as FAST does
    data_cube = rng.lognormal(2.0, 1.0, size=(300, 16, 48))  # (time, pitch angle, energy)
    event_time = T0 + 600.0

    from batch_multi_plot_spectrogram import make_spectrogram

    ax, x_used = make_spectrogram(
        x_axis_values=time_sec,
        y_axis_values=energy_ev,
        data_array_3d=data_cube,
        collapse_axis=1,
        y_axis_scale_function="log",
        z_axis_scale_function="log",
        instrument_label="EES",
        vertical_lines_unix=[event_time],
    )
    fig = close_figures(ax.figure)
    assert isinstance(ax, Axes)
    assert_array_equal(x_used, time_sec)
    assert ax.get_yscale() == "log"
    assert ax.get_title(loc="left") == "EES"
    assert ax.get_ylabel() == "Energy (eV)"
    assert len(lines_at(ax, event_time)) == 1
    (cbar,) = colorbars(fig)
    assert isinstance(cbar.norm, LogNorm)
    assert cbar.ax.get_ylabel() == "Counts"
    # The y axis spans the outer log-space edges of the table.
    ratio = (30_000.0 / 4.0) ** (1 / 47)
    assert_allclose(ax.get_ylim(), (4.0 / np.sqrt(ratio), 30_000.0 * np.sqrt(ratio)))


def test_spec_example_zoom_column_and_event_lines(close_figures) -> None:
    rng = np.random.default_rng(2)
    x = T0 + 2.5 * np.arange(1440)  # one hour
    my_datasets = [
        {
            "x": x,
            "y": np.geomspace(4.0, 3e4, 32),
            "data": rng.lognormal(1.0, 1.0, size=(1440, 8, 32)),
            "label": "EES",
        },
        {
            "x": x,
            "y": np.geomspace(4.0, 3e4, 32),
            "data": rng.lognormal(0.5, 1.0, size=(1440, 32)),
            "label": "IES",
        },
    ]
    t0, t1 = T0 + 1500.0, T0 + 1800.0

    fig = generic_plot_spectrogram_set(
        datasets=my_datasets,
        vertical_lines=[t0, t1],
        zoom_duration_minutes=10,
        colormap="plasma",
        z_scale="log",
    )
    close_figures(fig)
    # Two rows of (full panel, zoom panel, colorbar).
    assert len(fig.axes) == 6
    assert len(panels(fig)) == 4
    for ax in panels(fig):
        assert len(lines_at(ax, t0)) == 1
        assert len(lines_at(ax, t1)) == 1
    zoom = panels(fig)[1]
    assert_allclose(zoom.get_xlim(), (datenum(T0 + 1350.0), datenum(T0 + 1950.0)))
    for cbar in colorbars(fig):
        assert cbar.cmap.name == "plasma"
        assert isinstance(cbar.norm, LogNorm)


def _per_row_example_datasets() -> Callable[[Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(3)
    x1 = T0 + 5.0 * np.arange(200)
    y1 = np.linspace(50.0, 3950.0, 40)
    d1 = rng.lognormal(1.0, 1.0, size=(200, 4, 40))
    x2 = T0 + 7.0 * np.arange(150)
    y2 = np.geomspace(10.0, 2e4, 24)
    d2 = rng.lognormal(0.0, 2.0, size=(150, 24))

    def load_datasets_for_item(item_id):
        return [
            {"x": x1, "y": y1, "data": d1, "label": "EES", "y_min": 0, "y_max": 4000},
            {"x": x2, "y": y2, "data": d2, "label": "IES", "z_min": 1e-2, "z_max": 1e2},
        ]

    return load_datasets_for_item


def test_spec_example_per_row_overrides_render(plot) -> None:
    load_datasets_for_item = _per_row_example_datasets()
    fig = plot(load_datasets_for_item("orbit_001"))
    ees, ies = panels(fig)
    assert ees.get_title(loc="left") == "EES"
    assert ees.get_ylim() == (0.0, 4000.0)
    assert ies.get_title(loc="left") == "IES"
    assert the_norm(fig, 1) == (1e-2, 1e2)


@pytest.mark.xfail(
    not HAS_BATCH, strict=False, reason="the batch module (generic_batch_plot) is not there yet"
)
def test_spec_example_per_row_overrides_batch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    load_datasets_for_item = _per_row_example_datasets()
    items = ["orbit_001", "orbit_002", "orbit_003"]

    from batch_multi_plot_spectrogram import generic_batch_plot

    generic_batch_plot(items, "plots_generic", load_datasets_for_item)

    pngs = sorted((tmp_path / "plots_generic").rglob("*.png"))
    assert len(pngs) == len(items)
    for png in pngs:
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# ---------------------------------------------------------------------------------------
# make_spectrogram
# ---------------------------------------------------------------------------------------


def test_make_spectrogram_accepts_2d_data_and_datetime64_x(close_figures) -> None:
    x = (T0 + 60.0 * np.arange(20)).astype("datetime64[s]")
    data = np.random.default_rng(0).random((20, 5)) + 0.1
    ax, x_used = make_spectrogram(x, np.arange(5.0), data)
    close_figures(ax.figure)
    assert x_used.dtype == np.dtype("datetime64[ns]")
    assert_array_equal(x_used, x.astype("datetime64[ns]"))
    assert_allclose(ax.get_xlim(), (datenum(T0 - 30.0), datenum(T0 + 19 * 60.0 + 30.0)))
    assert ax.get_xlabel() == "Time (UTC)"


def test_make_spectrogram_x_limits_select_x_used(close_figures) -> None:
    x = T0 + 60.0 * np.arange(20)
    ax, x_used = make_spectrogram(
        x, np.arange(4.0), np.ones((20, 4)), x_axis_min=T0 + 300.0, x_axis_max=T0 + 600.0
    )
    close_figures(ax.figure)
    assert_array_equal(x_used, x[5:11])
    assert_allclose(ax.get_xlim(), (datenum(T0 + 300.0), datenum(T0 + 600.0)))


def test_make_spectrogram_on_a_given_axes(close_figures) -> None:
    fig = close_figures(Figure(figsize=(6, 3), dpi=50))
    target = fig.add_subplot()
    ax, _ = make_spectrogram(
        T0 + np.arange(10.0),
        np.arange(3.0),
        np.ones((10, 3)),
        axis_object=target,
        y_axis_label="Frequency (Hz)",
        z_axis_label="Power",
        colormap="magma",
    )
    assert ax is target
    assert ax.get_ylabel() == "Frequency (Hz)"
    (cbar,) = colorbars(fig)
    assert cbar.ax.get_ylabel() == "Power"
    assert cbar.cmap.name == "magma"


def test_make_spectrogram_descending_x_is_reordered(close_figures) -> None:
    x = T0 + 60.0 * np.arange(10)
    ax, x_used = make_spectrogram(x[::-1], np.arange(3.0), np.ones((10, 3)))
    close_figures(ax.figure)
    assert_array_equal(x_used, x)


# ---------------------------------------------------------------------------------------
# Colour limits: precedence (DESIGN section 3)
# ---------------------------------------------------------------------------------------

PRECEDENCE_DATA = np.arange(1.0, 101.0).reshape(20, 5)  # values 1 .. 100...
PRECEDENCE_DATA[3, 2] = np.nan  # ...and a NaN, which never counts
FINITE = PRECEDENCE_DATA[np.isfinite(PRECEDENCE_DATA)]


@pytest.mark.parametrize(
    ("row_keys", "global_keys", "expected"),
    [
        # The row's z_min/z_max win over everything.
        (
            {"z_min": 2.0, "z_max": 5.0, "vmin": 1.0, "vmax": 9.0},
            {"z_min": 0.5, "z_max": 10.0},
            (2.0, 5.0),
        ),
        # Else the row's vmin/vmax, clamped by the global z_min/z_max...
        ({"vmin": 1.0, "vmax": 50.0}, {"z_min": 3.0, "z_max": 20.0}, (3.0, 20.0)),
        ({"vmin": 4.0, "vmax": 8.0}, {"z_min": 3.0, "z_max": 20.0}, (4.0, 8.0)),
        # ...or as given when there are no global limits.
        ({"vmin": 1.5, "vmax": 60.0}, {}, (1.5, 60.0)),
        # Else the global limits.
        ({}, {"z_min": 3.0, "z_max": 20.0}, (3.0, 20.0)),
        # Each end on its own.
        ({"z_min": 2.0, "vmax": 40.0}, {"z_max": 30.0}, (2.0, 30.0)),
        ({"vmin": 7.0}, {"z_max": 30.0}, (7.0, 30.0)),
        # Else percentiles of the finite values (1st and 99th by default).
        ({}, {}, tuple(np.percentile(FINITE, [1, 99]))),
        ({}, {"z_percentiles": (10, 90)}, tuple(np.percentile(FINITE, [10, 90]))),
        ({"z_max": 50.0}, {"z_percentiles": (0, 100)}, (1.0, 50.0)),
    ],
    ids=[
        "row-z",
        "row-v-clamped",
        "row-v-inside",
        "row-v",
        "global",
        "mixed-ends",
        "vmin-global-max",
        "percentiles",
        "z_percentiles",
        "percentile-and-row-z",
    ],
)
def test_colour_limit_precedence(plot, row_keys, global_keys, expected) -> None:
    fig = plot([row_dict(20, 5, **row_keys) | {"data": PRECEDENCE_DATA}], **global_keys)
    assert the_norm(fig) == pytest.approx(expected)


def test_percentiles_under_log_colour_use_positive_values_only(plot) -> None:
    data = np.arange(1.0, 101.0).reshape(20, 5)
    data[::2, 0] = 0.0
    data[1::2, 1] = -3.0
    fig = plot([row_dict(20, 5) | {"data": data}], z_scale="log", z_percentiles=(5, 95))
    positive = data[data > 0]
    assert the_norm(fig) == pytest.approx(tuple(np.percentile(positive, [5, 95])))
    assert isinstance(colorbars(fig)[0].norm, LogNorm)


def test_each_row_has_its_own_colour_limits(plot) -> None:
    rows = [row_dict(seed=i) for i in range(3)]
    rows[1]["data"] = rows[1]["data"] * 1000.0
    fig = plot(rows, z_percentiles=(0, 100))
    for i, row in enumerate(rows):
        assert the_norm(fig, i) == pytest.approx((row["data"].min(), row["data"].max()))


# ---------------------------------------------------------------------------------------
# Other options: y limits, scales, colormaps, labels, reducers
# ---------------------------------------------------------------------------------------


def test_y_limits_per_row_and_global(plot) -> None:
    rows = [
        row_dict(n_y=5, label="default"),
        row_dict(n_y=5, label="row", y_min=1.0, y_max=3.0),
        row_dict(n_y=5, label="half", y_max=2.5),
    ]
    fig = plot(rows)
    default, own, half = panels(fig)
    assert default.get_ylim() == (-0.5, 4.5)  # the outer bin edges
    assert own.get_ylim() == (1.0, 3.0)
    assert half.get_ylim() == (-0.5, 2.5)
    fig = plot(rows, y_min=0.25, y_max=4.0)
    default, own, half = panels(fig)
    assert default.get_ylim() == (0.25, 4.0)
    assert own.get_ylim() == (1.0, 3.0)
    assert half.get_ylim() == (0.25, 2.5)


def test_scales_per_row_and_global(plot) -> None:
    rows = [
        row_dict(log_y=True),
        row_dict(log_y=True, y_scale="linear", z_scale="linear"),
        row_dict(log_y=True, z_scale="log"),
    ]
    fig = plot(rows, y_scale="log")
    assert [ax.get_yscale() for ax in panels(fig)] == ["log", "linear", "log"]
    assert [isinstance(c.norm, LogNorm) for c in colorbars(fig)] == [False, False, True]
    fig = plot(rows, z_scale="log")
    assert [ax.get_yscale() for ax in panels(fig)] == ["linear", "linear", "linear"]
    assert [isinstance(c.norm, LogNorm) for c in colorbars(fig)] == [True, False, True]


def test_scales_are_case_insensitive(plot) -> None:
    fig = plot([row_dict(log_y=True)], y_scale="LOG", z_scale="Log")
    assert panels(fig)[0].get_yscale() == "log"
    assert isinstance(colorbars(fig)[0].norm, LogNorm)


def test_colormap_per_row_and_global(plot) -> None:
    palette = ListedColormap([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)], name="two-colours")
    rows = [row_dict(), row_dict(colormap="plasma"), row_dict(colormap=palette)]
    fig = plot(rows, colormap="magma")
    assert [c.cmap.name for c in colorbars(fig)] == ["magma", "plasma", "two-colours"]
    fig = plot(rows)
    assert [c.cmap.name for c in colorbars(fig)] == ["viridis", "plasma", "two-colours"]


def test_global_colormap_instance_is_not_modified(plot) -> None:
    palette = ListedColormap([(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)], name="two-colours")
    before = palette.get_bad().copy()
    fig = plot([row_dict()], colormap=palette)
    assert colorbars(fig)[0].cmap.name == "two-colours"
    assert_array_equal(palette.get_bad(), before)


def test_labels_default_and_per_row(plot) -> None:
    rows = [
        row_dict(label="EES"),
        row_dict(
            label="IES",
            y_label="Frequency (Hz)",
            z_label="Differential Flux (eV cm^-2 s^-1 sr^-1)",
        ),
    ]
    fig = plot(rows, figure_title="orbit 1234")
    ees, ies = panels(fig)
    assert (ees.get_title(loc="left"), ies.get_title(loc="left")) == ("EES", "IES")
    assert ees.get_ylabel() == "Energy (eV)"
    assert ies.get_ylabel() == "Frequency (Hz)"
    # Long labels may be wrapped to fit beside the colorbar.
    assert [" ".join(c.ax.get_ylabel().split()) for c in colorbars(fig)] == [
        "Counts",
        "Differential Flux (eV cm^-2 s^-1 sr^-1)",
    ]
    assert fig.get_suptitle() == "orbit 1234"
    assert ees.get_xlabel() == ""
    assert ies.get_xlabel() == "Time (UTC)"


def _nan_median(a: np.ndarray, axis: int) -> np.ndarray:
    return np.nanmedian(a, axis=axis)


@pytest.mark.parametrize(
    ("collapse", "reduce"),
    [
        ("sum", np.nansum),
        ("mean", np.nanmean),
        ("max", np.nanmax),
        ("min", np.nanmin),
        (_nan_median, np.nanmedian),
    ],
    ids=["sum", "mean", "max", "min", "callable"],
)
@pytest.mark.parametrize("axis", [1, 2])
def test_collapse_reducers(plot, collapse, reduce, axis: int) -> None:
    rng = np.random.default_rng(4)
    cube = rng.lognormal(1.0, 1.0, size=(25, 4, 6))
    cube[3, :, 2] = np.nan  # an all-NaN slice when axis 1 is reduced
    cube[5, 1, :] = np.nan  # an all-NaN slice when axis 2 is reduced
    n_y = cube.shape[3 - axis]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        expected = reduce(cube, axis=axis)
    # A slice with no finite value stays NaN (nansum would make it 0).
    expected[~np.isfinite(cube).any(axis=axis)] = np.nan
    fig = plot(
        [row_dict(25, n_y) | {"data": cube}],
        collapse_axis=axis,
        collapse=collapse,
        z_percentiles=(0, 100),
    )
    assert the_norm(fig) == pytest.approx((np.nanmin(expected), np.nanmax(expected)))


def test_row_collapse_keys_win(plot) -> None:
    cube = np.random.default_rng(5).random((10, 3, 4)) + 1.0
    fig = plot(
        [row_dict(10, 3) | {"data": cube, "collapse_axis": 2, "collapse": "max"}],
        collapse_axis=1,
        collapse="sum",
        z_percentiles=(0, 100),
    )
    expected = cube.max(axis=2)
    assert the_norm(fig) == pytest.approx((expected.min(), expected.max()))


# ---------------------------------------------------------------------------------------
# Zoom column and event lines
# ---------------------------------------------------------------------------------------

HOUR = row_dict(60, 6)  # 00:00 .. 00:59, one record a minute


def _rows(n: int = 2) -> list[dict[str, Any]]:
    return [dict(HOUR, label=f"row {i}") for i in range(n)]


def test_no_zoom_column_without_event_lines_or_duration(plot) -> None:
    assert len(plot(_rows(), zoom_duration_minutes=10).axes) == 4
    fig = plot(_rows(), vertical_lines=[T0 + 1800.0])
    assert len(fig.axes) == 4
    for ax in panels(fig):
        assert len(lines_at(ax, T0 + 1800.0)) == 1


def test_zoom_column_with_data_in_the_window(plot) -> None:
    fig = plot(_rows(3), vertical_lines=[T0 + 1800.0], zoom_duration_minutes=10)
    assert len(fig.axes) == 9  # 3 rows x (full, zoom, colorbar)
    full, zoom = panels(fig)[0::2], panels(fig)[1::2]
    for ax in zoom:
        assert_allclose(ax.get_xlim(), (datenum(T0 + 1500.0), datenum(T0 + 2100.0)))
    for ax in full:
        assert_allclose(ax.get_xlim(), (datenum(T0 - 30.0), datenum(T0 + 3570.0)))
    for ax in full + zoom:
        assert len(lines_at(ax, T0 + 1800.0)) == 1
    # The zoom panel shares its row's y axis.
    assert zoom[0].get_ylim() == full[0].get_ylim()


def test_no_zoom_column_when_the_window_holds_no_data(plot) -> None:
    # Window far outside the data.
    fig = plot(_rows(), vertical_lines=[T0 + 5 * 3600.0], zoom_duration_minutes=10)
    assert len(fig.axes) == 4
    for ax in panels(fig):
        assert lines_at(ax, T0 + 5 * 3600.0) == []
    # Window inside the time range, but only NaN there.
    rows = _rows()
    for row in rows:
        row["data"] = row["data"].copy()
        row["data"][20:40] = np.nan
    fig = plot(rows, vertical_lines=[T0 + 1800.0], zoom_duration_minutes=10)
    assert len(fig.axes) == 4
    for ax in panels(fig):
        assert len(lines_at(ax, T0 + 1800.0)) == 1


def test_zoom_column_when_only_one_row_has_data_there(plot) -> None:
    rows = _rows(3)
    rows[0] = row_dict(20, 6, label="early")  # ends at 00:19
    rows[2] = dict(rows[2], data=np.full((60, 6), np.nan))  # no data at all
    fig = plot(rows, vertical_lines=[T0 + 1800.0], zoom_duration_minutes=10)
    # Colorbar axes of the all-NaN row stay in the figure, hidden.
    assert len(fig.axes) == 9
    assert len(colorbars(fig)) == 2
    texts = [t.get_text() for ax in panels(fig)[4:] for t in ax.texts]
    assert texts == ["No data", "No data"]


def test_zoom_window_widens_to_the_span_of_the_lines(plot) -> None:
    lines = [T0 + 600.0, T0 + 2400.0]  # 30 minutes apart, zoom 10 minutes
    fig = plot(_rows(), vertical_lines=lines, zoom_duration_minutes=10)
    zoom = panels(fig)[1]
    width = 1.5 * 1800.0
    assert_allclose(
        zoom.get_xlim(), (datenum(T0 + 1500.0 - width / 2), datenum(T0 + 1500.0 + width / 2))
    )
    for ax in panels(fig):
        assert len(lines_at(ax, lines[0])) == len(lines_at(ax, lines[1])) == 1


def test_event_lines_are_drawn_on_every_panel_they_fall_in(plot) -> None:
    inside, beyond = T0 + 3300.0, T0 + 3720.0  # 00:55 (data) and 01:02 (after the data)
    fig = plot(_rows(2), vertical_lines=[inside, beyond], zoom_duration_minutes=10)
    assert len(fig.axes) == 6
    full, zoom = panels(fig)[0::2], panels(fig)[1::2]
    for ax in full:
        assert len(lines_at(ax, inside)) == 1
        assert lines_at(ax, beyond) == []
        assert len(ax.lines) == 1
    for ax in zoom:
        assert len(lines_at(ax, inside)) == 1
        assert len(lines_at(ax, beyond)) == 1


def test_event_lines_accept_datetime64(plot) -> None:
    event = np.datetime64("2000-01-01T00:30:00")
    fig = plot(_rows(1), vertical_lines=[event])
    assert len(lines_at(panels(fig)[0], T0 + 1800.0)) == 1


# ---------------------------------------------------------------------------------------
# All-NaN rows
# ---------------------------------------------------------------------------------------


def test_all_nan_row_is_an_empty_panel_saying_no_data(plot) -> None:
    rows = [row_dict(label="ok"), row_dict(label="empty") | {"data": np.full((30, 8), np.nan)}]
    fig = plot(rows)
    ok, empty = panels(fig)
    assert [t.get_text() for t in empty.texts] == ["No data"]
    assert empty.get_images() == []
    assert [t.get_text() for t in ok.texts] == []
    assert len(ok.get_images()) == 1
    assert len(colorbars(fig)) == 1
    # The whole figure still renders.
    png = render_png(rows, dpi=40)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_row_of_zeros_under_log_colour_is_drawn_below_scale(plot) -> None:
    fig = plot([row_dict() | {"data": np.zeros((30, 8))}], z_scale="log")
    (ax,) = panels(fig)
    assert list(ax.texts) == []
    assert len(ax.get_images()) == 1
    assert render_png([row_dict() | {"data": np.zeros((30, 8))}], z_scale="log", dpi=40)


def test_close_all_axes_and_clear(close_figures) -> None:
    fig = generic_plot_spectrogram_set(
        _rows(2), vertical_lines=[T0 + 600.0], zoom_duration_minutes=5
    )
    assert fig.axes
    close_all_axes_and_clear(fig)
    assert fig.axes == []
    close_all_axes_and_clear(fig)  # twice is fine
    close_all_axes_and_clear(None)


# ---------------------------------------------------------------------------------------
# The time axis is UTC: each tick label names the instant it sits on
# ---------------------------------------------------------------------------------------

# The ways a tick label line may name an instant (time of day, date, or a part of one).
_NAME_FORMATS = (
    "%H:%M",
    "%H:%M:%S",
    "%M:%S",
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y",
    "%b",
    "%d",
    "%b-%d",
    "%Y-%b",
    "%Y-%b-%d",
    "%Y-%b-%d %H:%M",
)


def _names(when: dt.datetime) -> set[str]:
    names = {when.strftime(f) for f in _NAME_FORMATS}
    fraction = when.strftime("%H:%M:%S.%f").rstrip("0").rstrip(".")
    return names | {fraction, when.strftime("%S.%f").rstrip("0").rstrip(".")}


def _drawn_x_ticks(ax: Axes) -> list[tuple[float, str]]:
    lo, hi = sorted(ax.get_xlim())
    eps = 1e-9 * (hi - lo)
    return [
        (tick.get_loc(), tick.label1.get_text())
        for tick in ax.xaxis.get_major_ticks()
        if tick.label1.get_visible()
        and tick.label1.get_text()
        and lo - eps <= tick.get_loc() <= hi + eps
    ]


def assert_ticks_name_utc_instants(ax: Axes) -> str:
    """Every line of every drawn tick label names the UTC instant of its tick.

    Returns all the date text shown on the axis (labels and any offset text).
    """
    ticks = _drawn_x_ticks(ax)
    assert len(ticks) >= 3, ticks
    instants = []
    for loc, label in ticks:
        when = mdates.num2date(loc, tz=UTC)
        instants.append(when)
        for line in label.splitlines():
            assert line in _names(when), f"tick at {when.isoformat()} is labelled {label!r}"
    shown = "\n".join(label for _, label in ticks)
    offset = ax.xaxis.get_offset_text().get_text()
    if offset and ax.xaxis.get_offset_text().get_visible():
        assert any(offset in _names(w) for w in instants), offset
        shown += "\n" + offset
    return shown


# Data around midnight UTC: the local date differs from the UTC date east of Greenwich.
START = T0 - 1800.0  # 1999-12-31T23:30:00Z


def _x_as(kind: str, x: np.ndarray) -> Any:
    if kind == "unix":
        return x
    if kind == "datetime64":
        return (x * 1e3).astype("int64").astype("datetime64[ms]")
    if kind == "aware-datetime":
        return [dt.datetime.fromtimestamp(v, tz=UTC) for v in x]
    if kind == "naive-datetime":  # naive datetimes are UTC, as datetime64 values are
        return [dt.datetime.fromtimestamp(v, tz=UTC).replace(tzinfo=None) for v in x]
    raise AssertionError(kind)


_ZONES = ("UTC0", "IST-05:30", "NST+03:30")  # POSIX TZ strings: UTC, UTC+5:30, UTC-3:30
_KINDS = ("unix", "datetime64", "aware-datetime", "naive-datetime")


@pytest.mark.parametrize(
    ("zone", "kind", "span_hours"),
    [(zone, kind, 5.0) for zone in _ZONES for kind in _KINDS]
    + [
        (zone, kind, span)
        for zone, kind in (("UTC0", "unix"), ("IST-05:30", "datetime64"))
        for span in (0.25, 60.0)
    ],
)
def test_time_axis_labels_are_utc(
    plot, draw_figure, local_timezone, zone: str, kind: str, span_hours: float
) -> None:
    local_timezone(zone)
    x = START + np.linspace(0.0, span_hours * 3600.0, 40)
    row = {"x": _x_as(kind, x), "y": np.arange(3.0), "data": np.ones((40, 3))}
    fig = plot([row], vertical_lines=[START + 900.0], zoom_duration_minutes=20)
    draw_figure(fig)
    full, zoom = panels(fig)
    # The data start at 1999-12-31 23:30 UTC, half a cadence of margin before that.
    cadence = span_hours * 3600.0 / 39
    assert_allclose(full.get_xlim()[0], datenum(START - cadence / 2), atol=2e-8)  # 2 ms
    assert_ticks_name_utc_instants(full)
    # The zoom window lies on 1999-12-31 UTC (2000-01-01 in zones east of Greenwich).
    shown = assert_ticks_name_utc_instants(zoom)
    assert "1999-12-31" in shown or "1999-Dec-31" in shown, shown
    assert "2000" not in shown
    assert len(lines_at(zoom, START + 900.0)) == 1
    # The footer states the data span and the event time in UTC.
    (footer,) = [t.get_text() for t in fig.texts if t.get_text().startswith("Data:")]
    end = dt.datetime.fromtimestamp(x[-1], tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert footer.startswith(f"Data: 1999-12-31 23:30:00 to {end} UTC")
    assert "1999-12-31 23:45:00" in footer


def test_naive_datetime_event_lines_are_utc(plot, local_timezone) -> None:
    local_timezone("IST-05:30")
    event = dt.datetime(2000, 1, 1, 0, 30)  # naive: UTC, like datetime64
    fig = plot(_rows(1), vertical_lines=[event])
    assert len(lines_at(panels(fig)[0], T0 + 1800.0)) == 1


def test_make_spectrogram_time_axis_is_utc(close_figures, draw_figure, local_timezone) -> None:
    local_timezone("IST-05:30")
    x = (START + 30.0 * np.arange(60)).astype("datetime64[s]")
    ax, _ = make_spectrogram(
        x, np.arange(3.0), np.ones((60, 3)), vertical_lines_unix=[START + 900.0]
    )
    fig = close_figures(ax.figure)
    draw_figure(fig)
    assert_ticks_name_utc_instants(ax)
    assert len(lines_at(ax, START + 900.0)) == 1


# ---------------------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------------------


def _drawn_texts(fig: Figure, renderer: Any) -> list[tuple[Any, str, Bbox]]:
    """(owner axes or None, text, window extent) of every text drawn in the figure."""
    out: list[tuple[Any, str, Bbox]] = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        tick_labels: set[int] = set()
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            eps = 1e-9 * (hi - lo)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    tick_labels.add(id(label))
                    if (
                        label.get_visible()
                        and label.get_text()
                        and lo - eps <= tick.get_loc() <= hi + eps
                    ):
                        out.append((ax, label.get_text(), label.get_window_extent(renderer)))
        for text in ax.findobj(Text):
            if id(text) not in tick_labels and text.get_visible() and text.get_text():
                out.append((ax, text.get_text(), text.get_window_extent(renderer)))
    for text in fig.texts:
        if text.get_visible() and text.get_text():
            out.append((None, text.get_text(), text.get_window_extent(renderer)))
    return out


@pytest.mark.parametrize("n_rows", [1, 4, 9])
@pytest.mark.parametrize("zoom", [False, True], ids=["one-column", "zoom-column"])
def test_layout_aligned_and_nothing_overlaps(plot, draw_figure, n_rows: int, zoom: bool) -> None:
    rows = []
    for i in range(n_rows):
        # Rows with very different tick label widths and label lengths.
        scale = 10.0 ** (2 * (i % 4))
        row = row_dict(30, 8, log_y=i % 2 == 0, seed=i, label=f"Instrument {i}")
        row["y"] = row["y"] * scale
        row["data"] = row["data"] * scale
        row["y_scale"] = "log" if i % 2 == 0 else "linear"
        if i % 3 == 1:
            row["z_label"] = "Differential Flux (eV cm^-2 s^-1 sr^-1)"
            row["y_label"] = "Differential Flux (eV cm^-2 s^-1 sr^-1)"
        if i % 3 == 2:
            row["y_label"] = "Energy per charge (eV/q)"
            row["z_label"] = "Differential energy flux (keV cm^-2 s^-1 sr^-1 keV^-1)"
        rows.append(row)
    options: dict[str, Any] = {"figure_title": "Orbit 1234", "z_scale": "log"}
    if zoom:
        options |= {"vertical_lines": [T0 + 600.0], "zoom_duration_minutes": 10}
    fig = plot(rows, **options)
    n_columns = 2 if zoom else 1
    assert len(fig.axes) == n_rows * (n_columns + 1)
    renderer = draw_figure(fig)

    grid = [fig.axes[i * (n_columns + 1) : (i + 1) * (n_columns + 1)] for i in range(n_rows)]
    boxes = [[ax.get_position() for ax in row] for row in grid]
    # Columns share their left and right edges; colorbars share position and width.
    for j in range(n_columns + 1):
        assert len({round(b[j].x0, 9) for b in boxes}) == 1
        assert len({round(b[j].x1, 9) for b in boxes}) == 1
    # Every row has the same height; panels and colorbars of a row share top and bottom.
    assert len({round(b.height, 9) for row in boxes for b in row}) == 1
    for boxes_of_row in boxes:
        assert len({(round(b.y0, 9), round(b.y1, 9)) for b in boxes_of_row}) == 1
    # Rows stack downwards without touching; columns do not touch either.
    for upper, lower in itertools.pairwise(boxes):
        assert lower[0].y1 < upper[0].y0
    for boxes_of_row in boxes:
        for left, right in itertools.pairwise(boxes_of_row):
            assert left.x1 < right.x0

    texts = _drawn_texts(fig, renderer)
    assert len(texts) > 10 * n_rows
    figure_box = fig.bbox
    for _, text, box in texts:
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1, text
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1, text
    for i, (owner_a, text_a, box_a) in enumerate(texts):
        for owner_b, text_b, box_b in texts[i + 1 :]:
            if owner_a is owner_b and owner_a is not None:
                continue  # texts of one axes are laid out by matplotlib itself
            assert not box_a.overlaps(box_b), f"{text_a!r} overlaps {text_b!r}"
    # No text of one row reaches into another row's panels.
    for owner, text, box in texts:
        for row in grid:
            if owner in row:
                continue
            for ax in row:
                if ax.get_visible():
                    assert not box.overlaps(ax.bbox), f"{text!r} overlaps a panel"


# ---------------------------------------------------------------------------------------
# render_png: the PNG of an item does not depend on what was rendered before it
# ---------------------------------------------------------------------------------------


def _png_array(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"))


def _item(kind: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Items of one shape (2 rows, zoom column) that differ in everything else."""
    if kind == "log":
        rows = [
            row_dict(60, 16, log_y=True, seed=1, label="EES"),
            row_dict(60, 12, log_y=True, seed=2, label="IES", z_label="Flux"),
        ]
        return rows, {
            "y_scale": "log",
            "z_scale": "log",
            "colormap": "plasma",
            "vertical_lines": [T0 + 1500.0, T0 + 1800.0],
            "zoom_duration_minutes": 10,
            "figure_title": "orbit 1",
        }
    if kind == "linear":
        rows = [
            row_dict(
                90,
                5,
                cadence=20.0,
                seed=3,
                label="wave",
                y_label="f (Hz)",
                colormap="magma",
                y_min=1.0,
                z_min=2.0,
                z_max=4.0,
            ),
            row_dict(90, 7, cadence=20.0, seed=4) | {"data": np.full((90, 7), np.nan)},
        ]
        return rows, {"vertical_lines": [T0 + 600.0], "zoom_duration_minutes": 4}
    if kind == "gappy":
        rows = [
            row_dict(40, 8, log_y=True, seed=5, label="EES", y_scale="log"),
            row_dict(40, 8, seed=6, label="IES", z_scale="log"),
        ]
        rows[0]["x"] = rows[0]["x"] + np.where(np.arange(40) >= 20, 3600.0, 0.0)
        return rows, {
            "vertical_lines": [T0 + 900.0],
            "zoom_duration_minutes": 30,
            "figure_title": "orbit 3",
            "z_percentiles": (5, 95),
        }
    raise AssertionError(kind)


def test_render_png_is_independent_of_previous_items(close_figures) -> None:
    for kind in ("log", "linear", "gappy", "log", "gappy", "linear"):
        rows, options = _item(kind)
        fresh = close_figures(generic_plot_spectrogram_set(rows, dpi=50, **options))
        assert len(fresh.axes) == 6  # every item has the same shape
        expected = _png_array(figure_bytes(fresh))
        drawn = _png_array(render_png(rows, dpi=50, **options))
        assert drawn.shape == expected.shape
        differ = np.any(drawn != expected, axis=-1)
        assert not differ.any(), (
            f"{kind}: {int(differ.sum())} pixels differ from a new figure's picture"
        )
