"""Time windows as items: one figure per window of a group's time range.

A group's time range is read from its time coordinates only (the index coordinates that
opening a group loads anyway). Windows are fixed lengths aligned to UTC (each starts at a
multiple of the length since the Unix epoch, the first at or before the group's first
record), or intervals listed in a CSV file (those that overlap the group). Each window
is an item of its own, named ``group@2015-12-01T12:00`` (or ``group@NAME`` for a named
interval), and its figure reads and shows only the window's records.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SpectrogramError
from ..options import Origin, parse_times
from ._items import StoreItem, Window
from .config import PlotConfig

__all__ = [
    "Window",
    "WindowPlan",
    "fixed_windows",
    "group_time_span",
    "read_windows_csv",
    "window_items",
]


def _stamp(seconds: float) -> str:
    """``2015-12-01T12:00`` (to the second when the instant is not on a minute)."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    spec = "minutes" if moment.second == 0 and moment.microsecond == 0 else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec)


def fixed_windows(first: float, last: float, length: float) -> tuple[Window, ...]:
    """Windows ``length`` seconds long, aligned to the Unix epoch, covering
    ``[first, last]`` (UNIX seconds)."""
    start = math.floor(first / length) * length
    out = []
    while start <= last:
        out.append(Window(start, start + length, _stamp(start)))
        start += length
    return tuple(out)


_CSV_HELP = (
    "a CSV file with a header row naming the columns start,end and optionally name and "
    "events (ISO-8601 times; events separated by ';')"
)


def read_windows_csv(path: str | os.PathLike[str]) -> tuple[Window, ...]:
    """The intervals of a windows file.

    The file is CSV with a header row: ``start,end[,name][,events]``. ``start`` and
    ``end`` are ISO-8601 times (UTC when no zone is given); ``name`` names the figure
    (default: its start time); ``events`` lists event times separated by ``;``.

    Raises
    ------
    ConfigError
        Naming the file, the line and what is wrong.
    """
    file = str(path)
    try:
        text = Path(file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"windows file {file!r} cannot be read: {exc}. Expected {_CSV_HELP}."
        ) from None
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "start" not in columns or "end" not in columns:
        raise ConfigError(
            f"windows file {file!r}: its header is {reader.fieldnames!r}. Expected "
            f"{_CSV_HELP}. Add the header row."
        )
    out = []
    for line, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        where = f"line {line}"
        try:
            (start,) = parse_times(row["start"], Origin.config(file, where, "start"))
            (end,) = parse_times(row["end"], Origin.config(file, where, "end"))
            events = parse_times(
                row.get("events", "").replace(";", ","), Origin.config(file, where, "events")
            )
        except (SpectrogramError, ValueError) as exc:
            raise ConfigError(f"windows file {file!r}, {where}: {exc}") from None
        if not start < end:
            raise ConfigError(
                f"windows file {file!r}, {where}: start {row['start']!r} is not before end "
                f"{row['end']!r}. Give each interval a start before its end."
            )
        name = row.get("name") or _stamp(start)
        out.append(Window(start, end, name, tuple(events)))
    names = [w.name for w in out]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(
            f"windows file {file!r}: the names {repeated} are given to several intervals; "
            "each figure needs its own name."
        )
    return tuple(out)


@dataclass(frozen=True)
class WindowPlan:
    """How an archive run cuts groups into windows: a fixed ``length`` (seconds), or
    the ``intervals`` of a windows file."""

    length: float | None = None
    intervals: tuple[Window, ...] = ()

    def describe(self) -> dict[str, object]:
        """Readable, for the progress file."""
        if self.length is not None:
            return {"window_seconds": self.length}
        return {"windows": [[w.name, w.start, w.end, list(w.events)] for w in self.intervals]}


def group_time_span(item: StoreItem, config: PlotConfig | None) -> tuple[float, float] | None:
    """The first and last record time of a group's rows, UNIX seconds, read from their
    time coordinates only; None when no row has a time."""
    from ._adapter import _unix, plan_group
    from ._values import decode_time

    plan, ds = plan_group(item.store, item.group, config=config, backend=item.backend)
    try:
        lows, highs = [], []
        for name in {spec.plan.time_var for spec in plan.rows}:
            var = ds[name]
            attrs = {**var.attrs, **var.encoding}
            where = f"store {plan.store!r}, group {plan.group!r}, times in {name!r}"
            seconds = _unix(decode_time(np.asarray(var.values), where=where, attrs=attrs))
            seconds = seconds[np.isfinite(seconds)]
            if seconds.size:
                lows.append(float(seconds.min()))
                highs.append(float(seconds.max()))
    finally:
        ds.close()
    return (min(lows), max(highs)) if lows else None


def window_items(
    item: StoreItem, plan: WindowPlan, config: PlotConfig | None
) -> tuple[StoreItem, ...]:
    """The window items of a group: each window (fixed, or listed) over its time range.

    A group whose times cannot be read stays one item, so that its figure reports why.
    """
    try:
        span = group_time_span(item, config)
    except SpectrogramError:
        return (item,)
    if span is None:
        return (item,)
    first, last = span
    if plan.length is not None:
        windows = fixed_windows(first, last, plan.length)
    else:
        windows = tuple(w for w in plan.intervals if w.start <= last and w.end > first)
    return tuple(replace(item, window=w) for w in windows)
