"""The gallery's index: every item of an output folder, written as JSON for the page.

An *entry* is one item as the page shows it: a plain dict with ``store`` (the store's
output folder relative to ``OUT``), ``group`` (the item's key), ``status`` (``ok``,
``no_data``, ``error`` or ``pending``) and, when known, ``start``/``end`` (UNIX seconds),
``title``, ``reason`` (first line), ``figure`` and ``thumb`` (paths relative to ``OUT``,
with ``/``) and ``tw``/``th`` (the thumbnail's size). Keys without a value are left out.

:func:`write_gallery` writes ``OUT/gallery.json`` (for tools), the same document as
``OUT/gallery.js`` (for the page: see :mod:`._page` for why a script) and
``OUT/index.html``, each atomically. :func:`scan_output` finds the entries of a folder
from what is on disk: the items' records (see
:mod:`batch_multi_plot_spectrogram.batch._previews`), the previous index, and figures
that have neither; :func:`rebuild_gallery` is the two together.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .._atomic import write_bytes_atomic, write_text_atomic
from ..batch._previews import THUMBS_FOLDER, preview_paths, read_record, record_document
from ..batch._previews import write_record as _write_record
from ..errors import SettingError
from ..options import OUTPUT_FORMATS
from ._page import INDEX_GLOBAL, INDEX_SCRIPT_NAME, page_html

__all__ = [
    "GALLERY_VERSION",
    "INDEX_JSON_NAME",
    "PAGE_NAME",
    "STATES",
    "Gallery",
    "entry_from_record",
    "rebuild_gallery",
    "scan_output",
    "sort_entries",
    "write_gallery",
]

log = logging.getLogger(__name__)

PAGE_NAME = "index.html"
INDEX_JSON_NAME = "gallery.json"
#: The version of the index's layout, written as its ``gallery`` key.
GALLERY_VERSION = 1
STATUSES = ("ok", "no_data", "error", "pending")
#: ``running``: written during a run; ``complete``: no item is pending; ``incomplete``:
#: some are (a run stopped early, or stores it could not lock).
STATES = ("running", "complete", "incomplete")
ROOT_FILE_STEM = "root"

Key = tuple[str, str]


def _posix(path: Path, out: Path) -> str:
    return PurePosixPath(*path.relative_to(out).parts).as_posix()


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sort_entries(entries: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries grouped by store (by label) and sorted by time within a store; those
    without a time range come after, by group."""

    def order(entry: dict[str, Any]) -> tuple[str, bool, float, str]:
        start = entry.get("start")
        return (entry["store"], start is None, start or 0.0, entry["group"])

    return sorted(entries, key=order)


