"""Bad input to the renderer: a ``ValueError`` subclass whose message names the row (by
label or index), what was received and what is accepted. Messages are pinned exactly."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from batch_multi_plot_spectrogram import (
    DataShapeError,
    NoDataError,
    RowError,
    SettingError,
    SpectrogramError,
    generic_plot_spectrogram_set,
    make_spectrogram,
)
from batch_multi_plot_spectrogram.render import render_png

pytestmark = pytest.mark.usefixtures("no_pyplot_figures")

T0 = 946684800.0  # 2000-01-01T00:00:00Z
X = T0 + 60.0 * np.arange(5)
Y = np.array([10.0, 100.0, 1000.0])


def row(**keys: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"x": X, "y": Y, "data": np.ones((5, 3)), "label": "EES"}
    out.update(keys)
    return {k: v for k, v in out.items() if v is not None or k != "label"}


def plot(*rows: Any, **options: Any) -> Callable[[], Any]:
    return lambda: generic_plot_spectrogram_set(list(rows), **options)


def panel(*args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: make_spectrogram(*args, **kwargs)


ROW_ERRORS = [
    # --- shapes of x, y and data that disagree
    (
        "data-shape",
        plot(row(data=np.ones((5, 4)))),
        DataShapeError,
        "row 0 ('EES'): data shape (5, 4) does not match (len(x), len(y)) = (5, 3).",
    ),
    (
        "data-transposed",
        plot(row(), row(label="IES", data=np.ones((3, 5)))),
        DataShapeError,
        "row 1 ('IES'): data shape (3, 5) does not match (len(x), len(y)) = (5, 3) "
        "(it looks transposed: pass data.T).",
    ),
    (
        "y-2d-shape",
        plot(row(y=np.ones((4, 3)))),
        DataShapeError,
        "row 0 ('EES'): y must have shape (n_y,) or (n_time, n_y) = (5, n_y). Got (4, 3) instead.",
    ),
    (
        "x-2d",
        plot(row(x=X[:, None])),
        DataShapeError,
        "row 0 ('EES'): x must be 1-D. Got shape (5, 1) instead.",
    ),
    (
        "data-4d",
        plot(row(data=np.ones((5, 3, 2, 1)))),
        DataShapeError,
        "row 0 ('EES'): data must be 2-D (time, y) or 3-D with collapse_axis. "
        "Got shape (5, 3, 2, 1) instead.",
    ),
    (
        "panel-data-shape",
        panel(X, Y, np.ones((5, 2))),
        DataShapeError,
        "row 0: data shape (5, 2) does not match (len(x), len(y)) = (5, 3).",
    ),
    (
        "panel-labelled",
        panel(X, Y, np.ones((4, 3)), instrument_label="EES"),
        DataShapeError,
        "row 0 ('EES'): data shape (4, 3) does not match (len(x), len(y)) = (5, 3).",
    ),
    # --- x not monotonic
    (
        "x-not-monotonic",
        plot(row(x=T0 + np.array([0.0, 60.0, 30.0, 90.0, 120.0]))),
        DataShapeError,
        "row 0 ('EES'): x must be strictly monotonic; x[2] = 946684830.0 does not follow "
        "x[1] = 946684860.0. Sort the records by time and drop repeated times first.",
    ),
    (
        "x-repeated",
        plot(row(), row(label=None, x=T0 + np.array([0.0, 60, 60, 90, 120]))),
        DataShapeError,
        "row 1: x must be strictly monotonic; x[2] = 946684860.0 does not follow "
        "x[1] = 946684860.0. Sort the records by time and drop repeated times first.",
    ),
    (
        "x-descending-with-one-break",
        plot(row(x=T0 + np.array([120.0, 90.0, 95.0, 30.0, 0.0]))),
        DataShapeError,
        "row 0 ('EES'): x must be strictly monotonic; x[2] = 946684895.0 does not precede "
        "x[1] = 946684890.0. Sort the records by time and drop repeated times first.",
    ),
    (
        "x-nan",
        plot(row(x=np.array([T0, np.nan, T0 + 2, T0 + 3, T0 + 4]))),
        DataShapeError,
        "row 0 ('EES'): x holds 1 NaN/NaT time(s).",
    ),
    (
        "x-nat",
        plot(
            row(
                x=np.array(
                    ["2000-01-01T00:00", "NaT", "2000-01-01T00:02", "NaT", "2000-01-01T00:04"],
                    dtype="datetime64[s]",
                )
            )
        ),
        DataShapeError,
        "row 0 ('EES'): x holds 2 NaN/NaT time(s).",
    ),
    (
        "x-text",
        plot(row(x=np.array(list("abcde")))),
        DataShapeError,
        "row 0 ('EES'): x must be UNIX seconds or datetime64. Got dtype <U1 instead.",
    ),
    (
        "y-text",
        plot(row(y=np.array(list("abc")))),
        DataShapeError,
        "row 0 ('EES'): y must be numeric. Got dtype <U1 instead.",
    ),
    # --- non-positive y on a log axis
    (
        "y-zero-log",
        plot(row(y=np.array([0.0, 1.0, 2.0])), y_scale="log"),
        RowError,
        "row 0 ('EES'): y holds 1 value(s) <= 0 (smallest 0.0), which a log y axis cannot "
        "show. Use a linear y scale, or set those centres to NaN to leave them out.",
    ),
    (
        "y-negative-row-log",
        plot(row(), row(label="IES", y=np.array([-5.0, -1.0, 2.0]), y_scale="log")),
        RowError,
        "row 1 ('IES'): y holds 2 value(s) <= 0 (smallest -5.0), which a log y axis cannot "
        "show. Use a linear y scale, or set those centres to NaN to leave them out.",
    ),
    (
        "panel-y-log",
        panel(
            X,
            np.array([-1.0, 1.0, 2.0]),
            np.ones((5, 3)),
            y_axis_scale_function="log",
            instrument_label="EES",
        ),
        RowError,
        "row 0 ('EES'): y holds 1 value(s) <= 0 (smallest -1.0), which a log y axis cannot "
        "show. Use a linear y scale, or set those centres to NaN to leave them out.",
    ),
    # --- collapse_axis out of range or missing
    (
        "collapse-axis-3",
        plot(row(data=np.ones((5, 2, 3))), collapse_axis=3),
        DataShapeError,
        "row 0 ('EES'): collapse_axis=3 is out of range for 3-D data of shape (5, 2, 3): "
        "axis 0 is time, so use 1 or 2.",
    ),
    (
        "collapse-axis-0-row",
        plot(row(data=np.ones((5, 2, 3)), collapse_axis=0)),
        DataShapeError,
        "row 0 ('EES'): collapse_axis=0 is out of range for 3-D data of shape (5, 2, 3): "
        "axis 0 is time, so use 1 or 2.",
    ),
    (
        "collapse-axis-minus-3",
        panel(X, Y, np.ones((5, 2, 3)), collapse_axis=-3),
        DataShapeError,
        "row 0: collapse_axis=-3 is out of range for 3-D data of shape (5, 2, 3): "
        "axis 0 is time, so use 1 or 2.",
    ),
    (
        "collapse-axis-none",
        plot(row(data=np.ones((5, 2, 3))), collapse_axis=None),
        DataShapeError,
        "row 0 ('EES'): data is 3-D with shape (5, 2, 3); pass collapse_axis (1 or 2) to say "
        "which axis to reduce.",
    ),
    (
        "row-collapse-axis-float",
        plot(row(data=np.ones((5, 2, 3)), collapse_axis=1.0)),
        RowError,
        "row 0 ('EES'): Expected collapse_axis to be an integer (1 or 2; axis 0 is time). "
        "Got 1.0 instead.",
    ),
    # --- empty arrays
    (
        "x-empty",
        plot(row(x=np.array([]), data=np.ones((0, 3)))),
        DataShapeError,
        "row 0 ('EES'): x is empty; a row needs at least one time.",
    ),
    (
        "y-empty",
        plot(row(y=np.array([]), data=np.ones((5, 0)))),
        DataShapeError,
        "row 0 ('EES'): y is empty; a row needs at least one bin.",
    ),
    (
        "data-empty",
        plot(row(data=np.ones((0, 3)))),
        DataShapeError,
        "row 0 ('EES'): data is empty (shape (0, 3)).",
    ),
    # --- per-row options
    (
        "row-scale",
        plot(row(z_scale="sqrt")),
        RowError,
        "row 0 ('EES'): Expected z_scale to be 'linear' or 'log'. Got 'sqrt' instead.",
    ),
    (
        "row-colormap",
        plot(row(), row(label="IES", colormap="nope")),
        RowError,
        "row 1 ('IES'): Expected colormap to be the name of a Matplotlib colormap, such as "
        "'viridis', 'plasma', 'inferno', 'magma', 'cividis' or 'jet'. Got 'nope' instead.",
    ),
    (
        "row-y-min",
        plot(row(y_min="abc")),
        RowError,
        "row 0 ('EES'): Expected y_min to be a number. Got 'abc' instead.",
    ),
    (
        "row-y-limits",
        plot(row(y_min=500, y_max=100)),
        RowError,
        "row 0 ('EES'): y_min = 500 (the row's y_min) is not below y_max = 100 (the row's "
        "y_max); nothing would be shown. Set y_min below y_max, or leave one of them unset.",
    ),
    (
        "row-y-min-above-the-data",
        plot(row(y_min=1e9)),
        RowError,
        "row 0 ('EES'): y_min = 1e+09 (the row's y_min) is not below y_max = 1450 (the "
        "highest bin edge); nothing would be shown. Set y_min below y_max, or leave one of "
        "them unset.",
    ),
    (
        "global-y-max-below-the-data",
        plot(row(), y_max=-1e3),
        RowError,
        "row 0 ('EES'): y_min = -35 (the lowest bin edge) is not below y_max = -1000 (the "
        "y_max option); nothing would be shown. Set y_min below y_max, or leave one of them "
        "unset.",
    ),
    (
        "row-gap-seconds",
        plot(row(gap_seconds=-1)),
        RowError,
        "row 0 ('EES'): Expected gap_seconds to be a number greater than 0. Got -1 instead.",
    ),
    (
        "row-z-log",
        plot(row(z_max=-1.0), z_scale="log"),
        RowError,
        "row 0 ('EES'): colour limits (1.0, -1.0) are not positive, which a log colour scale "
        "cannot show. Use z_scale='linear' or positive z_min/z_max.",
    ),
    (
        "row-missing-key",
        plot(row(), {"x": X, "y": Y}),
        RowError,
        "row 1: missing required key(s) ['data']; a row needs x, y and data.",
    ),
    (
        "row-unknown-key",
        plot(row(vmn=3)),
        RowError,
        "row 0 ('EES'): unknown key(s) ['vmn']. Accepted keys: ['collapse', 'collapse_axis', "
        "'colormap', 'data', 'gap_seconds', 'label', 'pixel_reduce', 'vmax', 'vmin', 'x', "
        "'x_bounds', 'y', 'y_bounds', 'y_label', 'y_max', 'y_min', 'y_scale', 'z_label', "
        "'z_max', 'z_min', 'z_scale', 'z_summary'].",
    ),
    (
        "row-not-a-dict",
        plot(row(), [X, Y]),
        RowError,
        "row 1: expected a dict with keys x, y and data. Got list instead.",
    ),
]

SETTING_ERRORS = [
    (
        "y-scale",
        plot(row(), y_scale="logarithmic"),
        SettingError,
        "Expected y_scale to be 'linear' or 'log'. Got 'logarithmic' instead.",
    ),
    (
        "z-scale",
        plot(row(), z_scale=None),
        SettingError,
        "Expected z_scale to be 'linear' or 'log'. Got None instead.",
    ),
    (
        "panel-scale",
        panel(X, Y, np.ones((5, 3)), z_axis_scale_function="Log2"),
        SettingError,
        "Expected z_scale to be 'linear' or 'log'. Got 'Log2' instead.",
    ),
    (
        "colormap",
        plot(row(), colormap="nope"),
        SettingError,
        "Expected colormap to be the name of a Matplotlib colormap, such as 'viridis', "
        "'plasma', 'inferno', 'magma', 'cividis' or 'jet'. Got 'nope' instead.",
    ),
    (
        "panel-colormap",
        panel(X, Y, np.ones((5, 3)), colormap="virdis"),
        SettingError,
        "Expected colormap to be the name of a Matplotlib colormap, such as 'viridis', "
        "'plasma', 'inferno', 'magma', 'cividis' or 'jet'. Got 'virdis' instead. Did you mean "
        "'viridis'?",
    ),
    (
        "percentiles-scalar",
        plot(row(), z_percentiles=5),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got 5 instead.",
    ),
    (
        "percentiles-three",
        plot(row(), z_percentiles=(1, 50, 99)),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got (1, 50, 99) instead.",
    ),
    (
        "percentiles-text",
        plot(row(), z_percentiles=("low", "high")),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got ('low', 'high') instead.",
    ),
    (
        "percentiles-reversed",
        plot(row(), z_percentiles=(99, 1)),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got (99, 1) instead.",
    ),
    (
        "percentiles-range",
        plot(row(), z_percentiles=(1, 101)),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got (1, 101) instead.",
    ),
    (
        "percentiles-nan",
        plot(row(), z_percentiles=(float("nan"), 50)),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got (nan, 50) instead.",
    ),
    (
        "panel-percentiles",
        panel(X, Y, np.ones((5, 3)), z_percentiles=[5]),
        SettingError,
        "Expected z_percentiles to be two numbers (low, high) with 0 <= low < high <= 100. "
        "Got [5] instead.",
    ),
    (
        "reducer",
        plot(row(data=np.ones((5, 2, 3)), collapse="median")),
        RowError,
        "row 0 ('EES'): Expected collapse to be one of 'sum', 'mean', 'max', 'min' (or, in "
        "Python, a callable). Got 'median' instead.",
    ),
    (
        "gap-seconds",
        plot(row(), gap_seconds=0),
        SettingError,
        "Expected gap_seconds to be a number greater than 0. Got 0 instead.",
    ),
    (
        "z-min",
        plot(row(), z_min="x"),
        SettingError,
        "Expected z_min to be a number. Got 'x' instead.",
    ),
    (
        "vertical-lines",
        plot(row(), vertical_lines=["abc"]),
        SettingError,
        "Expected vertical_lines to be ISO-8601 times (e.g. '2000-01-01T00:10:00Z'), UNIX "
        "seconds or datetime64 values, one or a list. Got ['abc'] instead.",
    ),
    (
        "zoom-duration",
        plot(row(), vertical_lines=[T0], zoom_duration_minutes="ten"),
        SettingError,
        "Expected zoom_duration_minutes to be a number greater than 0. Got 'ten' instead.",
    ),
    (
        "x-range",
        panel(X, Y, np.ones((5, 3)), x_axis_min=T0 + 100, x_axis_max=T0),
        SettingError,
        "Expected an x range with start < end. Got (946684900.0, 946684800.0) instead.",
    ),
]

OTHER_ERRORS = [
    ("datasets-empty", plot(), NoDataError, "datasets is empty: there is no row to plot."),
    (
        "datasets-not-a-list",
        lambda: generic_plot_spectrogram_set(row()),  # type: ignore[arg-type]
        RowError,
        "datasets must be a list of dicts. Got dict instead.",
    ),
    (
        "render-all-nan",
        lambda: render_png(
            [row(data=np.full((5, 3), np.nan)), row(label="IES", data=np.full((5, 3), np.nan))]
        ),
        NoDataError,
        "no row holds a finite value: nothing to plot.",
    ),
]


@pytest.mark.parametrize(
    ("call", "kind", "message"),
    [pytest.param(c, k, m, id=i) for i, c, k, m in ROW_ERRORS + SETTING_ERRORS + OTHER_ERRORS],
)
def test_exact_message(call: Callable[[], Any], kind: type[Exception], message: str) -> None:
    with pytest.raises(kind) as excinfo:
        call()
    assert str(excinfo.value) == message
    assert isinstance(excinfo.value, SpectrogramError)
    assert isinstance(excinfo.value, ValueError)


@pytest.mark.parametrize(
    ("call", "kind", "message"), [pytest.param(c, k, m, id=i) for i, c, k, m in ROW_ERRORS]
)
def test_row_errors_name_the_row(
    call: Callable[[], Any], kind: type[Exception], message: str
) -> None:
    with pytest.raises(RowError) as excinfo:
        call()
    assert str(excinfo.value).startswith("row ")


def test_error_hierarchy() -> None:
    assert issubclass(DataShapeError, RowError)
    assert issubclass(RowError, SpectrogramError)
    assert issubclass(SettingError, SpectrogramError)
    assert issubclass(NoDataError, SpectrogramError)
    assert issubclass(SpectrogramError, ValueError)


def test_all_nan_row_does_not_crash_and_partly_empty_item_renders() -> None:
    png = render_png([row(data=np.full((5, 3), np.nan)), row(label="IES")], dpi=40)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
