"""CDF archives: rendering the files directly against rendering their ingested Zarr store.

Run from the repository root::

    python benchmarks/cdf.py [--files 100] [--repeats 3] [--workers 2] [--keep DIR]

Builds, once, ``--files`` daily ISTP-like CDF files with cdflib's writer (``tests/
cdf_factories.py``: a TT2000 ``Epoch`` of 8,640 ten-second records, a gzip-compressed
(time, 32) float32 flux with fill records and a per-record energy table, about 2 MB a
file, as a day of survey spectra from CDAWeb). Then, in each repeat:

- ingests them into a new Zarr store (seconds per file);
- renders the CDF files directly, and the Zarr store, on ``--workers`` local workers
  (figures per second, the order rotating from repeat to repeat).

Prints the median of each and the peak memory of the process tree (driver and its
forkserver worker processes, RSS sampled every 50 ms with psutil).
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.ingest import ingest_cdf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from cdf_factories import daily_cdf

QUIET: dict[str, Any] = {"install_signal_handlers": False, "progress_bar": False}


def _tree_rss() -> int:
    me = psutil.Process()
    total = 0
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@contextlib.contextmanager
def peak_rss() -> Iterator[list[int]]:
    """Sample the RSS of this process and all its descendants; yields [peak bytes]."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss())
            stop.wait(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def timed(fn: Callable[[], Any]) -> tuple[float, int, Any]:
    with peak_rss() as peak:
        started = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - started
    return seconds, peak[0], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--records", type=int, default=8640)
    parser.add_argument("--keep", type=Path, help="Build in this folder and keep it.")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="cdf-bench-"))
    archive = root / "cdf"
    archive.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for day in range(args.files):
        daily_cdf(archive, day, n_time=args.records, n_energy=32)
    size = sum(p.stat().st_size for p in archive.glob("*.cdf"))
    print(
        f"{args.files} CDF files, {size / args.files / 1e6:.1f} MB each, written in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    results: dict[str, list[float]] = {"ingest s/file": [], "direct fig/s": [], "zarr fig/s": []}
    peaks: dict[str, int] = {"ingest": 0, "direct": 0, "zarr": 0}
    try:
        for repeat in range(args.repeats):
            store = root / f"store-{repeat}.zarr"
            seconds, peak, run = timed(
                lambda store=store: ingest_cdf(archive, store, max_workers=args.workers, **QUIET)
            )
            assert run.counts()["written"] == args.files, run.counts()
            results["ingest s/file"].append(seconds / args.files)
            peaks["ingest"] = max(peaks["ingest"], peak)
            order = [("direct", archive), ("zarr", store)]
            if repeat % 2:
                order.reverse()
            for name, source in order:
                out = root / f"plots-{name}-{repeat}"
                seconds, peak, rendered = timed(
                    lambda source=source, out=out: render_archive(
                        source,
                        out,
                        max_workers=args.workers,
                        ignore_progress_json=True,
                        **QUIET,
                    )
                )
                assert rendered.counts()["ok"] == args.files, rendered.counts()
                results[f"{name} fig/s"].append(args.files / seconds)
                peaks[name] = max(peaks[name], peak)
                shutil.rmtree(out, ignore_errors=True)
            print(
                f"repeat {repeat + 1}: "
                + ", ".join(f"{k} {v[-1]:.3f}" for k, v in results.items()),
                flush=True,
            )
            shutil.rmtree(store, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print(f"\nmedians of {args.repeats} repeats on {args.workers} worker(s):")
    for key, values in results.items():
        print(
            f"  {key:<14} {statistics.median(values):8.3f}   (all: "
            + ", ".join(f"{v:.3f}" for v in values)
            + ")"
        )
    print(
        "peak RSS of the process tree: "
        + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in peaks.items())
    )


if __name__ == "__main__":
    main()
