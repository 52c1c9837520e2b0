"""The plot configuration: TOML files, their schema, and the override validators."""

from __future__ import annotations

import pickle
from pathlib import Path

import jsonschema
import pytest

from batch_multi_plot_spectrogram._schemas import load_schema, schema_path
from batch_multi_plot_spectrogram.errors import ConfigError
from batch_multi_plot_spectrogram.metadata.config import (
    FIGURE_KEYS,
    ROW_KEYS,
    PlotConfig,
    load_config,
    parse_config,
)
from batch_multi_plot_spectrogram.options import (
    Origin,
    RowEntry,
    parse_colormap,
    parse_names,
    parse_number,
    parse_positive,
    parse_scale,
    parse_times,
)

GOOD = """
z_scale = "log"
colormap = "viridis"
zoom_duration_minutes = 5

[groups."2000/*"]
vertical_lines = ["2000-01-01T00:10:00Z", 946685400]
colormap = "magma"

[groups."2000/orbit_2"]
title = "Orbit two"
rows = "ies ees"

[variables."e*"]
label = "EES"
y_min = 10

[variables."ees"]
y_min = 20

[variables."2000/*/ies"]
colormap = "cividis"
"""

ORIGIN = Origin("key", "here", "Fix it.", ConfigError)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file_loads_and_sections_apply_in_order(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.figure_options("orbit_1") == {
        "z_scale": "log",
        "colormap": "viridis",
        "zoom_duration_minutes": 5.0,
    }
    figure = config.figure_options("2000/orbit_2")
    assert figure["title"] == "Orbit two"
    assert figure["rows"] == (RowEntry("ies"), RowEntry("ees"))
    assert figure["vertical_lines"] == (946685400.0, 946685400.0)
    # later and more specific sections win
    assert config.row_options("2000/orbit_2", "ees") == {
        "z_scale": "log",
        "colormap": "magma",
        "label": "EES",
        "y_min": 20.0,
    }
    assert config.row_options("2000/orbit_2", "ies")["colormap"] == "cividis"
    assert config.row_options("orbit_1", "ies")["colormap"] == "viridis"
    assert "title" not in config.row_options("2000/orbit_2", "ees")


def test_toml_datetimes_are_accepted_as_event_times(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "vertical_lines = [2000-01-01T00:10:00Z]\n"))
    assert config.figure_options("/")["vertical_lines"] == (946685400.0,)


def test_config_is_hashable_and_pickles(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert pickle.loads(pickle.dumps(config)) == config
    assert hash(config) == hash(pickle.loads(pickle.dumps(config)))


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[variables."ees"]\ny_scal = "log"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"config file {str(path)!r}: unknown key 'y_scal' in [variables.\"ees\"]. Accepted "
        "keys: label, y_label, z_label, y_min, y_max, z_min, z_max, vmin, vmax, y_scale, "
        "z_scale, colormap, collapse, collapse_dim, y_dim, gap_seconds, pixel_reduce, "
        "shared_limits, select. Did you mean 'y_scale'? Fix the key in the config file."
    )


def test_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path, 'z_min = "abc"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"config file {str(path)!r}: key 'z_min' at the top level: Expected a number. Got "
        "'abc' instead. Fix the value in the config file."
    )


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'y_scale = "lg"\nbogus = 1\n[groups."g"]\nrows = [1]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"config file {str(path)!r}: unknown key 'bogus' at the top")
    assert "key 'rows' in [groups.\"g\"]: Expected a list of variable names" in lines[1]
    assert "key 'y_scale' at the top level: Expected 'linear' or 'log'. Got 'lg'" in lines[2]


def test_semantic_checks_after_the_schema(tmp_path: Path) -> None:
    path = write(tmp_path, 'colormap = "virdis"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        f"config file {str(path)!r}: key 'colormap' at the top level: Expected the name of "
        "a Matplotlib colormap"
    )
    assert "Got 'virdis' instead. Did you mean 'viridis'?" in str(info.value)
    with pytest.raises(ConfigError, match="Expected ISO-8601 times"):
        load_config(write(tmp_path, 'vertical_lines = "yesterday"\n'))


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(write(tmp_path, "z_min = \n"))


def test_schema_keys_match_the_code() -> None:
    schema = load_schema("plot-config.schema.json")
    jsonschema.Draft202012Validator.check_schema(schema)
    top = set(schema["properties"]) - {"groups", "variables", "storage"}
    assert top == set(ROW_KEYS) | set(FIGURE_KEYS)
    assert set(schema["$defs"]["variable_section"]["properties"]) == set(ROW_KEYS)
    assert set(schema["$defs"]["group_section"]["properties"]) == top
    assert schema["additionalProperties"] is False
    assert schema_path("plot-config.schema.json").is_file()


def test_load_schema_returns_a_fresh_copy() -> None:
    first = load_schema("plot-config.schema.json")
    first["properties"].clear()
    assert load_schema("plot-config.schema.json")["properties"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3.0), ("1e3", 1000.0), ([2.5], 2.5), (" 7 ", 7.0)],
)
def test_parse_number(value: object, expected: float) -> None:
    assert parse_number(value, ORIGIN) == expected


@pytest.mark.parametrize("value", ["abc", True, None, float("nan"), [1, 2]])
def test_parse_number_rejects(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^here: Expected a (finite )?number\. Got .* Fix it\."):
        parse_number(value, ORIGIN)


def test_parse_positive_scale_and_colormap() -> None:
    assert parse_positive("2", ORIGIN) == 2.0
    with pytest.raises(ConfigError, match=r"Expected a number greater than 0\. Got 0 instead\."):
        parse_positive(0, ORIGIN)
    assert parse_scale("LOG", ORIGIN) == "log"
    assert parse_colormap("viridis_r", ORIGIN) == "viridis_r"
    with pytest.raises(ConfigError, match=r"Expected 'linear' or 'log'\. Got 'lg' instead\."):
        parse_scale("lg", ORIGIN)


def test_parse_names_and_times() -> None:
    assert parse_names("a, b  c", ORIGIN) == ("a", "b", "c")
    assert parse_names(["a", "b"], ORIGIN) == ("a", "b")
    with pytest.raises(ConfigError, match="Expected a list of variable names"):
        parse_names(5, ORIGIN)
    assert parse_times("2000-01-01T00:00:00Z, 2000-01-01T01:00:00+01:00", ORIGIN) == (
        946684800.0,
        946684800.0,
    )
    assert parse_times(946684800, ORIGIN) == (946684800.0,)
    assert parse_times(["2000-01-01 00:00:01", "946684802.5"], ORIGIN) == (
        946684801.0,
        946684802.5,
    )
    assert parse_times([], ORIGIN) == ()


def test_an_empty_config_changes_nothing() -> None:
    config = parse_config({})
    assert config == PlotConfig()
    assert config.row_options("g", "v") == {}
