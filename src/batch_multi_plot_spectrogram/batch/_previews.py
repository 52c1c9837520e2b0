"""Previews: a thumbnail and a small record of each item, beside its figure.

When a run asks for previews, the worker that renders an item also writes, under the
``.thumbs`` folder of the item's output folder and at the same relative path as the
figure:

- ``<name>.jpg``, a thumbnail of the figure, made from the same render;
- ``<name>.json``, the item's *record*: its key, status, the first line of the reason for
  ``no_data`` and ``error``, the time range and title of a figure, and the names of the
  figure and thumbnail files.

For ``OUT/<store>/2000/orbit_1.png`` these are ``OUT/<store>/.thumbs/2000/orbit_1.jpg``
and ``.json``. A record says what became of an item without the progress file or the log,
so a gallery can be rebuilt from the output folder alone, after it was copied elsewhere.
Both files are written atomically, the record last: a record of an ``ok`` item whose
thumbnail is named means the thumbnail is complete on disk.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._atomic import write_text_atomic
from ..options import output_suffix

__all__ = [
    "RECORD_VERSION",
    "THUMBS_FOLDER",
    "PreviewPaths",
    "first_line",
    "preview_paths",
    "read_record",
    "record_document",
    "write_record",
]

#: The folder of thumbnails and records inside an output folder.
THUMBS_FOLDER = ".thumbs"
THUMBNAIL_SUFFIX = ".jpg"
RECORD_SUFFIX = ".json"
#: The version of the record's layout, written as its ``item_record`` key.
RECORD_VERSION = 1
_STATUSES = ("ok", "no_data", "error")


@dataclass(frozen=True)
class PreviewPaths:
    """Where the thumbnail and the record of one item go."""

    thumbnail: Path
    record: Path


def preview_paths(output_dir: Path, figure: Path, output_format: str) -> PreviewPaths:
    """The thumbnail and record of the figure ``figure`` of output folder ``output_dir``.

    The figure's name loses its format's suffix (when it has it) and gains ``.jpg`` and
    ``.json``, under ``output_dir/.thumbs`` at the figure's own relative path. Figures
    of one folder all end in the same suffix, so two figures never share a preview.
    """
    relative = figure.relative_to(output_dir)
    name = relative.name
    suffix = output_suffix(output_format)
    stem = name[: -len(suffix)] if name.endswith(suffix) and len(name) > len(suffix) else name
    folder = output_dir / THUMBS_FOLDER / relative.parent
    return PreviewPaths(folder / (stem + THUMBNAIL_SUFFIX), folder / (stem + RECORD_SUFFIX))


def first_line(message: str | None) -> str | None:
    """The reason of a message: its first non-empty line, or None."""
    if not message:
        return None
    for line in message.splitlines():
        if line.strip():
            return line.strip()
    return None


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def record_document(
    *,
    key: str,
    status: str,
    message: str | None,
    figure: str | os.PathLike[str],
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of an item, as a JSON-ready dict.

    Parameters
    ----------
    key
        The item's key (for a store, the group path).
    status
        ``ok``, ``no_data`` or ``error``.
    message
        The result's message; for ``no_data`` and ``error`` its first line is the reason.
    figure
        The item's figure file (only its name is kept).
    info
        What an ``ok`` figure shows (``start``, ``end``, ``title``) and its thumbnail
        (``thumbnail``: a path, of which only the name is kept; ``thumbnail_size``).
    """
    info = info or {}
    thumbnail = info.get("thumbnail") if status == "ok" else None
    size = info.get("thumbnail_size") if thumbnail else None
    return {
        "item_record": RECORD_VERSION,
        "key": key,
        "status": status,
        "reason": None if status == "ok" else first_line(message),
        "start": _finite(info.get("start")) if status == "ok" else None,
        "end": _finite(info.get("end")) if status == "ok" else None,
        "title": info.get("title") if status == "ok" else None,
        "figure": Path(figure).name,
        "thumbnail": Path(thumbnail).name if thumbnail else None,
        "thumbnail_size": [int(size[0]), int(size[1])] if size else None,
        "finished": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_record(path: str | os.PathLike[str], document: dict[str, Any]) -> None:
    """Write a record atomically (its folder is made if needed)."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, indent=1)
    write_text_atomic(path, text + "\n", make_parents=True)


def read_record(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A record read back, or None when it is missing, unreadable or not a record."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (
        not isinstance(document, dict)
        or document.get("item_record") != RECORD_VERSION
        or not isinstance(document.get("key"), str)
        or document.get("status") not in _STATUSES
        or not isinstance(document.get("figure"), str)
    ):
        return None
    return document
