"""The gallery of a run: thumbnails and records written by the workers, and
``OUT/index.html`` with its index, true during the run, after it, and rebuilt from the
folder alone.

The page itself is driven in a real browser in ``test_gallery_browser.py``; here the files
are read back as a program reads them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.batch import _tasks
from batch_multi_plot_spectrogram.batch._previews import preview_paths, read_record
from batch_multi_plot_spectrogram.gallery import (
    Gallery,
    GalleryObserver,
    GalleryStore,
    page_html,
    rebuild_gallery,
    write_gallery,
)
from batch_multi_plot_spectrogram.gallery import _observer as observer_module
from store_factories import spectrogram_group, write_store
from test_cli import FAST_ITEMS, FAST_NO_DATA, MMS, NC, ZARR, copy_sample

BAD = "bad.zarr"
ODD = 'odd <b>"q"#1 %41 é'
BAD_REASON = (
    "ConfigError: store {store!r}, group 'bad_y_scale', variable 'ees', attribute 'y_scale': "
    "Expected 'linear' or 'log'. Got 'lg' instead. Fix the attribute in the store, or "
    "override 'y_scale' in a config file."
)
GLOBAL_PREFIX = "window.SPECTROGRAM_GALLERY = "


def archive_with_errors(folder: Path) -> Path:
    """The sample archive plus a store holding an error item and an oddly named group."""
    archive = copy_sample(folder)
    write_store(
        archive / BAD,
        "zarr3",
        {
            "good": spectrogram_group(n_time=30, seed=1, start="2001-03-04T05:00:00"),
            "bad_y_scale": spectrogram_group(seed=4, var_attrs={"y_scale": "lg"}),
            ODD: spectrogram_group(n_time=30, seed=3, start="2001-03-04T01:00:00"),
        },
    )
    return archive


def read_index(out: Path) -> dict[str, Any]:
    """``gallery.json``, checked to be the very document ``gallery.js`` gives the page."""
    document = json.loads((out / "gallery.json").read_text(encoding="ascii"))
    script = (out / "gallery.js").read_text(encoding="ascii")
    body = script.split(GLOBAL_PREFIX, 1)[1].rstrip()
    assert body.endswith(";")
    assert json.loads(body[:-1]) == document
    return document


def by_item(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(e["store"], e["group"]): e for e in document["items"]}


def check_files(out: Path, document: dict[str, Any]) -> None:
    """What the page will load is there: every ok item's figure and whole thumbnail."""
    for entry in document["items"]:
        assert not Path(entry["figure"]).is_absolute()
        if entry["status"] != "ok":
            assert "thumb" not in entry
            continue
        assert (out / entry["figure"]).is_file(), entry
        if "thumb" in entry:
            with Image.open(out / entry["thumb"]) as image:
                image.load()
                assert image.format == "JPEG"
                assert image.size == (entry["tw"], entry["th"])


