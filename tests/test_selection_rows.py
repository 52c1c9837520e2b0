"""Selection rows: a row keeps a range of a dimension it does not plot (``select``) and
reduces what is left, or keeps a range of its y.

Checked against numpy: the rows' values are the hand-made means over the selected cells,
and the PNG shows them (each pixel's colour mapped back through the colormap and the
colour limits). Cells partly inside a range are kept when the store states their bounds;
a range that keeps nothing costs its row only; a selection reads only its cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from matplotlib import colormaps
from matplotlib.figure import Figure

from batch_multi_plot_spectrogram import generic_plot_spectrogram_set
from batch_multi_plot_spectrogram.errors import ConfigError
from batch_multi_plot_spectrogram.metadata import load_group
from batch_multi_plot_spectrogram.metadata.config import parse_config
from batch_multi_plot_spectrogram.options import Origin, RowEntry, parse_rows, parse_select
from cdf_conversion import MMS, read_raw, write_converted
from store_factories import bytes_read, times, write_store
from test_cli import pngs, run_cli, shows, summary
from test_render_pixels import Panel

pytestmark = pytest.mark.usefixtures("no_pyplot_figures")

# 12 pitch-angle cells of 15 degrees with CF bounds, 6 energies (no bounds: centres).
PITCH = np.arange(7.5, 180.0, 15.0)
ENERGY = np.geomspace(10.0, 1e4, 6)
N_TIME = 24


def cube(n_time: int = N_TIME, seed: int = 3) -> xr.Dataset:
    """A HOPE-like (time, energy, pitch_angle) flux cube with pitch-angle bounds."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.0, (n_time, ENERGY.size, PITCH.size)).astype("float32")
    bounds = np.stack([PITCH - 7.5, PITCH + 7.5], axis=1)
    return xr.Dataset(
        {
            "FEDU": (("time", "energy", "pitch_angle"), values, {"units": "counts"}),
            "pitch_angle_bnds": (("pitch_angle", "nv"), bounds),
        },
        coords={
            "time": ("time", times(n_time, cadence_s=60.0)),
            "energy": ("energy", ENERGY, {"units": "eV", "long_name": "Energy"}),
            "pitch_angle": (
                "pitch_angle",
                PITCH,
                {"units": "degrees", "long_name": "Pitch angle", "bounds": "pitch_angle_bnds"},
            ),
        },
    )


ROWS: list[dict[str, Any]] = [
    {"variable": "FEDU", "select": {"pitch_angle": [0, 30]}, "collapse": "mean"},
    {"variable": "FEDU", "select": {"pitch_angle": [60, 120]}, "collapse": "mean"},
    {"variable": "FEDU", "select": {"pitch_angle": [150, 180]}, "collapse": "mean"},
    {
        "variable": "FEDU",
        "y_dim": "pitch_angle",
        "select": {"energy": [100, 1000]},
        "collapse": "mean",
        "label": "PAD 100 eV-1 keV",
    },
]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "hope.zarr", "zarr3", {"/": cube()})


def expected(values: np.ndarray, select: dict[str, list[float]]) -> np.ndarray:
    """The row a selection gives, by hand: cells overlapping the range (pitch angles, by
    their 15-degree bounds) or with their centre in it (energies), averaged."""
    if "pitch_angle" in select:
        low, high = select["pitch_angle"]
        keep = (low < PITCH + 7.5) & (high > PITCH - 7.5)
        return values[:, :, keep].mean(axis=2)
    low, high = select["energy"]
    keep = (low <= ENERGY) & (high >= ENERGY)
    return values[:, keep, :].mean(axis=1)


def test_rows_are_the_means_over_the_selected_cells(store: Path) -> None:
    values = cube()["FEDU"].values.astype("float64")
    plot = load_group(store, config=parse_config({"rows": ROWS}))
    assert plot.problems == ()
    labels = [row["label"] for row in plot.datasets]
    assert labels == [
        "FEDU pitch_angle 0–30°",
        "FEDU pitch_angle 60–120°",
        "FEDU pitch_angle 150–180°",
        "PAD 100 eV-1 keV",
    ]
    assert plot.datasets[0]["z_label"] == "FEDU (counts), mean over pitch_angle 0–30°"
    for row, spec in zip(plot.datasets, ROWS, strict=True):
        np.testing.assert_allclose(row["data"], expected(values, spec["select"]), rtol=1e-6)
    # The PAD row keeps the energies whose centre is in range: 158 and 631 eV.
    np.testing.assert_allclose(plot.datasets[3]["y"], PITCH)
    np.testing.assert_allclose(plot.datasets[0]["y"], ENERGY)


def test_cells_partly_inside_the_range_are_kept(store: Path) -> None:
    values = cube()["FEDU"].values.astype("float64")
    rows = [{"variable": "FEDU", "select": {"pitch_angle": [20, 40]}, "collapse": "mean"}]
    (row,) = load_group(store, config=parse_config({"rows": rows})).datasets
    # [15, 30] and [30, 45] reach into [20, 40]; their centres 22.5 and 37.5.
    np.testing.assert_allclose(row["data"], values[:, :, [1, 2]].mean(axis=2), rtol=1e-6)


