"""Where the zoom column looks: a window of time around the event lines."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["zoom_window"]


def zoom_window(
    vertical_lines: Sequence[float] | None, zoom_duration_minutes: float | None
) -> tuple[float, float] | None:
    """The zoom column's time window in UNIX seconds, or ``None``.

    Centred on the middle of the event lines, ``zoom_duration_minutes`` long, and widened
    to 1.5 times the span of the lines when they are further apart than that.
    """
    if not vertical_lines or not zoom_duration_minutes:
        return None
    lines = np.asarray(vertical_lines, dtype="float64")
    centre = 0.5 * (lines.min() + lines.max())
    duration = max(float(zoom_duration_minutes) * 60.0, 1.5 * float(np.ptp(lines)))
    return centre - duration / 2.0, centre + duration / 2.0
