"""The adapter: one group of a store -> dataset dicts, for every store format.

One conformance class holds the tests; it is subclassed once per format.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from batch_multi_plot_spectrogram.archive import Problem, check_archive
from batch_multi_plot_spectrogram.errors import ConfigError, NoDataError, StoreError
from batch_multi_plot_spectrogram.metadata import (
    GroupLoader,
    StoreItem,
    list_groups,
    load_group,
    parse_config,
    plan_group,
)
from batch_multi_plot_spectrogram.render import ItemPlot, parse_dataset
from store_factories import (
    FILL,
    FORMATS,
    CountComputes,
    bytes_read,
    spectrogram_group,
    times,
    write_store,
)

MakeStore = Callable[..., str]


def housekeeping() -> xr.Dataset:
    return xr.Dataset(
        {"potential": ("time", np.arange(12, dtype="float32"), {"units": "V"})},
        coords={"time": ("time", times(12))},
    )


class StoreContract:
    """What every store format must do. Subclasses set ``fmt``."""

    fmt: str

    @pytest.fixture
    def make_store(self, tmp_path: Path) -> MakeStore:
        """``make_store(groups, root_attrs=None, name="archive") -> store path``."""

        def make(
            groups: dict[str, xr.Dataset],
            root_attrs: dict[str, Any] | None = None,
            name: str = "archive",
        ) -> str:
            path = tmp_path / f"{name}{FORMATS[self.fmt]}"
            return str(write_store(path, self.fmt, groups, root_attrs))

        return make

    # -- listing ---------------------------------------------------------------------

    def test_lists_groups_with_spectrograms_and_reports_the_others(
        self, make_store: MakeStore
    ) -> None:
        store = make_store(
            {
                "/": spectrogram_group(),
                "orbit_1": spectrogram_group(),
                "2000/orbit_2": spectrogram_group(),
                "hk": housekeeping(),
            }
        )
        listing = list_groups(store)
        assert [item.key for item in listing.items] == ["/", "2000/orbit_2", "orbit_1"]
        assert listing.no_data == ("hk",)  # the container group "2000" is in neither list
        assert all(item.store == store for item in listing.items)

    # -- values ----------------------------------------------------------------------

    def test_rows_hold_times_descending_energies_and_collapsed_sums(
        self, make_store: MakeStore
    ) -> None:
        ds = spectrogram_group(variables=("ees", "ies"))
        store = make_store({"orbit_1": ds})
        plot = load_group(store, "orbit_1")
        assert isinstance(plot, ItemPlot)
        assert [row["label"] for row in plot.datasets] == ["ees flux", "ies flux"]
        row = plot.datasets[0]
        np.testing.assert_array_equal(row["x"], ds["time"].values)
        np.testing.assert_array_equal(row["y"], ds["energy"].values)
        assert row["y"][0] > row["y"][-1]  # stored descending, passed as stored
        expected = ds["ees"].values.astype("float64").sum(axis=1)
        np.testing.assert_allclose(row["data"], expected, rtol=1e-6)
        assert row["data"].shape == (12, 5)
        parse_dataset(row, 0)  # the renderer's boundary accepts it

    @pytest.mark.parametrize("how", ["sum", "mean", "max", "min"])
    def test_collapse_keeps_all_fill_slices_nan(self, make_store: MakeStore, how: str) -> None:
        ds = spectrogram_group(var_attrs={"collapse": how, "_FillValue": FILL})
        ds["ees"].values[3, :, 2] = FILL  # every pitch angle of one bin is fill
        ds["ees"].values[4, 0, 1] = FILL  # one pitch angle of another bin
        store = make_store({"g": ds})
        data = load_group(store, "g").datasets[0]["data"]
        cube = ds["ees"].values.astype("float64")
        cube[cube == np.float32(FILL)] = np.nan
        expected: dict[str, Callable[..., Any]] = {
            "sum": np.nansum,
            "mean": np.nanmean,
            "max": np.nanmax,
            "min": np.nanmin,
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # numpy's all-NaN slice notice
            want = expected[how](cube, axis=1)
        if how == "sum":
            want[3, 2] = np.nan
        assert np.isnan(data[3, 2])
        np.testing.assert_allclose(data, want, rtol=1e-6)

    def test_fill_values_and_invalid_values_become_nan(self, make_store: MakeStore) -> None:
        ds = spectrogram_group(variables=("cf", "istp"), n_pitch=1)
        ds = ds.isel(pitch_angle=0, drop=True)
        ds["cf"].attrs.update({"valid_min": np.float32(2.0), "valid_max": np.float32(90.0)})
        ds["istp"].attrs.update({"FILLVAL": FILL, "VALIDMIN": np.float32(0.0)})
        ds["cf"].values[0, 0] = 1.0  # below valid_min
        ds["cf"].values[0, 1] = 95.0  # above valid_max
        ds["istp"].values[1, :] = FILL
        ds["istp"].values[2, 0] = -5.0  # below VALIDMIN
        store = make_store({"g": ds})
        cf, istp = (row["data"] for row in load_group(store, "g").datasets)
        assert np.isnan(cf[0, :2]).all() and np.isfinite(cf[0, 2:]).all()
        assert np.isnan(istp[1]).all() and np.isnan(istp[2, 0])
        assert np.isfinite(istp[2, 1:]).all() and np.isfinite(istp[3:]).all()

    def test_a_per_record_energy_table_passes_through_as_2d(self, make_store: MakeStore) -> None:
        n_time, n_energy = 10, 6
        table = np.geomspace(10, 1e4, n_energy)[None, :] * (1 + 0.01 * np.arange(n_time))[:, None]
        ds = xr.Dataset(
            {
                "flux": (
                    ("time", "bin"),
                    np.ones((n_time, n_energy), "float32"),
                    {"DEPEND_0": "time", "DEPEND_1": "energy_table"},
                ),
                "energy_table": (
                    ("time", "bin"),
                    table.astype("float32"),
                    {"UNITS": "eV", "LABLAXIS": "E"},
                ),
            },
            coords={"time": ("time", times(n_time))},
        )
        store = make_store({"g": ds})
        row = load_group(store, "g").datasets[0]
        assert row["y"].shape == (n_time, n_energy)
        np.testing.assert_allclose(row["y"], table, rtol=1e-6)
        assert row["y_label"] == "E (eV)"

    # -- labels and overrides --------------------------------------------------------

    def test_labels_come_from_cf_metadata(self, make_store: MakeStore) -> None:
        store = make_store({"g": spectrogram_group()})
        row = load_group(store, "g").datasets[0]
        assert (row["label"], row["y_label"], row["z_label"]) == (
            "ees flux",
            "Energy (eV)",
            "ees flux (counts/s), sum over pitch_angle",  # counts add up over angles
        )

    def test_overrides_follow_config_variable_group_root_precedence(
        self, make_store: MakeStore
    ) -> None:
        ds = spectrogram_group(variables=("a", "b", "c"), attrs={"colormap": "inferno"})
        ds["a"].attrs.update({"colormap": "plasma", "z_scale": "linear", "label": "A"})
        plain = spectrogram_group(variables=("a",))
        store = make_store({"g": ds, "h": plain}, root_attrs={"colormap": "magma", "y_label": "E"})
        config = parse_config({"z_scale": "log", "variables": {"c": {"colormap": "cividis"}}})
        rows = {r["label"]: r for r in load_group(store, "g", config=config).datasets}
        assert rows["A"]["colormap"] == "plasma"  # variable attribute
        assert rows["b flux"]["colormap"] == "inferno"  # group attribute
        assert rows["c flux"]["colormap"] == "cividis"  # config section
        assert {r["z_scale"] for r in rows.values()} == {"log"}  # config beats attributes
        assert {r["y_label"] for r in rows.values()} == {"E"}  # root beats derived labels
        (other,) = load_group(store, "h").datasets
        assert other["colormap"] == "magma"  # root attribute

    def test_rows_attribute_chooses_and_orders_rows(self, make_store: MakeStore) -> None:
        ds = spectrogram_group(variables=("a", "b", "c"), attrs={"rows": "c, a"})
        store = make_store({"g": ds})
        assert [r["label"] for r in load_group(store, "g").datasets] == ["c flux", "a flux"]

    def test_figure_options_come_from_group_attributes(self, make_store: MakeStore) -> None:
        attrs = {
            "vertical_lines": ["2000-01-01T00:00:10Z", "2000-01-01T00:00:20"],
            "zoom_duration_minutes": 2,
            "title": "Orbit one",
        }
        store = make_store(
            {
                "g": spectrogram_group(attrs=attrs),
                "h": spectrogram_group(),
                "k": spectrogram_group(attrs={"vertical_lines": 946684815.5}),
            },
            root_attrs={"title": "Survey"},
        )
        assert load_group(store, "g").options == {
            "figure_title": "Orbit one",
            "vertical_lines": [946684810.0, 946684820.0],
            "zoom_duration_minutes": 2.0,
        }
        # The store's title names the group's figure, completed by the data's time range.
        assert load_group(store, "h").options == {
            "figure_title": "Survey: h — 2000-01-01 00:00:00 to 00:00:44 UTC"
        }
        assert load_group(store, "k").options["vertical_lines"] == [946684815.5]

    # -- laziness --------------------------------------------------------------------

    def test_listing_and_opening_compute_nothing_loading_reads_each_row_once(
        self, make_store: MakeStore
    ) -> None:
        store = make_store(
            {"g": spectrogram_group(variables=("a", "b")), "h": spectrogram_group()}
        )
        with CountComputes() as counter:
            list_groups(store)
            _, ds = plan_group(store, "g")
            ds.close()
            assert counter.count == 0
            load_group(store, "g")
            # The coordinates are in memory once opened; each row is one block (one small
            # graph, on the synchronous scheduler).
            assert counter.count == 2

    def test_loading_one_group_reads_no_other_group(self, make_store: MakeStore) -> None:
        big = spectrogram_group(n_time=4000, n_pitch=8, n_energy=32, seed=1)
        store = make_store({"small": spectrogram_group(), "big": big})
        load_group(store, "small")  # warm up: imports, caches
        before = bytes_read()
        load_group(store, "small")
        read = bytes_read() - before
        assert big["ees"].nbytes == 4_096_000
        assert read < 200_000, f"read {read} bytes to load a 720-byte group"

    # -- errors ----------------------------------------------------------------------

    def test_missing_time_coordinate_is_an_error(self, make_store: MakeStore) -> None:
        ds = xr.Dataset(
            {"flux": (("record", "energy"), np.ones((4, 3), "float32"))},
            coords={"energy": ("energy", np.array([1.0, 2.0, 3.0]), {"units": "eV"})},
        )
        store = make_store({"orbit_1": ds})
        assert [i.key for i in list_groups(store).items] == ["orbit_1"]
        with pytest.raises(StoreError) as info:
            load_group(store, "orbit_1")
        assert str(info.value) == (
            f"store {store!r}, group 'orbit_1', variable 'flux': none of its dimensions "
            "('record', 'energy') has a time coordinate. Accepted: a 1-D coordinate "
            "variable along the dimension with datetime values, axis='T', "
            "standard_name='time' or units '<unit> since <epoch>', or one named by the "
            "variable's DEPEND_0 attribute. Add such a variable."
        )

    def test_dimension_without_coordinate_is_an_error(self, make_store: MakeStore) -> None:
        ds = xr.Dataset(
            {"counts": (("time", "channel"), np.ones((4, 3), "float32"))},
            coords={"time": ("time", times(4))},
            attrs={"rows": "counts"},
        )
        store = make_store({"g": ds})
        with pytest.raises(StoreError) as info:
            load_group(store, "g")
        assert str(info.value) == (
            f"store {store!r}, group 'g', variable 'counts': its dimension 'channel' "
            "matches no coordinate variable, so the bin centres are unknown. Accepted: a "
            "variable 'channel' with dims ('channel',), or a variable with dims "
            "('channel',) or ('time', 'channel') named by the DEPEND_1 or coordinates "
            "attribute. Add one."
        )

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("y_scale", "lg", "Expected 'linear' or 'log'. Got 'lg' instead."),
            ("z_min", "abc", "Expected a number. Got 'abc' instead."),
        ],
    )
    def test_bad_attribute_values_are_errors(
        self, make_store: MakeStore, key: str, value: str, expected: str
    ) -> None:
        store = make_store({"orbit_1": spectrogram_group(var_attrs={key: value})})
        with pytest.raises(ConfigError) as info:
            load_group(store, "orbit_1")
        assert str(info.value) == (
            f"store {store!r}, group 'orbit_1', variable 'ees', attribute {key!r}: "
            f"{expected} Fix the attribute in the store, or override {key!r} in a config "
            "file."
        )

    def test_a_config_value_replaces_a_bad_attribute(self, make_store: MakeStore) -> None:
        store = make_store({"g": spectrogram_group(var_attrs={"y_scale": "lg"})})
        config = parse_config({"y_scale": "log"})
        assert load_group(store, "g", config=config).datasets[0]["y_scale"] == "log"

    def test_a_missing_group_is_an_error(self, make_store: MakeStore) -> None:
        store = make_store({"g": spectrogram_group()})
        with pytest.raises(StoreError, match=r"group 'nope' cannot be opened: .* List the"):
            load_group(store, "nope")

    def test_a_group_without_spectrograms_has_no_data(self, make_store: MakeStore) -> None:
        store = make_store({"hk": housekeeping()})
        with pytest.raises(NoDataError) as info:
            load_group(store, "hk")
        assert str(info.value) == (
            f"store {store!r}, group 'hk': no spectrogram variable. A spectrogram variable "
            "has a time dimension and a dimension with a coordinate variable (energy, "
            "frequency, ...); name the variables to plot in the group's rows attribute."
        )

    def test_all_fill_group_has_no_data(self, make_store: MakeStore) -> None:
        ds = spectrogram_group(var_attrs={"_FillValue": FILL})
        ds["ees"].values[:] = FILL
        store = make_store({"g": ds})
        with pytest.raises(NoDataError, match="no finite value in any row"):
            load_group(store, "g")

    def test_check_archive_collects_every_problem(self, make_store: MakeStore) -> None:
        bad = spectrogram_group(var_attrs={"y_scale": "lg", "z_min": "abc"})
        store = make_store(
            {
                "bad": bad,
                "good": spectrogram_group(),
                "rows": spectrogram_group(attrs={"rows": "nope"}),
            }
        )
        problems = check_archive(store)
        assert all(isinstance(p, Problem) for p in problems)
        assert [(p.kind, p.group) for p in problems] == [
            ("attribute", "bad"),
            ("attribute", "bad"),
            ("group", "rows"),
        ]
        assert {"attribute 'y_scale'", "attribute 'z_min'"} == {
            p.message.split(": ")[0].split(", ")[-1] for p in problems[:2]
        }
        assert "rows names 'nope'" in problems[2].message
        assert check_archive(store, parse_config({"y_scale": "log", "z_min": 1.0})) == [
            problems[2]
        ]

    def test_the_loader_and_items_pickle(self, make_store: MakeStore) -> None:
        store = make_store({"g": spectrogram_group()})
        loader = pickle.loads(pickle.dumps(GroupLoader(parse_config({"z_scale": "log"}))))
        item = pickle.loads(pickle.dumps(StoreItem(store, "g")))
        assert item.key == str(item) == "g"
        plot = loader(item)
        assert plot.datasets[0]["z_scale"] == "log"


class TestZarr3(StoreContract):
    fmt = "zarr3"


class TestZarr2(StoreContract):
    fmt = "zarr2"


class TestNetCDF4(StoreContract):
    fmt = "netcdf4"


def test_check_archive_reports_config_and_store_problems(tmp_path: Path) -> None:
    bad_config = tmp_path / "plot.toml"
    bad_config.write_text('colour = "red"\n', encoding="utf-8")
    problems = check_archive(tmp_path / "missing", bad_config)
    assert [(p.kind, p.path, p.group) for p in problems] == [
        ("config", str(bad_config), None),
        ("store", str(tmp_path / "missing"), None),
    ]
    assert "unknown key 'colour'" in problems[0].message
    assert "does not exist" in problems[1].message

    store = write_store(tmp_path / "a.nc", "netcdf4", {"g": spectrogram_group()})
    (tmp_path / "b.nc").write_text("not netcdf")
    problems = check_archive(tmp_path, open_groups=True)
    assert [(p.kind, p.path) for p in problems] == [("store", str(tmp_path / "b.nc"))]
    assert check_archive(store, open_groups=True) == []


@pytest.mark.parametrize(
    ("units", "intensive"),
    [
        ("eV/(cm^2 s sr eV)", True),
        ("keV/(cm^2 s sr keV)", True),  # MMS FPI
        ("#/(cm2-steradian-second-MeV/nucleon)", True),  # STEREO HET
        ("cm^-2 s^-1 sr^-1 keV^-1", True),
        ("1/(cm^2 s keV)", True),
        ("s^3/cm^6", True),  # phase-space density
        ("s^3 km^-6", True),
        ("counts/s", False),
        ("counts", False),
        ("eV", False),
        ("km/s", False),
        ("Hz", False),
    ],
)
def test_intensive_quantities_are_told_by_their_units(units: str, intensive: bool) -> None:
    from batch_multi_plot_spectrogram.metadata._conventions import is_intensive

    assert is_intensive(units) is intensive
