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

__all__ = ["format_utc", "setup_time_axis", "to_datenum", "to_unix"]

_UTC = dt.timezone.utc


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


def setup_time_axis(axis: Axis, *, show_labels: bool = True) -> None:
    """Round-instant UTC ticks with concise labels (the date shown where it changes)."""
    locator = mdates.AutoDateLocator(tz=_UTC, minticks=3, maxticks=8)
    formatter = mdates.ConciseDateFormatter(locator, tz=_UTC, show_offset=show_labels)
    axis.set_major_locator(locator)
    axis.set_major_formatter(formatter)
    if not show_labels:
        axis.set_tick_params(labelbottom=False)
