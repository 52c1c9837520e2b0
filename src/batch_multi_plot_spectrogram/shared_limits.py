"""Colour limits shared by every figure of a row across an archive: the first pass.

Before an archive is rendered with shared limits, each of its items is read once, by the
run's own workers (local processes or a dask cluster), for a
:class:`~.histogram.ValueHistogram` of the values of each row: fixed log-spaced bins, a
few kB, merged by addition. The driver merges them by row key (the variable, and how its
third dimension is reduced: :attr:`~.metadata.RowSpec.key`) and saves the merged state
atomically as it goes, in ``shared-limits.json`` beside the progress files, with the
settings it was computed for and the items it has seen. An interrupted pass resumes
where it stopped; a pass for other settings starts afresh (the file holds derived data
only). Memory holds one histogram per row key, whatever the size of the archive.

Every figure of a row whose ``shared_limits`` is set then takes its automatic colour
limits from the merged histogram: the configured percentiles of all of the archive's
values of that row, to within one bin (a factor of ``10 ** (1 / 100)``).
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ._atomic import write_text_atomic
from .batch._passes import run_pass
from .batch._signals import Interrupted, SignalGuard
from .batch.executors import BatchExecutor
from .errors import NoDataError
from .histogram import ValueHistogram
from .metadata import GroupLoader, StoreItem

__all__ = ["LIMITS_FILE", "SharedLimits", "compute_shared_limits", "read_shared_limits"]

log = logging.getLogger(__name__)

#: The state's file name, in the folder of the archive's progress files.
LIMITS_FILE = "shared-limits.json"
_VERSION = 1
#: Default percentiles of the limits recorded and listed (the figures' default too).
_PERCENTILES = (1.0, 99.0)


@dataclass
class SharedLimits:
    """The merged histograms of an archive's rows, and what they were computed from.

    Attributes
    ----------
    path
        The file the state is saved to.
    settings
        What shapes the values (the config and the plot options): a state computed for
        other settings is not used.
    seen
        The items summarised (``"<store label>::<group>"``), with or without rows.
    rows
        The merged histogram of each row key.
    log_scale
        Whether each row's colour scale is logarithmic (its limits are then those of
        the positive values).
    failed
        Items that could not be read, with the reason; tried again by the next pass.
    """

    path: Path
    settings: dict[str, Any]
    seen: set[str] = field(default_factory=set)
    rows: dict[str, ValueHistogram] = field(default_factory=dict)
    log_scale: dict[str, bool] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def add(self, item: str, summaries: Mapping[str, tuple[dict[str, Any], bool]]) -> None:
        """Merge one item's histograms (as :meth:`ValueHistogram.to_json` documents)."""
        for key, (document, log_scale) in summaries.items():
            histogram = ValueHistogram.from_json(document)
            merged = self.rows.get(key)
            self.rows[key] = histogram if merged is None else merged.merge(histogram)
            self.log_scale.setdefault(key, log_scale)
        self.seen.add(item)
        self.failed.pop(item, None)

    def limits(self, percentiles: tuple[float, float] = _PERCENTILES) -> dict[str, list[float]]:
        """The colour limits of each row key at ``percentiles`` (NaN when it has no value)."""
        out = {}
        for key, histogram in sorted(self.rows.items()):
            positive = self.log_scale.get(key, False)
            out[key] = [histogram.percentile(q, positive=positive) for q in percentiles]
        return out

    def for_loader(self) -> dict[str, tuple[ValueHistogram, bool]]:
        """What :class:`~.metadata.GroupLoader` takes as ``shared``."""
        return {key: (h, self.log_scale.get(key, False)) for key, h in self.rows.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "settings": self.settings,
            "limits": {k: [_finite(v) for v in lim] for k, lim in self.limits().items()},
            "percentiles": list(_PERCENTILES),
            "rows": {
                key: {"log_scale": self.log_scale.get(key, False), "histogram": h.to_json()}
                for key, h in sorted(self.rows.items())
            },
            "seen": sorted(self.seen),
            "failed": dict(sorted(self.failed.items())),
        }

    def save(self) -> None:
        """Write the state atomically (a crash leaves the previous one whole)."""
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        write_text_atomic(self.path, text, make_parents=True)

    @classmethod
    def from_json(cls, path: Path, document: Mapping[str, Any]) -> SharedLimits:
        state = cls(path, dict(document["settings"]))
        for key, row in document["rows"].items():
            state.rows[key] = ValueHistogram.from_json(row["histogram"])
            state.log_scale[key] = bool(row["log_scale"])
        state.seen = set(document["seen"])
        state.failed = dict(document.get("failed", {}))
        return state


