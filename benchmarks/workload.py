"""The standard workload shared by the benchmarks.

4 rows; per row 3,000 UNIX seconds at 2.5 s cadence from 2000-01-01T00:00Z, 96
log-spaced energies from 4 to 30,000 eV stored in descending order, float32 data of
shape (3000, 32, 96), log-normal with 2 % NaN, collapsed along axis 1; log y, log z;
event lines at +10 and +16 minutes, a 10-minute zoom column; dpi 150.
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np

T0 = 946684800.0  # 2000-01-01T00:00:00Z
N_TIME, N_PITCH, N_ENERGY, N_ROWS = 3000, 32, 96, 4
STANDARD_OPTIONS: dict[str, Any] = {
    "vertical_lines": [T0 + 600.0, T0 + 960.0],
    "zoom_duration_minutes": 10,
    "y_scale": "log",
    "z_scale": "log",
    "dpi": 150,
}


def standard_datasets(seed: int = 0) -> list[dict[str, Any]]:
    """The four rows of the standard workload."""
    rng = np.random.default_rng(seed)
    x = T0 + 2.5 * np.arange(N_TIME)
    y = np.geomspace(30_000.0, 4.0, N_ENERGY)
    rows = []
    for i in range(N_ROWS):
        data = rng.lognormal(
            mean=1.0 + 0.3 * i, sigma=1.0, size=(N_TIME, N_PITCH, N_ENERGY)
        ).astype("float32")
        data[rng.random(data.shape) < 0.02] = np.nan
        rows.append({"x": x, "y": y, "data": data, "label": f"row {i}"})
    return rows


def floor_seconds(repeats: int = 5, seed: int = 0) -> list[float]:
    """The pixels alone: same figure size and panel grid, axes off, each panel one
    ``imshow`` (interpolation "none") of its collapsed matrix already resampled to the
    panel's pixel size, drawn and PNG-encoded. Seconds per figure, one per repeat."""
    from matplotlib.figure import Figure

    from batch_multi_plot_spectrogram.render._layout import build_grid

    datasets = standard_datasets(seed)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        grid = build_grid(N_ROWS, True, dpi=STANDARD_OPTIONS["dpi"])
        fig: Figure = grid.figure
        for i, ds in enumerate(datasets):
            matrix = np.nansum(ds["data"], axis=1)
            for ax in grid.panels[i]:
                ax.set_axis_off()
                w = round(ax.bbox.width)
                h = round(ax.bbox.height)
                rows = np.linspace(0, matrix.shape[1] - 1, h).astype(int)
                cols = np.linspace(0, matrix.shape[0] - 1, w).astype(int)
                ax.imshow(
                    matrix[np.ix_(cols, rows)].T,
                    interpolation="none",
                    aspect="auto",
                    origin="lower",
                )
            grid.colorbars[i].set_axis_off()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        out.append(time.perf_counter() - start)
    return out
