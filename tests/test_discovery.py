"""Discovery: finding stores under a directory and listing their groups."""

from __future__ import annotations

import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import zarr

from batch_multi_plot_spectrogram.errors import StoreError, StoreNotFoundError
from batch_multi_plot_spectrogram.metadata import list_groups, load_group, parse_config
from batch_multi_plot_spectrogram.metadata._conventions import METADATA_KEYS
from batch_multi_plot_spectrogram.stores import find_stores, read_groups, store_format
from store_factories import bytes_read, spectrogram_group, write_store

WHAT_TO_PASS = (
    "Pass a directory holding Zarr stores (*.zarr), NetCDF files (*.nc, *.nc4, *.h5) or CDF "
    "files (*.cdf), or one such store."
)


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive: stores at several depths, and things that are not stores."""
    root = tmp_path / "archive"
    group = {"orbit_1": spectrogram_group()}
    write_store(root / "a.zarr", "zarr3", group)
    write_store(root / "sub" / "b.nc", "netcdf4", group)
    write_store(root / "sub" / "deeper" / "c.zarr", "zarr2", group)
    write_store(root / "sub" / "c.nc4", "netcdf4", group)
    write_store(root / "d.h5", "netcdf4", group)
    write_store(root / ".hidden" / "e.nc", "netcdf4", group)
    (root / "a.zarr" / "stray.nc").write_bytes(b"inside a store: never listed")
    (root / "notes.txt").write_text("not a store")
    return root


def test_find_stores_searches_recursively_and_not_inside_stores(archive: Path) -> None:
    assert find_stores(archive) == [
        str(archive / "a.zarr"),
        str(archive / "d.h5"),
        str(archive / "sub" / "b.nc"),
        str(archive / "sub" / "c.nc4"),
        str(archive / "sub" / "deeper" / "c.zarr"),
    ]


def test_a_store_itself_is_accepted(archive: Path) -> None:
    assert find_stores(archive / "a.zarr") == [str(archive / "a.zarr")]
    assert find_stores(archive / "sub" / "b.nc") == [str(archive / "sub" / "b.nc")]


def test_store_formats_are_told_by_content(archive: Path, tmp_path: Path) -> None:
    classic = tmp_path / "classic.nc"
    spectrogram_group().to_netcdf(classic, format="NETCDF3_CLASSIC", engine="netcdf4")
    assert store_format(archive / "a.zarr") == "zarr"
    assert store_format(archive / "sub" / "deeper" / "c.zarr") == "zarr"
    assert store_format(archive / "d.h5") == "netcdf4"
    assert store_format(classic) == "netcdf3"
    listing = list_groups(classic)
    assert [i.key for i in listing.items] == ["/"]
    assert load_group(classic).datasets[0]["data"].shape == (12, 5)


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(StoreNotFoundError) as info:
        find_stores(missing)
    assert str(info.value) == f"{str(missing)!r} does not exist. {WHAT_TO_PASS}"
    assert isinstance(info.value, FileNotFoundError)


def test_directory_without_stores(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("nothing here")
    with pytest.raises(StoreNotFoundError) as info:
        find_stores(tmp_path / "empty")
    assert str(info.value) == (
        f"No stores found under {str(tmp_path / 'empty')!r}: it holds none of Zarr stores "
        "(*.zarr), NetCDF files (*.nc, *.nc4, *.h5) or CDF files (*.cdf). Point to the archive "
        "directory that holds them."
    )


def test_a_file_named_nc_that_is_not_netcdf(tmp_path: Path) -> None:
    fake = tmp_path / "fake.nc"
    fake.write_text("hello world, I am text")
    expected = (
        f"{str(fake)!r} is not a NetCDF file: it starts with b'hello wo', while "
        "NetCDF-4/HDF5 files start with b'\\x89HDF\\r\\n\\x1a\\n' and classic NetCDF files "
        "with b'CDF'. Replace it with a valid NetCDF file, or rename or remove it."
    )
    for call in (find_stores, list_groups, store_format):
        with pytest.raises(StoreError) as info:
            call(fake)
        assert str(info.value) == expected
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(StoreError, match="is not a NetCDF file: it is empty"):
        list_groups(tmp_path / "empty.nc")


def test_a_directory_named_zarr_without_metadata(tmp_path: Path) -> None:
    (tmp_path / "broken.zarr").mkdir()
    with pytest.raises(StoreError, match=r"is named like a Zarr store but holds no zarr\.json"):
        list_groups(tmp_path / "broken.zarr")


def test_consolidated_zarr_stores_list_and_load(tmp_path: Path) -> None:
    for fmt in ("zarr2", "zarr3"):
        store = write_store(tmp_path / f"{fmt}.zarr", fmt, {"g": spectrogram_group()})
        with warnings.catch_warnings():
            # zarr notes that consolidated metadata is not part of the format 3 spec.
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(store))
        assert [i.key for i in list_groups(store).items] == ["g"]
        assert load_group(store, "g").datasets[0]["data"].shape == (12, 5)


def test_plain_hdf5_without_dimension_scales_has_no_items(tmp_path: Path) -> None:
    path = tmp_path / "plain.h5"
    with h5py.File(path, "w") as fh:
        fh.create_dataset("grp/cube", data=np.ones((4, 3, 2), "float32"))
    listing = list_groups(path)
    assert listing.items == ()
    assert listing.no_data == ("grp",)


def test_metadata_matches_across_formats(tmp_path: Path) -> None:
    ds = spectrogram_group(variables=("a", "b"), var_attrs={"DEPEND_0": "time"})
    ds.attrs["rows"] = ["b", "a"]
    metas = {}
    for fmt, suffix in (("zarr3", ".zarr"), ("zarr2", ".zarr"), ("netcdf4", ".nc")):
        store = write_store(tmp_path / f"{fmt}{suffix}", fmt, {"g": ds})
        (meta,) = [m for m in read_groups(store, METADATA_KEYS) if m.path == "g"]
        metas[fmt] = {
            name: (var.dims, var.kind, {k: str(v) for k, v in var.attrs.items()})
            for name, var in meta.variables.items()
        }
    assert metas["zarr3"] == metas["zarr2"] == metas["netcdf4"]
    assert metas["netcdf4"]["a"][0] == ("time", "pitch_angle", "energy")


def test_listing_reads_metadata_only(tmp_path: Path) -> None:
    big = spectrogram_group(n_time=4000, n_pitch=8, n_energy=32)
    for fmt, suffix in (("zarr3", ".zarr"), ("netcdf4", ".nc")):
        store = write_store(tmp_path / f"{fmt}{suffix}", fmt, {"a": big, "b": big})
        list_groups(store)  # warm up
        before = bytes_read()
        listing = list_groups(store)
        assert len(listing.items) == 2
        assert bytes_read() - before < 200_000  # each group holds 4 MB of data


def test_config_rows_take_part_in_listing(tmp_path: Path) -> None:
    import xarray as xr

    ds = xr.Dataset(
        # Marked as support data, so not a row unless the config names it.
        {
            "counts": (
                ("time", "channel"),
                np.ones((4, 3), "float32"),
                {"VAR_TYPE": "support_data"},
            )
        },
        coords={
            "time": ("time", np.arange(4).astype("datetime64[s]").astype("datetime64[ns]")),
            "channel": ("channel", np.arange(3.0)),
        },
    )
    store = write_store(tmp_path / "s.zarr", "zarr3", {"g": ds})
    assert list_groups(store).no_data == ("g",)
    config = parse_config({"groups": {"g": {"rows": ["counts"]}}})
    assert [i.key for i in list_groups(store, config=config).items] == ["g"]
    assert load_group(store, "g", config=config).datasets[0]["data"].shape == (4, 3)
