"""Shared fixtures for the test suite.

Figures are made with ``matplotlib.figure.Figure`` (never pyplot), drawn with the Agg
canvas and freed at teardown.
"""

from __future__ import annotations

import io
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Tests press Ctrl-C on the commands they start (SIGINT). A shell without job control
# starts a background job with SIGINT ignored, and an ignored signal stays ignored in
# every process started from it, so the commands would never see it: the processes the
# tests start get the default back (a Python handler is reset to the default at exec).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def close_figures() -> Iterator[Callable[[Figure], Figure]]:
    """Register a figure to be freed at teardown: ``fig = close_figures(fig)``."""
    from batch_multi_plot_spectrogram.render import close_all_axes_and_clear

    figures: list[Figure] = []

    def register(fig: Figure) -> Figure:
        figures.append(fig)
        return fig

    yield register
    for fig in figures:
        close_all_axes_and_clear(fig)


@pytest.fixture
def no_pyplot_figures() -> Iterator[None]:
    """Fail the test if it leaves a figure registered with pyplot."""
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        assert pyplot.get_fignums() == [], "a figure was left registered with pyplot"


@pytest.fixture
def draw_figure() -> Callable[[Figure], Any]:
    """Draw a figure with the Agg canvas and return its renderer (for extents)."""

    def draw(fig: Figure) -> Any:
        canvas = FigureCanvasAgg(fig)
        canvas.draw()
        return canvas.get_renderer()

    return draw


@pytest.fixture
def png_pixels(tmp_path: Path) -> Callable[[Figure], np.ndarray]:
    """Save a figure as a real PNG at its own dpi and read it back as (H, W, 4) uint8.

    Display coordinates then map to pixels: column = x, row = figure height - y.
    """
    from PIL import Image

    count = 0

    def save(fig: Figure) -> np.ndarray:
        nonlocal count
        count += 1
        path = tmp_path / f"figure_{count}.png"
        fig.savefig(path, dpi=fig.dpi)
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        with Image.open(io.BytesIO(data)) as image:
            return np.asarray(image.convert("RGBA"))

    return save


@pytest.fixture
def local_timezone() -> Iterator[Callable[[str], None]]:
    """Set the process's local time zone (``TZ`` + ``time.tzset``) for one test.

    ``local_timezone("IST-05:30")`` (a POSIX TZ string needs no zoneinfo files); the
    previous zone is restored at teardown.
    """
    old = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()
