"""Bin edges and resampling onto pixel grids (``binning``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from batch_multi_plot_spectrogram.render._binning import (
    BinnedRow,
    PixelReduce,
    centre_edges,
    median_cadence,
    time_bins,
)

T0 = 946684800.0


# ---------------------------------------------------------------------------------------
# centre_edges
# ---------------------------------------------------------------------------------------


def test_linear_edges_are_midpoints_and_outer_edges_extend_half_a_spacing() -> None:
    edges = centre_edges(np.array([0.0, 1.0, 3.0, 7.0]), log=False)
    assert_allclose(edges, [-0.5, 0.5, 2.0, 5.0, 9.0])


def test_log_edges_are_geometric_midpoints() -> None:
    edges = centre_edges(np.array([10.0, 100.0, 1000.0]), log=True)
    assert_allclose(edges, 10.0 ** np.array([0.5, 1.5, 2.5, 3.5]))


def test_log_edges_of_an_irregular_table() -> None:
    centres = np.array([10.0, 40.0, 50.0, 2000.0])
    edges = centre_edges(centres, log=True)
    inner = np.sqrt(centres[1:] * centres[:-1])
    assert_allclose(edges[1:-1], inner)
    # Outer edges: half the neighbouring spacing in log space beyond the end centres.
    assert_allclose(edges[0], centres[0] ** 2 / inner[0])
    assert_allclose(edges[-1], centres[-1] ** 2 / inner[-1])
    # Every centre lies strictly inside its own bin.
    assert np.all(edges[:-1] < centres) and np.all(centres < edges[1:])


def test_log_edges_of_97_5_ev_bin_stay_around_97_5_ev() -> None:
    centres = 97.5 * 1.7 ** np.arange(-4, 12)
    edges = centre_edges(centres, log=True)
    k = int(np.argmin(np.abs(centres - 97.5)))
    assert centres[k] == pytest.approx(97.5)
    assert edges[k] == pytest.approx(97.5 / np.sqrt(1.7))
    assert edges[k + 1] == pytest.approx(97.5 * np.sqrt(1.7))


@pytest.mark.parametrize("log", [False, True])
def test_single_centre_gets_a_bin_around_it(log: bool) -> None:
    edges = centre_edges(np.array([50.0]), log=log)
    assert edges.shape == (2,)
    assert edges[0] < 50.0 < edges[1]


# ---------------------------------------------------------------------------------------
# time bins and gaps
# ---------------------------------------------------------------------------------------


def test_median_cadence() -> None:
    assert median_cadence(np.array([0.0, 4.0, 8.0, 9.0, 13.0])) == 4.0
    assert np.isnan(median_cadence(np.array([5.0])))


def test_regular_times_share_midpoint_edges() -> None:
    x = T0 + 60.0 * np.arange(5)
    left, right, gaps = time_bins(x)
    assert not gaps.any()
    assert_allclose(left, x - 30.0)
    assert_allclose(right, x + 30.0)
    assert_array_equal(left[1:], right[:-1])


def test_spacing_longer_than_threshold_is_a_gap() -> None:
    x = T0 + np.array([0.0, 60.0, 120.0, 720.0, 780.0, 840.0])
    left, right, gaps = time_bins(x)
    assert_array_equal(gaps, [False, False, True, False, False])
    # Each side of the gap keeps half a cadence; the rest stays uncovered.
    assert right[2] == pytest.approx(x[2] + 30.0)
    assert left[3] == pytest.approx(x[3] - 30.0)
    assert right[2] < left[3]
    assert_allclose(right[:2], x[:2] + 30.0)


def test_spacing_shorter_than_threshold_is_not_a_gap() -> None:
    x = T0 + np.array([0.0, 60.0, 120.0, 200.0, 260.0, 320.0])  # 80 s < 1.5 * 60 s
    left, right, _ = time_bins(x)
    assert right[2] == pytest.approx(x[2] + 40.0)
    assert left[3] == pytest.approx(right[2])


def test_explicit_gap_seconds() -> None:
    x = T0 + np.array([0.0, 60.0, 120.0, 200.0, 260.0, 320.0])
    left, right, gaps = time_bins(x, gap_seconds=70.0)
    assert_array_equal(gaps, [False, False, True, False, False])
    assert right[2] == pytest.approx(x[2] + 30.0)
    assert left[3] == pytest.approx(x[3] - 30.0)
    # A larger threshold joins a spacing that the default calls a gap.
    x = T0 + np.array([0.0, 60.0, 120.0, 720.0, 780.0])
    left, right, _ = time_bins(x, gap_seconds=1000.0)
    assert right[2] == pytest.approx(left[3])
    assert right[2] == pytest.approx(x[2] + 300.0)


def test_single_record_gets_a_bin() -> None:
    left, right, _ = time_bins(np.array([T0]))
    assert left[0] < T0 < right[0]


# ---------------------------------------------------------------------------------------
# BinnedRow
# ---------------------------------------------------------------------------------------


def _centres_of(row: BinnedRow, table: int = 0) -> np.ndarray:
    return row.tables[table].centres


def edges_around(points: np.ndarray, log: bool = False) -> np.ndarray:
    """Pixel edges whose pixels are centred on ``points`` (increasing)."""
    return centre_edges(np.asarray(points, dtype=float), log)


def test_resample_returns_the_value_of_the_cell_under_each_pixel() -> None:
    x = T0 + 60.0 * np.arange(4)
    y = np.array([10.0, 100.0, 1000.0])
    data = np.arange(12, dtype=float).reshape(4, 3)
    row = BinnedRow(x, y, data, log_y=True)
    out = row.lookup(x, y)
    assert out.shape == (3, 4)  # (H, W), bottom row first
    assert_array_equal(out, data.T)
    # Just inside the log-space edges, still the same cell.
    assert_array_equal(row.lookup(x[:1] + 29.0, np.array([10**1.49]))[0], [data[0, 0]])
    assert_array_equal(row.lookup(x[:1] - 29.0, np.array([10**1.51]))[0], [data[0, 1]])


def test_resample_outside_every_cell_is_nan() -> None:
    x = T0 + 60.0 * np.arange(4)
    row = BinnedRow(x, np.array([1.0, 2.0]), np.ones((4, 2)), log_y=False)
    out = row.lookup(np.array([x[0] - 31.0, x[-1] + 31.0, x[1]]), np.array([0.4, 3.0, 1.0]))
    assert np.isnan(out[:, :2]).all()
    assert np.isnan(out[:2, 2]).all()
    assert out[2, 2] == 1.0


def test_resample_in_a_gap_is_nan() -> None:
    x = T0 + np.array([0.0, 60.0, 120.0, 720.0, 780.0])
    row = BinnedRow(x, np.array([1.0, 2.0]), np.ones((5, 2)), log_y=False)
    out = row.lookup(T0 + np.array([140.0, 400.0, 680.0, 700.0]), np.array([1.0]))
    assert_array_equal(np.isnan(out[0]), [False, True, True, False])


def test_descending_table_is_sorted_with_its_data() -> None:
    x = T0 + 60.0 * np.arange(2)
    y = np.array([1000.0, 100.0, 10.0])
    data = np.array([[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]])
    row = BinnedRow(x, y, data, log_y=True)
    assert_allclose(_centres_of(row), [10.0, 100.0, 1000.0])
    assert_array_equal(
        row.lookup(x, np.array([10.0, 100.0, 1000.0])), [[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]
    )


def test_repeated_centres_are_merged_by_nan_aware_mean() -> None:
    x = T0 + 60.0 * np.arange(2)
    y = np.array([100.0, 10.0, 100.0, 1000.0])
    data = np.array([[2.0, 1.0, 4.0, 9.0], [np.nan, 1.0, 6.0, 9.0]])
    row = BinnedRow(x, y, data, log_y=True)
    assert_allclose(_centres_of(row), [10.0, 100.0, 1000.0])
    assert_array_equal(row.lookup(x, np.array([100.0]))[0], [3.0, 6.0])


def test_unusable_centres_are_dropped() -> None:
    x = T0 + 60.0 * np.arange(2)
    y = np.array([np.nan, 10.0, 100.0])
    row = BinnedRow(x, y, np.ones((2, 3)), log_y=True)
    assert_allclose(_centres_of(row), [10.0, 100.0])
    row = BinnedRow(x, np.array([np.nan, np.nan]), np.ones((2, 2)), log_y=False)
    assert not row.has_cells
    assert np.isnan(row.lookup(x, np.array([0.0, 1.0]))).all()


def test_record_varying_tables() -> None:
    x = T0 + 60.0 * np.arange(4)
    a = np.array([10.0, 100.0, 1000.0])
    b = np.array([20.0, 200.0, 2000.0])
    y = np.stack([a, b, a, b])
    data = np.arange(12, dtype=float).reshape(4, 3)
    row = BinnedRow(x, y, data, log_y=True)
    assert len(row.tables) == 2
    # Each record resamples on its own table's edges.
    out = row.lookup(x, np.array([15.0, 150.0, 1500.0]))
    # 15 eV is in a's first bin (edges 10**0.5..10**1.5) and b's first bin.
    assert_array_equal(out[0], data[:, 0])
    # 4000 eV lies above a's last edge (10**3.5 = 3162) but inside b's.
    out = row.lookup(x, np.array([4000.0]))[0]
    assert np.isnan(out[[0, 2]]).all()
    assert_array_equal(out[[1, 3]], data[[1, 3], 2])
    lo, hi = row.y_extent()
    assert lo == pytest.approx(10**0.5)
    assert hi == pytest.approx(2000.0 * np.sqrt(10.0))


def test_extents_finite_values_and_data_between() -> None:
    x = T0 + 60.0 * np.arange(5)
    data = np.full((5, 2), np.nan)
    data[3, 1] = 7.0
    row = BinnedRow(x, np.array([1.0, 2.0]), data, log_y=False)
    assert row.x_extent() == (pytest.approx(T0 - 30.0), pytest.approx(T0 + 270.0))
    assert row.y_extent() == (pytest.approx(0.5), pytest.approx(2.5))
    assert_array_equal(row.finite_values(), [7.0])
    assert row.has_data_between(T0 + 170.0, T0 + 200.0)
    assert not row.has_data_between(T0, T0 + 140.0)
    assert not row.has_data_between(T0 + 300.0, T0 + 900.0)


# ---------------------------------------------------------------------------------------
# Aggregation: several samples or channels in one pixel
# ---------------------------------------------------------------------------------------


def test_dense_samples_give_each_column_their_nan_aware_mean_or_max() -> None:
    x = T0 + np.arange(100.0)  # 10 samples per pixel column below
    data = np.tile(np.arange(100.0)[:, None], (1, 2))
    data[::7] = np.nan
    x_edges = np.linspace(T0 - 0.5, T0 + 99.5, 11)
    y_edges = np.array([0.5, 1.5, 2.5])
    folds: list[tuple[PixelReduce, Any]] = [
        ("mean", np.nanmean),
        ("max", np.nanmax),
        ("min", np.nanmin),
    ]
    for reduce, fold in folds:
        row = BinnedRow(x, np.array([1.0, 2.0]), data, log_y=False, pixel_reduce=reduce)
        out = row.resample(x_edges, y_edges)
        expected = fold(data[:, 0].reshape(10, 10), axis=1)
        assert_allclose(out[0], expected)
        assert_allclose(out[1], expected)


def test_dense_channels_give_each_row_their_mean() -> None:
    x = T0 + 60.0 * np.arange(3)
    y = np.arange(64.0) + 0.5  # 8 channels per pixel row below
    data = np.tile(np.arange(64.0), (3, 1))
    data[1, 3] = np.nan
    row = BinnedRow(x, y, data, log_y=False)
    out = row.resample(edges_around(x), np.linspace(0.0, 64.0, 9))
    expected = data.reshape(3, 8, 8)
    assert_allclose(out.T, np.nanmean(expected, axis=2))


def test_records_of_several_tables_in_one_pixel_are_pooled() -> None:
    x = T0 + np.arange(40.0)  # 20 samples per column, alternating two tables
    a, b = np.array([1.0, 10.0]), np.array([1.5, 10.5])
    y = np.stack([a if i % 2 == 0 else b for i in range(40)])
    data = np.stack([np.full(2, float(i % 2)) * 10.0 for i in range(40)])  # a: 0, b: 10
    data[0, 0] = np.nan
    row = BinnedRow(x, y, data, log_y=False)
    assert len(row.tables) == 2
    out = row.resample(np.array([T0 - 0.5, T0 + 19.5, T0 + 39.5]), np.array([0.0, 5.0, 20.0]))
    # Every pixel pools both tables: mean of 9 (or 10) zeros and 10 tens.
    assert_allclose(out[0], [100.0 / 19.0, 5.0])
    assert_allclose(out[1], [5.0, 5.0])


def test_sparse_samples_fill_every_column_they_cover() -> None:
    x = T0 + 60.0 * np.arange(3)
    data = np.array([[1.0], [2.0], [3.0]])
    row = BinnedRow(x, np.array([5.0]), data, log_y=False)
    out = row.resample(np.linspace(T0 - 30.0, T0 + 150.0, 19), np.array([4.0, 6.0]))
    assert_array_equal(out[0], np.repeat([1.0, 2.0, 3.0], 6))
