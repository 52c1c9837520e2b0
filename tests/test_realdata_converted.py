"""Real instrument files converted the way users convert them, rendered with no config and
no hand-set attribute.

Each CDF of ``shared/realdata`` goes through ``cdflib.xarray.cdf_to_xarray`` and only the
fixes that writing needs (``cdf_conversion``), into NetCDF-4 and Zarr. The tests check what
the figure must show: which variables become rows, the extents the files state (ISTP
``DELTA_PLUS_VAR``/``DELTA_MINUS_VAR`` on MMS's energies, angles and epochs; STEREO HET's
channels given as text ranges with a hole between them), a master with no records, and a
tensor beside a spectrum that costs its own row only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from batch_multi_plot_spectrogram import generic_plot_spectrogram_set
from batch_multi_plot_spectrogram.archive import check_archive
from batch_multi_plot_spectrogram.metadata import list_groups, load_group
from cdf_conversion import FAST_MASTER, HET, MMS, read_raw, write_converted
from store_factories import spectrogram_group, times, write_store
from test_cli import pngs, progress_of, run_cli, shows, summary
from test_render_pixels import Panel

pytestmark = pytest.mark.skipif(not MMS.exists(), reason="shared/realdata is not beside the repo")

SUFFIXES = (".nc", ".zarr")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{"mms.nc": path, "mms.zarr": ..., "het.nc": ..., ...}``, each in its own folder."""
    root = tmp_path_factory.mktemp("converted")
    stores = {}
    for name, cdf in (("mms", MMS), ("het", HET), ("fast_master", FAST_MASTER)):
        for suffix in SUFFIXES:
            folder = root / f"{name}{suffix.replace('.', '_')}"
            folder.mkdir()
            stores[name + suffix] = write_converted(cdf, folder / f"{name}{suffix}")
    return stores


def _rows(plot: Any) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in plot.datasets}


# -- MMS FPI moments: spectra and pitch-angle distributions, with their deltas -------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_mms_spectra_and_pitch_angle_rows_with_their_deltas(
    converted: dict[str, Path], suffix: str
) -> None:
    store = converted["mms" + suffix]
    assert check_archive(store) == []
    plot = load_group(store)
    assert plot.problems == ()
    rows = _rows(plot)
    # Every DISPLAY_TYPE=spectrogram variable is a row; the moments (time series, and the
    # (Epoch, dim0, dim0) tensors) are not.
    assert set(rows) == {
        "PAD_low",
        "PAD_mid",
        "PAD_high",
        *(f"DEF_{d}" for d in ("px", "mx", "py", "my", "pz", "mz", "par", "anti-par", "perp")),
        "DEF_omni",
    }
    assert plot.options["figure_title"] == "MMS1 DES — 2015-12-01 23:48 to 23:59 UTC"

    omni = rows["DEF_omni"]
    energy = read_raw(MMS, "mms1_des_energy_fast")
    delta = read_raw(MMS, "mms1_des_energy_delta_fast")
    flux = read_raw(MMS, "mms1_des_energyspectr_omni_fast")
    np.testing.assert_allclose(omni["y"], energy, rtol=1e-6)
    np.testing.assert_allclose(omni["y_bounds"][..., 0], energy - delta, rtol=1e-6)
    np.testing.assert_allclose(omni["y_bounds"][..., 1], energy + delta, rtol=1e-6)
    np.testing.assert_allclose(omni["data"], flux, rtol=1e-6)
    assert (omni["y_scale"], omni["z_label"]) == ("log", "DEF_omni (keV/(cm^2 s sr keV))")

    # Each sample spans its accumulation: Epoch - minus to Epoch + plus (4.5 s), so the
    # 4.5 s cadence draws no gap.
    plus = float(read_raw(MMS, "Epoch_plus_var"))
    assert plus == pytest.approx(4.5)
    x = omni["x"].astype("datetime64[ns]").astype("int64") / 1e9
    np.testing.assert_allclose(omni["x_bounds"][:, 1] - x, plus, atol=1e-3)

    pad = rows["PAD_low"]
    alpha = read_raw(MMS, "mms1_des_alpha_fast")
    alpha_delta = read_raw(MMS, "mms1_des_alpha_delta_fast")
    np.testing.assert_allclose(pad["y_bounds"][:, 0], alpha - alpha_delta)
    np.testing.assert_allclose(pad["y_bounds"][:, 1], alpha + alpha_delta)
    assert pad["y_bounds"][0, 0] == 0.0 and pad["y_bounds"][-1, 1] == 180.0
    assert pad["y_scale"] == "linear"


