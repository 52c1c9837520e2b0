"""Real instrument files, converted to NetCDF and Zarr, through discovery and the adapter.

The MMS1 FPI file gives real values, a per-record energy table and ISTP metadata; the
FAST ESA L2 master CDF gives the real FAST variable names, shapes and attributes (it holds
no records, so its records here are synthetic).
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import h5py
import numpy as np
import pytest
import xarray as xr
import zarr

from batch_multi_plot_spectrogram.archive import check_archive
from batch_multi_plot_spectrogram.metadata import list_groups, load_group
from batch_multi_plot_spectrogram.stores import find_stores, open_group

cdflib = pytest.importorskip("cdflib")

REPO = Path(__file__).resolve().parents[1]
REALDATA = REPO.parent / "shared" / "realdata"
MMS = REALDATA / "mms1_fpi_fast_l2_des-moms_20151201220000_v3.3.0.cdf"
FAST_MASTER = REALDATA / "fa_esa_l2_eeb_00000000_v01.cdf"
SPECTRUM = "mms1_des_energyspectr_omni_fast"
ENERGY = "mms1_des_energy_fast"
CDF_FILL = np.float32(-1.0e31)
BLANKED = (slice(10, 12), slice(0, 32))  # two whole records
BLANKED_CELL = (50, 7)

pytestmark = pytest.mark.skipif(
    not MMS.is_file() or not FAST_MASTER.is_file(),
    reason=f"the real data files are not in {REALDATA}",
)


def _sample_module() -> ModuleType:
    path = REPO / "sample_data" / "make_sample_data.py"
    spec = importlib.util.spec_from_file_location("make_sample_data", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_sample_data", module)
    spec.loader.exec_module(module)
    return module


def _blank(store: Path, fmt: str) -> None:
    """Mark a few values missing with the CDF's FILLVAL, as the instrument would."""
    if fmt == "zarr":
        array = zarr.open_array(str(store), path=SPECTRUM, mode="r+")
    else:
        fh = h5py.File(store, "r+")
        array = fh[SPECTRUM]
    array[BLANKED] = CDF_FILL
    array[BLANKED_CELL] = CDF_FILL
    if fmt != "zarr":
        fh.close()


@pytest.fixture(scope="module")
def mms_cdf() -> dict[str, Any]:
    """The MMS file's values and metadata, read directly with cdflib."""
    cdf = cdflib.CDF(str(MMS))
    return {
        "time": np.asarray(cdflib.cdfepoch.to_datetime(cdf.varget("Epoch")), "datetime64[ns]"),
        "spectrum": cdf.varget(SPECTRUM),
        "energy": cdf.varget(ENERGY),
    }


@pytest.mark.parametrize(("fmt", "suffix"), [("netcdf", ".nc"), ("zarr", ".zarr")])
def test_mms_omni_spectrogram(
    tmp_path: Path, mms_cdf: dict[str, Any], fmt: str, suffix: str
) -> None:
    store = tmp_path / f"mms{suffix}"
    _sample_module().convert_mms_cdf(MMS, store, fmt)
    _blank(store, fmt)
    assert find_stores(tmp_path) == [str(store)]
    listing = list_groups(store)
    assert [item.key for item in listing.items] == ["/"]
    plot = load_group(store, "/")
    (row,) = plot.datasets

    np.testing.assert_array_equal(row["x"], mms_cdf["time"])
    # The per-record energy table is used as it is: (time, 32), eV, ascending.
    assert row["y"].shape == (154, 32)
    np.testing.assert_array_equal(row["y"], mms_cdf["energy"])
    # FILLVAL becomes NaN; every other value is the CDF's own.
    data = row["data"]
    expected = mms_cdf["spectrum"].astype("float64")
    expected[BLANKED] = np.nan
    expected[BLANKED_CELL] = np.nan
    np.testing.assert_array_equal(data, expected)
    assert np.isnan(data).sum() == 2 * 32 + 1
    # Labels, units and scales from the ISTP metadata.
    assert row["label"] == "MMS1 FPI/DES energySpectr_omni"  # ISTP FIELDNAM
    assert row["y_label"] == "energy (eV)"
    assert row["z_label"] == "DEF_omni (keV/(cm^2 s sr keV))"
    assert (row["y_scale"], row["z_scale"]) == ("log", "log")
    # The store's CF title, completed by the time range of the data.
    assert plot.options == {
        "figure_title": "MMS1 FPI DES omni-directional electron energy spectrum (derived)"
        " — 2015-12-01 23:48 to 23:59 UTC"
    }
    with open_group(store) as ds:
        assert ds.attrs["derived"] == "yes" and ds.attrs["derived_from"] == MMS.name

    render = pytest.importorskip("batch_multi_plot_spectrogram.render")
    if not hasattr(render, "render_png"):
        pytest.skip("the renderer has no render_png")
    png = render.render_png(plot.datasets, **plot.options)
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        image.load()
        assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 200


