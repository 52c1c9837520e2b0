"""Batch multi-row spectrogram figures from archives of NetCDF and Zarr stores.

The public surface:

- :func:`make_spectrogram`: one panel from (time, y, data).
- :func:`generic_plot_spectrogram_set`: a multi-row figure with an optional zoom column.
- :func:`close_all_axes_and_clear`: free a figure made by the two above.
- :func:`generic_batch_plot`: render many items, resumably, in parallel.
"""

from __future__ import annotations

from .datasets import DatasetDict, ItemPlot
from .errors import (
    ConfigError,
    DataShapeError,
    NoDataError,
    ProgressFileError,
    ProgressLockedError,
    RowError,
    SettingError,
    SpectrogramError,
    StoreError,
    StoreNotFoundError,
)
from .render import close_all_axes_and_clear, generic_plot_spectrogram_set, make_spectrogram

__all__ = [
    "ConfigError",
    "DataShapeError",
    "DatasetDict",
    "ItemPlot",
    "NoDataError",
    "ProgressFileError",
    "ProgressLockedError",
    "RowError",
    "SettingError",
    "SpectrogramError",
    "StoreError",
    "StoreNotFoundError",
    "close_all_axes_and_clear",
    "generic_batch_plot",
    "generic_plot_spectrogram_set",
    "make_spectrogram",
]


def __getattr__(name: str) -> object:
    # The batch core pulls in process pools and progress files; load it on first use.
    if name == "generic_batch_plot":
        from .batch import generic_batch_plot

        return generic_batch_plot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