def test_mms_renders_from_the_command_line(converted: dict[str, Path], tmp_path: Path) -> None:
    store = converted["mms.zarr"]
    out = tmp_path / "plots"
    result = run_cli("render", store.parent, "-o", out, "--workers", "1")
    assert result.returncode == 0, shows(result)
    assert pngs(out) == ["mms.zarr/root.png"]
    assert "problem" not in result.stderr
    assert "Traceback" not in result.stderr


# -- STEREO HET: text channels with a hole --------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_het_channels_leave_the_hole_between_19_3_and_20_8_mev(
    converted: dict[str, Path], suffix: str, close_figures, png_pixels
) -> None:
    plot = load_group(converted["het" + suffix])
    assert plot.problems == ()
    rows = _rows(plot)
    # NetCDF keeps the file's order; a Zarr store keeps none, and its rows are sorted.
    order = ["Electron Flux", "Proton Flux", "Electron_Sigma", "Proton_Sigma"]
    assert list(rows) == (order if suffix == ".nc" else sorted(order))
    proton = rows["Proton Flux"]
    bounds = proton["y_bounds"]
    # "13.6 - 15.1 MeV ", ..., "29.6 - 33. 4 MeV" (sic), ..., "60 - 100 MeV"
    assert bounds[0].tolist() == pytest.approx([13.6, 15.1])
    assert bounds[2].tolist() == pytest.approx([17.0, 19.3])
    assert bounds[3].tolist() == pytest.approx([20.8, 23.8])
    assert bounds[6].tolist() == pytest.approx([29.6, 33.4])
    assert bounds[-1].tolist() == pytest.approx([60.0, 100.0])
    assert proton["y_label"] == "Proton_Flux_Energies (MeV)"

    fig = close_figures(generic_plot_spectrogram_set([proton], dpi=60))
    pixels = png_pixels(fig)[..., :3].astype(int)
    panel = Panel.of(fig, fig.axes[0])

    def coloured(y: float) -> float:
        line = pixels[int(np.floor(panel.row_of(y))), panel.cols]
        return float(((line.max(axis=-1) - line.min(axis=-1)) > 30).mean())

    assert coloured(20.05) == 0.0  # the hole: white all day
    assert coloured(18.2) > 0.9 and coloured(22.3) > 0.9  # the channels on either side


# -- a master: attributes, no records --------------------------------------------------------


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_the_fast_master_has_no_data(
    converted: dict[str, Path], suffix: str, tmp_path: Path
) -> None:
    store = converted["fast_master" + suffix]
    out = tmp_path / "plots"
    result = run_cli("render", store.parent, "-o", out, "--workers", "1")
    assert result.returncode == 0, shows(result)
    assert summary(result.stderr) == {"ok": 0, "no_data": 1, "error": 0}
    assert pngs(out) == []
    progress = progress_of(store.parent / f"{store.name}.progress.json")
    assert progress["no_data"] == ["/"]


# -- one variable that cannot be a row costs that row only -----------------------------------


def _tensor_beside_a_spectrum() -> xr.Dataset:
    good = spectrogram_group(n_time=40, seed=3)
    n = good.sizes["time"]
    tensor = np.random.default_rng(1).normal(size=(n, 3, 3)).astype("float32")
    return good.assign(
        pressure=(("time", "dim1", "dim1"), tensor, {"units": "nPa"}),
    ).assign_coords(dim1=("dim1", np.arange(3.0)))


