"""Fixed figure geometry: panels and colorbars placed in inches.

Every row has the same height, every colorbar the same width and offset, and the two
columns' panels share their left and right edges, whatever the number of rows or the
length of the labels. The geometry is computed once, with no layout engine, so a figure
costs no layout pass and a figure of the same shape can be reused as is.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["Geometry", "PanelGrid", "build_grid"]


@dataclass(frozen=True)
class Geometry:
    """Sizes in inches. The defaults give a 12 x 12 inch figure for 4 rows and 2 columns."""

    left: float = 1.05
    right: float = 1.0
    top: float = 0.5
    bottom: float = 0.86
    row_height: float = 2.34
    row_title: float = 0.32
    column_gap: float = 0.22
    colorbar_pad: float = 0.12
    colorbar_width: float = 0.16
    width_one_column: float = 10.0
    width_two_columns: float = 12.0
    zoom_fraction: float = 0.38
    ylabel_offset: float = 0.62
    xlabel_offset: float = 0.5

    def size(self, n_rows: int, two_columns: bool) -> tuple[float, float]:
        """Figure (width, height) in inches."""
        width = self.width_two_columns if two_columns else self.width_one_column
        return width, self.top + self.bottom + n_rows * (self.row_height + self.row_title)


@dataclass
class PanelGrid:
    """The axes of a figure: ``panels[row][column]`` and one colorbar axes per row."""

    figure: Figure
    panels: list[list[Axes]]
    colorbars: list[Axes]
    n_rows: int
    two_columns: bool


def build_grid(
    n_rows: int, two_columns: bool, *, dpi: float = 150.0, geometry: Geometry | None = None
) -> PanelGrid:
    """Make a figure (never registered with pyplot) with its panels and colorbar axes."""
    g = geometry or Geometry()
    width, height = g.size(n_rows, two_columns)
    fig = Figure(figsize=(width, height), dpi=dpi)
    fig.set_facecolor("white")
    usable = width - g.left - g.right - g.colorbar_pad - g.colorbar_width
    if two_columns:
        zoom_w = (usable - g.column_gap) * g.zoom_fraction
        full_w = usable - g.column_gap - zoom_w
        lefts_widths = [(g.left, full_w), (g.left + full_w + g.column_gap, zoom_w)]
    else:
        lefts_widths = [(g.left, usable)]
    cbar_left = g.left + usable + g.colorbar_pad
    panels: list[list[Axes]] = []
    colorbars: list[Axes] = []
    for i in range(n_rows):
        top_of_row = height - g.top - i * (g.row_height + g.row_title) - g.row_title
        bottom = top_of_row - g.row_height
        row_axes: list[Axes] = []
        for j, (x0, w) in enumerate(lefts_widths):
            share = panels[0][j] if panels else None
            ax = fig.add_axes(
                (x0 / width, bottom / height, w / width, g.row_height / height),
                sharex=share,
            )
            row_axes.append(ax)
        # The zoom panel shares its row's y axis: same limits, same scale.
        for ax in row_axes[1:]:
            ax.sharey(row_axes[0])
        # Axis labels at fixed offsets (in inches from the panel): automatic placement
        # measures every tick label of every sibling axes at each draw.
        for ax, (_, w) in zip(row_axes, lefts_widths, strict=True):
            ax.yaxis.set_label_coords(-g.ylabel_offset / w, 0.5)
            ax.xaxis.set_label_coords(0.5, -g.xlabel_offset / g.row_height)
        panels.append(row_axes)
        colorbars.append(
            fig.add_axes(
                (
                    cbar_left / width,
                    bottom / height,
                    g.colorbar_width / width,
                    g.row_height / height,
                )
            )
        )
    return PanelGrid(fig, panels, colorbars, n_rows, two_columns)