def _finite(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None


def read_shared_limits(path: str | Path) -> SharedLimits | None:
    """The state saved at ``path``; None when there is none or it cannot be read."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("version") != _VERSION:
            raise ValueError(f"version {document.get('version')!r}, expected {_VERSION}")
        return SharedLimits.from_json(path, document)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        log.warning("%s cannot be read (%s); the shared limits are computed afresh", path, exc)
        return None


def _summarise(
    loader: GroupLoader, task: tuple[str, StoreItem]
) -> dict[str, tuple[dict[str, Any], bool]]:
    """In a worker: one item's histograms, as JSON documents (a few kB each)."""
    try:
        summaries = loader.summarise(task[1])
    except NoDataError:
        return {}
    return {key: (h.to_json(), log_scale) for key, (h, log_scale) in summaries.items()}


def compute_shared_limits(
    items: Iterable[tuple[str, StoreItem]],
    loader: GroupLoader,
    make_executor: Callable[[], BatchExecutor],
    path: str | Path,
    *,
    settings: Mapping[str, Any],
    fresh: bool = False,
    item_timeout: float | None = None,
    save_every: int = 10,
    save_seconds: float = 30.0,
    progress_bar: bool = False,
    install_signal_handlers: bool = True,
) -> SharedLimits:
    """Summarise every item not yet seen, merge, and save the state at ``path``.

    Parameters
    ----------
    items
        ``(item id, item)`` pairs: the id names the item in the saved state.
    loader
        Reads an item's row histograms (:meth:`GroupLoader.summarise`).
    make_executor
        Makes the executor the items run on (started and closed here).
    settings
        What the histograms depend on; a saved state for other settings is discarded.
    fresh
        Discard any saved state.
    item_timeout
        Seconds an item may take; an item that takes longer counts as failed.
    save_every, save_seconds
        Save the state after this many items, or this often.

    Raises
    ------
    KeyboardInterrupt
        After SIGINT, once the state is saved (SIGTERM: saved, then the signal is
        delivered again to the previous handler).
    """
    path = Path(path)
    wanted = json.loads(json.dumps(dict(settings), default=str))
    state = None if fresh else read_shared_limits(path)
    if state is not None and state.settings != wanted:
        log.info("%s was computed for other settings; the shared limits are computed afresh", path)
        state = None
    if state is None:
        state = SharedLimits(path, wanted)
    todo = [(name, item) for name, item in items if name not in state.seen]
    log.info(
        "shared limits: %d item(s) to read, %d read before; state in %s",
        len(todo),
        len(state.seen),
        path,
    )
    if not todo:
        return state
    guard = SignalGuard(install_signal_handlers)
    bar = tqdm(
        total=len(todo),
        unit="item",
        desc="shared limits",
        file=sys.stderr,
        disable=not progress_bar,
        dynamic_ncols=True,
        mininterval=0.5,
    )
    unsaved, saved_at = 0, time.monotonic()

    def finished(task: tuple[str, StoreItem], future: Future[Any]) -> None:
        nonlocal unsaved
        name = task[0]
        try:
            state.add(name, future.result())
        except Exception as exc:  # one unreadable item must not stop the pass
            state.failed[name] = f"{type(exc).__name__}: {exc}"
            log.warning("shared limits: item %s left out: %s", name, exc)
        unsaved += 1
        bar.update()

    def timed_out(task: tuple[str, StoreItem]) -> None:
        state.failed[task[0]] = f"took more than {item_timeout:g} s"
        log.warning("shared limits: item %s left out: it timed out", task[0])

    def save_due() -> None:
        nonlocal unsaved, saved_at
        now = time.monotonic()
        if unsaved >= save_every or (unsaved and now - saved_at >= save_seconds):
            state.save()
            unsaved, saved_at = 0, now

    guard.install()
    try:
        outcome = run_pass(
            make_executor(),
            functools.partial(_summarise, loader),
            todo,
            finished,
            guard,
            item_timeout=item_timeout,
            timed_out=timed_out,
            between=save_due,
        )
    finally:
        bar.close()
        state.save()
        guard.restore()
    if outcome is not None and not isinstance(outcome, Interrupted):
        raise outcome
    if guard.received == signal.SIGTERM:
        signal.raise_signal(signal.SIGTERM)
    if guard.received is not None:
        raise KeyboardInterrupt
    if state.failed:
        log.warning(
            "shared limits: %d item(s) could not be read and are left out of them: %s",
            len(state.failed),
            ", ".join(sorted(state.failed)[:5]),
        )
    return state