@pytest.mark.parametrize("fmt", ["netcdf4", "zarr3"])
def test_a_tensor_beside_a_spectrum(fmt: str, tmp_path: Path) -> None:
    import warnings

    archive = tmp_path / "archive"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # xarray on the repeated dimension name
        store = write_store(
            archive / ("tensor.nc" if fmt == "netcdf4" else "tensor.zarr"),
            fmt,
            {"orbit_1": _tensor_beside_a_spectrum(), "orbit_2": spectrogram_group(seed=4)},
        )
    where = f"store {str(store)!r}, group 'orbit_1', variable 'pressure'"
    # list, validate and render agree on what the group holds.
    assert [item.key for item in list_groups(store).items] == ["orbit_1", "orbit_2"]
    problems = check_archive(store)
    assert [(p.group, p.kind) for p in problems] == [("orbit_1", "group")]
    assert problems[0].message.startswith(f"{where}: its dimensions")

    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--workers", "1")
    assert result.returncode == 1, shows(result)
    assert pngs(out) == [f"{store.name}/orbit_1.png", f"{store.name}/orbit_2.png"]
    assert summary(result.stderr) == {"ok": 2, "no_data": 0, "error": 0}
    assert f"problem: item 'orbit_1' (#0) of store {str(store)!r}: {where}:" in result.stderr
    assert "repeat 'dim1'" in result.stderr
    recorded = progress_of(archive / f"{store.name}.progress.json")
    assert recorded["completed_items"] == ["orbit_1", "orbit_2"]
    assert list(recorded["problems"]) == ["orbit_1"]
    assert "Traceback" not in result.stderr


def test_time_in_an_unknown_unit_is_a_problem_naming_the_variable(tmp_path: Path) -> None:
    good = spectrogram_group(seed=5)
    units = "fortnights since 2000-01-01"
    ds = good.assign_coords(
        time=("time", np.arange(good.sizes["time"], dtype="float64"), {"units": units})
    )
    store = write_store(tmp_path / "odd_time.nc", "netcdf4", {"g": ds})
    with pytest.raises(Exception) as info:
        load_group(store, "g")
    assert f"store {str(store)!r}, group 'g', variable 'ees' (times in 'time')" in str(info.value)
    assert repr(units) in str(info.value)


def test_tt2000_nanoseconds_are_read_with_their_leap_seconds(tmp_path: Path) -> None:
    import cdflib

    good = spectrogram_group(n_time=6, seed=6)
    # Six seconds across the leap second at the end of 2016, as TT2000 numbers.
    utc = [[2016, 12, 31, 23, 59, 57], [2016, 12, 31, 23, 59, 58], [2016, 12, 31, 23, 59, 59],
           [2016, 12, 31, 23, 59, 60], [2017, 1, 1, 0, 0, 0], [2017, 1, 1, 0, 0, 1]]  # fmt: skip
    tt2000 = np.asarray(cdflib.cdfepoch.compute_tt2000(utc), dtype="int64")
    attrs = {"units": "ns", "CDF_DATA_TYPE": "CDF_TIME_TT2000", "standard_name": "time"}
    ds = good.assign_coords(time=("time", tt2000, attrs))
    store = write_store(tmp_path / "tt2000.nc", "netcdf4", {"g": ds})
    x = load_group(store, "g").datasets[0]["x"]
    expected = times(5, "2016-12-31T23:59:57", cadence_s=1.0)
    # 23:59:57, :58, :59, then 00:00:00 and 00:00:01 after the leap second, which itself
    # has no datetime64 of its own; the others are exact.
    np.testing.assert_array_equal(np.delete(x, 3), expected)
    assert x[2] < x[3] <= x[4]


@pytest.mark.parametrize(
    ("units", "values", "expected"),
    [
        ("hours since 2000-01-01 00:00:00 UTC", [0.0, 1.5], ["2000-01-01T00", "2000-01-01T01:30"]),
        (
            "ms since 2015-12-01T23:48:29Z",
            [0, 500],
            ["2015-12-01T23:48:29", "2015-12-01T23:48:29.5"],
        ),
        ("s", [1449013709.5], ["2015-12-01T23:48:29.5"]),  # UNIX seconds
    ],
)
def test_times_in_any_unit_of_time_since_any_epoch(
    units: str, values: list[float], expected: list[str]
) -> None:
    from batch_multi_plot_spectrogram.metadata._values import decode_time

    decoded = decode_time(np.asarray(values), where="w", attrs={"units": units})
    np.testing.assert_array_equal(decoded, np.array(expected, dtype="datetime64[ns]"))
