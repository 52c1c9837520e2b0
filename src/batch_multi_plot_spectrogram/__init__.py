"""Batch multi-row spectrogram figures from archives of NetCDF, Zarr and other stores.

The public surface:

- :func:`make_spectrogram`: one panel from (time, y, data).
- :func:`generic_plot_spectrogram_set`: a multi-row figure with an optional zoom column.
- :func:`close_all_axes_and_clear`: free a figure made by the two above.
- :func:`generic_batch_plot`: render many items, resumably, in parallel.
- :func:`render_archive`: render every group of every store of an archive; with
  :func:`plan_archive`, :func:`list_archive` and :func:`check_archive` beside it.
- :class:`ValueHistogram`: a mergeable summary of values, for colour limits shared by
  many figures (a dataset dict's ``z_summary``).
- :func:`rebuild_gallery`: make ``OUT/index.html``, the page to browse a run's figures
  with their status, again from the output folder alone.

Subpackages show the flow: ``stores`` (one backend per format), ``metadata`` (from a
group to dataset dicts), ``render`` (numpy in, figure out), ``batch`` (the batch core and
its executors), ``gallery`` (the page of a run); ``options`` holds every option once,
``errors`` every exception.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

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
from .histogram import ValueHistogram
from .render import (
    DatasetDict,
    ItemPlot,
    close_all_axes_and_clear,
    generic_plot_spectrogram_set,
    make_spectrogram,
)

if TYPE_CHECKING:  # loaded lazily at run time: see __getattr__
    from .archive import check_archive, list_archive, plan_archive, render_archive
    from .batch import generic_batch_plot
    from .gallery import rebuild_gallery

try:
    __version__ = version("batch_multi_plot_spectrogram")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

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
    "ValueHistogram",
    "check_archive",
    "close_all_axes_and_clear",
    "generic_batch_plot",
    "generic_plot_spectrogram_set",
    "list_archive",
    "make_spectrogram",
    "plan_archive",
    "rebuild_gallery",
    "render_archive",
]

# The batch core and the archive runner pull in process pools, progress files and the
# store libraries: load them on first use.
_LAZY = {
    "generic_batch_plot": ".batch",
    "render_archive": ".archive",
    "plan_archive": ".archive",
    "list_archive": ".archive",
    "check_archive": ".archive",
    "rebuild_gallery": ".gallery",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
