"""The archive runner from Python: render_archive, plan_archive, list_archive, a store
format added in a few lines, and the output formats."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
import zipfile
from base64 import b64decode
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from batch_multi_plot_spectrogram import (
    ProgressFileError,
    ProgressLockedError,
    SettingError,
    StoreError,
    list_archive,
    plan_archive,
    render_archive,
)
from batch_multi_plot_spectrogram.archive import ArchiveRun
from batch_multi_plot_spectrogram.stores import (
    BACKENDS,
    GroupMeta,
    StoreBackend,
    VariableMeta,
    find_stores,
)
from store_factories import spectrogram_group, write_store

FAST: dict[str, Any] = {"install_signal_handlers": False, "progress_bar": False}


def small_archive(folder: Path, n_stores: int = 2) -> Path:
    for number in range(n_stores):
        write_store(
            folder / f"day_{number}.zarr",
            "zarr3",
            {"/": spectrogram_group(n_time=40, n_energy=8, seed=number)},
            root_attrs={"z_scale": "log", "y_scale": "log"},
        )
    return folder


def by_group(run: ArchiveRun) -> dict[str, str]:
    return {f"{Path(i.store).name}:{i.group}": s for i, s in run.statuses.items()}


# -- render_archive from Python ---------------------------------------------------------------


def test_render_archive_from_python_without_the_command_line(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive", 3)
    run = render_archive(archive, tmp_path / "plots", max_workers=2, **FAST)
    assert by_group(run) == {f"day_{n}.zarr:/": "ok" for n in range(3)}
    assert run.counts() == {"ok": 3, "no_data": 0, "error": 0, "already_done": 0, "problems": 0}
    assert run.refused == [] and run.unreadable == [] and run.skipped == set()
    for number in range(3):
        png = tmp_path / "plots" / f"day_{number}.zarr" / "root.png"
        with Image.open(png) as image:
            image.load()
            assert image.size[0] > 500
        progress = archive / f"day_{number}.zarr.progress.json"
        assert json.loads(progress.read_text())["completed_items"] == ["/"]
        assert Path(f"{progress}.log") in run.logs
    again = render_archive(archive, tmp_path / "plots", max_workers=2, **FAST)
    assert again.counts() == {"ok": 0, "no_data": 0, "error": 0, "already_done": 3, "problems": 0}
    assert again.statuses == run.statuses
    assert len(again.skipped) == 3


def test_every_store_keeps_its_own_progress_and_lock(tmp_path: Path) -> None:
    from batch_multi_plot_spectrogram.batch._progress import ProgressLock

    archive = small_archive(tmp_path / "archive", 3)
    with ProgressLock(archive / "day_1.zarr.progress.json"):
        run = render_archive(archive, tmp_path / "plots", executor="serial", **FAST)
    assert by_group(run) == {"day_0.zarr:/": "ok", "day_2.zarr:/": "ok"}
    (refused,) = run.refused
    assert refused.store == str(archive / "day_1.zarr")
    assert "is in use by another run" in refused.message
    assert isinstance(refused.error, ProgressLockedError)
    assert refused.error.remedies == ("wait_for_lock",)
    rerun = render_archive(archive, tmp_path / "plots", executor="serial", **FAST)
    assert rerun.counts() == {"ok": 1, "no_data": 0, "error": 0, "already_done": 2, "problems": 0}


def test_the_progress_file_records_the_settings_used_readably(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive", 1)
    config = tmp_path / "plot.toml"
    config.write_text('[groups."/"]\nzoom_duration_minutes = 3\n', encoding="utf-8")
    render_archive(
        archive, tmp_path / "plots", colormap="plasma", config=config, executor="serial", **FAST
    )
    settings = json.loads((archive / "day_0.zarr.progress.json").read_text())["settings"]
    assert settings["colormap"] == "plasma"
    assert settings["output_format"] == "png"
    assert settings["build_datasets_fn"]["config"] == {
        "groups": {"/": {"zoom_duration_minutes": 3.0}}
    }
    with pytest.raises(ProgressFileError):
        # A refused store is reported, not raised, by the archive runner; the API of the
        # batch core raises (seen here through the same progress file).
        from batch_multi_plot_spectrogram.batch._progress import Progress

        Progress.load(
            archive / "day_0.zarr.progress.json",
            str(tmp_path / "plots/day_0.zarr"),
            {**settings, "colormap": "viridis"},
        )
    run = render_archive(
        archive, tmp_path / "plots", colormap="viridis", config=config, executor="serial", **FAST
    )
    (refused,) = run.refused
    assert 'colormap: recorded "plasma", now "viridis"' in refused.message
    assert isinstance(refused.error, ProgressFileError)
    assert refused.error.remedies == ("ignore_progress", "other_progress_file")
    assert "Pass ignore_progress_json=True" in refused.message


def test_bad_options_are_refused_naming_the_option(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive", 1)
    with pytest.raises(SettingError) as info:
        render_archive(archive, tmp_path / "plots", colormap="viridiss", **FAST)
    assert info.value.option == "colormap"
    assert str(info.value).endswith("Did you mean 'viridis'?")
    with pytest.raises(SettingError, match="Expected output_format to be one of"):
        render_archive(archive, tmp_path / "plots", output_format="gif", **FAST)
    assert not (tmp_path / "plots").exists()


def test_plan_and_list_read_metadata_only(tmp_path: Path) -> None:
    archive = small_archive(tmp_path / "archive", 2)
    plan = plan_archive(archive, tmp_path / "plots", output_format="svg")
    assert [s.label for s in plan.stores] == ["day_0.zarr", "day_1.zarr"]
    assert plan.output_path(plan.stores[0], "/") == tmp_path / "plots/day_0.zarr/root.svg"
    _, statuses = list_archive(archive)
    assert statuses == {str(archive / "day_0.zarr"): {}, str(archive / "day_1.zarr"): {}}
    assert not (tmp_path / "plots").exists()


# -- output formats ----------------------------------------------------------------------------


def test_pdf_and_svg_are_valid_files_with_the_picture(tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    archive = small_archive(tmp_path / "archive", 1)
    for fmt in ("pdf", "svg"):
        run = render_archive(
            archive,
            tmp_path / fmt,
            output_format=fmt,
            executor="serial",
            progress_dir=tmp_path / f"progress_{fmt}",
            **FAST,
        )
        assert run.counts()["ok"] == 1
    pdf = tmp_path / "pdf" / "day_0.zarr" / "root.pdf"
    reader = pypdf.PdfReader(pdf)
    (page,) = reader.pages
    assert float(page.mediabox.width) == pytest.approx(720.0)  # a 10-inch figure
    images = list(page.images)
    assert images, "the panel is embedded as an image"
    with Image.open(io.BytesIO(images[0].data)) as panel:
        pixels = np.asarray(panel.convert("RGB")).astype(int)
    assert panel.size[0] > 1000  # at the figure's dpi, not at 72 points per inch
    assert (pixels.max(axis=-1) - pixels.min(axis=-1) > 60).mean() > 0.5  # coloured cells
    assert "Time (UTC)" in page.extract_text()

    svg = tmp_path / "svg" / "day_0.zarr" / "root.svg"
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    embedded = [e for e in root.iter("{http://www.w3.org/2000/svg}image")]
    assert embedded
    href = embedded[0].get("{http://www.w3.org/1999/xlink}href") or embedded[0].get("href")
    assert href is not None and href.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(b64decode(href.split(",", 1)[1]))) as panel:
        assert panel.size[0] > 1000
    # The same run twice gives the same bytes: no creation date is written.
    first = pdf.read_bytes()
    render_archive(
        archive,
        tmp_path / "pdf",
        output_format="pdf",
        executor="serial",
        progress_dir=tmp_path / "progress_pdf",
        ignore_progress_json=True,
        **FAST,
    )
    assert pdf.read_bytes() == first


# -- a store format is one module and one table entry ------------------------------------------


class NpzBackend(StoreBackend):
    """A toy format: a ``.npz`` file holding ``time``, ``energy`` and ``flux`` arrays."""

    name, description, suffixes = "npz", "NumPy archives (*.npz)", (".npz",)

    def check(self, path: str) -> str:
        if not zipfile.is_zipfile(path):
            raise StoreError(f"{path!r} is not a NumPy archive.")
        return "npz"

    def _dataset(self, path: str) -> xr.Dataset:
        with np.load(path) as arrays:
            return xr.Dataset(
                {"flux": (("time", "energy"), arrays["flux"])},
                coords={
                    "time": arrays["time"],
                    "energy": ("energy", arrays["energy"], {"units": "eV"}),
                },
            )

    def read_groups(self, path: str, keys: Any) -> list[GroupMeta]:
        ds = self._dataset(path)
        variables = {
            str(n): VariableMeta(str(n), tuple(map(str, v.dims)), v.dtype.kind, dict(v.attrs))
            for n, v in ds.variables.items()
        }
        return [GroupMeta(path, "/", {}, variables)]

    def open_group(self, path: str, group: str) -> xr.Dataset:
        return self._dataset(path).chunk()


@pytest.fixture
def npz_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setitem(BACKENDS, "npz", NpzBackend())
    rng = np.random.default_rng(3)
    archive = tmp_path / "archive"
    archive.mkdir()
    for day in range(2):
        np.savez(
            archive / f"day_{day}.npz",
            time=np.datetime64("2000-01-01", "ns") + np.arange(30) * np.timedelta64(4, "s"),
            energy=np.geomspace(10, 1e4, 12),
            flux=rng.gamma(2.0, 10.0, (30, 12)),
        )
    return archive


def test_a_store_format_registered_in_a_few_lines_renders_an_archive(
    npz_archive: Path, tmp_path: Path
) -> None:
    assert find_stores(npz_archive) == [
        str(npz_archive / "day_0.npz"),
        str(npz_archive / "day_1.npz"),
    ]
    # Worker processes get the format with the items: nothing to register there.
    run = render_archive(npz_archive, tmp_path / "plots", max_workers=2, **FAST)
    assert by_group(run) == {"day_0.npz:/": "ok", "day_1.npz:/": "ok"}
    assert sorted(
        p.relative_to(tmp_path / "plots").as_posix() for p in (tmp_path / "plots").rglob("*.png")
    ) == ["day_0.npz/root.png", "day_1.npz/root.png"]
