"""The command line, run as a user runs it: real subprocesses of ``batch-spectrograms``
(and ``python -m batch_multi_plot_spectrogram``) on real stores in a temporary folder.

The sample archive is copied first, so that the repository's sample folder never gets
progress files, logs or PNGs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import xarray as xr
from PIL import Image

from batch_multi_plot_spectrogram._schemas import load_schema
from store_factories import spectrogram_group, times, write_store

CLI = Path(sys.executable).with_name("batch-spectrograms")
SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "archive"
ZARR, NC, MMS = "fast_sample.zarr", "fast_sample.nc", "mms1_fpi_des_omni_20151201_derived.nc"
SAMPLE_STORES = (NC, ZARR, MMS)
FAST_ITEMS = ("2000/orbit_13314", "orbit_13312", "orbit_13313")
FAST_NO_DATA = ("2000/orbit_13315", "housekeeping")
SUMMARY = re.compile(
    r"^(interrupted: )?ok (\d+), no_data (\d+), error (\d+)(, [a-z ]+ \d+)* "
    r"in (\d+\.\d) s \((\d+\.\d\d) items/s\)$",
    re.MULTILINE,
)


# -- running the command line ----------------------------------------------------------


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``batch-spectrograms ARGS`` to the end; stdout and stderr are captured."""
    return subprocess.run(
        [str(CLI), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
        check=False,
    )


def start_cli(*args: object) -> subprocess.Popen[str]:
    """Start ``batch-spectrograms ARGS`` in its own session (so Ctrl-C can be imitated)."""
    return subprocess.Popen(
        [str(CLI), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill a started command line and its workers if it is still running; close its
    pipes whatever happened."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait(timeout=10)


def shows(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed assertion should show of a run."""
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def summary(stderr: str) -> dict[str, int]:
    """The counts of the summary line of ``render``."""
    match = SUMMARY.search(stderr)
    assert match, f"no summary line in:\n{stderr}"
    return {"ok": int(match[2]), "no_data": int(match[3]), "error": int(match[4])}


# -- archives ----------------------------------------------------------------------------


def copy_sample(dest: Path, names: Sequence[str] = SAMPLE_STORES) -> Path:
    """Copy the sample stores (and nothing recorded beside them) into ``dest``."""
    dest.mkdir(parents=True)
    for name in names:
        src = SAMPLE / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    return dest


def snapshot(folder: Path) -> dict[str, int]:
    """Every path under ``folder`` with its modification time."""
    return {
        path.relative_to(folder).as_posix(): path.stat().st_mtime_ns
        for path in sorted(folder.rglob("*"))
    }


def pngs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def mtimes(folder: Path) -> dict[str, int]:
    return {name: (folder / name).stat().st_mtime_ns for name in pngs(folder)}


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image.load()
        return np.asarray(image.convert("RGB")).astype(np.int16)


def coloured_fraction(image: np.ndarray) -> float:
    """The share of pixels with a clear hue: colormap cells, not the white background,
    black text or grey axes."""
    return float(((image.max(axis=-1) - image.min(axis=-1)) > 60).mean())


def progress_of(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, load_schema("progress.schema.json"))
    return document


def small_archive(folder: Path, **root_attrs: object) -> Path:
    """An archive of one Zarr store with one group, ``orbit_a``."""
    group = spectrogram_group(n_time=40, n_pitch=3, n_energy=16, seed=11)
    write_store(folder / "small.zarr", "zarr3", {"orbit_a": group}, root_attrs=root_attrs)
    return folder


def flux_without_bins() -> xr.Dataset:
    """A (time, channel) variable named by ``rows`` whose channels have no coordinate."""
    values = np.ones((12, 4), dtype="float32")
    return xr.Dataset(
        {"flux": (("time", "channel"), values, {"units": "counts/s"})},
        coords={"time": ("time", times(12))},
        attrs={"rows": "flux"},
    )


def bad_archive(folder: Path) -> Path:
    """An archive holding every kind of bad input next to good stores and groups."""
    no_time = spectrogram_group(seed=2).assign_coords(time=("time", np.arange(12.0)))
    write_store(
        folder / "bad.zarr",
        "zarr3",
        {
            "good": spectrogram_group(seed=1),
            "no_time": no_time,
            "no_coord": flux_without_bins(),
            "bad_y_scale": spectrogram_group(seed=4, var_attrs={"y_scale": "lg"}),
            "bad_z_min": spectrogram_group(seed=5, var_attrs={"z_min": "abc"}),
            "missing_row": spectrogram_group(seed=6, attrs={"rows": "ees, ghost"}),
            "empty_y": spectrogram_group(seed=8, var_attrs={"y_min": 1000.0, "y_max": 10.0}),
        },
    )
    write_store(folder / "fine.nc", "netcdf4", {"orbit_1": spectrogram_group(seed=7)})
    (folder / "broken.nc").write_text("not a NetCDF file\n", encoding="utf-8")
    return folder


def bad_input_messages(archive: Path) -> dict[str, str]:
    """The message each problem of :func:`bad_archive` must produce."""
    store = f"store {str(archive / 'bad.zarr')!r}"
    return {
        "broken.nc": f"{str(archive / 'broken.nc')!r} is not a NetCDF file: it starts with "
        "b'not a Ne'",
        "no_time": f"{store}, group 'no_time', variable 'ees': none of its dimensions "
        "('time', 'pitch_angle', 'energy') has a time coordinate.",
        "no_coord": f"{store}, group 'no_coord', variable 'flux': its dimension 'channel' "
        "matches no coordinate variable, so the bin centres are unknown.",
        "bad_y_scale": f"{store}, group 'bad_y_scale', variable 'ees', attribute 'y_scale': "
        "Expected 'linear' or 'log'. Got 'lg' instead.",
        "bad_z_min": f"{store}, group 'bad_z_min', variable 'ees', attribute 'z_min': "
        "Expected a number. Got 'abc' instead.",
        "missing_row": f"{store}, group 'missing_row': rows names 'ghost', which is not a "
        "variable of the group.",
    }


BAD_CONFIG = """\
colormap = "viridis"
z_scal = "log"

[variables."ees"]
y_min = "low"
"""


def config_messages(path: Path) -> list[str]:
    name = f"config file {str(path)!r}"
    return [
        f"{name}: unknown key 'z_scal' at the top level.",
        "Did you mean 'z_scale'?",
        f"{name}: key 'y_min' in [variables.\"ees\"]: Expected a number. Got 'low' instead.",
    ]


# -- fixtures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    archive: Path
    out: Path
    result: subprocess.CompletedProcess[str]
    sample_before: dict[str, int]


@pytest.fixture(scope="module")
def rendered_sample(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The copied sample archive after one ``render`` with the default options."""
    root = tmp_path_factory.mktemp("sample")
    before = snapshot(SAMPLE)
    archive = copy_sample(root / "archive")
    out = root / "plots"
    result = run_cli("render", archive, "-o", out)
    return Rendered(archive, out, result, before)


@pytest.fixture(scope="module")
def big_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 30 small groups, long enough to be interrupted mid-run."""
    root = tmp_path_factory.mktemp("big")
    groups = {f"orbit_{i:02d}": spectrogram_group(n_time=16, seed=i) for i in range(30)}
    write_store(root / "many.zarr", "zarr3", groups)
    return root


@pytest.fixture
def big_archive(big_template: Path, tmp_path: Path) -> Path:
    archive = tmp_path / "big"
    shutil.copytree(big_template, archive)
    return archive


@pytest.fixture(scope="module")
def styled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A one-group archive whose root asks for log scales, and its default picture."""
    root = tmp_path_factory.mktemp("styled")
    archive = small_archive(root / "archive", y_scale="log", z_scale="log")
    out = root / "default"
    result = run_cli(
        "render", archive, "-o", out, "--workers", "1", "--progress-dir", root / "progress"
    )
    assert result.returncode == 0, shows(result)
    return archive, pixels(out / "small.zarr" / "orbit_a.png")


def _make_writable(path: Path) -> None:
    for folder, dirs, files in os.walk(path):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)


@pytest.fixture
def read_only_archive(tmp_path: Path) -> Iterator[tuple[Path, bool]]:
    """A copy of the sample Zarr store that nobody may write to: permissions removed and,
    for root (whom permissions do not stop), the folder made immutable when possible.

    Yields the archive and whether writing into it really fails for this process.
    """
    archive = copy_sample(tmp_path / "read_only", [ZARR])
    for folder, dirs, files in os.walk(archive, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o555)
    os.chmod(archive, 0o555)
    immutable = False
    if os.geteuid() == 0 and shutil.which("chattr"):
        immutable = (
            subprocess.run(
                ["chattr", "+i", str(archive)], capture_output=True, check=False
            ).returncode
            == 0
        )
    probe = archive / "probe"
    try:
        probe.touch()
    except OSError:
        enforced = True
    else:
        probe.unlink()
        enforced = False
    try:
        yield archive, enforced
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(archive)], check=True)
        _make_writable(archive)


# -- 1. render on the sample archive ------------------------------------------------------


def test_render_writes_exactly_one_png_per_group_with_spectrograms(
    rendered_sample: Rendered,
) -> None:
    result = rendered_sample.result
    assert result.returncode == 0, shows(result)
    expected = sorted(
        [f"{store}/{item}.png" for store in (ZARR, NC) for item in FAST_ITEMS]
        + [f"{MMS}/root.png"]
    )
    assert pngs(rendered_sample.out) == expected
    # Nothing else is left in the output folder (no temporary files): the figures, and the
    # gallery: its page and index, and each item's thumbnail (for a figure) and record.
    gallery = ["gallery.js", "gallery.json", "index.html", f"{MMS}/.thumbs/root.jpg"]
    gallery.append(f"{MMS}/.thumbs/root.json")
    for store in (ZARR, NC):
        gallery.extend(
            f"{store}/.thumbs/{item}.{ext}" for item in FAST_ITEMS for ext in ("jpg", "json")
        )
        gallery.extend(f"{store}/.thumbs/{item}.json" for item in FAST_NO_DATA)
    files = [p for p in rendered_sample.out.rglob("*") if p.is_file()]
    assert sorted(p.relative_to(rendered_sample.out).as_posix() for p in files) == sorted(
        expected + gallery
    )


def test_render_records_progress_beside_each_store(rendered_sample: Rendered) -> None:
    archive = rendered_sample.archive
    for store in (ZARR, NC):
        document = progress_of(archive / f"{store}.progress.json")
        assert sorted(document["completed_items"]) == sorted(FAST_ITEMS)
        assert sorted(document["no_data"]) == sorted(FAST_NO_DATA)
        assert document["errors"] == []
        assert document["schema_version"] == 1
    mms = progress_of(archive / f"{MMS}.progress.json")
    assert (mms["completed_items"], mms["no_data"], mms["errors"]) == (["/"], [], [])


def test_rendered_pngs_are_real_pictures_of_the_data(rendered_sample: Rendered) -> None:
    out = rendered_sample.out
    for name in pngs(out):
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            image.verify()
        picture = pixels(out / name)
        assert picture.shape[0] > 300 and picture.shape[1] > 600, name
        assert coloured_fraction(picture) > 0.1, f"{name} shows no data"
    # The same archive as Zarr and as NetCDF gives the same pictures.
    for item in FAST_ITEMS:
        zarr_png = pixels(out / ZARR / f"{item}.png")
        nc_png = pixels(out / NC / f"{item}.png")
        assert np.array_equal(zarr_png, nc_png), item


def test_render_summary_states_counts_time_rate_and_logs(rendered_sample: Rendered) -> None:
    stderr = rendered_sample.result.stderr
    match = SUMMARY.search(stderr)
    assert match, stderr
    assert match[1] is None
    assert summary(stderr) == {"ok": 7, "no_data": 4, "error": 0}
    elapsed, rate = float(match[6]), float(match[7])
    assert elapsed > 0
    assert rate == pytest.approx(11 / elapsed, rel=0.1, abs=0.02)
    for store in SAMPLE_STORES:
        log = rendered_sample.archive / f"{store}.progress.json.log"
        assert f"log: {log}" in stderr.splitlines()
        assert "batch finished" in log.read_text(encoding="utf-8")
    assert "Traceback" not in stderr


def test_render_leaves_the_repository_sample_folder_alone(rendered_sample: Rendered) -> None:
    assert rendered_sample.result.returncode == 0, shows(rendered_sample.result)
    assert snapshot(SAMPLE) == rendered_sample.sample_before


def test_second_render_renders_nothing(rendered_sample: Rendered) -> None:
    before = mtimes(rendered_sample.out)
    assert len(before) == 7
    result = run_cli("render", rendered_sample.archive, "-o", rendered_sample.out)
    assert result.returncode == 0, shows(result)
    assert mtimes(rendered_sample.out) == before
    for store, skipped in ((ZARR, 5), (NC, 5), (MMS, 1)):
        log = (rendered_sample.archive / f"{store}.progress.json.log").read_text("utf-8")
        last = [line for line in log.splitlines() if "batch finished" in line][-1]
        assert f"0 ok, 0 no_data, 0 error, {skipped} skipped as complete" in last, last


def test_python_dash_m_runs_the_same_command_line(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive")
    out = tmp_path / "plots"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "batch_multi_plot_spectrogram",
            "render",
            str(archive),
            "-o",
            str(out),
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )
    assert result.returncode == 0, shows(result)
    assert pngs(out) == ["small.zarr/orbit_a.png"]
    assert summary(result.stderr) == {"ok": 1, "no_data": 0, "error": 0}


# -- 3. list -------------------------------------------------------------------------------


def listed(stdout: str) -> dict[str, dict[str, str]]:
    """``list`` output as store -> {group: status}."""
    stores: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in stdout.splitlines():
        if line.startswith("  "):
            status, group = line.split()
            current[group] = status
        else:
            current = stores.setdefault(Path(line).name, {})
    return stores


def test_list_shows_every_item_pending_then_its_status(
    tmp_path: Path, rendered_sample: Rendered
) -> None:
    fast_groups = FAST_ITEMS + FAST_NO_DATA
    before = run_cli("list", copy_sample(tmp_path / "archive"))
    assert before.returncode == 0, shows(before)
    assert listed(before.stdout) == {
        NC: dict.fromkeys(fast_groups, "pending"),
        ZARR: dict.fromkeys(fast_groups, "pending"),
        MMS: {"/": "pending"},
    }
    after = run_cli("list", rendered_sample.archive)
    assert after.returncode == 0, shows(after)
    statuses = {**dict.fromkeys(FAST_ITEMS, "ok"), **dict.fromkeys(FAST_NO_DATA, "no_data")}
    assert listed(after.stdout) == {NC: statuses, ZARR: statuses, MMS: {"/": "ok"}}


# -- 2. options ----------------------------------------------------------------------------


def test_progress_dir_keeps_a_read_only_archive_untouched(
    read_only_archive: tuple[Path, bool], tmp_path: Path
) -> None:
    archive, _ = read_only_archive
    before = snapshot(archive)
    out, progress = tmp_path / "plots", tmp_path / "progress"
    result = run_cli("render", archive, "-o", out, "--progress-dir", progress, "--workers", "1")
    assert result.returncode == 0, shows(result)
    assert pngs(out) == sorted(f"{ZARR}/{item}.png" for item in FAST_ITEMS)
    assert snapshot(archive) == before
    document = progress_of(progress / f"{ZARR}.progress.json")
    assert sorted(document["completed_items"]) == sorted(FAST_ITEMS)
    assert f"log: {progress / ZARR}.progress.json.log" in result.stderr
    listing = run_cli("list", archive, "--progress-dir", progress)
    assert listing.returncode == 0, shows(listing)
    assert listed(listing.stdout)[ZARR]["orbit_13312"] == "ok"


def test_unwritable_archive_without_progress_dir_is_refused_clearly(
    read_only_archive: tuple[Path, bool], tmp_path: Path
) -> None:
    archive, enforced = read_only_archive
    if not enforced:
        pytest.skip("this process can write into any folder (root without chattr)")
    result = run_cli("render", archive, "-o", tmp_path / "plots", "--workers", "1")
    assert result.returncode == 3, shows(result)
    assert f"cannot write {archive / ZARR!s}.progress.json" in result.stderr.replace("'", "")
    assert "--progress-dir DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_lists_items_and_writes_nothing(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive")
    before = snapshot(archive)
    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--dry-run")
    assert result.returncode == 0, shows(result)
    lines = result.stdout.splitlines()
    for store in (ZARR, NC):
        assert f"{archive / store}: 5 item(s)" in lines
        # An all-fill group is only found to be empty when it is read.
        for item in (*FAST_ITEMS, "2000/orbit_13315"):
            assert f"  {item} -> {out / store / item}.png" in lines
        assert "  housekeeping: no spectrogram variable (no_data)" in lines
    assert f"  / -> {out / MMS / 'root.png'}" in lines
    assert not out.exists()
    assert snapshot(archive) == before


