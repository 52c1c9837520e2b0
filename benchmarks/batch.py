"""Cost of the batch core around the figures, on the standard workload.

Reports, as medians of several runs:

- serial: seconds per item of a 20-item serial batch of the standard workload, against
  the pixels-only floor measured in the same run (ratio; target <= 2.5x);
- workers: items per second with 1 and 2 worker processes, and their ratio;
- memory: resident memory at item 10 and at item 1,000 of one run of tiny items
  (the driver, and the largest worker);
- bookkeeping: one progress save with 100,000 items recorded, the share it takes of a
  run saving every 10 items, and the driver's cost per item;
- resume: start-up of a resume whose 100,000 items are all complete (load, check, skip).

The data of an item are made once per process and reused, so that the figures alone
count, as in ``render.py``.

Usage: ``python benchmarks/batch.py [--repeats N] [--quick]``
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))
from batch_multi_plot_spectrogram import generic_batch_plot
from batch_multi_plot_spectrogram.batch import local_process_pool
from batch_multi_plot_spectrogram.batch._progress import Progress
from workload import STANDARD_OPTIONS, floor_seconds, standard_datasets

_DATA: dict[int, list[dict[str, Any]]] = {}


def standard_item(item: int) -> list[dict[str, Any]]:
    """The standard rows; made once per process (one seed: every figure costs the same)."""
    if 0 not in _DATA:
        _DATA[0] = standard_datasets(0)
    return _DATA[0]


def warm_up(item: int) -> None:
    """Make the standard rows in this process ahead of the timed items."""
    standard_item(item)


def tiny_item(item: int, rss_dir: str | None = None) -> list[dict[str, Any]]:
    """A small real row; notes this process's memory at a few items into ``rss_dir``."""
    if rss_dir and item in (10, 11, 998, 999):
        rss = psutil.Process().memory_info().rss
        Path(rss_dir, f"{item}.{os.getpid()}").write_text(str(rss))
    rng = np.random.default_rng(item)
    return [
        {
            "x": 946684800.0 + 4.0 * np.arange(60),
            "y": np.geomspace(10, 1e4, 16),
            "data": rng.gamma(2.0, 50.0, (60, 16)),
            "label": "EES",
        }
    ]


def nothing(item: int) -> list[dict[str, Any]]:
    return []


def _median(values: list[float]) -> float:
    return statistics.median(values)


def _item_seconds(log_path: Path) -> list[float]:
    return [float(s) for s in re.findall(r" in ([0-9.]+) s\n", log_path.read_text())]


def bench_serial(repeats: int, n_items: int = 20) -> dict[str, float]:
    standard_item(0)  # make the data before timing
    per_item, median_item, floor = [], [], []
    for _ in range(repeats):
        floor.append(_median(floor_seconds(3)))
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            generic_batch_plot(
                range(n_items),
                folder,
                standard_item,
                executor="serial",
                progress_bar=False,
                **STANDARD_OPTIONS,
            )
            per_item.append((time.perf_counter() - started) / n_items)
            median_item.append(_median(_item_seconds(Path(folder, "generic_progress.json.log"))))
    return {
        "per_item": _median(per_item),
        "median_item": _median(median_item),
        "floor": _median(floor),
    }


def bench_workers(repeats: int, n_items: int) -> dict[int, float]:
    """Items per second with 1 and 2 warm workers, runs interleaved (load hits both)."""
    rates: dict[int, list[float]] = {1: [], 2: []}
    pools = {workers: local_process_pool(max_workers=workers) for workers in rates}
    try:
        for workers, pool in pools.items():
            # Warm up every worker: started (a call each that outlasts a start-up), then
            # its data made, then its figure built.
            for future in [pool.submit(time.sleep, 3.0) for _ in range(workers)]:
                future.result()
            for future in [pool.submit(warm_up, 0) for _ in range(workers)]:
                future.result()
            with tempfile.TemporaryDirectory() as folder:
                generic_batch_plot(
                    range(2 * workers),
                    folder,
                    standard_item,
                    executor=pool,
                    progress_bar=False,
                    **STANDARD_OPTIONS,
                )
        for _ in range(repeats):
            for workers, pool in pools.items():
                with tempfile.TemporaryDirectory() as folder:
                    started = time.perf_counter()
                    generic_batch_plot(
                        range(n_items),
                        folder,
                        standard_item,
                        executor=pool,
                        progress_bar=False,
                        **STANDARD_OPTIONS,
                    )
                    rates[workers].append(n_items / (time.perf_counter() - started))
    finally:
        for pool in pools.values():
            pool.shutdown()
    return {w: _median(r) for w, r in rates.items()}


def bench_memory(n_items: int = 1000) -> dict[str, float]:
    me = psutil.Process()
    driver: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as rss_dir:
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                count = sum(1 for e in os.scandir(folder) if e.name.endswith(".png"))
                if count >= 10 and "10" not in driver:
                    driver["10"] = me.memory_info().rss
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            generic_batch_plot(
                range(n_items),
                folder,
                functools.partial(tiny_item, rss_dir=rss_dir),
                max_workers=2,
                progress_bar=False,
                dpi=50,
            )
        finally:
            driver["1000"] = me.memory_info().rss
            done.set()
            watcher.join()
        workers: dict[int, int] = {}
        for entry in os.scandir(rss_dir):
            item, _pid = entry.name.split(".")
            workers[int(item)] = max(workers.get(int(item), 0), int(Path(entry.path).read_text()))
    return {
        "driver_10": driver["10"] / 2**20,
        "driver_1000": driver["1000"] / 2**20,
        "worker_10": max(workers.get(10, 0), workers.get(11, 0)) / 2**20,
        "worker_1000": max(workers.get(998, 0), workers.get(999, 0)) / 2**20,
    }