def _fast_l2_store(path: Path, n_time: int = 20) -> Path:
    """A store with the FAST ESA L2 EEB variables and attributes, synthetic records."""
    cdf = cdflib.CDF(str(FAST_MASTER))

    def attrs(name: str) -> dict[str, Any]:
        keep = (
            "CATDESC",
            "DEPEND_0",
            "DEPEND_1",
            "DEPEND_2",
            "FIELDNAM",
            "FILLVAL",
            "LABLAXIS",
            "SCALETYP",
            "UNITS",
            "VALIDMIN",
            "VALIDMAX",
            "VAR_TYPE",
        )
        return {k: v for k, v in cdf.varattsget(name).items() if k in keep}

    rng = np.random.default_rng(7)
    epoch = np.datetime64("1997-02-07T20:50:00", "ns") + np.arange(n_time) * np.timedelta64(
        156, "ms"
    )
    energy = np.geomspace(30000.0, 4.0, 96).astype("float32")  # descending, as FAST
    pitch = np.linspace(0.0, 360.0, 64, dtype="float32")
    eflux = rng.uniform(1e5, 1e8, (n_time, 64, 96)).astype("float32")
    eflux[3] = np.float32(-1e31)  # a record of FILLVAL
    counts = rng.integers(0, 200, (n_time, 64, 96)).astype("int16")
    counts[4, :, :10] = 255  # the counts' FILLVAL
    dims = ("epoch", "pitch_bin", "energy_bin")
    ds = xr.Dataset(
        {
            "eflux": (dims, eflux, attrs("eflux")),
            "data": (dims, counts, attrs("data")),
            "energy_median": (
                ("epoch", "energy_bin"),
                np.repeat(energy[None, :], n_time, axis=0),
                attrs("energy_median"),
            ),
            "pitch_angle_median": (
                ("epoch", "pitch_bin"),
                np.repeat(pitch[None, :], n_time, axis=0),
                attrs("pitch_angle_median"),
            ),
            "time_unix": (("epoch",), epoch.astype("int64") / 1e9, attrs("time_unix")),
        },
        coords={"epoch": ("epoch", epoch, {"CATDESC": "CDF EPOCH time"})},
        attrs={"title": "FAST ESA L2 EEB (synthetic records, real schema)"},
    )
    encoding = {name: {"_FillValue": None} for name in ds.variables if name != "epoch"}
    ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)
    return path


def test_fast_esa_l2_schema(tmp_path: Path) -> None:
    store = _fast_l2_store(tmp_path / "fa_esa_l2_eeb.nc")
    assert check_archive(store) == []
    plot = load_group(store)
    labels = [row["label"] for row in plot.datasets]
    # ISTP FIELDNAM, rows in the file's order
    assert labels == ["Burst Electron Energy Flux", "Burst Electron Raw Counts"]
    rows = dict(zip(["eflux", "data"], plot.datasets, strict=True))
    eflux = rows["eflux"]
    assert eflux["y"].shape == (20, 96)  # energy_median, via DEPEND_2
    assert eflux["y"][0, 0] > eflux["y"][0, -1]  # descending, as stored
    assert eflux["data"].shape == (20, 96)  # pitch angles (DEPEND_1) collapsed
    assert np.isnan(eflux["data"][3]).all() and np.isfinite(eflux["data"][4]).all()
    assert eflux["y_label"] == "Median Energy (eV)"
    # A flux per steradian is averaged over the angles, and the label says so.
    assert eflux["z_label"] == "Burst Electron Energy flux (eV/sr/sec), mean over pitch_bin"
    assert (eflux["y_scale"], eflux["z_scale"]) == ("log", "log")
    counts = rows["data"]
    assert np.isnan(counts["data"][4, :10]).all() and np.isfinite(counts["data"][4, 10:]).all()


def test_the_sample_archive_lists_and_loads() -> None:
    archive = REPO / "sample_data" / "archive"
    stores = find_stores(archive)
    assert [Path(s).name for s in stores] == [
        "fast_sample.nc",
        "fast_sample.zarr",
        "mms1_fpi_des_omni_20151201_derived.nc",
    ]
    listings = [list_groups(s) for s in stores]
    expected = ["2000/orbit_13314", "2000/orbit_13315", "orbit_13312", "orbit_13313"]
    for listing in listings[:2]:
        assert [item.key for item in listing.items] == expected
        assert listing.no_data == ("housekeeping",)
    assert check_archive(archive) == []
    nc, zr = (load_group(s, "orbit_13312") for s in stores[:2])
    for a, b in zip(nc.datasets, zr.datasets, strict=True):
        np.testing.assert_array_equal(a["data"], b["data"])
    assert nc.options == zr.options
