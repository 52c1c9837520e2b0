"""Rendering: numpy rows in, a matplotlib ``Figure`` (or a file's bytes) out.

Knows nothing of stores, batches or files. Modules:

- ``_datasets``: the dataset dict, checked into rows;
- ``_binning``: true bin edges, resampled onto any pixel grid;
- ``_image``: the image artist that draws a row at the axes' own pixels;
- ``_colour``: colour limits, norms and colormaps;
- ``_layout``: the fixed figure geometry;
- ``_timeaxis``: the UTC time axis;
- ``_figure``: panels and figures, and the encoders;
- ``_thumbnail``: small JPEGs of figures, from the same render.
"""

from __future__ import annotations

from ._datasets import DATASET_KEYS, DatasetDict, ItemPlot, as_unix_seconds, parse_dataset
from ._figure import (
    DEFAULT_Y_LABEL,
    DEFAULT_Z_LABEL,
    RenderedFigure,
    close_all_axes_and_clear,
    figure_bytes,
    generic_plot_spectrogram_set,
    make_spectrogram,
    render_figure,
    render_png,
    zoom_window,
)
from ._thumbnail import THUMBNAIL_WIDTH, Thumbnail

__all__ = [
    "DATASET_KEYS",
    "DEFAULT_Y_LABEL",
    "DEFAULT_Z_LABEL",
    "THUMBNAIL_WIDTH",
    "DatasetDict",
    "ItemPlot",
    "RenderedFigure",
    "Thumbnail",
    "as_unix_seconds",
    "close_all_axes_and_clear",
    "figure_bytes",
    "generic_plot_spectrogram_set",
    "make_spectrogram",
    "parse_dataset",
    "render_figure",
    "render_png",
    "zoom_window",
]