def bench_bookkeeping(repeats: int, n_keys: int = 100_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        progress = Progress(Path(folder, "p.json"), folder, {"colormap": "viridis"})
        for i in range(n_keys):
            progress.record(f"orbit_{i:06d}", "ok", i)
        progress.save()
        saves = []
        for i in range(max(repeats, 5)):
            progress.record(f"extra_{i}", "ok", n_keys + i)
            started = time.perf_counter()
            progress.save()
            saves.append(time.perf_counter() - started)
        size = Path(folder, "p.json").stat().st_size
    # The driver's own cost per item: a batch whose items have nothing to plot.
    per_item = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            generic_batch_plot(
                range(20_000),
                folder,
                nothing,
                executor="serial",
                flush_batch_size=1_000_000,
                progress_bar=False,
            )
            per_item.append((time.perf_counter() - started) / 20_000)
    return {"save": _median(saves), "size_mb": size / 1e6, "driver_per_item": _median(per_item)}


def bench_resume(repeats: int, n_items: int = 100_000) -> dict[str, float]:
    times = []
    with tempfile.TemporaryDirectory() as folder:
        # Record every item complete, with a (stand-in) PNG for each.
        generic_batch_plot([], folder, tiny_item, progress_bar=False, dpi=50)
        progress, _ = Progress.load(
            Path(folder, "generic_progress.json"), folder, _settings_of(folder)
        )
        for i in range(n_items):
            progress.record(str(i), "ok", i)
            Path(folder, f"{i}.png").touch()
        progress.save()
        for _ in range(repeats):
            started = time.perf_counter()
            result = generic_batch_plot(
                range(n_items), folder, tiny_item, progress_bar=False, dpi=50
            )
            times.append(time.perf_counter() - started)
            assert len(result) == n_items and set(result.values()) == {"ok"}
    return {"resume": _median(times)}


def _settings_of(folder: str) -> dict[str, Any]:
    import json

    return json.loads(Path(folder, "generic_progress.json").read_text())["settings"]


def main() -> None:
    # Use the item functions of this file imported by name, as workers will import them:
    # pickled from __main__, they would carry the data this process cached along.
    import batch as bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="fewer items, for a smoke run")
    args = parser.parse_args()
    repeats = args.repeats
    print(
        f"cores usable: {len(os.sched_getaffinity(0))}; load average: "
        f"{os.getloadavg()[0]:.2f}; medians of {repeats} run(s)\n"
    )

    memory = bench.bench_memory(200 if args.quick else 1000)  # first: a fresh process
    serial = bench.bench_serial(repeats, 6 if args.quick else 20)
    ratio = serial["per_item"] / serial["floor"]
    print(f"serial, standard workload ({6 if args.quick else 20} items):")
    print(f"  per item (wall / items)     {serial['per_item']:.3f} s")
    print(f"  per item (median, in item)  {serial['median_item']:.3f} s")
    print(f"  pixels-only floor           {serial['floor']:.3f} s")
    print(f"  ratio to the floor          {ratio:.2f}x  (target <= 2.5x)\n")

    n_items = 6 if args.quick else 16
    rates = bench.bench_workers(repeats, n_items)
    print(f"worker processes, standard workload ({n_items} items, warm workers):")
    print(f"  1 worker                    {rates[1]:.2f} items/s")
    print(f"  2 workers                   {rates[2]:.2f} items/s")
    print(f"  ratio 2 / 1                 {rates[2] / rates[1]:.2f}x\n")

    print("resident memory, tiny items, 2 workers:")
    print(
        f"  driver at item 10 / 1,000   {memory['driver_10']:.0f} MB / "
        f"{memory['driver_1000']:.0f} MB"
    )
    print(
        f"  worker at item 10 / 1,000   {memory['worker_10']:.0f} MB / "
        f"{memory['worker_1000']:.0f} MB\n"
    )

    book = bench.bench_bookkeeping(repeats)
    per_item_2 = 1.0 / rates[2]
    share = book["save"] / (book["save"] + 10 * per_item_2)
    print("progress bookkeeping, 100,000 items recorded:")
    print(f"  one save ({book['size_mb']:.1f} MB, fsynced)  {book['save'] * 1000:.1f} ms")
    print(f"  share of a run saving every 10 items at 2 workers  {share * 100:.2f} %")
    print(f"  driver cost per item (no save)  {book['driver_per_item'] * 1e6:.0f} us\n")

    resume = bench.bench_resume(repeats, 20_000 if args.quick else 100_000)
    print(f"resume with {20_000 if args.quick else 100_000:,} complete items:")
    print(f"  start-up to return (load, check, skip all)  {resume['resume']:.2f} s\n")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
