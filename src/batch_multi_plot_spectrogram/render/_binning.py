"""Bin edges and resampling onto the output pixel grid.

A spectrogram cell spans its real bin: in y between the midpoints of neighbouring
centres (midpoints of the logarithms on a log axis), in time between neighbouring samples
unless they are further apart than a gap threshold, in which case each side keeps half a
cadence and the rest is left blank. This module turns a row into that geometry once
(:class:`BinnedRow`) and then answers, for any pixel grid, which cell each pixel shows
(:meth:`BinnedRow.resample`). It knows nothing of matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BinnedRow", "centre_edges", "median_cadence", "time_bins"]

# A gap is a spacing longer than this many median cadences, unless the caller sets one.
DEFAULT_GAP_FACTOR = 1.5


def median_cadence(x: np.ndarray) -> float:
    """Median spacing of sorted sample times, in the units of ``x`` (NaN for one sample)."""
    if x.size < 2:
        return float("nan")
    return float(np.median(np.diff(x)))


def time_bins(
    x: np.ndarray, gap_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """Left and right edges of each sample's time bin, and the gap threshold used.

    Neighbours closer than the threshold share the midpoint between them as their edge;
    across a longer spacing each side extends half a median cadence and the rest is a gap.

    Parameters
    ----------
    x : ndarray
        Strictly increasing sample times (seconds).
    gap_seconds : float, optional
        Spacing above which two samples are separated by a gap. Default: 1.5 times the
        median cadence.
    """
    cadence = median_cadence(x)
    if not np.isfinite(cadence) or cadence <= 0:
        # One sample: no cadence to learn from; give it the gap width or one second.
        half = 0.5 * (gap_seconds if gap_seconds else 1.0)
        return x - half, x + half, float(gap_seconds or 1.0)
    threshold = float(gap_seconds) if gap_seconds else DEFAULT_GAP_FACTOR * cadence
    dx = np.diff(x)
    joined = dx <= threshold
    mid = x[:-1] + 0.5 * dx
    half = 0.5 * min(cadence, threshold)
    left = np.empty_like(x)
    right = np.empty_like(x)
    left[1:] = np.where(joined, mid, x[1:] - half)
    right[:-1] = np.where(joined, mid, x[:-1] + half)
    left[0] = x[0] - (0.5 * dx[0] if joined[0] else half)
    right[-1] = x[-1] + (0.5 * dx[-1] if joined[-1] else half)
    return left, right, threshold


def centre_edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Edges around sorted, distinct bin centres: midpoints, in log space when ``log``.

    The outermost edges extend half the neighbouring spacing beyond the end centres.
    """
    c = np.log10(centres) if log else np.asarray(centres, dtype="float64")
    if c.size == 1:
        pad = 0.05 if log else 0.5
        edges = np.array([c[0] - pad, c[0] + pad])
    else:
        mid = 0.5 * (c[1:] + c[:-1])
        edges = np.concatenate(([c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]))
    return np.power(10.0, edges) if log else edges


@dataclass(frozen=True, slots=True)
class _Table:
    """One energy table: its sorted distinct centres, their edges, and the data merged
    onto them for the records that use this table."""

    edges: np.ndarray  # (m + 1,)
    records: np.ndarray  # indices of the records using this table
    values: np.ndarray  # (len(records), m)