def test_changed_colormap_is_refused_until_ignore_progress(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive", y_scale="log", z_scale="log")
    out = tmp_path / "plots"
    png = out / "small.zarr" / "orbit_a.png"
    progress = archive / "small.zarr.progress.json"

    first = run_cli("render", archive, "-o", out, "--workers", "1")
    assert first.returncode == 0, shows(first)
    default, stamp, recorded = pixels(png), png.stat().st_mtime_ns, progress.read_bytes()

    refused = run_cli("render", archive, "-o", out, "--workers", "1", "--colormap", "plasma")
    assert refused.returncode == 3, shows(refused)
    assert f"{str(progress)!r} was written by a run with other settings" in refused.stderr
    assert "Pass --ignore-progress to start afresh" in refused.stderr
    assert 'colormap: recorded "viridis", now "plasma"' in refused.stderr
    assert "ignore_progress_json" not in refused.stderr  # the API's words, not the CLI's
    assert png.stat().st_mtime_ns == stamp
    assert progress.read_bytes() == recorded

    fresh = run_cli(
        "render", archive, "-o", out, "--workers", "1", "--colormap", "plasma", "--ignore-progress"
    )
    assert fresh.returncode == 0, shows(fresh)
    plasma = pixels(png)
    assert not np.array_equal(plasma, default)
    assert coloured_fraction(plasma) > 0.1
    assert progress_of(progress)["completed_items"] == ["orbit_a"]
    assert progress_of(progress)["settings"]["colormap"] == "plasma"

    back = run_cli("render", archive, "-o", out, "--workers", "1", "--colormap", "viridis")
    assert back.returncode == 3, shows(back)
    assert 'colormap: recorded "plasma", now "viridis"' in back.stderr


def test_a_wrong_flag_is_reported_as_that_flag(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive")
    result = run_cli("render", archive, "-o", tmp_path / "plots", "--colormap", "viridiss")
    assert result.returncode == 2, shows(result)
    assert "Invalid value for '--colormap'" in result.stderr
    assert "Got 'viridiss' instead. Did you mean 'viridis'?" in result.stderr
    assert "config" not in result.stderr
    fmt = run_cli("render", archive, "-o", tmp_path / "plots", "--format", "gif")
    assert fmt.returncode == 2, shows(fmt)
    assert "Invalid value for '--format': Expected one of 'png', 'pdf', 'svg'" in fmt.stderr
    budget = run_cli("render", archive, "-o", tmp_path / "plots", "--memory-budget", "lots")
    assert budget.returncode == 2, shows(budget)
    assert "Invalid value for '--memory-budget': Expected a size" in budget.stderr
    assert not (tmp_path / "plots").exists()


def test_a_memory_budget_renders_and_resumes_under_another(tmp_path: Path) -> None:
    # The budget is a run option like --workers: it is not a setting that a resumed run
    # must repeat.
    archive = small_archive(tmp_path / "archive")
    out = tmp_path / "plots"
    first = run_cli("render", archive, "-o", out, "--workers", "1", "--memory-budget", "50MB")
    assert first.returncode == 0, shows(first)
    assert pngs(out)
    again = run_cli("render", archive, "-o", out, "--workers", "1", "--memory-budget", "2GiB")
    assert again.returncode == 0, shows(again)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfecolormap = 'plasma'\n", "is not UTF-8 text: byte 0xff at position 0"),
        (b"colormap = \n", "is not valid TOML"),
    ],
    ids=["not-utf8", "broken-toml"],
)
def test_render_and_validate_report_a_bad_config_file_alike(
    content: bytes, expected: str, tmp_path: Path
) -> None:
    archive = small_archive(tmp_path / "archive")
    config = tmp_path / "plot.toml"
    config.write_bytes(content)
    rendered = run_cli("render", archive, "-o", tmp_path / "plots", "--config", config)
    validated = run_cli("validate", archive, "--config", config)
    assert rendered.returncode == validated.returncode == 2, shows(rendered)
    assert "Traceback" not in rendered.stderr + validated.stderr
    (line,) = [x for x in rendered.stderr.splitlines() if x.startswith("error: ")]
    message = line.removeprefix("error: ")
    assert message.startswith(f"config file {str(config)!r} ") and expected in message
    assert f"config: {config}: {message}" in validated.stdout
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_format_writes_that_kind_of_file(fmt: str, tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive")
    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--workers", "1", "--format", fmt)
    assert result.returncode == 0, shows(result)
    written = out / "small.zarr" / f"orbit_a.{fmt}"
    head = written.read_bytes()[:64]
    assert head.startswith(b"%PDF-") if fmt == "pdf" else b"<svg" in written.read_bytes()[:2000]
    assert not list(out.rglob("*.png"))
    assert progress_of(archive / "small.zarr.progress.json")["settings"]["output_format"] == fmt


@pytest.mark.parametrize(
    "option",
    [["--colormap", "plasma"], ["--y-scale", "linear"], ["--z-scale", "linear"]],
    ids=["colormap", "y-scale", "z-scale"],
)
def test_style_options_win_over_the_store_attributes(
    option: list[str], styled: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    archive, default = styled
    out = tmp_path / "plots"
    result = run_cli(
        "render",
        archive,
        "-o",
        out,
        "--workers",
        "1",
        "--progress-dir",
        tmp_path / "progress",
        *option,
    )
    assert result.returncode == 0, shows(result)
    picture = pixels(out / "small.zarr" / "orbit_a.png")
    assert picture.shape == default.shape
    assert not np.array_equal(picture, default)
    assert coloured_fraction(picture) > 0.1


def test_config_file_styles_like_the_same_options(
    styled: tuple[Path, np.ndarray], tmp_path: Path
) -> None:
    archive, default = styled
    config = tmp_path / "plot.toml"
    config.write_text('colormap = "plasma"\ny_scale = "linear"\n', encoding="utf-8")
    by_file = run_cli(
        "render",
        archive,
        "-o",
        tmp_path / "a",
        "--workers",
        "1",
        "--progress-dir",
        tmp_path / "pa",
        "--config",
        config,
    )
    by_options = run_cli(
        "render",
        archive,
        "-o",
        tmp_path / "b",
        "--workers",
        "1",
        "--progress-dir",
        tmp_path / "pb",
        "--colormap",
        "plasma",
        "--y-scale",
        "linear",
    )
    assert by_file.returncode == 0, shows(by_file)
    assert by_options.returncode == 0, shows(by_options)
    from_file = pixels(tmp_path / "a" / "small.zarr" / "orbit_a.png")
    assert np.array_equal(from_file, pixels(tmp_path / "b" / "small.zarr" / "orbit_a.png"))
    assert not np.array_equal(from_file, default)


def interrupt_when(proc: subprocess.Popen[str], seen: Callable[[], Any]) -> tuple[Any, str]:
    """Poll ``seen()`` while the command runs; as soon as it returns something, Ctrl-C the
    command's process group. Return what was seen (None if never) and its stderr."""
    found = None
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            found = seen()
            if found is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)  # seen: no need to wait for the rest
                break
            found = None
            time.sleep(0.02)
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    return found, stderr


def test_workers_and_flush_batch_size_save_progress_during_the_run(big_archive: Path) -> None:
    out = big_archive.parent / "plots"
    progress = big_archive / "many.zarr.progress.json"
    proc = start_cli(
        "render",
        big_archive,
        "-o",
        out,
        "--workers",
        "1",
        "--flush-batch-size",
        "2",
        "--log-flush-batch-size",
        "1000",
    )

    def saved_items() -> int | None:
        if not progress.exists():
            return None
        count = len(progress_of(progress)["completed_items"])
        return count if count >= 2 else None

    seen_mid_run, stderr = interrupt_when(proc, saved_items)
    assert seen_mid_run is not None and seen_mid_run < 30, f"no progress saved mid-run\n{stderr}"
    assert proc.returncode == 130, stderr
    assert "on 1 local worker process(es)" in stderr
    assert len(progress_of(progress)["completed_items"]) >= seen_mid_run


def test_log_flush_batch_size_writes_the_log_before_progress(big_archive: Path) -> None:
    out = big_archive.parent / "plots"
    progress = big_archive / "many.zarr.progress.json"
    log = Path(f"{progress}.log")
    proc = start_cli(
        "render",
        big_archive,
        "-o",
        out,
        "--workers",
        "1",
        "--flush-batch-size",
        "1000",
        "--log-flush-batch-size",
        "1",
    )

    def logged_and_saved() -> tuple[int, bool] | None:
        if len(pngs(out)) < 4:
            return None
        logged = log.read_text("utf-8").count(" ok ") if log.exists() else 0
        return logged, progress.exists()

    mid_run, stderr = interrupt_when(proc, logged_and_saved)
    assert mid_run is not None, stderr
    logged, saved = mid_run
    assert logged >= 1, "the log was not written item by item"
    assert not saved, "progress was saved before 1000 items finished"
    # Ctrl-C saves the progress at once.
    assert proc.returncode == 130, stderr
    assert len(progress_of(progress)["completed_items"]) >= logged


def test_item_timeout_fails_only_slow_items(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive")
    generous = run_cli(
        "render",
        archive,
        "-o",
        tmp_path / "a",
        "--workers",
        "1",
        "--progress-dir",
        tmp_path / "pa",
        "--item-timeout",
        "120",
    )
    assert generous.returncode == 0, shows(generous)
    assert pngs(tmp_path / "a") == ["small.zarr/orbit_a.png"]

    tight = run_cli(
        "render",
        archive,
        "-o",
        tmp_path / "b",
        "--workers",
        "1",
        "--progress-dir",
        tmp_path / "pb",
        "--item-timeout",
        "0.01",
    )
    assert tight.returncode == 1, shows(tight)
    store = tmp_path / "archive" / "small.zarr"
    assert f"error: item 'orbit_a' (#0) of store {str(store)!r}: ItemTimeoutError" in tight.stderr
    assert pngs(tmp_path / "b") == []
    assert progress_of(tmp_path / "pb" / "small.zarr.progress.json")["errors"] == ["orbit_a"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["render", "{missing}", "-o", "{out}"], "error: {missing!r} does not exist."),
        (["render", "{empty}", "-o", "{out}"], "error: No stores found under {empty!r}"),
        (["list", "{missing}"], "error: {missing!r} does not exist."),
        (["render", "{archive}", "-o", "{out}", "--workers", "0"], "'--workers'"),
        (["render", "{archive}", "-o", "{out}", "--y-scale", "lg"], "'--y-scale'"),
        (["render", "{archive}", "-o", "{out}", "--item-timeout", "0"], "'--item-timeout'"),
        (
            ["render", "{archive}", "-o", "{out}", "--flush-batch-size", "0"],
            "'--flush-batch-size'",
        ),
        (
            ["render", "{archive}", "-o", "{out}", "--progress-dir", "{file}/sub"],
            "error: --progress-dir '{file}/sub' cannot be made a folder",
        ),
        (
            ["render", "{archive}", "-o", "{out}", "--config", "{missing}"],
            "error: config file {missing!r} does not exist.",
        ),
    ],
    ids=[
        "missing-path",
        "no-stores",
        "list-missing-path",
        "workers-0",
        "y-scale-lg",
        "item-timeout-0",
        "flush-batch-size-0",
        "progress-dir-under-a-file",
        "missing-config",
    ],
)
def test_bad_usage_exits_2_with_a_message(args: list[str], expected: str, tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no stores here\n", "utf-8")
    (tmp_path / "file").write_text("a file\n", "utf-8")
    names = {
        "missing": str(tmp_path / "missing"),
        "empty": str(tmp_path / "empty"),
        "archive": str(small_archive(tmp_path / "archive")),
        "out": str(tmp_path / "plots"),
        "file": str(tmp_path / "file"),
    }
    result = run_cli(*(arg.format(**names) for arg in args))
    assert result.returncode == 2, shows(result)
    assert expected.format(**names) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "plots").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('z_scal = "log"\n', ["unknown key 'z_scal' at the top level", "'z_scale'"]),
        (
            '[variables."ees"]\ny_min = "low"\n',
            ["key 'y_min' in [variables.\"ees\"]: Expected a number. Got 'low' instead."],
        ),
        ("colormap = 3\n", ["key 'colormap' at the top level", "Got 3 instead."]),
    ],
    ids=["unknown-key", "wrong-type-in-section", "wrong-type"],
)
def test_bad_config_file_exits_2_naming_file_and_key(
    text: str, expected: list[str], tmp_path: Path
) -> None:
    archive = small_archive(tmp_path / "archive")
    config = tmp_path / "plot.toml"
    config.write_text(text, encoding="utf-8")
    result = run_cli("render", archive, "-o", tmp_path / "plots", "--config", config)
    assert result.returncode == 2, shows(result)
    assert f"error: config file {str(config)!r}: " in result.stderr
    for part in expected:
        assert part in result.stderr
    assert not (tmp_path / "plots").exists()
    assert sorted(p.name for p in archive.iterdir()) == ["small.zarr"]


