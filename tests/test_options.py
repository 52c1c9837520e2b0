"""The option table: every option once, and everything else agrees with it."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from batch_multi_plot_spectrogram import generic_batch_plot, generic_plot_spectrogram_set
from batch_multi_plot_spectrogram._schemas import load_schema
from batch_multi_plot_spectrogram.errors import ConfigError, RowError, SettingError
from batch_multi_plot_spectrogram.metadata.config import FIGURE_KEYS, ROW_KEYS
from batch_multi_plot_spectrogram.options import (
    OPTIONS,
    FigureOptions,
    Origin,
    option,
    options_where,
    parse_colormap,
)
from batch_multi_plot_spectrogram.render import DATASET_KEYS, DatasetDict


def test_names_are_unique_and_each_option_is_documented() -> None:
    names = [o.name for o in OPTIONS]
    assert len(names) == len(set(names))
    keys = [o.config_key for o in OPTIONS if "config" in o.where]
    assert len(keys) == len(set(keys))
    for entry in OPTIONS:
        assert entry.help and entry.where, entry.name
        assert entry.level in ("row", "figure", "run")


def test_the_config_schema_is_the_table() -> None:
    schema = load_schema("plot-config.schema.json")
    in_config = {o.config_key: o for o in OPTIONS if "config" in o.where}
    top = {k: v for k, v in schema["properties"].items() if k not in ("groups", "variables")}
    assert set(top) == set(in_config)
    # Run options (the storage table) are top-level only, and never store attributes.
    run_keys = {k for k, o in in_config.items() if o.level == "run"}
    assert run_keys == {"storage"}
    for key in run_keys:
        assert top.pop(key) == {"$ref": f"#/$defs/{in_config.pop(key).schema}"}
    for key, entry in in_config.items():
        assert entry.schema is not None, key
        assert top[key] == {"$ref": f"#/$defs/{entry.schema}"}, key
        assert entry.schema in schema["$defs"], key
    groups = schema["$defs"]["group_section"]["properties"]
    variables = schema["$defs"]["variable_section"]["properties"]
    assert groups == top
    assert variables == {k: v for k, v in top.items() if in_config[k].level == "row"}
    assert set(ROW_KEYS) == set(variables) and set(FIGURE_KEYS) == set(top) - set(variables)
    # Config and attributes are one set of keys.
    assert {o.name for o in OPTIONS if "config" in o.where and o.level != "run"} == {
        o.name for o in OPTIONS if "attribute" in o.where
    }


def test_dataset_dict_keys_are_the_dataset_options() -> None:
    dataset_options = {o.name for o in options_where("dataset")}
    arrays = {"x", "y", "data", "x_bounds", "y_bounds", "z_summary"}
    assert set(DATASET_KEYS) == arrays | dataset_options
    assert set(DatasetDict.__annotations__) == set(DATASET_KEYS)
    assert all(o.level == "row" for o in options_where("dataset"))


def test_figure_options_hold_every_figure_and_row_argument() -> None:
    arguments = {o.name for o in options_where("argument") if o.level in ("row", "figure")}
    assert set(FigureOptions.names()) == arguments
    defaults = FigureOptions()
    for name in arguments:
        entry = option(name)
        expected = () if name == "vertical_lines" else entry.default
        assert getattr(defaults, name) == expected, name


@pytest.mark.parametrize("function", [generic_batch_plot, generic_plot_spectrogram_set])
def test_api_defaults_are_the_table_defaults(function: object) -> None:
    parameters = inspect.signature(function).parameters  # type: ignore[arg-type]
    checked = 0
    for entry in options_where("argument"):
        if entry.name not in parameters:
            continue
        default = parameters[entry.name].default
        expected = entry.default
        if entry.name == "vertical_lines":
            expected = None
        if isinstance(expected, tuple):
            default = tuple(default)
        assert default == expected, (function, entry.name)
        checked += 1
    assert checked >= 10


def test_every_argument_of_generic_batch_plot_that_is_an_option_is_in_the_table() -> None:
    parameters = set(inspect.signature(generic_batch_plot).parameters)
    not_options = {
        "items",
        "output_dir",
        "build_datasets_fn",
        "progress_json_path",
        "log_path",
        "executor",
        "client",
        "scheduler_address",
        "progress_bar",
        "output_name_fn",
        "vertical_lines_fn",
        "title_fn",
    }
    # gallery and shared_limits are options of archive runs: generic_batch_plot writes
    # figures only (its callers pass limits in the dataset dicts).
    assert parameters - not_options == {o.name for o in options_where("argument")} - {
        "figure_title",
        "group_by",  # an argument of ingest_cdf only
        "gallery",
        "shared_limits",
        "time_range",  # per item: a window's ItemPlot sets it
        "window",  # an argument of archive runs: windows are items of the archive
        "memory_budget",  # the group loader's: generic_batch_plot calls any build function
    }


def test_archive_run_options_take_the_table_defaults() -> None:
    from batch_multi_plot_spectrogram import render_archive

    parameters = inspect.signature(render_archive).parameters
    for name in (
        "gallery",
        "flush_batch_size",
        "ignore_progress_json",
        "install_signal_handlers",
        "memory_budget",
    ):
        assert parameters[name].default == option(name).default, name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (1_500_000_000, 1_500_000_000),
        ("1.5GB", 1_500_000_000),
        ("800MB", 800_000_000),
        ("800 mb", 800_000_000),
        ("2GiB", 2 * 1024**3),
        ("1500000000", 1_500_000_000),
    ],
)
def test_memory_budget_takes_bytes_or_sizes(given: object, expected: int) -> None:
    assert option("memory_budget").parse(given, Origin.argument("memory_budget")) == expected


@pytest.mark.parametrize("given", ["1.5XB", "lots", True, -1, 0, "0.5MB", float("nan")])
def test_memory_budget_refuses_what_is_not_a_size(given: object) -> None:
    with pytest.raises(SettingError, match="Expected memory_budget to be a size"):
        option("memory_budget").parse(given, Origin.argument("memory_budget"))


def test_one_validator_speaks_for_each_origin() -> None:
    scale = option("y_scale")
    with pytest.raises(SettingError) as argument:
        scale.parse("lg", Origin.argument("y_scale"))
    assert str(argument.value) == "Expected y_scale to be 'linear' or 'log'. Got 'lg' instead."
    assert argument.value.option == "y_scale"
    assert argument.value.detail == "Expected 'linear' or 'log'. Got 'lg' instead."
    with pytest.raises(RowError, match=r"^row 2 \('EES'\): Expected y_scale to be"):
        scale.parse("lg", Origin.row("row 2 ('EES')", "y_scale"))
    with pytest.raises(ConfigError) as config:
        scale.parse("lg", Origin.config("a.toml", "at the top level", "y_scale"))
    assert str(config.value) == (
        "config file 'a.toml': key 'y_scale' at the top level: Expected 'linear' or 'log'. "
        "Got 'lg' instead. Fix the value in the config file."
    )
    with pytest.raises(ConfigError) as attribute:
        scale.parse("lg", Origin.attribute("/s.zarr", "g", "ees", "y_scale"))
    assert str(attribute.value).startswith(
        "store '/s.zarr', group 'g', variable 'ees', attribute 'y_scale': Expected"
    )


def test_colormap_suggests_the_name_meant_only_when_close() -> None:
    with pytest.raises(SettingError) as close:
        parse_colormap("viridiss", Origin.argument("colormap"))
    assert str(close.value).endswith("Got 'viridiss' instead. Did you mean 'viridis'?")
    with pytest.raises(SettingError) as far:
        parse_colormap("nope", Origin.argument("colormap"))
    assert "Did you mean" not in str(far.value)


def test_figure_options_are_frozen_checked_and_readable() -> None:
    options = FigureOptions.parse(
        {
            "colormap": "plasma",
            "vertical_lines": "2000-01-01T00:00Z",
            "z_percentiles": [5, 95],
            "output_format": "SVG",
        }
    )
    assert options.vertical_lines == (946684800.0,)
    assert options.z_percentiles == (5.0, 95.0)
    assert options.output_format == "svg"
    with pytest.raises(AttributeError):
        options.colormap = "viridis"  # type: ignore[misc]
    described = options.describe()
    assert described["colormap"] == "plasma"
    assert described["vertical_lines"] == [946684800.0]
    assert described["collapse"] == "sum"
    assert options.updated({"collapse": np.nanmedian}).describe()["collapse"] == (
        "numpy.nanmedian"
    )
    with pytest.raises(SettingError, match=r"Unknown plotting option\(s\) \['colour'\]"):
        options.updated({"colour": "red"})
    with pytest.raises(SettingError, match="Expected output_format to be one of 'png'"):
        options.updated({"output_format": "jpeg"})
