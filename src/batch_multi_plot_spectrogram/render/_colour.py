"""Colour limits, norms and colormaps.

"No data" (NaN, fill) is transparent, so the panel background shows through. Values at
or below zero under a log colour scale are "below scale": drawn in the colormap's under
colour, and never allowed to widen the limits.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.colors import Colormap, LogNorm, Normalize

from ..histogram import ValueHistogram
from ..options import Scale

__all__ = ["DEFAULT_PERCENTILES", "colormap_for", "colour_limits", "make_norm", "to_rgba"]

DEFAULT_PERCENTILES = (1.0, 99.0)


def colormap_for(value: object) -> Colormap:
    """A copy of a checked colormap (a name or a ``Colormap``) with transparent "bad"
    (no data)."""
    base = value if isinstance(value, Colormap) else mpl.colormaps[str(value)]
    # with_extremes returns a copy and keeps any under/over colours already set.
    return base.with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


def colour_limits(
    values: np.ndarray,
    scale: Scale,
    *,
    row_z: tuple[float | None, float | None] = (None, None),
    row_v: tuple[float | None, float | None] = (None, None),
    global_z: tuple[float | None, float | None] = (None, None),
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
    summary: ValueHistogram | None = None,
) -> tuple[float, float] | None:
    """Resolve a row's colour limits.

    Precedence, for each end: the row's ``z_min``/``z_max``; else the row's
    ``vmin``/``vmax`` clamped by the global ``z_min``/``z_max``; else the global
    ``z_min``/``z_max``; else a robust percentile of the finite values (positive values
    only under a log scale), read from ``summary`` when given (to one of its bins).
    Returns ``None`` when there is no value and no limit.
    """
    lo_p, hi_p = percentiles
    log = scale == "log"
    usable = values[values > 0] if log else values
    auto: tuple[float, float] | None = None
    lowest = float(usable.min()) if usable.size else None
    if summary is not None and (summary.positive_count if log else summary.count):
        auto = (summary.percentile(lo_p, positive=log), summary.percentile(hi_p, positive=log))
        lowest = summary.min_positive if log else summary.minimum
    elif usable.size:
        p = np.percentile(usable, [lo_p, hi_p])
        auto = (float(p[0]), float(p[1]))

    def pick(i: int, clamp: object) -> float | None:
        if row_z[i] is not None:
            return row_z[i]
        if row_v[i] is not None:
            v = row_v[i]
            g = global_z[i]
            if g is not None:
                v = clamp(v, g)  # type: ignore[operator]
            return v
        if global_z[i] is not None:
            return global_z[i]
        return None if auto is None else auto[i]

    lo = pick(0, max)
    hi = pick(1, min)
    if lo is None or hi is None:
        if lo is None and hi is None:
            if not values.size:
                return None
            # Every value is at or below zero under a log scale: all "below scale", drawn
            # in the under colour on a nominal decade rather than as "no data".
            lo, hi = 1.0, 10.0
        # One end given, no data for the other: make a sensible span around it.
        elif lo is None:
            lo = hi / 10.0 if scale == "log" else hi - 1.0  # type: ignore[operator]
        else:
            hi = lo * 10.0 if scale == "log" else lo + 1.0
    assert lo is not None and hi is not None
    if scale == "log" and hi <= 0:
        # Nothing a log scale can show; the caller reports it with the row's name.
        return float(lo), float(hi)
    if scale == "log" and lo <= 0:
        lo = lowest if lowest is not None and lowest < hi else hi / 10.0
    if lo >= hi:
        # A flat row (or limits given the wrong way round): widen around the value.
        if lo > hi:
            lo, hi = hi, lo
        else:
            lo, hi = (lo / 2.0, hi * 2.0) if scale == "log" else (lo - 0.5, hi + 0.5)
    return float(lo), float(hi)


def make_norm(scale: Scale, limits: tuple[float, float]) -> Normalize:
    """A linear or log norm for fixed limits (values outside are not clipped)."""
    lo, hi = limits
    return LogNorm(vmin=lo, vmax=hi) if scale == "log" else Normalize(vmin=lo, vmax=hi)


def to_rgba(values: np.ndarray, norm: Normalize, cmap: Colormap) -> np.ndarray:
    """Map values to RGBA bytes: NaN transparent, non-positive under log in the under
    colour, values beyond the limits in the under/over colours."""
    v = values
    if isinstance(norm, LogNorm):
        nonpos = v <= 0
        if nonpos.any():
            v = np.where(nonpos, np.finfo("float64").tiny, v)
    with np.errstate(invalid="ignore", divide="ignore"):
        normed = norm(v)
    out: np.ndarray = cmap(np.ma.masked_invalid(normed), bytes=True)
    return out
