"""An archive of many one-group stores (one file per day) against the same groups in one
store, on 1 and 2 workers.

Run from the repository root::

    python benchmarks/archive.py [--stores 24] [--repeats 3] [--keep DIR]

Builds, once, two archives holding the same ``--stores`` groups, each the standard
workload of ``workload.py`` as a store holds it (four (time, pitch_angle, energy) float32
rows of 3,000 x 32 x 96 with 2 % NaN, energies descending, log scales, two event lines and
a 10-minute zoom column): one Zarr store per group ("daily files", the most common
layout), and one Zarr store holding them all: about 3 GB per archive. Then renders, side
by side in each repeat (the order rotating from repeat to repeat), with
:func:`render_archive`:

- the daily archive on 2 workers and on 1 worker: the ratio says whether all items of all
  stores share the pool (target: at least 1.8);
- the one-store archive on 2 workers: the daily archive should cost within 15 % of it
  (a lock, a progress file and a log per store).

Prints the median wall time of each, the ratios of the medians, the median of the
per-repeat ratios, and the peak memory of the process tree (driver and workers, sampled).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import xarray as xr

from batch_multi_plot_spectrogram import render_archive

sys.path.insert(0, str(Path(__file__).parent))
from workload import N_PITCH, N_TIME, standard_datasets


def orbit(index: int) -> xr.Dataset:
    """One group: the standard workload, starting one day after the previous group."""
    start = np.datetime64("2000-01-01T00:00", "ns") + index * np.timedelta64(1, "D")
    rows = standard_datasets(seed=index)
    dims = ("time", "pitch_angle", "energy")
    events = [str(start + np.timedelta64(m, "m")) + "Z" for m in (10, 16)]
    return xr.Dataset(
        {
            f"row_{i}": (dims, row["data"], {"long_name": row["label"], "units": "counts/s"})
            for i, row in enumerate(rows)
        },
        coords={
            "time": start + np.arange(N_TIME) * np.timedelta64(2500, "ms"),
            "pitch_angle": ("pitch_angle", np.linspace(0, 180, N_PITCH), {"units": "degrees"}),
            "energy": ("energy", rows[0]["y"], {"units": "eV"}),
        },
        attrs={
            "y_scale": "log",
            "z_scale": "log",
            "vertical_lines": events,
            "zoom_duration_minutes": 10,
        },
    )


def build(folder: Path, n: int) -> tuple[Path, Path]:
    daily, single = folder / "daily", folder / "single"
    if daily.exists() and single.exists():
        return daily, single
    daily.mkdir(parents=True)
    single.mkdir(parents=True)
    for index in range(n):
        ds = orbit(index)
        ds.to_zarr(daily / f"day_{index:03d}.zarr", mode="w", consolidated=False)
        ds.to_zarr(single / "all.zarr", group=f"day_{index:03d}", mode="a", consolidated=False)
    return daily, single


class PeakRSS:
    """Peak resident memory of this process and its children (``tree``), or of this
    process alone, sampled every 50 ms."""

    def __init__(self, tree: bool = True) -> None:
        self.peak = 0
        self.tree = tree
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in [me, *me.children(recursive=True)] if self.tree else [me]:
                with contextlib.suppress(psutil.Error):  # a worker that just ended
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed(archive: Path, out: Path, workers: int, **options: Any) -> tuple[float, int, int]:
    """Render ``archive`` afresh into ``out``: seconds, items ok, peak memory of the tree."""
    shutil.rmtree(out, ignore_errors=True)
    with PeakRSS() as rss:
        start = time.perf_counter()
        run = render_archive(
            archive,
            out / "plots",
            progress_dir=out / "progress",
            max_workers=workers,
            progress_bar=False,
            **options,
        )
        seconds = time.perf_counter() - start
    return seconds, run.counts()["ok"], rss.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the archives here and keep them")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_archive_"))
    daily, single = build(work, args.stores)
    cases: dict[str, tuple[Path, int]] = {
        "daily, 2 workers": (daily, 2),
        "daily, 1 worker": (daily, 1),
        "one store, 2 workers": (single, 2),
    }
    seconds: dict[str, list[float]] = {name: [] for name in cases}
    peaks: dict[str, list[int]] = {name: [] for name in cases}
    names = list(cases)
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            archive, workers = cases[name]
            took, ok, peak = timed(archive, work / "out", workers)
            if ok != args.stores:
                print(f"{name}: only {ok} of {args.stores} items ok", file=sys.stderr)
                return 1
            seconds[name].append(took)
            peaks[name].append(peak)
            print(
                f"repeat {repeat + 1} {name:<22} {took:6.2f} s  "
                f"{args.stores / took:5.2f} items/s  peak {peak / 1e6:6.0f} MB",
                flush=True,
            )
    med = {name: statistics.median(values) for name, values in seconds.items()}
    print()
    print(f"{'case':<24}{'median s':>10}{'items/s':>10}{'peak MB':>10}")
    for name in names:
        print(
            f"{name:<24}{med[name]:>10.2f}{args.stores / med[name]:>10.2f}"
            f"{max(peaks[name]) / 1e6:>10.0f}"
        )
    per_repeat_speedup = [
        a / b for a, b in zip(seconds["daily, 1 worker"], seconds["daily, 2 workers"], strict=True)
    ]
    per_repeat_cost = [
        a / b
        for a, b in zip(seconds["daily, 2 workers"], seconds["one store, 2 workers"], strict=True)
    ]
    print()
    print(
        f"2 workers vs 1 (daily): {med['daily, 1 worker'] / med['daily, 2 workers']:.2f}x "
        f"(median of per-repeat ratios {statistics.median(per_repeat_speedup):.2f}; "
        "target >= 1.8)"
    )
    print(
        f"daily vs one store (2 workers): "
        f"{med['daily, 2 workers'] / med['one store, 2 workers']:.3f}x "
        f"(median of per-repeat ratios {statistics.median(per_repeat_cost):.3f}; "
        "target <= 1.15)"
    )
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in psutil.getloadavg())}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
