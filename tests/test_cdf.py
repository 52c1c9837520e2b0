"""CDF files as stores, and their ingest into Zarr and NetCDF.

Real files (``shared/realdata``): MMS FPI (TT2000, per-record energy table), the FAST ESA
master (no records: ``no_data``), STEREO HET (channels only as text, with holes) and Wind
3DP (a data file without attributes, its master, and a DEPEND_1 naming a variable with no
data). Each renders directly and after ingest to pixel-identical PNGs. Synthetic files
(cdflib's writer) cover time types, leap seconds and broken input.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.archive import ArchiveRun
from batch_multi_plot_spectrogram.ingest import ingest_cdf, ingest_group_name
from batch_multi_plot_spectrogram.metadata import list_groups, load_group
from batch_multi_plot_spectrogram.stores import BACKENDS, find_stores, open_group
from batch_multi_plot_spectrogram.stores._cdf import (
    _opened,
    describe_cdf,
    find_master,
    parse_channel_labels,
)
from cdf_factories import EPOCH, TT2000, daily_cdf, epoch_values, write_cdf
from store_factories import spectrogram_group, write_store

cdflib = pytest.importorskip("cdflib")

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
MMS = "mms1_fpi_fast_l2_des-moms_20151201220000_v3.3.0.cdf"
FAST_MASTER = "fa_esa_l2_eeb_00000000_v01.cdf"
HET = "sta_l1_het_20240103_v01.cdf"
HET_MASTER = "sta_l1_het_00000000_v01.cdf"
WIND = "wi_plsp_3dp_19990329_v02.cdf"
WIND_MASTER = "wi_plsp_3dp_00000000_v01.cdf"
REAL = (MMS, FAST_MASTER, HET, HET_MASTER, WIND, WIND_MASTER)
FAST: dict[str, Any] = {"install_signal_handlers": False, "progress_bar": False}

needs_realdata = pytest.mark.skipif(
    not all((REALDATA / name).is_file() for name in REAL),
    reason=f"the real data files are not in {REALDATA}",
)


def real_archive(folder: Path, names: tuple[str, ...] = REAL) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(REALDATA / name, folder / name)
    return folder


def read(path: Path, *names: str) -> list[Any]:
    """Variables of a CDF file as cdflib reads them, the file closed afterwards."""
    with _opened(str(path)) as cdf:
        return [cdf.varget(name) for name in names]


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def statuses(run: ArchiveRun) -> dict[str, str]:
    return {f"{Path(i.store).name}:{i.group}": s for i, s in run.statuses.items()}


# -- reading real files -----------------------------------------------------------------------


@needs_realdata
def test_mms_reads_lazily_with_tt2000_time(tmp_path: Path) -> None:
    store = real_archive(tmp_path, (MMS,)) / MMS
    spectrum = "mms1_des_energyspectr_omni_fast"
    epoch, energy, values = read(store, "Epoch", "mms1_des_energy_fast", spectrum)
    with open_group(store) as ds:
        # Variables are dask-backed: nothing but the time index is read on opening.
        assert ds[spectrum].chunks is not None
        assert ds["Epoch"].dtype == np.dtype("datetime64[ns]")
        assert ds[spectrum].dims == ("Epoch", "mms1_des_energy_fast_dim")
        assert ds["mms1_des_energy_fast"].dims == ds[spectrum].dims
        assert ds["Epoch"].attrs["CDF_DATA_TYPE"] == "CDF_TIME_TT2000"
        assert ds["Epoch"].attrs["FILLVAL"].startswith("9999-12-31T23:59:59")
        assert isinstance(ds[spectrum].attrs["FILLVAL"], float)
    plot = load_group(store)
    rows = {row["label"]: row for row in plot.datasets}
    row = rows["MMS1 FPI/DES energySpectr_omni"]
    expected_time = np.asarray(cdflib.cdfepoch.to_datetime(epoch), "M8[ns]")
    np.testing.assert_array_equal(row["x"], expected_time)
    np.testing.assert_array_equal(row["y"], energy)
    np.testing.assert_array_equal(row["data"], values.astype("float64"))
    assert row["y_label"] == "energy (eV)" and row["z_scale"] == "log"


@needs_realdata
def test_a_master_alone_is_no_data_never_an_error(tmp_path: Path) -> None:
    archive = real_archive(tmp_path / "archive", (FAST_MASTER,))
    run = render_archive(archive, tmp_path / "plots", executor="serial", **FAST)
    assert statuses(run) == {f"{FAST_MASTER}:/": "no_data"}
    ingested = ingest_cdf(archive, tmp_path / "out.zarr", executor="serial", **FAST)
    (status,) = ingested.statuses.values()
    assert status == "no_data"
    assert "master CDF" in next(iter(ingested.messages.values()))


@needs_realdata
def test_stereo_het_text_channels_become_centres_with_bounds(tmp_path: Path) -> None:
    store = real_archive(tmp_path, (HET, HET_MASTER)) / HET
    with open_group(store) as ds:
        centre = ds["Proton_Flux_Energies_centre"]
        bounds = ds[centre.attrs["bounds"]].values
        assert centre.attrs["units"] == "MeV"
        assert ds["Proton_Flux"].attrs["DEPEND_1"] == "Proton_Flux_Energies_centre"
        assert ds["Proton_Flux"].dims == ("Epoch", "Proton_Flux_Energies_centre")
        # The labels stay, along the same dimension.
        assert ds["Proton_Flux_Energies"].dims == ("Proton_Flux_Energies_centre",)
        assert str(ds["Proton_Flux_Energies"].values[0]).strip() == "13.6 - 15.1 MeV"
    assert bounds.shape == (11, 2)
    np.testing.assert_allclose(bounds[0], [13.6, 15.1])
    np.testing.assert_allclose(bounds[6], [29.6, 33.4])  # written "33. 4" in the file
    assert bounds[2, 1] == pytest.approx(19.3) and bounds[3, 0] == pytest.approx(20.8)  # hole
    np.testing.assert_allclose(centre.values, bounds.mean(axis=1))
    plot = load_group(store)
    rows = {row["label"]: row for row in plot.datasets}
    assert rows["Proton Flux"]["y_label"] == "Proton_Flux_Energies (MeV)"
    np.testing.assert_allclose(rows["Proton Flux"]["y"], bounds.mean(axis=1))
    assert rows["Electron Flux"]["y"].shape == (3,)


@needs_realdata
def test_wind_data_file_takes_attributes_and_energy_from_its_master(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = real_archive(tmp_path, (WIND, WIND_MASTER))
    store = folder / WIND
    assert find_master(store) == str(folder / WIND_MASTER)
    layout = describe_cdf(store)
    flux = layout.variables["FLUX"]
    # The data file has no attributes: all of these are the master's.
    assert flux.attrs["DISPLAY_TYPE"] == "spectrogram" and flux.attrs["SCALETYP"] == "log"
    assert flux.attrs["DEPEND_1"] == "ENERGY"  # the master said ENERGY_good
    assert flux.dims == layout.variables["ENERGY"].dims == ("Epoch", "ENERGY_dim")
    assert layout.variables["label_energy"].shape == (15,)  # support data of the master
    assert layout.attrs["Logical_source"] == "wi_plsp_3dp"
    with caplog.at_level(logging.WARNING, "batch_multi_plot_spectrogram"):
        plot = load_group(store)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for part in (str(store), "'FLUX'", "DEPEND_1", "'ENERGY_good'", "'ENERGY'"):
        assert part in warning
    (row,) = plot.datasets
    (energy,) = read(store, "ENERGY")
    energy = energy.astype("float64")
    assert (energy[:, -1] == 0.0).all()  # the last channel holds no data ...
    assert np.isnan(row["y"][:, -1]).all()  # ... and the master's VALIDMIN (200 eV) masks it
    valid = (energy >= 200.0) & (energy <= 6000.0)
    np.testing.assert_array_equal(row["y"], np.where(valid, energy, np.nan))
    assert (row["y_scale"], row["z_scale"]) == ("log", "log")
    assert row["z_label"] == "Proton_No_Flux (#/cm^2-ster-eV-sec)"


@needs_realdata
def test_the_data_file_alone_has_no_spectrogram(tmp_path: Path) -> None:
    store = real_archive(tmp_path, (WIND,)) / WIND
    assert find_master(store) is None
    listing = list_groups(store)
    assert listing.items == () and listing.no_data == ("/",)


@needs_realdata
def test_a_master_can_be_named_explicitly(tmp_path: Path) -> None:
    real_archive(tmp_path / "data", (WIND,))
    real_archive(tmp_path / "masters", (WIND_MASTER,))
    store = tmp_path / "data" / WIND
    master = str(tmp_path / "masters" / WIND_MASTER)
    assert find_master(store, {"wi_plsp_3dp": master}) == master
    assert find_master(store, {"wi_*.cdf": master}) == master
    backend = BACKENDS["cdf"].with_masters({"wi_plsp_3dp": master})  # type: ignore[attr-defined]
    (meta,) = backend.read_groups(str(store), {"DEPEND_1"})
    assert meta.variables["FLUX"].attrs["DEPEND_1"] == "ENERGY"
    run = ingest_cdf(
        store, tmp_path / "out.zarr", masters={"wi_plsp_3dp": master}, executor="serial", **FAST
    )
    assert set(run.statuses.values()) == {"written"}


# -- direct and ingested renders are the same figures -----------------------------------------


@needs_realdata
@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_real_files_render_the_same_directly_and_after_ingest(tmp_path: Path, suffix: str) -> None:
    archive = real_archive(tmp_path / "archive")
    direct = render_archive(archive, tmp_path / "direct", max_workers=2, **FAST)
    assert statuses(direct) == {
        f"{MMS}:/": "ok",
        f"{HET}:/": "ok",
        f"{WIND}:/": "ok",
        f"{FAST_MASTER}:/": "no_data",
        f"{HET_MASTER}:/": "no_data",
        f"{WIND_MASTER}:/": "no_data",
    }
    store = tmp_path / f"ingested{suffix}"
    run = ingest_cdf(archive, store, max_workers=2, **FAST)
    assert run.counts() == {"written": 3, "skipped": 0, "no_data": 3, "error": 0}
    groups = {
        MMS: "mms1_fpi_fast_l2_des-moms/2015-12-01T220000",
        HET: "sta_l1_het/2024-01-03",
        WIND: "wi_plsp_3dp/1999-03-29",
    }
    assert {Path(s).name: g for s, g in run.groups.items() if Path(s).name in groups} == groups
    ingested = render_archive(store, tmp_path / "ingested", max_workers=2, **FAST)
    assert set(ingested.statuses.values()) == {"ok"} and len(ingested.statuses) == 3
    for name, group in groups.items():
        a = pixels(tmp_path / "direct" / name / "root.png")
        b = pixels(tmp_path / "ingested" / store.name / f"{group}.png")
        assert a.shape == b.shape and (a == b).all(), name


# -- synthetic files: time, archives, bad input -----------------------------------------------


def test_tt2000_and_epoch_times_decode_to_utc_across_a_leap_second(tmp_path: Path) -> None:
    # 2016-12-31T23:59:60 was a leap second: TT2000 counts it, UTC datetime64 cannot.
    utc = ["2016-12-31T23:59:58", "2016-12-31T23:59:59", "2017-01-01T00:00:00"]
    leap = cdflib.cdfepoch.compute_tt2000([2016, 12, 31, 23, 59, 60, 500])
    tt2000 = np.append(epoch_values(np.array(utc, "M8[ms]"), TT2000), leap)
    epoch = epoch_values(np.array(utc, "M8[ms]"), EPOCH)
    path = write_cdf(
        tmp_path / "times.cdf",
        [
            ({"Variable": "tt", "Data_Type": TT2000}, {}, tt2000),
            ({"Variable": "ep", "Data_Type": EPOCH}, {}, epoch),
        ],
    )
    # Seconds from 2016-12-31T23:59:59 to 2017-01-01T00:00:00 in TT2000: 2, not 1.
    assert tt2000[2] - tt2000[1] == 2_000_000_000
    with open_group(path) as ds:
        np.testing.assert_array_equal(ds["tt"].values[:3], np.array(utc, "M8[ns]"))
        np.testing.assert_array_equal(ds["ep"].values, np.array(utc, "M8[ns]"))
        # Inside the leap second: after 23:59:59, not before (never a step back in time).
        assert ds["tt"].values[3] >= np.datetime64("2016-12-31T23:59:59.5", "ns")


def test_text_labels_parse_only_when_every_label_is_a_range_with_a_unit() -> None:
    parsed = parse_channel_labels(["0.7 - 1.4 MeV", "1.4-2.8 MeV", "2800 to 4000 keV"])
    assert parsed is not None
    bounds, unit = parsed
    assert unit == "MeV"
    np.testing.assert_allclose(bounds, [[0.7, 1.4], [1.4, 2.8], [2.8, 4.0]])
    assert parse_channel_labels(["E_Channel_1", "E_Channel_2"]) is None
    assert parse_channel_labels(["1 - 2 MeV", "3 - 4"]) is None  # no unit
    assert parse_channel_labels(["1 - 2 MeV", "3 - 4 Hz"]) is None  # units that do not mix


def test_group_names_by_day_or_by_file() -> None:
    assert ingest_group_name("/a/sta_l1_het_20240103_v01.cdf") == "sta_l1_het/2024-01-03"
    assert ingest_group_name(f"/a/{MMS}") == "mms1_fpi_fast_l2_des-moms/2015-12-01T220000"
    assert ingest_group_name("/a/sta_l1_het_20240103_v01.cdf", "file") == "sta_l1_het_20240103_v01"
    assert ingest_group_name("/a/odd name.cdf") == "odd name"


@needs_realdata
def test_cdf_netcdf_and_zarr_render_in_one_run(tmp_path: Path) -> None:
    archive = real_archive(tmp_path / "archive", (HET, HET_MASTER))
    write_store(archive / "fast.zarr", "zarr3", {"orbit_1": spectrogram_group(seed=1)})
    write_store(archive / "nested" / "fast.nc", "netcdf4", {"orbit_2": spectrogram_group(seed=2)})
    daily_cdf(archive / "nested", 3, n_time=200, n_energy=16)
    assert [Path(s).name for s in find_stores(archive)] == [
        "fast.zarr",
        "fast.nc",
        "syn_l2_esa_20200104_v01.cdf",
        HET_MASTER,
        HET,
    ]
    run = render_archive(archive, tmp_path / "plots", max_workers=2, **FAST)
    assert statuses(run) == {
        "fast.zarr:orbit_1": "ok",
        "fast.nc:orbit_2": "ok",
        "syn_l2_esa_20200104_v01.cdf:/": "ok",
        f"{HET}:/": "ok",
        f"{HET_MASTER}:/": "no_data",
    }
    assert (tmp_path / "plots/nested/syn_l2_esa_20200104_v01.cdf/root.png").is_file()


def test_bad_files_are_reported_by_name_and_the_rest_renders(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    good = daily_cdf(archive, 0, n_time=300, n_energy=16)
    whole = daily_cdf(tmp_path, 1, n_time=300, n_energy=16).read_bytes()
    truncated = archive / "syn_l2_esa_20200102_v01.cdf"
    truncated.write_bytes(whole[: len(whole) // 3])
    fake = archive / "notes.cdf"
    fake.write_text("these are my notes, not a CDF file")
    no_epoch = daily_cdf(archive, 2, n_time=300, n_energy=16, with_epoch=False)
    run = render_archive(archive, tmp_path / "plots", max_workers=2, **FAST)
    unreadable = {Path(p.store).name: p.message for p in run.unreadable}
    assert set(unreadable) == {truncated.name, "notes.cdf"}
    assert str(truncated) in unreadable[truncated.name]
    assert "cannot be read as a CDF file" in unreadable[truncated.name]
    assert str(fake) in unreadable["notes.cdf"] and "is not a CDF file" in unreadable["notes.cdf"]
    assert statuses(run) == {f"{good.name}:/": "ok", f"{no_epoch.name}:/": "error"}
    log = (archive / f"{no_epoch.name}.progress.json.log").read_text()
    assert f"store {str(no_epoch)!r}" in log and "variable 'eflux'" in log
    assert "attribute DEPEND_0 names 'Epoch', which is not a variable" in log
    # Ingest reports the same files and writes the others.
    ingested = ingest_cdf(archive, tmp_path / "out.zarr", max_workers=2, **FAST)
    by_name = {Path(s).name: st for s, st in ingested.statuses.items()}
    assert by_name == {
        good.name: "written",
        truncated.name: "error",
        "notes.cdf": "error",
        no_epoch.name: "written",
    }
    assert "is not a CDF file" in ingested.messages[str(fake)]


def test_a_missing_depend_1_without_a_fallback_names_variable_and_reference(
    tmp_path: Path,
) -> None:
    path = daily_cdf(tmp_path, 0, n_time=100, n_energy=8)
    spec = {"Dim_Sizes": [8], "Data_Type": 21}
    with _opened(str(path)) as cdf:
        flux_attrs = dict(cdf.varattsget("eflux"), DEPEND_1="energy_good")
    epoch, eflux, energy = read(path, "Epoch", "eflux", "energy")
    variables: list[Any] = [
        ({"Variable": "Epoch", "Data_Type": TT2000}, {}, epoch),
        ({"Variable": "eflux", **spec}, flux_attrs, eflux),
        # Two support variables of that shape: no guessing.
        ({"Variable": "energy", **spec}, {"UNITS": "eV"}, energy),
        ({"Variable": "energy_2", **spec}, {"UNITS": "eV"}, energy),
    ]
    broken = write_cdf(tmp_path / "broken_20200101_v01.cdf", variables)
    run = render_archive(broken, tmp_path / "plots", executor="serial", **FAST)
    assert statuses(run) == {f"{broken.name}:/": "error"}
    log = (tmp_path / f"{broken.name}.progress.json.log").read_text()
    assert "variable 'eflux': attribute DEPEND_1 names 'energy_good'" in log


def test_cdflib_output_goes_to_the_log_not_the_terminal(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = daily_cdf(tmp_path, 0, n_time=50, n_energy=8)
    original = cdflib.CDF.varget

    def chatty(self: Any, *args: Any, **kwargs: Any) -> Any:
        print("reading a variable, as older cdflib versions say")
        logging.getLogger("cdflib").warning("a cdflib warning")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cdflib.CDF, "varget", chatty)
    with caplog.at_level(logging.INFO, "batch_multi_plot_spectrogram"):
        plot = load_group(path)
    assert plot.datasets
    captured = capsys.readouterr()
    assert "reading a variable" not in captured.out + captured.err
    assert "a cdflib warning" not in captured.err
    messages = [r.getMessage() for r in caplog.records]
    assert any("cdflib printed: reading a variable" in m for m in messages)
    assert any("cdflib: a cdflib warning" in m for m in messages)


# -- ingest: incremental and crash-safe ---------------------------------------------------------


def _mtimes(store: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in store.rglob("*") if p.is_file()}


@pytest.mark.parametrize("suffix", [".zarr", ".nc"])
def test_ingest_is_incremental(tmp_path: Path, suffix: str) -> None:
    archive = tmp_path / "archive"
    archive.mkdir()
    files = [daily_cdf(archive, day, n_time=120, n_energy=8) for day in range(4)]
    store = tmp_path / f"store{suffix}"
    first = ingest_cdf(archive, store, max_workers=2, **FAST)
    assert first.counts()["written"] == 4
    before = _mtimes(store) if suffix == ".zarr" else {str(store): store.stat().st_mtime_ns}
    second = ingest_cdf(archive, store, max_workers=2, **FAST)
    assert second.counts() == {"written": 0, "skipped": 4, "no_data": 0, "error": 0}
    after = _mtimes(store) if suffix == ".zarr" else {str(store): store.stat().st_mtime_ns}
    assert after == before  # nothing written
    stamp = time.time() + 5
    os.utime(files[2], (stamp, stamp))
    third = ingest_cdf(archive, store, max_workers=2, **FAST)
    assert third.written() == [str(files[2])]
    # A newer version of a day replaces the group; the older one is left out, saying why.
    newer = daily_cdf(archive, 1, n_time=60, n_energy=8, version="v02", seed=99)
    fourth = ingest_cdf(archive, store, max_workers=2, **FAST)
    assert fourth.written() == [str(newer)]
    assert "superseded by" in fourth.messages[str(files[1])]
    with open_group(store, "syn_l2_esa/2020-01-02") as ds:
        assert ds.sizes["Epoch"] == 60 and ds.attrs["ingest_source"] == newer.name
    run = render_archive(store, tmp_path / "plots", max_workers=2, **FAST)
    assert run.counts() == {"ok": 4, "no_data": 0, "error": 0, "already_done": 0, "problems": 0}


def _end(proc: Any) -> None:
    """Kill a started command line (and its workers) if it still runs; close its pipes."""
    from test_cli import stop

    try:
        stop(proc)
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_ingest_survives_kill_9_at_any_moment(tmp_path: Path) -> None:
    from test_cli import start_cli

    archive = tmp_path / "archive"
    archive.mkdir()
    n_files = 16
    for day in range(n_files):
        daily_cdf(archive, day, n_time=2880, n_energy=32)
    store = tmp_path / "store.zarr"
    groups = store / "syn_l2_esa"
    rng = np.random.default_rng(5)
    kills = 0
    while kills < 3:
        done = len(list(groups.glob("20*"))) if groups.exists() else 0
        if done >= n_files - 2:
            break
        # Kill after a random number of further groups appear, at a random instant after.
        wait_for = int(rng.integers(0, 3))
        proc = start_cli("ingest", archive, "-o", store, "--workers", 2)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                now = len(list(groups.glob("20*"))) if groups.exists() else 0
                if now >= done + wait_for:
                    break
                time.sleep(0.02)
            time.sleep(float(rng.uniform(0.0, 0.4)))
        finally:
            _end(proc)
        kills += 1
        # Whenever it was killed, the store opens and every group in it is complete.
        if store.exists():
            for item in list_groups(store).items:
                assert load_group(store, item.group).datasets
    proc = start_cli("ingest", archive, "-o", store, "--workers", 2)
    try:
        _, err = proc.communicate(timeout=300)
    finally:
        _end(proc)
    assert proc.returncode == 0, err
    assert len(list(groups.glob("20*"))) == n_files
    assert not list(tmp_path.glob(".store.zarr.ingest-staging/*"))
    again = ingest_cdf(archive, store, executor="serial", **FAST)
    assert again.counts()["skipped"] == n_files


def test_ingest_refuses_a_second_run_on_the_same_store(tmp_path: Path) -> None:
    from filelock import FileLock

    from batch_multi_plot_spectrogram import ProgressLockedError

    daily_cdf(tmp_path, 0, n_time=50, n_energy=8)
    store = tmp_path / "out.zarr"
    with (
        FileLock(str(tmp_path / ".out.zarr.ingest.lock")),
        pytest.raises(ProgressLockedError, match="another run"),
    ):
        ingest_cdf(tmp_path, store, executor="serial", **FAST)


def test_the_ingest_command_line_exit_codes(tmp_path: Path) -> None:
    from test_cli import run_cli, shows

    archive = tmp_path / "archive"
    archive.mkdir()
    daily_cdf(archive, 0, n_time=60, n_energy=8)
    ok = run_cli("ingest", archive, "-o", tmp_path / "a.zarr", "--workers", 1)
    assert ok.returncode == 0, shows(ok)
    assert "written 1, skipped 0, no_data 0, error 0" in ok.stderr
    (archive / "broken.cdf").write_bytes(b"\xcd\xf3\x00\x01" + b"\x00" * 40)
    failed = run_cli("ingest", archive, "-o", tmp_path / "a.zarr", "--workers", 1)
    assert failed.returncode == 1, shows(failed)
    assert f"error: {archive / 'broken.cdf'}: " in failed.stderr
    assert "written 0, skipped 1, no_data 0, error 1" in failed.stderr
    usage = run_cli("ingest", archive, "-o", tmp_path / "a.txt")
    assert usage.returncode == 2, shows(usage)
    assert "Expected the output store to end in .zarr" in usage.stderr
