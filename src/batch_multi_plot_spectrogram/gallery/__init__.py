"""Browsing a run: ``OUT/index.html``, a page of thumbnails with each item's status.

A run of :func:`~batch_multi_plot_spectrogram.render_archive` (with ``gallery=True``, the
default) has its workers write each figure's thumbnail and record beside it (in
``OUT/<store>/.thumbs/``, see :mod:`batch_multi_plot_spectrogram.batch._previews`), and its
driver keeps ``OUT/index.html`` and its index ``OUT/gallery.json`` (with the same data in
``OUT/gallery.js``) up to date as progress is saved (:class:`GalleryObserver`).
:func:`rebuild_gallery` makes them again from the folder alone.

The page needs no server and no network: open ``OUT/index.html`` in a browser, from the
disk, here or wherever the folder was copied.
"""

from __future__ import annotations

from ._index import (
    INDEX_JSON_NAME,
    PAGE_NAME,
    Gallery,
    rebuild_gallery,
    scan_output,
    write_gallery,
)
from ._observer import MAX_WRITE_SHARE, GalleryObserver, GalleryStore
from ._page import INDEX_SCRIPT_NAME, page_html

__all__ = [
    "INDEX_JSON_NAME",
    "INDEX_SCRIPT_NAME",
    "MAX_WRITE_SHARE",
    "PAGE_NAME",
    "Gallery",
    "GalleryObserver",
    "GalleryStore",
    "page_html",
    "rebuild_gallery",
    "scan_output",
    "write_gallery",
]
