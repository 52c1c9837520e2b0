"""The UTC time axis.

Time is drawn in matplotlib date numbers (days since ``rcParams["date.epoch"]``) so the
standard date locators place ticks on round instants, and every label names the instant
its tick sits on, in UTC. Conversions to and from UNIX seconds live here only.
"""

from __future__ import annotations

import datetime as dt

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axis import Axis
from matplotlib.ticker import Formatter

__all__ = ["UTCTimeFormatter", "format_utc", "setup_time_axis", "to_datenum", "to_unix"]

_UTC = dt.UTC


def _epoch_days() -> float:
    """Date number of 1970-01-01T00:00Z under the current matplotlib epoch."""
    return float(mdates.date2num(np.datetime64("1970-01-01T00:00:00", "us")))


def to_datenum(unix_seconds: np.ndarray | float) -> np.ndarray:
    """UNIX seconds to matplotlib date numbers."""
    return np.asarray(unix_seconds, dtype="float64") / 86400.0 + _epoch_days()


def to_unix(datenum: np.ndarray | float) -> np.ndarray:
    """Matplotlib date numbers to UNIX seconds."""
    return (np.asarray(datenum, dtype="float64") - _epoch_days()) * 86400.0


def format_utc(unix_seconds: float) -> str:
    """An instant as ``YYYY-MM-DD HH:MM:SS`` UTC."""
    return dt.datetime.fromtimestamp(float(unix_seconds), tz=_UTC).strftime("%Y-%m-%d %H:%M:%S")


class UTCTimeFormatter(Formatter):
    """Label each tick with the UTC time it sits on, and the date where it changes.

    Every label is self-contained: ``HH:MM`` (``HH:MM:SS`` when a tick is not on a whole
    minute, with fractions when ticks are closer than a second), with the date
    (``YYYY-MM-DD``) on a second line under the first tick and under every tick whose
    date differs from the previous tick's. No offset text is used, so no label depends
    on a date printed elsewhere.
    """

    def format_ticks(self, values: list[float]) -> list[str]:
        stamps = [mdates.num2date(v, tz=_UTC) for v in values]
        if all(s.second == 0 and s.microsecond == 0 for s in stamps):
            fmt = "%H:%M"
        elif all(s.microsecond == 0 for s in stamps):
            fmt = "%H:%M:%S"
        else:
            fmt = "%H:%M:%S.%f"
        labels = []
        previous = None
        for s in stamps:
            text = s.strftime(fmt)
            if fmt.endswith("%f"):
                text = text.rstrip("0").rstrip(".")
            if s.date() != previous:
                text += "\n" + s.strftime("%Y-%m-%d")
                previous = s.date()
            labels.append(text)
        return labels

    def __call__(self, x: float, pos: int | None = None) -> str:
        # Single labels (e.g. the cursor readout) carry the full instant.
        stamp = mdates.num2date(x, tz=_UTC)
        return stamp.strftime("%Y-%m-%d %H:%M:%S")


def setup_time_axis(axis: Axis, *, show_labels: bool = True) -> None:
    """Round-instant UTC ticks, each labelled with the instant it sits on."""
    locator = mdates.AutoDateLocator(tz=_UTC, minticks=3, maxticks=8)
    axis.set_major_locator(locator)
    axis.set_major_formatter(UTCTimeFormatter())
    if not show_labels:
        axis.set_tick_params(labelbottom=False)