EXPECTED_STATUSES = {
    **{(store, g): "ok" for store in (ZARR, NC) for g in FAST_ITEMS},
    **{(store, g): "no_data" for store in (ZARR, NC) for g in FAST_NO_DATA},
    (MMS, "/"): "ok",
    (BAD, "good"): "ok",
    (BAD, ODD): "ok",
    (BAD, "bad_y_scale"): "error",
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The archive with errors, rendered once with the default (gallery on)."""
    root = tmp_path_factory.mktemp("gallery")
    archive = archive_with_errors(root / "archive")
    out = root / "plots"
    run = render_archive(archive, out, max_workers=2, progress_dir=root / "progress")
    assert run.counts() == {"ok": 9, "no_data": 4, "error": 1, "already_done": 0, "problems": 0}
    return archive, out


def test_every_item_of_the_run_is_in_the_index_with_its_status_and_reason(
    rendered: tuple[Path, Path],
) -> None:
    archive, out = rendered
    document = read_index(out)
    assert document["state"] == "complete"
    assert document["counts"] == {"ok": 9, "no_data": 4, "error": 1, "pending": 0}
    entries = by_item(document)
    assert {key: e["status"] for key, e in entries.items()} == EXPECTED_STATUSES
    bad = entries[(BAD, "bad_y_scale")]
    assert bad["reason"] == BAD_REASON.format(store=str(archive / BAD))
    assert bad["figure"] == f"{BAD}/bad_y_scale.png"
    housekeeping = entries[(ZARR, "housekeeping")]
    assert housekeeping["reason"].startswith("nothing to plot: ")
    assert "spectrogram variable" in housekeeping["reason"]
    orbit = entries[(ZARR, "2000/orbit_13314")]
    assert orbit["figure"] == f"{ZARR}/2000/orbit_13314.png"
    assert orbit["thumb"] == f"{ZARR}/.thumbs/2000/orbit_13314.jpg"
    assert orbit["title"] and orbit["start"] < orbit["end"]
    assert entries[(MMS, "/")]["thumb"] == f"{MMS}/.thumbs/root.jpg"
    check_files(out, document)


def test_items_are_grouped_by_store_and_sorted_by_time(rendered: tuple[Path, Path]) -> None:
    _, out = rendered
    items = read_index(out)["items"]
    stores = [e["store"] for e in items]
    assert stores == sorted(stores)
    assert [s["label"] for s in read_index(out)["stores"]] == sorted(set(stores))
    bad = [e["group"] for e in items if e["store"] == BAD]
    assert bad == [ODD, "good", "bad_y_scale"]  # 01:00, 05:00, then no time range
    fast = [e for e in items if e["store"] == ZARR]
    timed = [e["start"] for e in fast if "start" in e]
    assert timed == sorted(timed) and len(timed) == 3
    assert all("start" not in e for e in fast[3:])


def test_thumbnails_and_records_sit_beside_the_figures(rendered: tuple[Path, Path]) -> None:
    archive, out = rendered
    store_dir = out / ZARR
    figure = store_dir / "2000" / "orbit_13314.png"
    paths = preview_paths(store_dir, figure, "png")
    assert paths.thumbnail == store_dir / ".thumbs" / "2000" / "orbit_13314.jpg"
    with Image.open(paths.thumbnail) as thumb, Image.open(figure) as full:
        assert thumb.width == 400
        assert abs(thumb.height - full.height * 400 / full.width) <= 1
    record = read_record(paths.record)
    assert record is not None
    assert record["key"] == "2000/orbit_13314" and record["status"] == "ok"
    assert record["figure"] == "orbit_13314.png" and record["thumbnail"] == "orbit_13314.jpg"
    error = read_record(preview_paths(out / BAD, out / BAD / "bad_y_scale.png", "png").record)
    assert error is not None and error["status"] == "error"
    assert error["reason"] == BAD_REASON.format(store=str(archive / BAD))
    # No temporary file is left, and the figures are where they always were.
    assert not [p for p in out.rglob(".*.tmp")]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == [
        "gallery.js",
        "gallery.json",
        "index.html",
    ]


def test_the_page_is_static_and_escapes_the_folder_name(tmp_path: Path) -> None:
    page = page_html('<b>"runs" & co</b>')
    assert "<title>Spectrograms: &lt;b&gt;&quot;runs&quot; &amp; co&lt;/b&gt;</title>" in page
    assert '<b>"runs"' not in page
    assert '<script src="gallery.js"></script>' in page
    # No network: nothing is loaded from anywhere but the folder itself.
    for marker in ("http://", "https://", "//cdn", "fetch(", "import "):
        assert marker not in page, marker
    out = tmp_path / '<b>"runs" & co</b>'
    write_gallery(out, Gallery())
    assert (out / "index.html").read_text(encoding="utf-8") == page_html(out.name)
    assert read_index(out)["items"] == []


def test_rebuild_from_the_folder_alone_after_it_was_copied(
    rendered: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = rendered
    before = read_index(out)
    copied = tmp_path / "elsewhere" / "copy"
    shutil.copytree(out, copied)
    (copied / "gallery.json").unlink()
    (copied / "gallery.js").unlink()
    (copied / "index.html").unlink()
    rebuilt = rebuild_gallery(copied)
    assert rebuilt["items"] == before["items"]  # records alone tell every item
    assert rebuilt["state"] == "complete"
    assert (copied / "index.html").is_file()
    check_files(copied, read_index(copied))


def test_rebuild_keeps_what_only_the_previous_index_knew(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    gallery = Gallery()
    gallery.entries[("s.zarr", "gone")] = {"store": "s.zarr", "group": "gone", "status": "ok"}
    gallery.entries[("s.zarr", "late")] = {
        "store": "s.zarr",
        "group": "late",
        "status": "pending",
        "figure": "s.zarr/late.png",
    }
    gallery.entries[("away.zarr", "x")] = {"store": "away.zarr", "group": "x", "status": "error"}
    (out / "s.zarr").mkdir(parents=True)
    write_gallery(out, gallery, state="running")
    rebuilt = rebuild_gallery(out)
    # The pending item stays (its store is there); an ok item without its figure and the
    # items of a store whose folder is gone do not.
    assert [(e["group"], e["status"]) for e in rebuilt["items"]] == [("late", "pending")]
    assert rebuilt["state"] == "incomplete"


def test_rebuild_gives_a_run_made_without_gallery_its_thumbnails(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive", [ZARR, MMS])
    out = tmp_path / "plots"
    render_archive(archive, out, executor="serial", gallery=False)
    assert not (out / "index.html").exists()
    assert not list(out.rglob(".thumbs"))
    document = rebuild_gallery(out)
    entries = by_item(document)
    # Figures alone: the ok items, with thumbnails read from the PNGs (no time range: only
    # a render knows it). Items without a figure were never recorded beside it.
    assert set(entries) == {(ZARR, g) for g in FAST_ITEMS} | {(MMS, "/")}
    assert all(e["status"] == "ok" and "start" not in e for e in entries.values())
    assert all(e["thumb"].endswith(".jpg") and e["tw"] == 400 for e in entries.values())
    check_files(out, document)
    # The records made then let the next rebuild skip the PNGs.
    assert read_record(out / ZARR / ".thumbs" / "orbit_13312.json") is not None
    assert rebuild_gallery(out, make_thumbnails=False)["items"] == document["items"]


def test_no_gallery_writes_neither_thumbnails_nor_page(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive", [MMS])
    out = tmp_path / "plots"
    run = render_archive(archive, out, executor="serial", gallery=False)
    assert run.counts()["ok"] == 1
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        MMS,
        f"{MMS}/root.png",
    ]


def test_the_index_is_whole_and_true_at_every_write_during_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = archive_with_errors(tmp_path / "archive")
    out = tmp_path / "plots"
    seen: list[dict[str, Any]] = []
    write = GalleryObserver.write

    def write_and_read_back(self: GalleryObserver, state: str | None) -> None:
        write(self, state)
        document = read_index(out)  # as a browser reloading now would find it
        check_files(out, document)
        assert (out / "index.html").is_file()
        seen.append(document)

    monkeypatch.setattr(GalleryObserver, "write", write_and_read_back)
    monkeypatch.setattr(observer_module, "MAX_WRITE_SHARE", 1e9)  # write at every save
    render_archive(archive, out, executor="serial", flush_batch_size=1)
    total = len(EXPECTED_STATUSES)
    assert len(seen) >= total  # one save per item, and the end
    done = [sum(e["status"] != "pending" for e in d["items"]) for d in seen]
    assert done == sorted(done)  # items only ever move from pending to their status
    assert 0 < done[0] < total
    for document in seen:
        assert len(document["items"]) == total  # every item, from the first write on
        for key, entry in by_item(document).items():
            assert entry["status"] in ("pending", EXPECTED_STATUSES[key])
    assert [d["state"] for d in seen[:-1]] == ["running"] * (len(seen) - 1)
    assert seen[-1]["state"] == "complete"


def test_writes_are_spaced_to_keep_their_share_of_the_run_small(tmp_path: Path) -> None:
    now = [0.0]
    folder = tmp_path / "s.zarr"
    store = GalleryStore("s.zarr", folder, {"a": folder / "a.png"}, {}, "png")
    observer = GalleryObserver(tmp_path, [store], clock=lambda: now[0], max_share=0.01)
    observer.saved(0)
    assert observer.writes == 1  # the first save writes at once
    cost = observer.write_seconds
    now[0] += cost * 50  # half the time a write may follow
    observer.saved(0)
    assert observer.writes == 1
    now[0] += cost * 60
    observer.saved(0)
    assert observer.writes == 2
    observer.finished()  # the end always writes
    assert observer.writes == 3
    assert read_index(tmp_path)["state"] == "incomplete"  # "a" never finished


def test_a_failure_seen_by_the_driver_is_recorded_beside_the_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = copy_sample(tmp_path / "archive", [MMS])
    out = tmp_path / "plots"

    def lost(task: Any) -> Any:
        raise RuntimeError("worker lost")  # as if the executor gave no result

    monkeypatch.setattr(_tasks, "_render_item", lost)
    monkeypatch.setattr("batch_multi_plot_spectrogram.batch._core.run_item", lost)
    run = render_archive(archive, out, executor="serial")
    assert run.counts()["error"] == 1
    (out / "gallery.json").unlink()
    entry = by_item(rebuild_gallery(out))[(MMS, "/")]
    assert entry["status"] == "error"
    assert entry["reason"] == "RuntimeError: worker lost"


def test_a_refused_store_is_shown_with_the_reason(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive", [MMS])
    out = tmp_path / "plots"
    render_archive(archive, out, executor="serial", colormap="plasma")
    run = render_archive(archive, out, executor="serial", colormap="magma")
    assert run.refused
    document = read_index(out)
    [problem] = document["problems"]
    assert problem["store"] == MMS
    assert "other settings" in problem["reason"]
    assert 'colormap: recorded "plasma", now "magma"' in problem["reason"]
    # Its item keeps the status an earlier run recorded for good.
    assert by_item(document)[(MMS, "/")]["status"] == "ok"
    assert "thumb" in by_item(document)[(MMS, "/")]


def test_unreadable_stores_are_shown_with_the_reason(tmp_path: Path) -> None:
    archive = copy_sample(tmp_path / "archive", [MMS])
    (archive / "broken.nc").write_text("not a NetCDF file\n", encoding="utf-8")
    out = tmp_path / "plots"
    render_archive(archive, out, executor="serial")
    [problem] = read_index(out)["problems"]
    assert problem["store"] == "broken.nc"
    assert "is not a NetCDF file" in problem["reason"]


def test_a_second_run_keeps_the_items_it_skips(rendered: tuple[Path, Path]) -> None:
    archive, out = rendered
    before = read_index(out)
    run = render_archive(archive, out, executor="serial", progress_dir=out.parent / "progress")
    assert len(run.skipped) == 13  # all but the error item, which is tried again
    after = read_index(out)
    assert after["items"] == before["items"]
    assert after["state"] == "complete"
