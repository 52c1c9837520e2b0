"""Cost of running the batch on a dask cluster, against local worker processes.

Both executors get 2 single-threaded worker processes on this machine: the batch core's
own pool (``local_process_pool(max_workers=2)``) and a dask ``LocalCluster`` started by
``open_client(local_workers=2)`` (processes, 1 thread each, bound to 127.0.0.1), as
``batch-spectrograms render --cluster local --workers 2`` uses it. Runs alternate between
the two, warm workers, medians of several repeats:

- standard workload: seconds per item (wall / items) of a batch of the standard figure,
  for each executor, and their ratio; the median time an item took inside its worker
  (from the batch log), which tells slower rendering from slower dispatch; the
  pixels-only floor measured in the same run;
- no data: seconds per item of a batch whose items have nothing to plot (the executor
  and the bookkeeping alone), for each executor, and the difference.

The data of an item are made once per worker process and reused (a module global keyed
by seed), so that the executor is what differs.

Usage: ``python benchmarks/cluster.py [--repeats N] [--items N]``
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from batch_multi_plot_spectrogram import generic_batch_plot
from batch_multi_plot_spectrogram.batch import local_process_pool
from batch_multi_plot_spectrogram.batch.executors._dask import open_client
from workload import STANDARD_OPTIONS, floor_seconds, standard_datasets

WORKERS = 2
_DATA: dict[int, list[dict[str, Any]]] = {}


def standard_item(item: int, seed: int = 0) -> list[dict[str, Any]]:
    """The standard rows, made once per process and seed (every figure costs the same)."""
    if seed not in _DATA:
        _DATA[seed] = standard_datasets(seed)
    return _DATA[seed]


def warm_up(seed: int = 0) -> int:
    """Make the standard rows in this process ahead of the timed items."""
    standard_item(0, seed)
    return os.getpid()


def nothing(item: int) -> list[dict[str, Any]]:
    return []


def _seconds_per_item(
    n_items: int, build: Callable[[int], Any], run_on: dict[str, Any], **options: Any
) -> tuple[float, float]:
    """Wall seconds per item, and the median seconds of an item inside its worker."""
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = generic_batch_plot(
            range(n_items), folder, build, progress_bar=False, **run_on, **options
        )
        seconds = time.perf_counter() - started
        log_text = Path(folder, "generic_progress.json.log").read_text()
    assert len(result) == n_items, result
    inside = [float(s) for s in re.findall(r" in ([0-9.]+) s\n", log_text)] or [0.0]
    return seconds / n_items, statistics.median(inside)


def _warm_pool(pool: Executor) -> None:
    # Every worker started (a call each that outlasts a start-up), then its data made.
    for future in [pool.submit(time.sleep, 3.0) for _ in range(WORKERS)]:
        future.result()
    for future in [pool.submit(warm_up) for _ in range(WORKERS)]:
        future.result()


def main() -> None:
    # The item functions of this file imported by name, as the workers will import them:
    # pickled from __main__, they would carry the data this process cached along.
    import cluster as bench

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per executor (median)")
    parser.add_argument("--items", type=int, default=20, help="standard items per run")
    parser.add_argument(
        "--empty-items", type=int, default=300, help="items with nothing to plot per run"
    )
    args = parser.parse_args()
    print(
        f"cores usable: {len(os.sched_getaffinity(0))}; load average: "
        f"{os.getloadavg()[0]:.2f}; {WORKERS} worker processes each; medians of "
        f"{args.repeats} run(s)\n"
    )

    pool = local_process_pool(max_workers=WORKERS)
    try:
        with open_client(local_workers=WORKERS) as client:
            client.wait_for_workers(WORKERS, timeout=60)
            executors: dict[str, dict[str, Any]] = {
                "local processes": {"executor": pool, "max_workers": WORKERS},
                "dask LocalCluster": {"client": client},
            }
            _warm_pool(pool)
            assert len(set(client.run(bench.warm_up).values())) == WORKERS
            for run_on in executors.values():  # figures built once in every worker
                _seconds_per_item(2 * WORKERS, bench.standard_item, run_on, **STANDARD_OPTIONS)
                _seconds_per_item(WORKERS, bench.nothing, run_on)

            standard: dict[str, list[float]] = {name: [] for name in executors}
            inside: dict[str, list[float]] = {name: [] for name in executors}
            empty: dict[str, list[float]] = {name: [] for name in executors}
            floor: list[float] = []
            for repeat in range(args.repeats):
                floor.append(statistics.median(floor_seconds(3)))
                names = list(executors) if repeat % 2 == 0 else list(reversed(executors))
                for name in names:
                    wall, in_item = _seconds_per_item(
                        args.items, bench.standard_item, executors[name], **STANDARD_OPTIONS
                    )
                    standard[name].append(wall)
                    inside[name].append(in_item)
                    empty[name].append(
                        _seconds_per_item(args.empty_items, bench.nothing, executors[name])[0]
                    )
    finally:
        pool.shutdown()

    local, dask = (statistics.median(standard[name]) for name in executors)
    local_inside, dask_inside = (statistics.median(inside[name]) for name in executors)
    local_empty, dask_empty = (statistics.median(empty[name]) for name in executors)
    floor_s = statistics.median(floor)
    print(f"standard workload ({args.items} items, warm workers), seconds per item:")
    print(f"  local processes             {local:.3f} s")
    print(f"  dask LocalCluster           {dask:.3f} s")
    print(f"  ratio cluster / local       {dask / local:.3f}x")
    print(
        f"  one item inside its worker  local {local_inside:.3f} s, cluster "
        f"{dask_inside:.3f} s (ratio {dask_inside / local_inside:.3f}x)"
    )
    print(
        f"  pixels-only floor           {floor_s:.3f} s per figure, "
        f"{floor_s / WORKERS:.3f} s per item on {WORKERS} workers"
    )
    print(
        f"  ratio to that floor         local {local / (floor_s / WORKERS):.2f}x, "
        f"cluster {dask / (floor_s / WORKERS):.2f}x\n"
    )
    print(f"items with nothing to plot ({args.empty_items} items), seconds per item:")
    print(f"  local processes             {local_empty * 1000:.2f} ms")
    print(f"  dask LocalCluster           {dask_empty * 1000:.2f} ms")
    print(f"  cluster overhead per item   {(dask_empty - local_empty) * 1000:+.2f} ms\n")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