# -- 4 and 7. bad input: clear messages, the rest still renders ---------------------------


def test_bad_stores_and_groups_are_reported_and_the_rest_renders(tmp_path: Path) -> None:
    archive = bad_archive(tmp_path / "archive")
    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--workers", "1")
    assert result.returncode == 1, shows(result)
    # A row naming a missing variable costs that row only: the group is drawn without it.
    assert pngs(out) == ["bad.zarr/good.png", "bad.zarr/missing_row.png", "fine.nc/orbit_1.png"]
    stderr = result.stderr
    for problem, message in bad_input_messages(archive).items():
        assert message in stderr, problem
    assert "error: item 'empty_y'" in stderr
    assert "problem: item 'missing_row' (#" in stderr
    assert "Traceback" not in stderr
    document = progress_of(archive / "bad.zarr.progress.json")
    assert document["completed_items"] == ["good", "missing_row"]
    assert sorted(document["errors"]) == [
        "bad_y_scale",
        "bad_z_min",
        "empty_y",
        "no_coord",
        "no_time",
    ]
    assert summary(stderr) == {"ok": 3, "no_data": 0, "error": 5}
    assert ", problems 1" in stderr
    assert "unreadable stores 1" in stderr
    # The tracebacks are in the log.
    log = (archive / "bad.zarr.progress.json.log").read_text("utf-8")
    assert log.count("Traceback (most recent call last)") == 5