def _panels(fig: Figure) -> list[Panel]:
    axes = [ax for ax in fig.axes if ax.bbox.width > 100]  # not the colour bars
    return [Panel.of(fig, ax) for ax in axes]


def _values_of(pixels: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels mapped back to values through viridis between ``low`` and ``high``."""
    lut = colormaps["viridis"](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0
    rgb = pixels[..., :3].astype("float64")
    dist = ((rgb[..., None, :] - lut) ** 2).sum(axis=-1)
    index = dist.argmin(axis=-1)
    return low + (index + 0.5) / 256.0 * (high - low)


def _check_pixels(fig: Figure, pixels: np.ndarray, rows: Sequence[Mapping[str, Any]]) -> None:
    """At the centre of a few cells of each panel, the colour is the row's value."""
    for panel, row in zip(_panels(fig), rows, strict=True):
        seconds = row["x"].astype("datetime64[ns]").astype("int64") / 1e9
        if "x_bounds" in row:  # a sample spans its accumulation: look at its middle
            seconds = row["x_bounds"].mean(axis=1)
        y = np.asarray(row["y"], dtype="float64")
        for i in (1, seconds.size // 2, seconds.size - 2):
            for j in range(y.size):
                col = int(np.floor(panel.column_of(seconds[i])))
                line = int(np.floor(panel.row_of(float(y[j]))))
                if not (panel.rows[0] <= line <= panel.rows[-1]):
                    continue
                shown = _values_of(pixels[line, col], 0.0, 1.0)
                assert shown == pytest.approx(row["data"][i, j], abs=2.0 / 256), (
                    row["label"],
                    i,
                    j,
                )


def test_the_png_shows_the_means(store: Path, close_figures, png_pixels) -> None:
    rows = [dict(spec) for spec in ROWS]
    for spec in rows[:3]:
        spec["y_scale"] = "log"
    plot = load_group(store, config=parse_config({"rows": rows}))
    fig = close_figures(generic_plot_spectrogram_set(plot.datasets, z_min=0.0, z_max=1.0, dpi=60))
    _check_pixels(fig, png_pixels(fig), list(plot.datasets))


def test_a_range_that_keeps_nothing_costs_its_row_only(store: Path) -> None:
    rows = [*ROWS[:2], {"variable": "FEDU", "select": {"pitch_angle": [200, 300]}}]
    plot = load_group(store, config=parse_config({"rows": rows}))
    assert [row["label"] for row in plot.datasets] == [
        "FEDU pitch_angle 0–30°",
        "FEDU pitch_angle 60–120°",
    ]
    assert plot.problems == (
        f"store {str(store.absolute())!r}, group '/', variable 'FEDU', row 'FEDU pitch_angle "
        "200–300°': select pitch_angle = [200, 300] keeps no 'pitch_angle' cell: "
        "'pitch_angle' spans 0 to 180. Choose a range that overlaps it.",
    )


def test_select_and_rows_from_attributes(tmp_path: Path) -> None:
    ds = cube()
    ds["FEDU"].attrs["select"] = "pitch_angle=60:120"
    ds["FEDU"].attrs["collapse"] = "mean"
    store = write_store(tmp_path / "attrs.zarr", "zarr3", {"/": ds})
    (row,) = load_group(store).datasets
    assert row["label"] == "FEDU pitch_angle 60–120°"
    np.testing.assert_allclose(
        row["data"], expected(ds["FEDU"].values.astype("float64"), {"pitch_angle": [60, 120]})
    )
    # The rows attribute takes the config's row tables as JSON.
    ds = cube()
    ds.attrs["rows"] = (
        '[{"variable": "FEDU", "select": {"pitch_angle": [0, 30]}, "label": "low"},'
        ' {"variable": "FEDU", "select": {"pitch_angle": [150, 180]}}]'
    )
    store = write_store(tmp_path / "rows.zarr", "zarr3", {"/": ds})
    labels = [row["label"] for row in load_group(store).datasets]
    assert labels == ["low", "FEDU pitch_angle 150–180°"]


def test_parsers_say_what_is_accepted() -> None:
    origin = Origin.attribute("/a.zarr", "g", "FEDU", "select")
    assert parse_select("pitch_angle=0:30; energy=1e2:1e3", origin) == (
        ("energy", 100.0, 1000.0),
        ("pitch_angle", 0.0, 30.0),
    )
    assert parse_select('{"pitch_angle": [0, 30]}', origin) == (("pitch_angle", 0.0, 30.0),)
    with pytest.raises(ConfigError) as info:
        parse_select("pitch_angle=30:0", origin)
    assert str(info.value).startswith(
        "store '/a.zarr', group 'g', variable 'FEDU', attribute 'select': Expected a table "
        "of dimension ranges"
    )
    assert "each range [low, high] with low <= high" in str(info.value)
    rows_origin = Origin.config("p.toml", "at the top level", "rows")
    assert parse_rows("a, b", rows_origin) == (RowEntry("a"), RowEntry("b"))
    with pytest.raises(ConfigError, match="Row 1 has the unknown key 'title'"):
        parse_rows([{"variable": "a", "title": "x"}], rows_origin)


def test_a_selection_reads_only_its_cells(tmp_path: Path) -> None:
    """Chunked one pitch angle per chunk: keeping 2 of 12 reads about a sixth."""
    ds = cube(n_time=4000).chunk({"time": -1, "energy": -1, "pitch_angle": 1})
    store = write_store(tmp_path / "big.zarr", "zarr3", {"/": ds})
    whole = parse_config({"rows": [{"variable": "FEDU", "collapse": "mean"}]})
    part = parse_config({"rows": [ROWS[0]]})
    load_group(store, config=part)  # warm up: imports, caches

    def read(config: Any) -> int:
        before = bytes_read()
        load_group(store, config=config)
        return bytes_read() - before

    full, selected = read(whole), read(part)
    assert ds["FEDU"].nbytes == 1_152_000
    assert full > 1_000_000
    assert selected < full / 4, (selected, full)


# -- real data: MMS FPI pitch-angle distributions and energy spectra -----------------------


@pytest.fixture(scope="module")
def mms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MMS.exists():
        pytest.skip("shared/realdata is not beside the repo")
    return write_converted(MMS, tmp_path_factory.mktemp("mms") / "mms.zarr")


PAD = "mms1_des_pitchangdist_lowen_fast"
OMNI = "mms1_des_energyspectr_omni_fast"


def test_mms_pitch_angle_ranges_and_an_energy_range(mms: Path, close_figures, png_pixels) -> None:
    alpha = read_raw(MMS, "mms1_des_alpha_fast")  # 3, 9, ..., 177: 6-degree cells
    pad = read_raw(MMS, PAD).astype("float64")
    energy = read_raw(MMS, "mms1_des_energy_fast")
    delta = read_raw(MMS, "mms1_des_energy_delta_fast")
    omni = read_raw(MMS, OMNI).astype("float64")
    ranges = ([0, 30], [60, 120], [150, 180])
    rows = [{"variable": PAD, "select": {"mms1_des_alpha_fast": r}} for r in ranges]
    rows.append({"variable": OMNI, "select": {"mms1_des_energy_fast": [100, 1000]}})
    plot = load_group(mms, config=parse_config({"rows": rows}))
    assert plot.problems == ()
    labels = [row["label"] for row in plot.datasets]
    assert labels == [
        "PAD_low mms1_des_alpha_fast 0–30°",
        "PAD_low mms1_des_alpha_fast 60–120°",
        "PAD_low mms1_des_alpha_fast 150–180°",
        "DEF_omni mms1_des_energy_fast 100–1000 eV",
    ]
    for row, (low, high) in zip(plot.datasets, ranges, strict=False):
        keep = (alpha + 3 > low) & (alpha - 3 < high)  # by the ISTP deltas
        assert keep.sum() == (high - low) // 6
        np.testing.assert_allclose(row["y"], alpha[keep])
        np.testing.assert_allclose(row["data"], pad[:, keep], rtol=1e-6)
    # A record-varying energy table: a channel is kept when its extent reaches into the
    # range in any record.
    keep = ((energy + delta > 100) & (energy - delta < 1000)).any(axis=0)
    row = plot.datasets[3]
    np.testing.assert_allclose(row["data"], omni[:, keep], rtol=1e-6)
    np.testing.assert_allclose(row["y"], energy[:, keep], rtol=1e-6)

    # The PNG: PAD rows on a linear colour scale between fixed limits.
    finite = pad[np.isfinite(pad) & (pad > -1e30)]
    z_low, z_high = float(np.percentile(finite, 5)), float(np.percentile(finite, 95))
    shown_rows = []
    for row in plot.datasets[:3]:
        clipped = dict(row)
        clipped["data"] = np.clip((row["data"] - z_low) / (z_high - z_low), 0.0, 1.0)
        shown_rows.append(clipped)
    fig = close_figures(generic_plot_spectrogram_set(shown_rows, z_min=0.0, z_max=1.0, dpi=60))
    _check_pixels(fig, png_pixels(fig), shown_rows)


def test_a_toml_config_from_the_command_line(store: Path, tmp_path: Path) -> None:
    config = tmp_path / "rows.toml"
    config.write_text(
        "[[rows]]\n"
        'variable = "FEDU"\n'
        "select = { pitch_angle = [0, 30] }\n"
        'collapse = "mean"\n'
        'label = "FEDU 0-30°"\n'
        "\n"
        "[[rows]]\n"
        'variable = "FEDU"\n'
        "select = { pitch_angle = [400, 500] }\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_cli("render", store, "-o", out, "--config", config, "--workers", "1")
    # The empty range costs its row: the figure is drawn, the problem printed, exit 1.
    assert result.returncode == 1, shows(result)
    assert pngs(out) == ["hope.zarr/root.png"]
    assert "select pitch_angle = [400, 500] keeps no 'pitch_angle' cell" in result.stderr
    assert summary(result.stderr) == {"ok": 1, "no_data": 0, "error": 0}
