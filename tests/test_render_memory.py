"""Rendering never touches pyplot and frees every figure: memory stays flat.

Both checks run in a fresh interpreter, so nothing this test process imported (or
leaked) can hide or fake the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import batch_multi_plot_spectrogram

# Where the package is imported from (a src checkout or an installed copy).
PACKAGE_ROOT = Path(batch_multi_plot_spectrogram.__file__).resolve().parents[1]

MEMORY_RENDERS = 500
MEMORY_GROWTH_LIMIT_MB = 40.0

_COMMON = """
import numpy as np

T0 = 946684800.0


def rows(seed):
    rng = np.random.default_rng(seed)
    x = T0 + 30.0 * np.arange(120)
    y = np.geomspace(10.0, 1e4, 16)
    return [{"x": x, "y": y, "data": rng.lognormal(size=(120, 4, 16)), "label": "EES"}]
"""


def run_python(code: str, timeout: float) -> dict:
    """Run code in a fresh interpreter (warnings are errors); return its JSON output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", textwrap.dedent(_COMMON) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_rendering_never_imports_or_registers_with_pyplot() -> None:
    out = run_python(
        """
        import json, sys
        import batch_multi_plot_spectrogram as bmps
        from batch_multi_plot_spectrogram import render

        png = render.render_png(rows(0), vertical_lines=[T0 + 1800.0],
                                zoom_duration_minutes=10, y_scale="log", dpi=40)
        ax, _ = bmps.make_spectrogram(rows(1)[0]["x"], rows(1)[0]["y"], rows(1)[0]["data"])
        fig = bmps.generic_plot_spectrogram_set(rows(2))
        fig.savefig(__import__("io").BytesIO(), format="png", dpi=40)
        bmps.close_all_axes_and_clear(fig)
        from batch_multi_plot_spectrogram import generic_batch_plot  # the batch core too
        imported = "matplotlib.pyplot" in sys.modules

        # With pyplot loaded by someone else, figures still never register with it.
        import matplotlib.pyplot as plt

        fig = bmps.generic_plot_spectrogram_set(rows(3))
        ax, _ = bmps.make_spectrogram(rows(4)[0]["x"], rows(4)[0]["y"], rows(4)[0]["data"])
        render.render_png(rows(5), dpi=40)
        print(json.dumps({"png": png[:8].hex(), "pyplot_imported": imported,
                          "fignums": plt.get_fignums()}))
        """,
        timeout=120,
    )
    assert out == {"png": b"\x89PNG\r\n\x1a\n".hex(), "pyplot_imported": False, "fignums": []}


@pytest.mark.timeout(240)
def test_memory_stays_flat_over_500_renders() -> None:
    out = run_python(
        f"""
        import json
        import psutil
        from batch_multi_plot_spectrogram.render import render_png

        process = psutil.Process()
        rss = {{}}
        for i in range(1, {MEMORY_RENDERS} + 1):
            png = render_png(rows(i), vertical_lines=[T0 + 1800.0], dpi=30)
            assert png.startswith(b"\\x89PNG")
            if i in (50, {MEMORY_RENDERS}):
                rss[i] = process.memory_info().rss / 2**20
        print(json.dumps(rss))
        """,
        timeout=230,
    )
    after_50, after_all = out["50"], out[str(MEMORY_RENDERS)]
    growth = after_all - after_50
    assert growth < MEMORY_GROWTH_LIMIT_MB, (
        f"RSS grew {growth:.1f} MB from render 50 ({after_50:.1f} MB) to render "
        f"{MEMORY_RENDERS} ({after_all:.1f} MB)"
    )
