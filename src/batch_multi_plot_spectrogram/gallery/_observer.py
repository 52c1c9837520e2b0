"""Keeping a run's gallery up to date: an observer of the batch driver.

:class:`GalleryObserver` starts from what the output folder already shows (see
:func:`~._index.scan_output`), puts every item of the run's stores in it (pending, or with
the status recorded by an earlier run when that status stands), updates an item as its
result is recorded, and rewrites the index when a store's progress is saved and when the
run ends. Each write is atomic, so the page is whole at any instant, and an ``ok`` item
only appears once its thumbnail is on disk (the worker wrote it before returning).

Rewriting the whole index costs time in proportion to the number of items (about 30 ms
for 10,000 on a laptop), while saves come every few items: a write is skipped when the
previous write is too recent for the index to stay under :data:`MAX_WRITE_SHARE` of the
run's time. The last write, when the run ends, is never skipped.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..batch._previews import first_line, preview_paths, record_document, write_record
from ._index import Gallery, scan_output, write_gallery

if TYPE_CHECKING:
    from ..batch._tasks import ItemResult

__all__ = ["MAX_WRITE_SHARE", "GalleryObserver", "GalleryStore"]

log = logging.getLogger(__name__)

#: The largest share of a run's time that rewriting its index may take.
MAX_WRITE_SHARE = 0.005


@dataclass(frozen=True)
class GalleryStore:
    """One store of a run, as its gallery needs it.

    Attributes
    ----------
    label
        Its output folder relative to the gallery's folder (``/``-separated).
    output_dir
        Its output folder.
    figures
        Each item's key and figure file, in the run's order.
    standing
        The items that an earlier run finished for good (recorded ``no_data``, or ``ok``
        with the figure on disk), with that status: the run skips them.
    output_format
        The format of its figures.
    """

    label: str
    output_dir: Path
    figures: Mapping[str, Path]
    standing: Mapping[str, str]
    output_format: str


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


class GalleryObserver:
    """Writes ``OUT/index.html`` and its index during a run (a batch ``RunObserver``).

    Parameters
    ----------
    out
        The run's output folder.
    stores
        The run's stores, in ledger order.
    problems
        Stores left out of the run, as ``(label, reason)``.
    clock
        The clock that spaces writes (seconds).
    max_share
        The largest share of the run's time that writing the index may take (default
        :data:`MAX_WRITE_SHARE`).
    """

    def __init__(
        self,
        out: str | os.PathLike[str],
        stores: Iterable[GalleryStore],
        *,
        problems: Iterable[tuple[str, str]] = (),
        clock: Callable[[], float] = time.monotonic,
        max_share: float | None = None,
    ) -> None:
        self.out = Path(os.path.abspath(os.fspath(out)))
        self.stores = list(stores)
        self.clock = clock
        self.max_share = MAX_WRITE_SHARE if max_share is None else max_share
        self.writes = 0
        self.write_seconds = 0.0
        self._last_write: float | None = None
        self._last_cost = 0.0
        self._page_written = False
        self._failed = False
        found = scan_output(self.out)
        ours = {store.label for store in self.stores}
        self.gallery = Gallery(
            {key: entry for key, entry in found.entries.items() if key[0] not in ours},
            [p for p in found.problems if p.get("store") not in ours],
        )
        self.add_problems(problems)
        for store in self.stores:
            for key, figure in store.figures.items():
                self.gallery.entries[(store.label, key)] = self._initial(
                    store, key, figure, found.entries.get((store.label, key))
                )

    def _relative(self, path: str | os.PathLike[str]) -> str:
        return Path(os.path.relpath(os.fspath(path), self.out)).as_posix()

    def _initial(
        self, store: GalleryStore, key: str, figure: Path, before: dict[str, Any] | None
    ) -> dict[str, Any]:
        status = store.standing.get(key)
        if status is None:
            return {
                "store": store.label,
                "group": key,
                "status": "pending",
                "figure": self._relative(figure),
            }
        if before is not None and before["status"] == status:
            return before
        return {
            "store": store.label,
            "group": key,
            "status": status,
            "figure": self._relative(figure),
        }

    def add_problems(self, problems: Iterable[tuple[str, str]]) -> None:
        """Stores left out of the run, as ``(label, reason)``: shown above the grid, with
        the whole reason (what to do about it is often on its later lines)."""
        for label, reason in problems:
            self.gallery.problems = [p for p in self.gallery.problems if p["store"] != label]
            self.gallery.problems.append({"store": label, "reason": reason.strip()})

    # -- RunObserver -------------------------------------------------------------------------

    def recorded(self, ledger: int, result: ItemResult) -> None:
        """Put a finished item in the gallery."""
        store = self.stores[ledger]
        figure = store.figures.get(result.key) or result.output_path
        entry: dict[str, Any] = {
            "store": store.label,
            "group": result.key,
            "status": result.status,
        }
        if figure is not None:
            entry["figure"] = self._relative(figure)
        info = result.info
        if result.status == "ok":
            for name in ("start", "end"):
                value = _finite(info.get(name))
                if value is not None:
                    entry[name] = value
            if isinstance(info.get("title"), str):
                entry["title"] = info["title"]
            if info.get("thumbnail"):
                entry["thumb"] = self._relative(info["thumbnail"])
                size = info.get("thumbnail_size")
                if size:
                    entry["tw"], entry["th"] = int(size[0]), int(size[1])
        else:
            reason = first_line(result.message)
            if reason:
                entry["reason"] = reason
        self.gallery.entries[(store.label, result.key)] = entry
        if "record" not in info and figure is not None:
            # A failure the driver saw (a timeout, a lost worker, an unplaceable item): no
            # worker wrote its record, so that the folder alone still tells it.
            self._write_record(store, result, Path(figure))

    def _write_record(self, store: GalleryStore, result: ItemResult, figure: Path) -> None:
        try:
            paths = preview_paths(store.output_dir, figure, store.output_format)
            document = record_document(
                key=result.key,
                status=result.status,
                message=result.message,
                figure=figure,
                info=dict(result.info),
            )
            write_record(paths.record, document)
        except (OSError, ValueError) as exc:
            log.warning("record of %r not written: %s", result.key, exc)

    def saved(self, ledger: int) -> None:
        """A store's progress was saved: rewrite the index, unless it was rewritten too
        recently (see :data:`MAX_WRITE_SHARE`)."""
        if self._last_write is not None:
            wait = self._last_cost / self.max_share
            if self.clock() - self._last_write < wait:
                return
        self.write("running")

    def finished(self) -> None:
        """The run ends: write the index as it stands."""
        self.write(None)

    # -- writing -----------------------------------------------------------------------------

    def write(self, state: str | None) -> None:
        """Write the index now (``state`` None: ``complete`` or ``incomplete``). A failure
        to write is logged, never raised: the run goes on."""
        started = time.perf_counter()
        try:
            write_gallery(self.out, self.gallery, state=state, page=not self._page_written)
        except (OSError, ValueError) as exc:
            if not self._failed:
                log.warning("gallery not written in %s: %s", self.out, exc)
            self._failed = True
            return
        self._page_written = True
        self._last_cost = time.perf_counter() - started
        self._last_write = self.clock()
        self.writes += 1
        self.write_seconds += self._last_cost
