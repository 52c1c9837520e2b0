"""An image artist that draws a row's cells on their true edges at any pixel grid.

At each draw the artist asks its axes for the current pixel size and the data value at
the centre of every pixel (through the axes' own transform, so log, linear and date
axes all work), looks up which cell covers each pixel, and draws the result 1:1. The
picture therefore stays true to the bin edges after a change of limits, figure size or
dpi, and costs one gather per draw instead of one polygon per cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, Normalize
from matplotlib.image import AxesImage

from ._binning import BinnedRow
from ._colour import to_rgba
from ._timeaxis import to_unix

__all__ = ["SpectrogramImage"]


class SpectrogramImage(AxesImage):
    """Draw a :class:`~.binning.BinnedRow` resampled onto the axes' pixels.

    Parameters
    ----------
    ax : Axes
        The panel; its x axis is in matplotlib date numbers.
    row : BinnedRow
        The cells to draw.
    norm, cmap :
        Colour mapping (see :func:`~.colour.to_rgba`).
    """

    def __init__(self, ax: Axes, row: BinnedRow, norm: Normalize, cmap: Colormap) -> None:
        super().__init__(
            ax,
            interpolation="nearest",
            origin="lower",
            extent=(0.0, 1.0, 0.0, 1.0),
            transform=ax.transAxes,
            resample=False,
        )
        self.row = row
        self.row_norm = norm
        self.row_cmap = cmap
        self.set_data(np.zeros((1, 1, 4), dtype=np.uint8))

    def set_row(self, row: BinnedRow, norm: Normalize, cmap: Colormap) -> None:
        """Swap in another row (figure reuse) and mark the artist for redraw."""
        self.row = row
        self.row_norm = norm
        self.row_cmap = cmap
        self.stale = True

    def pixel_values(self, magnification: float = 1.0) -> np.ndarray:
        """The value each pixel of the axes shows now, shape (H, W), bottom row first.

        ``magnification`` is the renderer's image magnification: vector outputs (PDF,
        SVG) lay out in points and embed images at a higher resolution.
        """
        ax = self.axes
        bbox = ax.bbox
        width = max(1, round(bbox.width * magnification))
        height = max(1, round(bbox.height * magnification))
        xs = bbox.x0 + np.arange(width + 1) * (bbox.width / width)
        ys = bbox.y0 + np.arange(height + 1) * (bbox.height / height)
        inv = ax.transData.inverted()
        x_data = inv.transform(np.column_stack([xs, np.full(width + 1, bbox.y0)]))[:, 0]
        y_data = inv.transform(np.column_stack([np.full(height + 1, bbox.x0), ys]))[:, 1]
        return self.row.resample(to_unix(x_data), y_data)

    def draw(self, renderer: Any) -> None:
        if self.axes is not None and self.get_visible():
            values = self.pixel_values(renderer.get_image_magnification())
            self.set_data(to_rgba(values, self.row_norm, self.row_cmap))
        super().draw(renderer)