def test_a_missing_row_is_drawn_around_and_exits_1(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write_store(
        archive / "orbits.zarr",
        "zarr3",
        {
            "orbit_1": spectrogram_group(seed=1),
            "orbit_2": spectrogram_group(seed=2, attrs={"rows": ["ees", "ies"]}),
            "orbit_3": spectrogram_group(seed=3),
        },
    )
    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--workers", "1")
    assert result.returncode == 1, shows(result)
    assert pngs(out) == [f"orbits.zarr/orbit_{n}.png" for n in (1, 2, 3)]
    store = str(archive / "orbits.zarr")
    assert (
        f"problem: item 'orbit_2' (#1) of store {store!r}: store {store!r}, "
        "group 'orbit_2': rows names 'ies', which is not a variable of the group."
    ) in result.stderr
    assert summary(result.stderr) == {"ok": 3, "no_data": 0, "error": 0}
    assert ", problems 1" in result.stderr
    recorded = progress_of(archive / "orbits.zarr.progress.json")
    assert "rows names 'ies'" in " ".join(recorded["problems"]["orbit_2"])


# -- 5. validate ---------------------------------------------------------------------------


def test_validate_reports_every_problem_in_one_run(tmp_path: Path) -> None:
    archive = bad_archive(tmp_path / "archive")
    config = tmp_path / "plot.toml"
    config.write_text(BAD_CONFIG, encoding="utf-8")
    before = snapshot(archive)
    result = run_cli("validate", archive, "--config", config)
    assert result.returncode == 2, shows(result)
    for problem, message in bad_input_messages(archive).items():
        assert message in result.stdout, problem
    for message in config_messages(config):
        assert message in result.stdout
    assert (
        f"store {str(archive / 'bad.zarr')!r}, group 'empty_y', variable 'ees', attributes "
        "'y_min' and 'y_max': Expected y_min below y_max. Got y_min=1000.0 and y_max=10.0"
    ) in result.stdout
    # One line per problem: the config file, six groups and the broken file.
    assert "8 problem(s) found." in result.stderr
    assert "[good]" not in result.stdout
    assert "fine.nc" not in result.stdout
    assert snapshot(archive) == before


def test_validate_accepts_the_clean_sample_archive(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive")
    before = snapshot(archive)
    result = run_cli("validate", archive)
    assert result.returncode == 0, shows(result)
    assert result.stdout == ""
    assert "no problems found." in result.stderr
    assert snapshot(archive) == before


def test_validate_a_missing_path_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = run_cli("validate", missing)
    assert result.returncode == 2, shows(result)
    assert f"store: {missing}: {str(missing)!r} does not exist." in result.stdout


# -- 6. Ctrl-C -----------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["process-group", "main-process"])
def test_sigint_stops_promptly_and_a_rerun_completes(big_archive: Path, target: str) -> None:
    out = big_archive.parent / "plots"
    progress = big_archive / "many.zarr.progress.json"
    proc = start_cli(
        "render", big_archive, "-o", out, "--workers", "1", "--flush-batch-size", "1000"
    )
    try:
        deadline = time.monotonic() + 60
        while len(pngs(out)) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        if target == "process-group":  # what Ctrl-C in a terminal does
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        # Promptly: within a minute even on a busy machine (the items in flight are
        # stopped, not waited for; a run of 30 items takes several minutes here).
        _, stderr = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    document = progress_of(progress)
    done = sorted(document["completed_items"])
    assert 1 <= len(done) < 30
    assert document["errors"] == []
    assert set(pngs(out)) >= {f"many.zarr/{key}.png" for key in done}
    match = SUMMARY.search(stderr)
    assert match and match[1] == "interrupted: ", stderr
    assert summary(stderr) == {"ok": len(done), "no_data": 0, "error": 0}
    assert f"log: {progress}.log" in stderr.splitlines()
    assert stderr.splitlines()[-1] == (
        "Progress is saved: run the same command again to resume (finished items are skipped)."
    )
    if target != "process-group":
        return  # one rerun is enough
    kept = {key: (out / "many.zarr" / f"{key}.png").stat().st_mtime_ns for key in done}

    rerun = run_cli("render", big_archive, "-o", out, "--workers", "1")
    assert rerun.returncode == 0, shows(rerun)
    assert pngs(out) == [f"many.zarr/orbit_{i:02d}.png" for i in range(30)]
    assert {key: (out / "many.zarr" / f"{key}.png").stat().st_mtime_ns for key in done} == kept
    assert len(progress_of(progress)["completed_items"]) == 30
    log = Path(f"{progress}.log").read_text("utf-8")
    finished = [line for line in log.splitlines() if "batch finished" in line]
    assert f"{30 - len(done)} ok, 0 no_data, 0 error, {len(done)} skipped" in finished[-1]


# -- 8. the gallery -------------------------------------------------------------------------


def gallery_of(out: Path) -> dict[str, Any]:
    document = json.loads((out / "gallery.json").read_text(encoding="ascii"))
    assert isinstance(document, dict)
    return document


def statuses_in(document: dict[str, Any]) -> dict[str, str]:
    return {f"{e['store']}:{e['group']}": e["status"] for e in document["items"]}


def test_render_writes_the_gallery_and_says_where(rendered_sample: Rendered) -> None:
    out = rendered_sample.out
    document = gallery_of(out)
    assert document["state"] == "complete"
    assert document["counts"] == {"ok": 7, "no_data": 4, "error": 0, "pending": 0}
    lines = rendered_sample.result.stderr.splitlines()
    assert f"gallery: {out / 'index.html'}" in lines
    for entry in document["items"]:
        if entry["status"] == "ok":
            assert (out / entry["thumb"]).is_file()


def test_no_gallery_renders_figures_only(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive")
    out = tmp_path / "plots"
    result = run_cli("render", archive, "-o", out, "--workers", "1", "--no-gallery")
    assert result.returncode == 0, shows(result)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "small.zarr",
        "small.zarr/orbit_a.png",
    ]
    assert "gallery:" not in result.stderr


def test_gallery_command_rebuilds_the_page_of_a_copied_folder(
    rendered_sample: Rendered, tmp_path: Path
) -> None:
    copied = tmp_path / "copied"
    shutil.copytree(rendered_sample.out, copied)
    for name in ("index.html", "gallery.json", "gallery.js"):
        (copied / name).unlink()
    result = run_cli("gallery", copied)
    assert result.returncode == 0, shows(result)
    assert "11 item(s): 7 ok, 4 no_data" in result.stderr
    assert f"gallery: {copied / 'index.html'}" in result.stderr
    assert statuses_in(gallery_of(copied)) == statuses_in(gallery_of(rendered_sample.out))
    assert (copied / "index.html").is_file()


@pytest.mark.parametrize("what", ["missing", "file"])
def test_gallery_of_no_folder_exits_2(tmp_path: Path, what: str) -> None:
    target = tmp_path / what
    if what == "file":
        target.write_text("not a folder\n", encoding="utf-8")
    result = run_cli("gallery", target)
    assert result.returncode == 2, shows(result)
    reason = "does not exist" if what == "missing" else "is not a folder"
    assert f"error: {str(target)!r} {reason}." in result.stderr
    assert "Traceback" not in result.stderr


def test_an_interrupted_run_leaves_a_true_gallery_and_a_rerun_completes_it(
    big_archive: Path,
) -> None:
    out = big_archive.parent / "plots"
    progress = big_archive / "many.zarr.progress.json"
    proc = start_cli("render", big_archive, "-o", out, "--workers", "1", "--flush-batch-size", "2")
    seen, stderr = interrupt_when(proc, lambda: len(pngs(out)) >= 3 or None)
    assert seen is not None, stderr
    assert proc.returncode == 130, stderr
    document = gallery_of(out)
    done = set(progress_of(progress)["completed_items"])
    assert 1 <= len(done) < 30
    assert document["state"] == "incomplete"
    assert statuses_in(document) == {
        f"many.zarr:orbit_{i:02d}": "ok" if f"orbit_{i:02d}" in done else "pending"
        for i in range(30)
    }
    for entry in document["items"]:
        if entry["status"] == "ok":
            assert (out / entry["thumb"]).is_file()

    rerun = run_cli("render", big_archive, "-o", out, "--workers", "1")
    assert rerun.returncode == 0, shows(rerun)
    document = gallery_of(out)
    assert document["state"] == "complete"
    assert set(statuses_in(document).values()) == {"ok"}
    assert all((out / e["thumb"]).is_file() for e in document["items"])


def test_a_killed_run_leaves_a_whole_gallery_that_the_folder_can_rebuild(
    big_archive: Path,
) -> None:
    out = big_archive.parent / "plots"
    proc = start_cli("render", big_archive, "-o", out, "--workers", "1", "--flush-batch-size", "1")
    try:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if (out / "gallery.json").exists() and len(pngs(out)) >= 4:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)  # no handler, no clean-up: a power cut
        proc.communicate(timeout=30)
    finally:
        stop(proc)
    killed = gallery_of(out)  # whole: written atomically
    assert killed["state"] == "running"
    assert len(killed["items"]) == 30
    for entry in killed["items"]:
        if entry["status"] == "ok":
            assert (out / entry["thumb"]).is_file() and (out / entry["figure"]).is_file()
    result = run_cli("gallery", out)
    assert result.returncode == 0, shows(result)
    rebuilt = statuses_in(gallery_of(out))
    # The records tell at least what the last index did, and every figure on disk is in.
    assert {k for k, v in statuses_in(killed).items() if v == "ok"} <= {
        k for k, v in rebuilt.items() if v == "ok"
    }
    assert {f"many.zarr:{Path(p).stem}" for p in pngs(out)} <= set(rebuilt)
