"""The first pass of shared colour limits against the render of the same archive.

Run from the repository root::

    python benchmarks/shared_limits.py [--items 200] [--repeats 3] [--keep DIR]

Builds, once, a Zarr store of ``--items`` orbit groups, each two (time, pitch_angle,
energy) float32 rows of 2,000 x 8 x 32 with 2 % NaN whose level changes from orbit to
orbit, log scales. Then, side by side in each repeat (the order alternating), on 2 local
workers:

- the render of the archive with :func:`render_archive` (no shared limits, no gallery);
- the first pass alone (:func:`compute_shared_limits`, from scratch, its own pool of
  workers as in a run).

Prints the median of each, the pass's cost as a fraction of the render (target: under
15 %), and the peak resident memory of the driver during the pass for 20 items and for
all of them (it must not grow with the archive: one histogram per row key).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import xarray as xr

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.archive import plan_archive
from batch_multi_plot_spectrogram.batch._logs import logger_levels
from batch_multi_plot_spectrogram.batch._tasks import init_worker
from batch_multi_plot_spectrogram.batch.executors import make_executor
from batch_multi_plot_spectrogram.metadata import GroupLoader
from batch_multi_plot_spectrogram.shared_limits import compute_shared_limits

sys.path.insert(0, str(Path(__file__).parent))
from archive import PeakRSS

N_TIME, N_PITCH, N_ENERGY = 2000, 8, 32


def orbit(index: int) -> xr.Dataset:
    rng = np.random.default_rng(index)
    start = np.datetime64("2000-01-01T00:00", "ns") + index * np.timedelta64(100, "m")
    energy = np.geomspace(3e4, 10, N_ENERGY)
    shape = np.exp(-((np.log(energy) - np.log(1e3)) ** 2))
    level = 10.0 ** (index % 5)
    rows = {}
    for name in ("ees", "ies"):
        values = level * (1 + 99 * shape) * rng.lognormal(0, 0.5, (N_TIME, N_PITCH, N_ENERGY))
        values[rng.random(values.shape) < 0.02] = np.nan
        rows[name] = (
            ("time", "pitch_angle", "energy"),
            values.astype("float32"),
            {"long_name": f"{name} flux", "units": "counts/s"},
        )
    return xr.Dataset(
        rows,
        coords={
            "time": start + np.arange(N_TIME) * np.timedelta64(2500, "ms"),
            "pitch_angle": ("pitch_angle", np.linspace(0, 180, N_PITCH), {"units": "degrees"}),
            "energy": ("energy", energy, {"units": "eV"}),
        },
        attrs={"y_scale": "log", "z_scale": "log"},
    )


def build(folder: Path, n: int) -> Path:
    archive = folder / "archive"
    store = archive / "orbits.zarr"
    if store.exists():
        return archive
    archive.mkdir(parents=True)
    for index in range(n):
        orbit(index).to_zarr(store, group=f"orbit_{index:04d}", mode="a", consolidated=False)
    return archive


def first_pass(archive: Path, work: Path, items: int | None = None) -> tuple[float, int, int]:
    """Seconds, row keys and the driver's peak memory of a pass from scratch."""
    plan = plan_archive(archive, work / "plots")
    listed = [(f"{s.label}::{i.group}", i) for s in plan.stores for i in s.items][:items]
    path = work / "shared-limits.json"
    path.unlink(missing_ok=True)

    def executor() -> object:
        return make_executor(
            "processes",
            max_workers=2,
            item_timeout=None,
            max_in_flight=None,
            initializer=init_worker,
            initargs=(logger_levels(),),
        )

    with PeakRSS(tree=False) as peak:
        start = time.perf_counter()
        state = compute_shared_limits(
            listed,
            GroupLoader(overrides=(("shared_limits", True),)),
            executor,  # type: ignore[arg-type]
            path,
            settings={},
            install_signal_handlers=False,
        )
        seconds = time.perf_counter() - start
    if len(state.seen) != len(listed):
        raise SystemExit(f"the pass read {len(state.seen)} of {len(listed)} items")
    return seconds, len(state.rows), peak.peak


def render(archive: Path, work: Path) -> float:
    shutil.rmtree(work / "plots", ignore_errors=True)
    shutil.rmtree(work / "progress", ignore_errors=True)
    start = time.perf_counter()
    run = render_archive(
        archive,
        work / "plots",
        progress_dir=work / "progress",
        max_workers=2,
        progress_bar=False,
        gallery=False,
    )
    seconds = time.perf_counter() - start
    if run.counts()["ok"] != sum(1 for _ in (archive / "orbits.zarr").glob("orbit_*")):
        raise SystemExit(f"render: {run.counts()}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_limits_"))
    archive = build(work, args.items)
    passes: list[float] = []
    renders: list[float] = []
    for repeat in range(args.repeats):
        for case in ("pass", "render") if repeat % 2 == 0 else ("render", "pass"):
            if case == "pass":
                took, keys, _ = first_pass(archive, work)
                passes.append(took)
            else:
                took = render(archive, work)
                renders.append(took)
            print(f"repeat {repeat + 1} {case:<7} {took:7.2f} s", flush=True)
    ratios = [p / r for p, r in zip(passes, renders, strict=True)]
    print()
    print(f"render of {args.items} items on 2 workers: median {statistics.median(renders):.2f} s")
    print(f"first pass, same items and workers:   median {statistics.median(passes):.2f} s")
    print(
        f"pass / render: {statistics.median(passes) / statistics.median(renders):.3f} "
        f"(median of per-repeat ratios {statistics.median(ratios):.3f}; target < 0.15)"
    )
    peaks = {}
    for n in (20, args.items):
        _, keys, peak = first_pass(archive, work, n)
        peaks[n] = peak
        print(f"driver peak during a pass of {n:>4} items: {peak / 1e6:6.0f} MB ({keys} row keys)")
    print(f"peak growth from 20 to {args.items} items: {peaks[args.items] / peaks[20]:.3f}x")
    print(f"load average at the end: {', '.join(f'{v:.2f}' for v in psutil.getloadavg())}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
