"""The data path: reading groups from stores, against raw reads, and its memory.

Run from the repository root::

    python benchmarks/datapath.py [--repeats 7] [--big] [--skip startup,item,workers,memory]
                                  [--memory-budget 800MB] [--baseline OLD/src]

A typical group is 3 rows of (3,000 records x 32 energies) float32, 2 % NaN, log scales,
as Zarr (chunks of 1,000 records) and as NetCDF. Measures, each the median of
``--repeats`` (at least 5):

- startup: a pool of 2 local workers from its creation to its first finished item
  (an item: load a group, render it, write the PNG), before (workers import the libraries
  themselves and draw their first figure with their first item) and after (the
  forkserver preloads the libraries; each worker draws a throwaway figure first), side
  by side: each trial in a fresh interpreter (a process has one forkserver), the two
  alternating;
- item: one item in this process (``GroupLoader`` then ``render_figure``) against a floor
  (the same arrays read raw with netCDF4 / zarr, then the same ``render_figure``):
  the ratio per format;
- with ``--baseline OLD/src`` (an earlier checkout's ``src``): the same item with that
  version and with this one, in fresh interpreters, alternating;
- workers: 24 one-group Zarr stores with ``render_archive`` on 2 local workers:
  figures per second (target >= 2.0);
- memory: peak RSS of the process tree (driver and workers, sampled every 50 ms) of
  ``render_archive`` on 1 worker for one group of 3k, 30k and 300k records, and with
  ``--big`` for a 2.46 GB contiguous NetCDF variable (1.2 M records x 16 x 32 float32)
  against the same data in Zarr with 5,000-record chunks. Big files go under /tmp and are
  deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

# What a driver script imports. (Not xarray here: the forkserver imports the main module,
# so what it imports would be preloaded before and after alike.)
from batch_multi_plot_spectrogram import render_archive  # noqa: F401

if TYPE_CHECKING:
    import xarray as xr

sys.path.insert(0, str(Path(__file__).parent))
from archive import timed

N_TIME, N_ENERGY, N_ROWS = 3_000, 32, 3
ROWS = tuple(f"row_{i}" for i in range(N_ROWS))
BIG_TIME, BIG_PITCH, BIG_ENERGY, BIG_CHUNK = 1_200_000, 16, 32, 5_000


# -- stores --------------------------------------------------------------------------------


def group(n_time: int = N_TIME, seed: int = 0, day: int = 0) -> xr.Dataset:
    """A typical group: 3 (time, energy) rows of float32, 2 % NaN, log scales."""
    import xarray as xr

    rng = np.random.default_rng(seed)
    start = np.datetime64("2001-01-01T00:00", "ns") + day * np.timedelta64(1, "D")
    data = {}
    for i, name in enumerate(ROWS):
        values = rng.lognormal(3 + i, 1.0, (n_time, N_ENERGY)).astype("float32")
        values[rng.random(values.shape) < 0.02] = np.nan
        data[name] = (("time", "energy"), values, {"long_name": name, "units": "counts/s"})
    return xr.Dataset(
        data,
        coords={
            "time": start + np.arange(n_time) * np.timedelta64(1000, "ms"),
            "energy": ("energy", np.geomspace(3e4, 10, N_ENERGY), {"units": "eV"}),
        },
        attrs={"y_scale": "log", "z_scale": "log"},
    )


def write(ds: xr.Dataset, path: Path, chunk: int = 1_000) -> Path:
    if path.suffix == ".zarr":
        ds.chunk({"time": chunk}).to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_netcdf(path, engine="h5netcdf")
    return path


def build_big(folder: Path) -> tuple[Path, Path]:
    """The 2.46 GB variable as contiguous NetCDF and as Zarr of 5,000-record chunks,
    written slice by slice."""
    import netCDF4
    import xarray as xr

    nc, zarr_path = folder / "big.nc", folder / "big.zarr"
    seconds = 978307200.0 + 0.25 * np.arange(BIG_TIME)
    with netCDF4.Dataset(nc, "w") as f:
        f.createDimension("time", BIG_TIME)
        f.createDimension("pitch_angle", BIG_PITCH)
        f.createDimension("energy", BIG_ENERGY)
        t = f.createVariable("time", "f8", ("time",))
        t.units = "seconds since 1970-01-01"
        t[:] = seconds
        f.createVariable("pitch_angle", "f4", ("pitch_angle",))[:] = np.linspace(0, 180, 16)
        e = f.createVariable("energy", "f4", ("energy",))
        e[:] = np.geomspace(3e4, 10, BIG_ENERGY)
        e.units = "eV"
        v = f.createVariable("flux", "f4", ("time", "pitch_angle", "energy"), contiguous=True)
        v.units = "counts/s"
        f.y_scale, f.z_scale = "log", "log"
        rng = np.random.default_rng(0)
        for start in range(0, BIG_TIME, BIG_CHUNK):
            stop = min(BIG_TIME, start + BIG_CHUNK)
            v[start:stop] = rng.lognormal(3, 1, (stop - start, BIG_PITCH, BIG_ENERGY))
    with xr.open_dataset(nc, engine="netcdf4", chunks={"time": BIG_CHUNK}) as ds:
        encoding = {name: {"chunks": (BIG_CHUNK, BIG_PITCH, BIG_ENERGY)} for name in ["flux"]}
        ds.to_zarr(zarr_path, mode="w", consolidated=False, encoding=encoding)
    return nc, zarr_path


# -- startup -------------------------------------------------------------------------------


def first_item(store: str, out: str) -> float:
    """One item in a worker: load the group, render it, write the PNG."""
    from batch_multi_plot_spectrogram.metadata import GroupLoader, StoreItem
    from batch_multi_plot_spectrogram.options import FigureOptions
    from batch_multi_plot_spectrogram.render import render_figure
    from batch_multi_plot_spectrogram.render._datasets import parse_datasets

    plot = GroupLoader()(StoreItem(store, "/"))
    options = FigureOptions().updated(dict(plot.options))
    Path(out).write_bytes(render_figure(parse_datasets(plot.datasets), options).data)
    return time.perf_counter()


def startup_trial(mode: str, stores: list[str], out: str) -> None:
    """In a fresh interpreter: seconds from making a pool of 2 workers to the first item
    done (printed)."""
    from batch_multi_plot_spectrogram.batch._logs import logger_levels
    from batch_multi_plot_spectrogram.batch._tasks import WORKER_MODULES, init_worker
    from batch_multi_plot_spectrogram.batch.executors import LocalProcessPool

    after = mode == "after"
    started = time.perf_counter()
    pool = LocalProcessPool(
        2,
        initializer=init_worker,
        initargs=(logger_levels(), after),
        preload=WORKER_MODULES if after else (),
    )
    try:
        futures = [pool.submit(first_item, s, f"{out}/{i}.png") for i, s in enumerate(stores)]
        first = min(f.result() for f in futures)
        print(f"{first - started:.4f}")
    finally:
        pool.shutdown()


def bench_startup(work: Path, repeats: int) -> dict[str, list[float]]:
    stores = [str(write(group(seed=i), work / f"start_{i}.zarr")) for i in range(2)]
    taken: dict[str, list[float]] = {"before": [], "after": []}
    for repeat in range(repeats):
        for mode in ("before", "after") if repeat % 2 == 0 else ("after", "before"):
            done = subprocess.run(
                [sys.executable, __file__, "--startup-trial", mode, str(work), *stores],
                capture_output=True,
                text=True,
                check=True,
            )
            taken[mode].append(float(done.stdout.split()[-1]))
            print(f"startup {mode:<6} {taken[mode][-1]:6.3f} s", flush=True)
    return taken


# -- per item ------------------------------------------------------------------------------


def item_seconds(store: Path) -> float:
    started = time.perf_counter()
    first_item(str(store), str(store.parent / "item.png"))
    return time.perf_counter() - started


def floor_seconds(store: Path) -> float:
    """Raw read of the same arrays (netCDF4 or zarr), then the same render call."""
    from batch_multi_plot_spectrogram.options import FigureOptions
    from batch_multi_plot_spectrogram.render import render_figure
    from batch_multi_plot_spectrogram.render._datasets import parse_datasets

    started = time.perf_counter()
    if store.suffix == ".zarr":
        import zarr

        root = zarr.open_group(store, mode="r")
        arrays = {name: root[name][...] for name in ("time", "energy", *ROWS)}
        units = str(root["time"].attrs["units"])
    else:
        import netCDF4

        with netCDF4.Dataset(store) as f:
            f.set_auto_mask(False)
            arrays = {name: f[name][...] for name in ("time", "energy", *ROWS)}
            units = str(f["time"].units)
    # xarray's time encoding: "<unit> since <date>" of int64 or float64 counts.
    unit, _, origin = units.partition(" since ")
    step = {"seconds": "s", "milliseconds": "ms", "microseconds": "us", "nanoseconds": "ns"}
    x = np.datetime64(origin.strip().replace(" ", "T")[:19], "ns") + arrays["time"].astype(
        "int64"
    ).astype(f"timedelta64[{step[unit.strip()]}]")
    rows = [
        {
            "x": x,
            "y": arrays["energy"].astype("float64"),
            "data": arrays[name].astype("float64"),
            "label": name,
            "y_scale": "log",
            "z_scale": "log",
            "z_label": f"{name} (counts/s)",
            "y_label": "energy (eV)",
        }
        for name in ROWS
    ]
    data = render_figure(parse_datasets(rows), FigureOptions(figure_title="/")).data
    (store.parent / "floor.png").write_bytes(data)
    return time.perf_counter() - started


def alternate(cases: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    taken: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        fn()  # warm: imports, the reusable figure, the OS cache
    names = list(cases)
    for repeat in range(repeats):
        for name in names[repeat % len(names) :] + names[: repeat % len(names)]:
            taken[name].append(cases[name]())
    return taken


def item_trial(store: str, repeats: int) -> None:
    """In a fresh interpreter (of whichever version ``PYTHONPATH`` gives): the seconds of
    ``repeats`` items after one to warm up, as JSON on stdout."""
    item_seconds(Path(store))
    print(json.dumps([item_seconds(Path(store)) for _ in range(repeats)]))


def bench_baseline(work: Path, repeats: int, baseline: Path) -> dict[str, list[float]]:
    """The same item with an earlier version of the package (``baseline``: its ``src``
    folder) and with this one, in fresh interpreters, alternating, three rounds."""
    suffixes = {"zarr": ".zarr", "netcdf": ".nc"}
    stores = {fmt: write(group(), work / f"base{suffix}") for fmt, suffix in suffixes.items()}
    here = str(Path(__file__).resolve().parents[1] / "src")
    versions = {"before": str(baseline.resolve()), "now": here}
    taken: dict[str, list[float]] = {f"{f} {v}": [] for f in stores for v in versions}
    for round_ in range(3):
        order = list(versions.items())[:: 1 if round_ % 2 == 0 else -1]
        for fmt, store in stores.items():
            for name, src in order:
                found = subprocess.run(
                    [sys.executable, __file__, "--item-trial", str(store), str(repeats)],
                    env={**os.environ, "PYTHONPATH": src},
                    capture_output=True,
                    text=True,
                    check=True,
                )
                taken[f"{fmt} {name}"] += json.loads(found.stdout.splitlines()[-1])
    return taken


def bench_items(work: Path, repeats: int) -> dict[str, list[float]]:
    zarr_store = write(group(), work / "item.zarr")
    nc_store = write(group(), work / "item.nc")
    return alternate(
        {
            "zarr item": lambda: item_seconds(zarr_store),
            "zarr floor": lambda: floor_seconds(zarr_store),
            "netcdf item": lambda: item_seconds(nc_store),
            "netcdf floor": lambda: floor_seconds(nc_store),
        },
        repeats,
    )


# -- runs ----------------------------------------------------------------------------------


def bench_workers(work: Path, repeats: int, n: int = 24) -> list[float]:
    archive = work / "daily"
    for day in range(n):
        write(group(seed=day, day=day), archive / f"day_{day:03d}.zarr")
    rates: list[float] = []
    peaks: list[int] = []
    for _ in range(max(3, repeats // 2)):
        seconds, ok, peak = timed(archive, work / "out", 2)
        peaks.append(peak)
        assert ok == n, f"{ok} of {n} ok"
        rates.append(n / seconds)
        print(
            f"{n} items, 2 workers: {seconds:6.2f} s {rates[-1]:5.2f} figures/s, "
            f"peak {peak / 1e6:.0f} MB",
            flush=True,
        )
    print(f"peak RSS of the 2-worker runs: {max(peaks) / 1e6:.0f} MB")
    return rates


def bench_memory(
    work: Path, big: bool, budget: str | None
) -> list[tuple[str, float, float, float]]:
    cases: list[tuple[str, Path, float]] = []
    for n in (3_000, 30_000, 300_000):
        folder = work / f"mem_{n}"
        write(group(n), folder / "g.zarr", chunk=5_000)
        cases.append((f"{n:,} records x 32 x 3 rows, Zarr", folder, n * N_ENERGY * N_ROWS * 4))
    if big:
        started = time.perf_counter()
        nc, zarr_path = build_big(work)
        print(f"big stores written in {time.perf_counter() - started:.0f} s", flush=True)
        size = BIG_TIME * BIG_PITCH * BIG_ENERGY * 4
        for path, name in ((nc, "contiguous NetCDF"), (zarr_path, "Zarr, 5,000-record chunks")):
            folder = work / f"big_{path.suffix[1:]}"
            folder.mkdir()
            path.rename(folder / path.name)
            cases.append((f"2.46 GB {name}", folder, size))
    out = []
    for name, folder, size in cases:
        options = {"memory_budget": budget} if budget else {}
        seconds, ok, peak = timed(folder, work / "out", 1, **options)
        assert ok == 1, f"{name}: not rendered"
        out.append((name, size / 1e6, peak / 1e6, seconds))
        print(f"{name:<40} data {size / 1e6:7.0f} MB  peak {peak / 1e6:6.0f} MB  {seconds:6.1f} s")
        if folder.name.startswith("big_"):
            shutil.rmtree(folder)
    return out


# -- report --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="runs per figure (>= 5)")
    parser.add_argument("--big", action="store_true", help="also the 2.46 GB variable")
    parser.add_argument("--skip", default="", help="comma-separated sections to skip")
    parser.add_argument("--memory-budget", help="the memory section's budget (default 1.5GB)")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="the src folder of an earlier version: its time per item against this one's",
    )
    parser.add_argument("--startup-trial", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--item-trial", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.item_trial:
        item_trial(args.item_trial[0], int(args.item_trial[1]))
        return 0
    if args.startup_trial:
        mode, out, *stores = args.startup_trial
        startup_trial(mode, stores, out)
        return 0
    repeats = max(5, args.repeats)
    skip = set(filter(None, args.skip.split(",")))
    work = Path(tempfile.mkdtemp(prefix="bench_datapath_", dir="/tmp"))
    med = statistics.median
    try:
        lines = []
        if "startup" not in skip:
            s = bench_startup(work, repeats)
            lines.append(
                f"startup to first item, 2 workers: before {med(s['before']):.3f} s, after "
                f"{med(s['after']):.3f} s (after/before {med(s['after']) / med(s['before']):.2f};"
                f" median of {repeats}, fresh interpreters, alternating)"
            )
        if "item" not in skip:
            t = bench_items(work, repeats)
            for fmt in ("zarr", "netcdf"):
                item, floor = med(t[f"{fmt} item"]), med(t[f"{fmt} floor"])
                per = [a / b for a, b in zip(t[f"{fmt} item"], t[f"{fmt} floor"], strict=True)]
                lines.append(
                    f"{fmt} item {item * 1e3:.0f} ms vs floor {floor * 1e3:.0f} ms: "
                    f"{item / floor:.2f}x (median of per-repeat ratios {med(per):.2f}; "
                    f"{repeats} repeats)"
                )
        if args.baseline is not None:
            t = bench_baseline(work, repeats, args.baseline)
            for fmt in ("zarr", "netcdf"):
                before, now = med(t[f"{fmt} before"]), med(t[f"{fmt} now"])
                lines.append(
                    f"{fmt} item, {args.baseline} {before * 1e3:.0f} ms vs now "
                    f"{now * 1e3:.0f} ms: now/before {now / before:.2f} (medians of "
                    f"{len(t[f'{fmt} now'])} items in 3 fresh interpreters each)"
                )
        if "workers" not in skip:
            rates = bench_workers(work, repeats)
            lines.append(
                f"24 items on 2 workers: {med(rates):.2f} figures/s (median of {len(rates)}; "
                "target >= 2.0)"
            )
        if "memory" not in skip:
            for name, size, peak, seconds in bench_memory(work, args.big, args.memory_budget):
                lines.append(
                    f"peak RSS {name}: {peak:.0f} MB for {size:.0f} MB of data ({seconds:.1f} s)"
                )
        print()
        print("\n".join(lines))
        import psutil

        print(f"load average at the end: {', '.join(f'{v:.2f}' for v in psutil.getloadavg())}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