def _counts(entries: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for entry in entries:
        counts[entry["status"]] += 1
    return counts


@dataclass
class Gallery:
    """What a gallery shows: its entries by (store, group), and the stores that could
    not be part of the run, with the reason."""

    entries: dict[Key, dict[str, Any]] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Entries per status."""
        return _counts(self.entries.values())

    def state(self) -> str:
        """``complete`` when no entry is pending, else ``incomplete``."""
        pending = any(e["status"] == "pending" for e in self.entries.values())
        return "incomplete" if pending else "complete"

    def document(self, *, title: str, state: str) -> dict[str, Any]:
        """The index as a JSON-ready dict."""
        items = sort_entries(self.entries.values())
        stores: dict[str, list[dict[str, Any]]] = {}
        for entry in items:
            stores.setdefault(entry["store"], []).append(entry)
        return {
            "gallery": GALLERY_VERSION,
            "title": title,
            "updated": _now(),
            "state": state,
            "counts": _counts(items),
            "stores": [
                {"label": label, "counts": _counts(group)} for label, group in stores.items()
            ],
            "problems": list(self.problems),
            "items": items,
        }


def write_gallery(
    out: str | os.PathLike[str],
    gallery: Gallery,
    *,
    state: str | None = None,
    page: bool = True,
) -> dict[str, Any]:
    """Write the index (``gallery.json`` and ``gallery.js``) and the page (``index.html``)
    of an output folder, each atomically.

    Parameters
    ----------
    out
        The output folder (made if needed).
    gallery
        What to show.
    state
        ``running``, ``complete`` or ``incomplete`` (default: :meth:`Gallery.state`).
    page
        Write ``index.html`` too, when its text differs from the file's (it holds no
        item, so a run writes it once).

    Returns
    -------
    dict
        The document written.
    """
    folder = Path(os.fspath(out))
    folder.mkdir(parents=True, exist_ok=True)
    state = state or gallery.state()
    if state not in STATES:
        raise SettingError(f"Expected state to be one of {STATES}. Got {state!r} instead.")
    document = gallery.document(title=folder.resolve().name, state=state)
    # ASCII only: the script's bytes then mean the same in any charset a browser assumes.
    text = json.dumps(document, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    write_text_atomic(folder / INDEX_JSON_NAME, text + "\n")
    write_text_atomic(
        folder / INDEX_SCRIPT_NAME,
        f"// The index of {PAGE_NAME}, the same document as {INDEX_JSON_NAME}.\n"
        f"window.{INDEX_GLOBAL} = {text};\n",
    )
    if page:
        html_bytes = page_html(document["title"]).encode("utf-8")
        target = folder / PAGE_NAME
        try:
            same = target.read_bytes() == html_bytes
        except OSError:
            same = False
        if not same:
            write_bytes_atomic(target, html_bytes)
    return document


# ---------------------------------------------------------------------------------------
# Reading an output folder
# ---------------------------------------------------------------------------------------


def entry_from_record(
    record: Mapping[str, Any], store: str, store_dir: Path, record_path: Path, out: Path
) -> dict[str, Any]:
    """The entry of an item from its record.

    ``record_path`` is ``store_dir/.thumbs/<sub>/<name>.json``; the figure is
    ``store_dir/<sub>/<figure>`` and the thumbnail ``store_dir/.thumbs/<sub>/<thumbnail>``.
    """
    sub = record_path.parent.relative_to(store_dir / THUMBS_FOLDER)
    entry: dict[str, Any] = {
        "store": store,
        "group": record["key"],
        "status": record["status"],
        "figure": _posix(store_dir / sub / record["figure"], out),
    }
    for name in ("start", "end"):
        value = record.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            entry[name] = float(value)
    for name in ("title", "reason"):
        if isinstance(record.get(name), str):
            entry[name] = record[name]
    thumbnail = record.get("thumbnail")
    if record["status"] == "ok" and isinstance(thumbnail, str):
        entry["thumb"] = _posix(record_path.parent / thumbnail, out)
        size = record.get("thumbnail_size")
        if isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) for v in size):
            entry["tw"], entry["th"] = size
    return entry


def _read_previous(out: Path) -> dict[str, Any] | None:
    try:
        document = json.loads((out / INDEX_JSON_NAME).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        log.warning(
            "%s is unreadable (%s): rebuilt from the files alone", out / INDEX_JSON_NAME, exc
        )
        return None
    if not isinstance(document, dict) or document.get("gallery") != GALLERY_VERSION:
        return None
    return document


def _previous_entries(document: Mapping[str, Any] | None) -> dict[Key, dict[str, Any]]:
    found: dict[Key, dict[str, Any]] = {}
    items = document.get("items") if document else None
    for entry in items if isinstance(items, list) else []:
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("store"), str)
            and isinstance(entry.get("group"), str)
            and entry.get("status") in STATUSES
        ):
            found[(entry["store"], entry["group"])] = dict(entry)
    return found


def _store_suffixes() -> tuple[str, ...]:
    from ..stores import BACKENDS

    return tuple(s.lower() for backend in BACKENDS.values() for s in backend.suffixes)


def _figure_store(relative: PurePosixPath, known: set[str], suffixes: tuple[str, ...]) -> str:
    """The store label of a figure without a record: the deepest known store folder above
    it, else the first folder named like a store, else its first folder."""
    parents = [p.as_posix() for p in reversed(relative.parents) if p.as_posix() != "."]
    for label in reversed(parents):
        if label in known:
            return label
    for label in parents:
        if label.lower().endswith(suffixes):
            return label
    return parents[0] if parents else ""


def _group_of(relative: PurePosixPath, store: str) -> str:
    inside = relative.relative_to(store) if store else relative
    name = inside.name[: -len(inside.suffix)]
    if inside.parent == PurePosixPath(".") and name == ROOT_FILE_STEM:
        return "/"  # the root group's figure (see archive.group_file_name)
    return (inside.parent / name).as_posix()


def scan_output(out: str | os.PathLike[str], *, make_thumbnails: bool = False) -> Gallery:
    """The gallery of an output folder, from what is on disk.

    Every item's record gives its entry. A figure without a record is an ``ok`` item
    (with the facts the previous index had of it, if any); with ``make_thumbnails``, a
    PNG figure without a thumbnail gets one (and a record), read from the figure. Entries
    of the previous index that neither a record nor a figure confirms (``no_data``,
    ``error`` and ``pending`` items) are kept while their store's folder exists.
    """
    folder = Path(os.path.abspath(os.fspath(out)))
    previous_document = _read_previous(folder)
    previous = _previous_entries(previous_document)
    gallery = Gallery()
    figures: list[Path] = []
    store_dirs: dict[str, Path] = {}
    suffixes = tuple(OUTPUT_FORMATS.values())
    for here, dirs, files in os.walk(folder):
        base = Path(here)
        if THUMBS_FOLDER in dirs:
            dirs.remove(THUMBS_FOLDER)
            store = _posix(base, folder) if base != folder else ""
            store_dirs[store] = base
            for sub, _, names in os.walk(base / THUMBS_FOLDER):
                for name in names:
                    if not name.endswith(".json") or name.startswith("."):
                        continue
                    path = Path(sub) / name
                    record = read_record(path)
                    if record is None:
                        continue
                    entry = entry_from_record(record, store, base, path, folder)
                    gallery.entries[(store, entry["group"])] = entry
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        figures.extend(
            base / name
            for name in sorted(files)
            if name.lower().endswith(suffixes) and not name.startswith(".")
        )
    known = set(store_dirs) | {store for store, _ in previous}
    store_suffixes = _store_suffixes()
    claimed = {entry["figure"] for entry in gallery.entries.values()}
    for path in figures:
        relative = PurePosixPath(_posix(path, folder))
        if relative.as_posix() in claimed:
            continue  # its record said all
        store = _figure_store(relative, known, store_suffixes)
        key = (store, _group_of(relative, store))
        if key in gallery.entries:
            continue
        before = previous.get(key)
        if before is not None and before["status"] == "ok":
            entry = before
        else:
            entry = {"store": store, "group": key[1], "status": "ok"}
        entry["figure"] = relative.as_posix()
        thumb = entry.get("thumb")
        if thumb is not None and not (folder / thumb).is_file():
            for name in ("thumb", "tw", "th"):
                entry.pop(name, None)
        if "thumb" not in entry and make_thumbnails:
            _make_thumbnail(entry, path, folder / store if store else folder, folder)
        gallery.entries[key] = entry
    for key, entry in previous.items():
        if key in gallery.entries or entry["status"] == "ok":
            continue  # an ok item whose figure is gone is not shown
        if (folder / key[0]).is_dir() or (key[0] == "" and folder.is_dir()):
            gallery.entries[key] = entry
    problems = previous_document.get("problems") if previous_document else None
    if isinstance(problems, list):
        gallery.problems = [
            p for p in problems if isinstance(p, dict) and {"store", "reason"} <= set(p)
        ]
    return gallery


def _make_thumbnail(entry: dict[str, Any], figure: Path, store_dir: Path, out: Path) -> None:
    """Give a PNG figure of an earlier run its thumbnail and record, read from the figure."""
    from ..render._thumbnail import thumbnail_from_png

    if figure.suffix.lower() != ".png":
        return  # a PDF or SVG needs its Figure to be drawn small: only a run can
    try:
        thumbnail = thumbnail_from_png(figure.read_bytes())
        paths = preview_paths(store_dir, figure, "png")
        write_bytes_atomic(paths.thumbnail, thumbnail.data, make_parents=True)
        info = {
            "start": entry.get("start"),
            "end": entry.get("end"),
            "title": entry.get("title"),
            "thumbnail": str(paths.thumbnail),
            "thumbnail_size": (thumbnail.width, thumbnail.height),
        }
        document = record_document(
            key=entry["group"], status="ok", message=None, figure=figure, info=info
        )
        _write_record(paths.record, document)
    except Exception as exc:  # an unreadable figure is shown without a thumbnail
        log.warning("no thumbnail for %s: %s: %s", figure, type(exc).__name__, exc)
        return
    entry["thumb"] = _posix(paths.thumbnail, out)
    entry["tw"], entry["th"] = thumbnail.width, thumbnail.height


def rebuild_gallery(
    out: str | os.PathLike[str], *, make_thumbnails: bool = True
) -> dict[str, Any]:
    """Rebuild the gallery of an output folder from what is on disk.

    For runs made before galleries existed, or after output folders were copied or
    merged: items are found from their records, the previous index and the figures
    themselves (see :func:`scan_output`); PNG figures without a thumbnail get one unless
    ``make_thumbnails`` is False.

    Parameters
    ----------
    out
        The output folder of one or more runs.
    make_thumbnails
        Make missing thumbnails of PNG figures (reading each figure once).

    Returns
    -------
    dict
        The index written (``counts``, ``items``, ...).

    Raises
    ------
    SettingError
        When ``out`` is not a folder.
    """
    folder = Path(os.fspath(out))
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise SettingError(
            f"{str(folder)!r} {what}. Pass the output folder of a run (the -o of render)."
        )
    gallery = scan_output(folder, make_thumbnails=make_thumbnails)
    return write_gallery(folder, gallery)
