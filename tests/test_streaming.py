"""Rows read block by block within a memory budget are the rows read whole.

Real Zarr and NetCDF stores are written to ``tmp_path`` and read with :func:`load_group`
under a budget so small that every block is one record (or a few), then under the default
budget (one block): the rows must be the same arrays. A long group read under a budget
that forces folding is checked against numpy on the raw array: 4096 contiguous time
cells, each the NaN-mean of the records in it, a run of fill values still NaN, colour
limits within one histogram bin of the exact percentiles, and a gap in time still drawn
as the panel's background.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import matplotlib.dates as mdates
import numpy as np
import pytest
import xarray as xr
from PIL import Image

from batch_multi_plot_spectrogram import generic_plot_spectrogram_set
from batch_multi_plot_spectrogram.histogram import BINS_PER_DECADE
from batch_multi_plot_spectrogram.metadata import load_group
from batch_multi_plot_spectrogram.metadata._streaming import DEFAULT_MEMORY_BUDGET
from batch_multi_plot_spectrogram.metadata._time_cells import CELLS
from batch_multi_plot_spectrogram.render import figure_bytes
from store_factories import FILL, FORMATS, spectrogram_group, times, write_store

#: A budget of one record per block (a block takes an eighth of the budget, at least one
#: record).
ONE_RECORD = 1
#: Bytes per record of a (time, 3, 5) float32 variable as the reader counts them: 15
#: values of 4 bytes, their float copy and a temporary (13 bytes a value).
_PER_RECORD = 15 * 13


def _budget_of(records: int) -> int:
    """A budget giving blocks of ``records`` records of a (time, 3, 5) float32 variable."""
    return 8 * _PER_RECORD * records


def _rows(store: Path, group: str, budget: int) -> list[Mapping[str, Any]]:
    return list(load_group(store, group, memory_budget=budget).datasets)


def assert_same_rows(store: Path, group: str, budget: int) -> list[Mapping[str, Any]]:
    """The rows read under ``budget`` are those read under the default budget."""
    streamed = _rows(store, group, budget)
    whole = _rows(store, group, DEFAULT_MEMORY_BUDGET)
    assert len(streamed) == len(whole)
    for small, big in zip(streamed, whole, strict=True):
        assert set(small) == set(big)
        for key in ("x", "y", "data", "x_bounds", "y_bounds"):
            if key in big:
                # Each record is reduced on its own, whatever the block it is read in, so
                # the values are the same bits (NaN in the same places), not merely close.
                np.testing.assert_array_equal(small[key], big[key], err_msg=key)
    return whole


@pytest.fixture(params=sorted(FORMATS))
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _store(tmp_path: Path, fmt: str, ds: xr.Dataset, name: str = "archive") -> Path:
    return write_store(tmp_path / f"{name}{FORMATS[fmt]}", fmt, {"g": ds})


# -- (a) streamed against whole ----------------------------------------------------------


def test_blocks_of_nan_only_records_read_as_nan(tmp_path: Path, fmt: str) -> None:
    ds = spectrogram_group(n_time=12)
    values = ds["ees"].values.copy()
    values[3:7] = np.nan  # four whole blocks of one record without a value
    values[9, 1] = np.nan  # a record with one all-NaN pitch angle
    ds["ees"] = (ds["ees"].dims, values, ds["ees"].attrs)
    store = _store(tmp_path, fmt, ds)
    (row,) = assert_same_rows(store, "g", ONE_RECORD)
    assert np.isnan(row["data"][3:7]).all()
    assert np.isfinite(row["data"][9]).all()  # a sum over the other angles


def test_istp_fill_and_valid_range_are_masked_in_every_block(tmp_path: Path, fmt: str) -> None:
    ds = spectrogram_group(
        n_time=12, var_attrs={"FILLVAL": float(FILL), "VALIDMIN": 5.0, "VALIDMAX": 90.0}
    )
    values = ds["ees"].values.copy()
    values[2] = FILL
    values[5, :, 0] = 1.0  # under VALIDMIN
    values[8, 0, :] = 500.0  # over VALIDMAX
    ds["ees"] = (ds["ees"].dims, values, ds["ees"].attrs)
    store = _store(tmp_path, fmt, ds)
    for budget in (ONE_RECORD, _budget_of(5)):
        (row,) = assert_same_rows(store, "g", budget)
    assert np.isnan(row["data"][2]).all()
    raw = np.where((values == FILL) | (values < 5.0) | (values > 90.0), np.nan, values)
    # A mean for the counts of an intensive unit; here counts/s: a sum over the angles.
    finite = np.isfinite(raw).sum(axis=1)
    expected = np.where(finite > 0, np.nansum(raw.astype("float64"), axis=1), np.nan)
    np.testing.assert_allclose(row["data"], expected, rtol=1e-6)


def test_a_record_varying_energy_table_reads_the_same(tmp_path: Path, fmt: str) -> None:
    n_time, n_energy = 12, 6
    table = np.geomspace(10, 1e4, n_energy)[None, :] * (1 + 0.01 * np.arange(n_time))[:, None]
    flux = np.random.default_rng(1).uniform(1, 100, (n_time, n_energy)).astype("float32")
    flux[4:6] = np.nan
    ds = xr.Dataset(
        {
            "flux": (("time", "bin"), flux, {"DEPEND_0": "time", "DEPEND_1": "energy_table"}),
            "energy_table": (("time", "bin"), table.astype("float32"), {"UNITS": "eV"}),
        },
        coords={"time": ("time", times(n_time))},
    )
    store = _store(tmp_path, fmt, ds)
    (row,) = assert_same_rows(store, "g", ONE_RECORD)
    assert row["y"].shape == (n_time, n_energy)


def test_a_block_boundary_inside_a_gap(tmp_path: Path, fmt: str) -> None:
    ds = spectrogram_group(n_time=12)
    # An hour without records between records 5 and 6, and fill values across the
    # boundary of blocks of three records (3:6 | 6:9): records 5 to 7 are NaN.
    shifted = ds["time"].values.copy()
    shifted[6:] += np.timedelta64(3600, "s")
    values = ds["ees"].values.copy()
    values[5:8] = np.nan
    ds = ds.assign_coords(time=("time", shifted))
    ds["ees"] = (ds["ees"].dims, values, ds["ees"].attrs)
    store = _store(tmp_path, fmt, ds)
    for budget in (ONE_RECORD, _budget_of(3), _budget_of(4)):
        (row,) = assert_same_rows(store, "g", budget)
    assert np.isnan(row["data"][5:8]).all() and np.isfinite(row["data"][[4, 8]]).all()


def test_a_contiguous_netcdf_variable_is_read_in_slices(tmp_path: Path) -> None:
    ds = spectrogram_group(n_time=40, variables=("ees", "ies"))
    store = _store(tmp_path, "netcdf4", ds)
    with h5py.File(store) as f:
        assert f["g/ees"].chunks is None  # contiguous: one chunk for the reader
    for budget in (ONE_RECORD, _budget_of(7)):
        rows = assert_same_rows(store, "g", budget)
    assert len(rows) == 2


def test_a_chunked_zarr_variable_is_read_chunk_by_chunk(tmp_path: Path) -> None:
    ds = spectrogram_group(n_time=40, variables=("ees", "ies")).chunk({"time": 6})
    store = _store(tmp_path, "zarr3", ds)
    with xr.open_zarr(store, group="g", consolidated=False) as opened:
        assert opened["ees"].encoding["chunks"][0] == 6
    # Blocks of one record (slices of a chunk), of whole chunks, and across chunks.
    for budget in (ONE_RECORD, _budget_of(6), _budget_of(13)):
        rows = assert_same_rows(store, "g", budget)
    assert len(rows) == 2


# -- (b) folded into time cells ------------------------------------------------------------

N_LONG = 40_000
N_ENERGY = 32
#: Folds a group of N_LONG x N_ENERGY values (10 MB in float64 > an eighth of 8 MB), in
#: blocks of about 1,500 records.
FOLDING_BUDGET = 8_000_000


def long_group(*, hole: bool) -> tuple[xr.Dataset, np.ndarray]:
    """A (time, energy) group of N_LONG records every second, fill values in records
    10,000 to 10,999; with ``hole``, two hours without records after record 30,000.
    Returns the group and its values as the figure should see them (fill as NaN)."""
    rng = np.random.default_rng(7)
    values = rng.lognormal(3.0, 1.0, (N_LONG, N_ENERGY)).astype("float32")
    values[10_000:11_000] = FILL
    values[20_000:20_050, :5] = np.nan
    t = times(N_LONG, cadence_s=1.0)
    if hole:
        t[30_001:] += np.timedelta64(7200, "s")
    ds = xr.Dataset(
        {"flux": (("time", "energy"), values, {"units": "counts/s", "FILLVAL": float(FILL)})},
        coords={
            "time": ("time", t),
            "energy": ("energy", np.geomspace(10, 3e4, N_ENERGY), {"units": "eV"}),
        },
    )
    return ds, np.where(values == FILL, np.nan, values).astype("float64")


def _seconds(x: np.ndarray) -> np.ndarray:
    return x.astype("datetime64[ns]").astype("int64") / 1e9


def test_a_long_group_is_folded_into_the_nanmean_of_its_cells(tmp_path: Path) -> None:
    ds, raw = long_group(hole=False)
    store = _store(tmp_path, "zarr3", ds.chunk({"time": 5_000}))
    (row,) = load_group(store, "g", memory_budget=FOLDING_BUDGET).datasets
    bounds = row["x_bounds"]
    t = _seconds(ds["time"].values)
    # 4096 cells, each meeting the next, spanning every record's time.
    assert bounds.shape == (CELLS, 2)
    np.testing.assert_array_equal(bounds[1:, 0], bounds[:-1, 1])
    assert bounds[0, 0] <= t[0] and bounds[-1, 1] >= t[-1]
    np.testing.assert_allclose(_seconds(row["x"]), bounds.mean(axis=1), atol=1e-6)
    # Each cell holds the NaN-mean of the raw records whose time lies in it.
    cell = np.searchsorted(bounds[:, 1], t, side="right")
    assert (np.bincount(cell, minlength=CELLS) > 0).all()
    sums = np.zeros((CELLS, N_ENERGY))
    counts = np.zeros((CELLS, N_ENERGY))
    np.add.at(sums, cell, np.nan_to_num(raw))
    np.add.at(counts, cell, np.isfinite(raw))
    with np.errstate(invalid="ignore"):
        expected = sums / counts
    for k in (0, 1, 1000, 2047, CELLS - 1):
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(
                np.isnan(row["data"][k]), np.isnan(np.nanmean(raw[cell == k], axis=0))
            )
    # The sums run in another order than numpy's (block by block, cell by cell): equal
    # to the last few ulps of float64, hence the relative tolerance.
    np.testing.assert_allclose(row["data"], expected, rtol=1e-12, equal_nan=True)
    # Cells of fill values only are NaN: a run of fill values is still a gap.
    empty = np.unique(cell[10_000:11_000])
    inner = empty[1:-1]  # the two end cells also hold records with values
    assert inner.size > 50 and np.isnan(row["data"][inner]).all()
    assert np.isfinite(row["data"][np.setdiff1d(np.arange(CELLS), empty)][:, 5:]).all()
    # Colour limits: read from a histogram of every record's values (those that the cells
    # average), within one of its bins of the exact percentiles of those values.
    summary = row["z_summary"]
    assert summary.count == np.isfinite(raw).sum()
    factor = 10 ** (1 / BINS_PER_DECADE)
    for q in (1.0, 99.0):
        exact = float(np.nanpercentile(raw, q))
        assert exact / factor <= summary.percentile(q) <= exact * factor, q


def test_a_gap_in_time_stays_a_gap_when_folded(tmp_path: Path) -> None:
    ds, _ = long_group(hole=True)
    store = _store(tmp_path, "netcdf4", ds)
    (row,) = load_group(store, "g", memory_budget=FOLDING_BUDGET).datasets
    bounds = row["x_bounds"]
    t = _seconds(ds["time"].values)
    gap = (t[30_000] + 0.5, t[30_001] - 0.5)
    # No cell reaches into the two hours without records.
    assert not ((bounds[:, 0] < gap[1]) & (bounds[:, 1] > gap[0])).any()
    assert CELLS // 2 < bounds.shape[0] <= CELLS + 1


# -- (c) the picture of a folded row ---------------------------------------------------------


def _column_of(ax: Any, seconds: float) -> float:
    epoch = float(mdates.date2num(dt.datetime(1970, 1, 1, tzinfo=dt.UTC)))
    x = seconds / 86400.0 + epoch
    return float(ax.transData.transform((x, ax.get_ylim()[0]))[0])


def test_a_folded_row_draws_its_gap_as_background(tmp_path: Path, close_figures: Any) -> None:
    ds, _ = long_group(hole=True)
    store = _store(tmp_path, "zarr3", ds.chunk({"time": 5_000}))
    (row,) = load_group(store, "g", memory_budget=FOLDING_BUDGET).datasets
    assert row["x_bounds"].shape[0] <= CELLS + 1  # folded
    fig = close_figures(generic_plot_spectrogram_set([row], y_scale="log", dpi=100))
    with Image.open(io.BytesIO(figure_bytes(fig, "png"))) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    ax = fig.axes[0]
    _, y0, _, y1 = ax.bbox.extents
    height = fig.bbox.height
    rows = slice(int(np.ceil(height - y1)) + 3, int(np.floor(height - y0)) - 3)
    t = _seconds(ds["time"].values)
    c0 = int(np.ceil(_column_of(ax, t[30_000]))) + 2
    c1 = int(np.floor(_column_of(ax, t[30_001]))) - 2
    assert c1 - c0 > 10  # two hours of 13 are a wide band of the panel
    white = (pixels[rows] == 255).all(axis=-1)
    assert white[:, c0:c1].all()  # the gap: the panel's background
    # Either side of it: data (viridis has no white), but for the fill-value run.
    left, right = _column_of(ax, t[2_000]), _column_of(ax, t[35_000])
    for column in (int(left), int(right)):
        assert not white[:, column].any()
