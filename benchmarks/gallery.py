"""What the gallery costs a run: its index, and the thumbnails and records of the workers.

Run from the repository root::

    python benchmarks/gallery.py [--items 24] [--index-items 10000] [--repeats 3]

1. A real run: an archive of ``--items`` one-group Zarr stores, each the standard
   workload (see ``workload.py``; one file per day, as in ``archive.py``), rendered with
   :func:`render_archive` on 2 workers, with the gallery and without it, side by side in
   each repeat (after one run not counted, which reads the archive from the disk). Gives
   the time of a run per item, and what the gallery added to it.
2. The index of ``--index-items`` items: the median time of one write of
   ``gallery.json``, ``gallery.js`` and ``index.html`` (atomic, with fsync).
3. A run of ``--index-items`` items, as the driver lives it: the gallery's observer is told
   of every item and of a save every 10 items of a store (the default flush) of 20
   stores, on a clock that advances by the measured time per item of (1) (then by 0.05 s,
   for small figures), while every write is real and timed. The index's share of the run
   is its total writing time over the run's time (target: under 1 %), beside what writing
   at every save would cost.
4. The workers' share, timed step by step (a whole run is too noisy to show a few %):
   the thumbnail and the writing of it and of the record, against an item's time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram._atomic import write_bytes_atomic
from batch_multi_plot_spectrogram.batch._previews import (
    preview_paths,
    record_document,
    write_record,
)
from batch_multi_plot_spectrogram.batch._tasks import ItemResult
from batch_multi_plot_spectrogram.gallery import (
    Gallery,
    GalleryObserver,
    GalleryStore,
    write_gallery,
)
from batch_multi_plot_spectrogram.options import FigureOptions
from batch_multi_plot_spectrogram.render import _figure as figure_module
from batch_multi_plot_spectrogram.render import render_figure
from batch_multi_plot_spectrogram.render._thumbnail import thumbnail_from_canvas

sys.path.insert(0, str(Path(__file__).parent))
from archive import orbit
from workload import STANDARD_OPTIONS, standard_datasets


def build(folder: Path, n: int) -> Path:
    archive = folder / "daily"
    if not archive.exists():
        archive.mkdir(parents=True)
        for index in range(n):
            orbit(index).to_zarr(archive / f"day_{index:03d}.zarr", mode="w", consolidated=False)
    return archive


def timed_run(archive: Path, out: Path, gallery: bool) -> tuple[float, float]:
    """Seconds of a run, and of the index writes within it."""
    shutil.rmtree(out, ignore_errors=True)
    writes = [0.0]
    write = GalleryObserver.write

    def counted(self: GalleryObserver, state: str | None) -> None:
        started = time.perf_counter()
        write(self, state)
        writes[0] += time.perf_counter() - started

    GalleryObserver.write = counted  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        run = render_archive(
            archive,
            out / "plots",
            progress_dir=out / "progress",
            max_workers=2,
            progress_bar=False,
            gallery=gallery,
        )
        seconds = time.perf_counter() - started
    finally:
        GalleryObserver.write = write  # type: ignore[method-assign]
    assert run.counts()["error"] == 0, run.counts()
    return seconds, writes[0]


def entry(store: str, group: str, i: int) -> dict[str, Any]:
    return {
        "store": store,
        "group": group,
        "status": "ok",
        "figure": f"{store}/{group}.png",
        "thumb": f"{store}/.thumbs/{group}.jpg",
        "tw": 400,
        "th": 267,
        "start": 946684800.0 + 6000.0 * i,
        "end": 946684800.0 + 6000.0 * i + 900.0,
        "title": f"FAST ESA survey: orbit {i}",
    }


def index_write_seconds(folder: Path, n: int, repeats: int = 5) -> float:
    gallery = Gallery()
    for i in range(n):
        store, group = f"day_{i % 20:03d}.zarr", f"orbit_{i:05d}"
        gallery.entries[(store, group)] = entry(store, group, i)
    costs = []
    for _ in range(repeats):
        started = time.perf_counter()
        write_gallery(folder, gallery, state="running")
        costs.append(time.perf_counter() - started)
    return statistics.median(costs)


def simulated_run(
    folder: Path, n: int, per_item: float, max_share: float | None
) -> dict[str, float]:
    """The observer through a run of ``n`` items of 20 stores, each item taking
    ``per_item`` seconds of the run (on a simulated clock); writes are real."""
    now = [0.0]
    stores = []
    for s in range(20):
        label = f"day_{s:03d}.zarr"
        figures = {
            f"orbit_{i:05d}": folder / label / f"orbit_{i:05d}.png" for i in range(s, n, 20)
        }
        stores.append(GalleryStore(label, folder / label, figures, {}, "png"))
    started = time.perf_counter()
    observer = GalleryObserver(folder, stores, clock=lambda: now[0], max_share=max_share)
    driver = time.perf_counter() - started
    unsaved = [0] * 20
    for i in range(n):
        s = i % 20
        key = f"orbit_{i:05d}"
        info = {
            "start": 946684800.0 + 6000.0 * i,
            "end": 946684800.0 + 6000.0 * i + 900.0,
            "title": f"FAST ESA survey: orbit {i}",
            "thumbnail": str(folder / f"day_{s:03d}.zarr" / ".thumbs" / f"{key}.jpg"),
            "thumbnail_size": (400, 267),
            "record": "(written by the worker)",
        }
        result = ItemResult(i, key, "ok", None, "1 bytes", None, (), per_item, os.getpid(), info)
        now[0] += per_item
        started = time.perf_counter()
        observer.recorded(s, result)
        unsaved[s] += 1
        if unsaved[s] >= 10:
            unsaved[s] = 0
            observer.saved(s)
        driver += time.perf_counter() - started
    started = time.perf_counter()
    observer.finished()
    driver += time.perf_counter() - started
    return {
        "writes": observer.writes,
        "write_seconds": observer.write_seconds,
        "driver_seconds": driver,
        "run_seconds": now[0],
    }


def worker_share(folder: Path, repeats: int = 10) -> dict[str, float]:
    """Medians, in seconds, of what a worker does for an item of the standard workload:
    render and write the figure, and what previews add (the thumbnail from the canvas the
    render left, and writing it and the record, each atomically)."""
    rows = standard_datasets()
    options = FigureOptions.parse(STANDARD_OPTIONS)
    render_figure(rows, options)
    times: dict[str, list[float]] = {"render": [], "figure": [], "thumbnail": [], "files": []}
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(repeats):
        started = time.perf_counter()
        rendered = render_figure(rows, options)
        times["render"].append(time.perf_counter() - started)
        started = time.perf_counter()
        write_bytes_atomic(folder / f"orbit_{i}.png", rendered.data)
        times["figure"].append(time.perf_counter() - started)
        figure = next(reversed(figure_module._REUSABLE.values())).grid.figure
        started = time.perf_counter()
        thumbnail = thumbnail_from_canvas(figure)
        times["thumbnail"].append(time.perf_counter() - started)
        assert thumbnail is not None
        started = time.perf_counter()
        paths = preview_paths(folder, folder / f"orbit_{i}.png", "png")
        write_bytes_atomic(paths.thumbnail, thumbnail.data, make_parents=True)
        info = {"start": 0.0, "end": 1.0, "title": "t", "thumbnail": str(paths.thumbnail)}
        document = record_document(
            key=f"orbit_{i}", status="ok", message="", figure=f"orbit_{i}.png", info=info
        )
        write_record(paths.record, document)
        times["files"].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=24)
    parser.add_argument("--index-items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_gallery_"))
    archive = build(work, args.items)

    # Not counted: the first run reads the archive from the disk, the others from memory.
    timed_run(archive, work / "out", False)
    runs: dict[bool, list[float]] = {True: [], False: []}
    in_run_writes = []
    for repeat in range(args.repeats):
        for gallery in (True, False) if repeat % 2 == 0 else (False, True):
            seconds, writes = timed_run(archive, work / "out", gallery)
            runs[gallery].append(seconds)
            if gallery:
                in_run_writes.append(writes)
            print(
                f"repeat {repeat + 1} gallery {'on ' if gallery else 'off'} {seconds:7.2f} s "
                f"({seconds / args.items:.3f} s/item)"
                + (f", index writes {writes * 1e3:.1f} ms" if gallery else ""),
                flush=True,
            )
    on, off = statistics.median(runs[True]), statistics.median(runs[False])
    per_item = on / args.items
    spread = (max(runs[False]) - min(runs[False])) / min(runs[False]) * 100
    writes_in_run = statistics.median(in_run_writes)
    print(
        f"\n1. run of {args.items} items on 2 workers (medians): {on:.2f} s with the gallery, "
        f"{off:.2f} s without ({(on / off - 1) * 100:+.1f} %; the runs without it alone "
        f"differed by {spread:.0f} %, so see 4 for the workers' share); index writes in "
        f"the run: {writes_in_run * 1e3:.1f} ms ({writes_in_run / on * 100:.3f} % of it)"
    )

    index = work / "index"
    shutil.rmtree(index, ignore_errors=True)
    one = index_write_seconds(index, args.index_items)
    size = (index / "gallery.json").stat().st_size
    print(
        f"2. one write of the index of {args.index_items} items: {one * 1e3:.1f} ms "
        f"(gallery.json {size / 1e6:.2f} MB, gallery.js the same)"
    )

    shutil.rmtree(index, ignore_errors=True)
    throttled = simulated_run(index, args.index_items, per_item, None)
    shutil.rmtree(index, ignore_errors=True)
    every = simulated_run(index, args.index_items, per_item, 1e12)
    run_seconds = throttled["run_seconds"]
    driver_share = throttled["driver_seconds"] / run_seconds * 100
    print(
        f"3. a run of {args.index_items} items at {per_item:.3f} s/item "
        f"({run_seconds / 60:.0f} min on 2 workers): the index was written "
        f"{throttled['writes']:.0f} times in {throttled['write_seconds']:.2f} s, "
        f"{throttled['write_seconds'] / run_seconds * 100:.3f} % of the run "
        f"(all the observer's time in the driver: {driver_share:.3f} %); "
        f"writing at every save instead: {every['writes']:.0f} writes, "
        f"{every['write_seconds']:.1f} s, {every['write_seconds'] / run_seconds * 100:.2f} %"
    )

    fast = 0.05
    shutil.rmtree(index, ignore_errors=True)
    quick = simulated_run(index, args.index_items, fast, None)
    shutil.rmtree(index, ignore_errors=True)
    quick_every = simulated_run(index, args.index_items, fast, 1e12)
    print(
        f"   the same at {fast} s/item (small figures, {quick['run_seconds'] / 60:.1f} min): "
        f"{quick['writes']:.0f} writes, {quick['write_seconds'] / quick['run_seconds'] * 100:.3f} "
        f"% of the run; at every save: "
        f"{quick_every['write_seconds'] / quick_every['run_seconds'] * 100:.1f} %"
    )

    worker = worker_share(work / "worker")
    added = worker["thumbnail"] + worker["files"]
    print(
        f"4. a worker, per item of the standard workload: render {worker['render'] * 1e3:.0f} "
        f"ms, write the figure {worker['figure'] * 1e3:.1f} ms; previews add the thumbnail "
        f"{worker['thumbnail'] * 1e3:.1f} ms and writing it and the record "
        f"{worker['files'] * 1e3:.1f} ms: {added * 1e3:.1f} ms, "
        f"{added / (off / args.items * 2) * 100:.1f} % of an item's time in the run without "
        "gallery (2 workers)"
    )
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in psutil.getloadavg())}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