def _plan_table(
    centres: np.ndarray, data: np.ndarray, log: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """Sort a table, drop unusable centres and merge repeated ones (NaN-aware mean).

    Returns the edges and the merged (n_records, m) values, or ``None`` when no centre is
    usable.
    """
    usable = np.isfinite(centres)
    if log:
        usable &= centres > 0
    if not usable.any():
        return None
    idx = np.flatnonzero(usable)
    order = idx[np.argsort(centres[idx], kind="stable")]
    sorted_c = centres[order]
    cols = data[:, order]
    starts = np.flatnonzero(np.concatenate(([True], np.diff(sorted_c) > 0)))
    if starts.size != sorted_c.size:
        # Repeated channels: one cell per distinct centre holding the mean of its channels.
        finite = np.isfinite(cols)
        sums = np.add.reduceat(np.where(finite, cols, 0.0), starts, axis=1)
        counts = np.add.reduceat(finite, starts, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            cols = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return centre_edges(sorted_c[starts], log), cols


class BinnedRow:
    """A row's cells on their true edges, ready to resample onto any pixel grid.

    Parameters
    ----------
    x : ndarray
        Strictly increasing times, UNIX seconds, shape (n_time,).
    y : ndarray
        Bin centres, shape (n_y,) or (n_time, n_y); any order, repeats allowed.
    data : ndarray
        Values, shape (n_time, n_y).
    log_y : bool
        Whether the y axis is logarithmic (edges are then log-space midpoints).
    gap_seconds : float, optional
        Gap threshold; default 1.5 times the median cadence.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        data: np.ndarray,
        *,
        log_y: bool,
        gap_seconds: float | None = None,
    ) -> None:
        self.x = x
        self.left, self.right, self.gap_threshold = time_bins(x, gap_seconds)
        self.log_y = log_y
        tables: list[_Table] = []
        if y.ndim == 1:
            planned = _plan_table(y, data, log_y)
            if planned is not None:
                tables.append(_Table(planned[0], np.arange(x.size), planned[1]))
            self.table_of = np.zeros(x.size, dtype=np.intp)
        else:
            # Record-varying tables: real instruments cycle through a few, so plan each
            # distinct table once. NaN rows compare unequal, so map them to a sentinel.
            key = np.where(np.isnan(y), -np.inf, y)
            uniq, inverse = np.unique(key, axis=0, return_inverse=True)
            inverse = inverse.reshape(-1)
            self.table_of = np.full(x.size, -1, dtype=np.intp)
            for t in range(uniq.shape[0]):
                recs = np.flatnonzero(inverse == t)
                planned = _plan_table(
                    np.where(np.isinf(uniq[t]), np.nan, uniq[t]), data[recs], log_y
                )
                if planned is None:
                    continue
                self.table_of[recs] = len(tables)
                tables.append(_Table(planned[0], recs, planned[1]))
        self.tables = tables
        # Values laid out (n_time, m_max + 1): the last column is NaN, the "no cell" index.
        m_max = max((t.edges.size - 1 for t in tables), default=0)
        self.m_max = m_max
        merged = np.full((x.size, m_max + 1), np.nan)
        for tab in tables:
            merged[tab.records, : tab.edges.size - 1] = tab.values
        self.merged = merged

    @property
    def has_cells(self) -> bool:
        """Whether any cell can be drawn at all (some usable y centre)."""
        return bool(self.tables)

    def y_extent(self) -> tuple[float, float]:
        """The lowest and highest edge over all tables."""
        if not self.tables:
            return (float("nan"), float("nan"))
        return (
            float(min(t.edges[0] for t in self.tables)),
            float(max(t.edges[-1] for t in self.tables)),
        )

    def x_extent(self) -> tuple[float, float]:
        """The first and last time edge."""
        return float(self.left[0]), float(self.right[-1])

    def finite_values(self) -> np.ndarray:
        """All finite cell values (for colour limits)."""
        v = self.merged[:, : self.m_max]
        return v[np.isfinite(v)]

    def has_data_between(self, t0: float, t1: float) -> bool:
        """Whether any finite value lies in a time bin overlapping [t0, t1]."""
        sel = (self.right > t0) & (self.left < t1)
        return bool(np.isfinite(self.merged[sel, : self.m_max]).any())

    def resample(self, x_pixels: np.ndarray, y_pixels: np.ndarray) -> np.ndarray:
        """The value each pixel shows, NaN where no cell covers it.

        Parameters
        ----------
        x_pixels : ndarray
            Time (UNIX seconds) at the centre of each pixel column, shape (W,).
        y_pixels : ndarray
            y value at the centre of each pixel row, shape (H,), bottom row first.

        Returns
        -------
        ndarray
            Shape (H, W), row 0 at the bottom.
        """
        nan_col = self.m_max
        rec = np.searchsorted(self.left, x_pixels, side="right") - 1
        inside = rec >= 0
        rec_c = np.clip(rec, 0, self.x.size - 1)
        inside &= x_pixels < self.right[rec_c]
        table = np.where(inside, self.table_of[rec_c], -1)
        lookup = np.full((len(self.tables) + 1, y_pixels.size), nan_col, dtype=np.intp)
        for t, tab in enumerate(self.tables):
            k = np.searchsorted(tab.edges, y_pixels, side="right") - 1
            ok = (k >= 0) & (k < tab.edges.size - 1)
            lookup[t] = np.where(ok, k, nan_col)
        # table == -1 (outside any record, or a record with no usable table) picks the
        # last lookup row, which is all "no cell".
        cols = lookup[table]  # (W, H)
        return self.merged[rec_c[:, None], cols].T
