"""Cost of one figure on the standard workload, against the pixels-only floor.

Measured side by side in one run, interleaved so that load on the machine hits every
method alike; medians of several repeats. Seconds are data-to-PNG-bytes per figure.

- floor: same pixel size and panel grid, axes off, each panel one ``imshow`` of its
  collapsed matrix already resampled to the panel's pixels, drawn and PNG-encoded.
- new figure: ``generic_plot_spectrogram_set`` + PNG, a new figure each call.
- reused figure: ``render_png``, the per-process figure reused (as in a batch).
- reused, point sampling: the same, each pixel showing only the cell under its centre
  (what the renderer did before it aggregated the samples of a pixel): the cost of
  aggregation is the ratio of the two.
- pcolormesh: a plain pcolormesh-on-edges figure with colorbars, for reference.

Then a dense row: one day at 1 s cadence (86,400 records x 32 channels), rendered once
with the mean of each pixel and once with its max, with the time of each and the peak
memory of the process.

Usage: ``python benchmarks/render.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from batch_multi_plot_spectrogram.render import (
    close_all_axes_and_clear,
    figure_bytes,
    generic_plot_spectrogram_set,
    render_png,
)
from batch_multi_plot_spectrogram.render._binning import BinnedRow, centre_edges
from workload import STANDARD_OPTIONS, floor_seconds, standard_datasets


def pcolormesh_figure(datasets: list[dict[str, Any]]) -> bytes:
    """A straightforward figure: pcolormesh on edges, colorbars, constrained layout."""
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 12), dpi=150, layout="constrained")
    axes = fig.subplots(len(datasets), 2, squeeze=False)
    for i, ds in enumerate(datasets):
        matrix = np.nansum(ds["data"], axis=1)
        matrix[~np.isfinite(ds["data"]).any(axis=1)] = np.nan
        y = ds["y"][::-1]
        matrix = matrix[:, ::-1]
        y_edges = centre_edges(y, log=True)
        x = ds["x"]
        x_edges = np.concatenate(([x[0] - 1.25], 0.5 * (x[1:] + x[:-1]), [x[-1] + 1.25]))
        positive = matrix[np.isfinite(matrix) & (matrix > 0)]
        norm = LogNorm(*np.percentile(positive, [1, 99]))
        for j, ax in enumerate(axes[i]):
            mesh = ax.pcolormesh(x_edges, y_edges, matrix.T, norm=norm)
            ax.set_yscale("log")
            if j == 1:
                ax.set_xlim(x[0] + 480, x[0] + 1080)
        fig.colorbar(mesh, ax=axes[i, 1])
    return figure_bytes(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dense-only", action="store_true", help="the dense row alone")
    args = parser.parse_args()
    if args.dense_only:
        dense_day(args.repeats)
        return
    datasets = standard_datasets(0)

    def new_figure() -> None:
        fig = generic_plot_spectrogram_set(datasets, figure_title="orbit", **STANDARD_OPTIONS)
        figure_bytes(fig)
        close_all_axes_and_clear(fig)

    def reused_figure() -> None:
        render_png(datasets, figure_title="orbit", **STANDARD_OPTIONS)

    def point_sampling() -> None:
        aggregate = BinnedRow.resample

        def centres_only(row: BinnedRow, x_edges: np.ndarray, y_edges: np.ndarray) -> Any:
            y_mid = 0.5 * (y_edges[1:] + y_edges[:-1])
            return row.lookup(0.5 * (x_edges[1:] + x_edges[:-1]), y_mid)

        BinnedRow.resample = centres_only  # type: ignore[method-assign]
        try:
            render_png(datasets, figure_title="orbit", **STANDARD_OPTIONS)
        finally:
            BinnedRow.resample = aggregate  # type: ignore[method-assign]

    def pcolormesh() -> None:
        pcolormesh_figure(datasets)

    methods: dict[str, Callable[[], None]] = {
        "new figure": new_figure,
        "reused figure": reused_figure,
        "reused, points": point_sampling,
        "pcolormesh": pcolormesh,
    }
    times: dict[str, list[float]] = {"floor": [], **{name: [] for name in methods}}
    # Warm-up: imports, font cache, the first reusable figure.
    floor_seconds(1)
    for fn in methods.values():
        fn()
    for _ in range(args.repeats):
        times["floor"] += floor_seconds(1)
        for name, fn in methods.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    floor = statistics.median(times["floor"])
    print(
        f"standard workload, {args.repeats} repeats, medians (seconds per figure, data to "
        "PNG bytes)"
    )
    for name, values in times.items():
        med = statistics.median(values)
        print(
            f"  {name:<14} {med:7.3f} s   {med / floor:5.2f} x floor   "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    ratio = statistics.median(times["reused figure"]) / statistics.median(times["reused, points"])
    print(f"  aggregation of dense pixels costs {ratio:.3f} x point sampling (target <= 1.10)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MB")
    png = render_png(datasets, figure_title="orbit", **STANDARD_OPTIONS)
    print(f"PNG size: {len(png) / 1e6:.2f} MB")
    # In a process of its own, so that its peak memory is its own.
    subprocess.run(
        [sys.executable, __file__, "--dense-only", "--repeats", str(args.repeats)], check=True
    )


def dense_day(repeats: int) -> None:
    """One day at 1 s cadence in one row: every pixel column holds about 75 samples."""
    rng = np.random.default_rng(1)
    x = 946684800.0 + np.arange(86_400.0)
    y = np.geomspace(30_000.0, 4.0, 32)
    data = rng.lognormal(1.0, 1.0, (x.size, y.size)).astype("float32")
    data[30_000:30_600] = np.nan  # ten minutes without data
    rows = [{"x": x, "y": y, "data": data, "label": "1 s for a day"}]
    print("dense row: 86,400 records x 32 channels, medians")
    for reduce in ("mean", "max"):
        seconds = []
        for _ in range(max(3, repeats // 2)):
            start = time.perf_counter()
            render_png(rows, pixel_reduce=reduce, y_scale="log", z_scale="log")
            seconds.append(time.perf_counter() - start)
        print(f"  pixel_reduce={reduce:<5} {statistics.median(seconds):7.3f} s per figure")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process rendering the dense row: {peak:.0f} MB")


if __name__ == "__main__":
    main()
