"""Bin extents and resampling onto the output pixel grid.

A spectrogram cell spans its real bin. In y, a channel spans its bounds when the data give
them (CF ``bounds``, ISTP ``DELTA_PLUS_VAR``/``DELTA_MINUS_VAR``, text ranges), else the
midpoints between neighbouring centres (midpoints of the logarithms on a log axis).
Channels that do not touch leave a blank between them; channels that overlap are split at
the middle of their overlap, so each keeps its own part and neither hides the other. In
time, a sample spans its bounds when given; else it reaches the midpoints to its
neighbours unless the spacing is a gap: longer than a multiple of the *local* cadence
(the cadence of the samples on either side), so that a change of cadence is not a gap.

This module turns a row into that geometry once (:class:`BinnedRow`) and then answers,
for any pixel grid, what each pixel shows (:meth:`BinnedRow.resample`): where several
samples or channels fall in one pixel, their mean (or max, or min), NaN ignored, so that
every finite sample contributes to the pixel it lies in; where a cell is wider than a
pixel, the value of the cell under the pixel's centre. It knows nothing of matplotlib.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

__all__ = [
    "DEFAULT_GAP_FACTOR",
    "BinnedRow",
    "PixelReduce",
    "centre_edges",
    "median_cadence",
    "split_overlaps",
    "time_bins",
]

PixelReduce = Literal["mean", "max", "min"]

# A spacing is a gap when longer than this many local cadences (unless gap_seconds is set).
DEFAULT_GAP_FACTOR = 1.5
# Spacings on each side of a spacing that make its local cadence.
_LOCAL = 3


def median_cadence(x: np.ndarray) -> float:
    """Median spacing of sorted sample times, in the units of ``x`` (NaN for one sample)."""
    if x.size < 2:
        return float("nan")
    return float(np.median(np.diff(x)))


def _side_medians(dx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each spacing, the median of the (up to) ``_LOCAL`` spacings before it and of
    those after it (NaN where there are none)."""
    pad = np.full(_LOCAL, np.nan)
    padded = np.concatenate((pad, dx, pad))
    windows = np.lib.stride_tricks.sliding_window_view(padded, _LOCAL)
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at the ends
            before = np.nanmedian(windows[: dx.size], axis=1)
            after = np.nanmedian(windows[_LOCAL + 1 : _LOCAL + 1 + dx.size], axis=1)
    return before, after


def time_bins(
    x: np.ndarray, gap_seconds: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left and right edges of each sample's time bin, and which spacings are gaps.

    Neighbours not separated by a gap share the midpoint between them as their edge;
    across a gap each side extends half its own local cadence and the rest stays blank.

    Parameters
    ----------
    x : ndarray
        Strictly increasing sample times (seconds).
    gap_seconds : float, optional
        A spacing longer than this is a gap. Default: a spacing longer than 1.5 times the
        local cadence, the larger of the median spacings just before and just after it.

    Returns
    -------
    left, right : ndarray
        The bins, shape (n,).
    gaps : ndarray of bool
        Shape (n - 1,): whether each spacing is a gap.
    """
    if x.size < 2:
        # One sample: no cadence to learn from; give it the gap width or one second.
        half = 0.5 * (gap_seconds if gap_seconds else 1.0)
        return x - half, x + half, np.zeros(0, dtype=bool)
    dx = np.diff(x)
    before, after = _side_medians(dx)
    # The local cadence of each spacing: the larger of its neighbours' (a spacing in a
    # stretch of 5 s samples after a stretch of 1 s samples is not a gap).
    local = np.fmax(before, after)
    local = np.where(np.isfinite(local), local, dx)
    if gap_seconds:
        gaps = dx > float(gap_seconds)
        reach = np.minimum(local, float(gap_seconds))
    else:
        gaps = dx > DEFAULT_GAP_FACTOR * local
        reach = local
    mid = x[:-1] + 0.5 * dx
    # Across a gap, each side keeps half the cadence on its own side.
    own_before = np.where(np.isfinite(before), before, reach)
    own_after = np.where(np.isfinite(after), after, reach)
    if gap_seconds:
        own_before = np.minimum(own_before, float(gap_seconds))
        own_after = np.minimum(own_after, float(gap_seconds))
    left = np.empty_like(x)
    right = np.empty_like(x)
    right[:-1] = np.where(gaps, x[:-1] + 0.5 * own_before, mid)
    left[1:] = np.where(gaps, x[1:] - 0.5 * own_after, mid)
    left[0] = x[0] - (0.5 * own_before[0] if gaps[0] else 0.5 * dx[0])
    right[-1] = x[-1] + (0.5 * own_after[-1] if gaps[-1] else 0.5 * dx[-1])
    return left, right, gaps


def split_overlaps(
    lower: np.ndarray, upper: np.ndarray, centres: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Intervals sorted by centre, made not to overlap: where one interval reaches into the
    next, both end at the middle of the overlap (kept between the two centres). Gaps
    between intervals stay gaps."""
    lower = np.array(lower, dtype="float64")
    upper = np.array(upper, dtype="float64")
    if lower.size < 2:
        return lower, upper
    overlap = upper[:-1] > lower[1:]
    middle = 0.5 * (upper[:-1] + lower[1:])
    middle = np.clip(middle, centres[:-1], centres[1:])
    upper[:-1] = np.where(overlap, middle, upper[:-1])
    lower[1:] = np.where(overlap, middle, lower[1:])
    return lower, upper


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


@dataclass(frozen=True)
class _Table:
    """One channel table: its channels sorted by centre, their extents (not overlapping,
    possibly with gaps), and the data of the records that use it."""

    centres: np.ndarray  # (m,)
    lower: np.ndarray  # (m,)
    upper: np.ndarray  # (m,)
    records: np.ndarray  # indices of the records using this table, increasing
    values: np.ndarray  # (len(records), m)
    cache: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    @property
    def zeroed(self) -> np.ndarray:
        """The values with NaN as 0 (for sums)."""
        return _derived(self, "zeroed", lambda v: np.where(np.isfinite(v), v, 0.0))

    @property
    def finite(self) -> np.ndarray:
        """1 where a value is finite, else 0 (for counts)."""
        return _derived(self, "finite", lambda v: np.isfinite(v).astype("float64"))


def _derived(tab: _Table, name: str, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """A derived array of a table's values, made once per table (tables are frozen)."""
    cache = tab.cache
    if name not in cache:
        cache[name] = make(tab.values)
    return cache[name]


def _plan_table(
    centres: np.ndarray, bounds: np.ndarray | None, data: np.ndarray, log: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Sort a table, drop unusable channels and merge repeated ones (NaN-aware mean).

    Returns centres, lower and upper extents, and the merged (n_records, m) values, or
    ``None`` when no channel is usable.
    """
    usable = np.isfinite(centres)
    if bounds is not None:
        usable &= np.isfinite(bounds).all(axis=-1)
    if log:
        usable &= centres > 0
        if bounds is not None:
            usable &= (bounds > 0).all(axis=-1)
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
    merged = sorted_c[starts]
    if bounds is None:
        edges = centre_edges(merged, log)
        return merged, edges[:-1], edges[1:], cols
    chosen = bounds[order][starts]
    lower, upper = np.minimum(chosen[:, 0], chosen[:, 1]), np.maximum(chosen[:, 0], chosen[:, 1])
    if log:
        lower, upper = split_overlaps(np.log10(lower), np.log10(upper), np.log10(merged))
        lower, upper = np.power(10.0, lower), np.power(10.0, upper)
    else:
        lower, upper = split_overlaps(lower, upper, merged)
    return merged, lower, upper, cols


def _cell_under(lower: np.ndarray, upper: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the interval (sorted, not overlapping) holding each point, or -1."""
    k = np.searchsorted(lower, points, side="right") - 1
    inside = (k >= 0) & (points < upper[np.clip(k, 0, None)])
    return np.where(inside, k, -1)


_FOLD: dict[str, np.ufunc] = {"max": np.fmax, "min": np.fmin}


class BinnedRow:
    """A row's cells on their true extents, ready to resample onto any pixel grid.

    Parameters
    ----------
    x : ndarray
        Strictly increasing times, UNIX seconds, shape (n_time,).
    y : ndarray
        Channel centres, shape (n_y,) or (n_time, n_y); any order, repeats allowed.
    data : ndarray
        Values, shape (n_time, n_y).
    log_y : bool
        Whether the y axis is logarithmic (midpoints are then taken in log space).
    gap_seconds : float, optional
        Gap threshold; default 1.5 times the local cadence. Ignored with ``x_bounds``.
    x_bounds : ndarray, optional
        Each sample's time span, shape (n_time, 2), UNIX seconds.
    y_bounds : ndarray, optional
        Each channel's extent, shape (n_y, 2), or (n_time, n_y, 2) with a record-varying
        table.
    pixel_reduce : {"mean", "max", "min"}
        What a pixel shows when several samples or channels fall in it.
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        data: np.ndarray,
        *,
        log_y: bool,
        gap_seconds: float | None = None,
        x_bounds: np.ndarray | None = None,
        y_bounds: np.ndarray | None = None,
        pixel_reduce: PixelReduce = "mean",
    ) -> None:
        self.x = x
        self.log_y = log_y
        self.pixel_reduce = pixel_reduce
        if x_bounds is not None:
            left = np.minimum(x_bounds[:, 0], x_bounds[:, 1])
            right = np.maximum(x_bounds[:, 0], x_bounds[:, 1])
            self.left, self.right = split_overlaps(left, right, 0.5 * (left + right))
        else:
            self.left, self.right, _ = time_bins(x, gap_seconds)
        self.centre = 0.5 * (self.left + self.right)
        tables: list[_Table] = []
        if y.ndim == 1:
            planned = _plan_table(y, y_bounds, data, log_y)
            if planned is not None:
                tables.append(_Table(*planned[:3], np.arange(x.size), planned[3]))
            self.table_of = np.zeros(x.size, dtype=np.intp) if tables else np.full(x.size, -1)
        else:
            # Record-varying tables: real instruments cycle through a few, so plan each
            # distinct table once. NaN rows compare unequal, so map them to a sentinel.
            key = y if y_bounds is None else np.concatenate([y, y_bounds.reshape(x.size, -1)], 1)
            key = np.where(np.isnan(key), -np.inf, key)
            uniq, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            self.table_of = np.full(x.size, -1, dtype=np.intp)
            for t in range(uniq.shape[0]):
                recs = np.flatnonzero(inverse == t)
                bounds = None if y_bounds is None else y_bounds[first[t]]
                planned = _plan_table(y[first[t]], bounds, data[recs], log_y)
                if planned is None:
                    continue
                self.table_of[recs] = len(tables)
                tables.append(_Table(*planned[:3], recs, planned[3]))
        self.tables = tables

    @property
    def has_cells(self) -> bool:
        """Whether any cell can be drawn at all (some usable channel)."""
        return bool(self.tables)

    def y_extent(self) -> tuple[float, float]:
        """The lowest and highest channel extent over all tables."""
        if not self.tables:
            return (float("nan"), float("nan"))
        return (
            float(min(t.lower[0] for t in self.tables)),
            float(max(t.upper[-1] for t in self.tables)),
        )

    def x_extent(self) -> tuple[float, float]:
        """The first and last time edge."""
        return float(self.left[0]), float(self.right[-1])

    def finite_values(self) -> np.ndarray:
        """All finite cell values (for colour limits)."""
        parts = [t.values[np.isfinite(t.values)] for t in self.tables]
        return np.concatenate(parts) if parts else np.zeros(0)

    def has_data_between(self, t0: float, t1: float) -> bool:
        """Whether any finite value lies in a time bin overlapping [t0, t1]."""
        sel = (self.right > t0) & (self.left < t1)
        for tab in self.tables:
            inside = sel[tab.records]
            if inside.any() and np.isfinite(tab.values[inside]).any():
                return True
        return False

    # -- resampling ---------------------------------------------------------------------

    def lookup(self, x_points: np.ndarray, y_points: np.ndarray) -> np.ndarray:
        """The value of the cell under each point, NaN where no cell is.

        Returns shape (len(y_points), len(x_points)).
        """
        out = np.full((y_points.size, x_points.size), np.nan)
        rec = _cell_under(self.left, self.right, x_points)
        for t, tab in enumerate(self.tables):
            columns = np.flatnonzero((rec >= 0) & (self.table_of[np.clip(rec, 0, None)] == t))
            if not columns.size:
                continue
            rows = np.searchsorted(tab.records, rec[columns])
            k = _cell_under(tab.lower, tab.upper, y_points)
            hit = k >= 0
            values = tab.values[rows][:, k[hit]]  # (columns, rows hit)
            out[np.ix_(np.flatnonzero(hit), columns)] = values.T
        return out

    def resample(self, x_edges: np.ndarray, y_edges: np.ndarray) -> np.ndarray:
        """What each pixel shows, NaN where no cell is.

        A pixel in which the centres of one or more samples (or channels) lie shows the
        :attr:`pixel_reduce` of them (NaN ignored); a pixel in which none lies shows the
        cell under its centre.

        Parameters
        ----------
        x_edges : ndarray
            Time (UNIX seconds) of the pixel columns' edges, increasing, shape (W + 1,).
        y_edges : ndarray
            y value of the pixel rows' edges, increasing, shape (H + 1,), bottom first.

        Returns
        -------
        ndarray
            Shape (H, W), row 0 at the bottom.
        """
        width, height = x_edges.size - 1, y_edges.size - 1
        if not self.tables:
            return np.full((height, width), np.nan)
        x_mid = 0.5 * (x_edges[1:] + x_edges[:-1])
        log = self.log_y and bool((y_edges > 0).all())
        y_mid = np.sqrt(y_edges[1:] * y_edges[:-1]) if log else 0.5 * (y_edges[1:] + y_edges[:-1])
        column_of = np.searchsorted(x_edges, self.centre, side="right") - 1
        column_of[(self.centre < x_edges[0]) | (self.centre >= x_edges[-1])] = -1
        mean = self.pixel_reduce == "mean"
        if len(self.tables) == 1:
            return self._fold(self.tables[0], column_of, x_mid, y_edges, y_mid, as_sums=False)[0]
        # Record-varying tables: a pixel may hold samples of several tables, so the tables
        # are combined through their sums and counts (or folded, for max and min).
        total: np.ndarray | None = None
        count: np.ndarray | None = None
        for tab in self.tables:
            values, counts = self._fold(tab, column_of, x_mid, y_edges, y_mid, as_sums=mean)
            if total is None or count is None:
                total, count = values, counts
            elif mean:
                total, count = total + values, count + counts
            else:
                total = _FOLD[self.pixel_reduce](total, values)
        assert total is not None and count is not None
        if not mean:
            return total
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def _fold(
        self,
        tab: _Table,
        column_of: np.ndarray,
        x_mid: np.ndarray,
        y_edges: np.ndarray,
        y_mid: np.ndarray,
        *,
        as_sums: bool,
    ) -> tuple[np.ndarray, np.ndarray]:
        """One table on the pixel grid, (H, W): the values shown (with ``as_sums``, the
        sums and counts of a mean instead)."""
        width = x_mid.size
        mean = self.pixel_reduce == "mean"
        columns = column_of[tab.records]
        sums, counts = self._columns(tab, columns, x_mid, width)
        rows, groups = self._rows(tab, y_edges, y_mid)
        # One channel (or none) per pixel row: a gather; rows holding the centres of several
        # channels fold them below.
        if mean and not as_sums:
            with np.errstate(invalid="ignore", divide="ignore"):
                values = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            out = _take(values, rows, np.nan)
            for row, chans in groups:
                with np.errstate(invalid="ignore", divide="ignore"):
                    n = counts[:, chans].sum(axis=1)
                    out[row] = np.where(
                        n > 0, sums[:, chans].sum(axis=1) / np.maximum(n, 1), np.nan
                    )
            return out, np.zeros((0, 0))
        if mean:
            out, out_counts = _take(sums, rows, 0.0), _take(counts, rows, 0.0)
            for row, chans in groups:
                out[row] = sums[:, chans].sum(axis=1)
                out_counts[row] = counts[:, chans].sum(axis=1)
            return out, out_counts
        out = _take(sums, rows, np.nan)
        for row, chans in groups:
            out[row] = _FOLD[self.pixel_reduce].reduce(sums[:, chans], axis=1)
        return out, np.zeros((0, 0))

    def _columns(
        self, tab: _Table, columns: np.ndarray, x_mid: np.ndarray, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The table's records folded into pixel columns, (W, m): sums and counts (for a
        mean) or the max or min (counts unused). A column in which no sample centre lies
        takes the sample whose bin covers its centre."""
        mean = self.pixel_reduce == "mean"
        m = tab.values.shape[1]
        sums = np.zeros((width, m)) if mean else np.full((width, m), np.nan)
        counts = np.zeros((width, m)) if mean else np.zeros((0, 0))
        filled = np.zeros(width, dtype=bool)
        inside = np.flatnonzero(columns >= 0)
        if inside.size:
            # Records are sorted by time, so those inside the grid are one slice.
            first, stop = int(inside[0]), int(inside[-1]) + 1
            cols = columns[first:stop]
            starts = np.flatnonzero(np.concatenate(([True], cols[1:] != cols[:-1])))
            where = cols[starts]
            if mean:
                sums[where] = np.add.reduceat(tab.zeroed[first:stop], starts, axis=0)
                counts[where] = np.add.reduceat(tab.finite[first:stop], starts, axis=0)
            else:
                fold = _FOLD[self.pixel_reduce]
                sums[where] = fold.reduceat(tab.values[first:stop], starts, axis=0)
            filled[where] = True
        empty = np.flatnonzero(~filled)
        if empty.size:
            rec = _cell_under(self.left, self.right, x_mid[empty])
            mine = rec >= 0
            mine[mine] = self.table_of[rec[mine]] == self.table_of[tab.records[0]]
            if mine.any():
                at = np.searchsorted(tab.records, rec[mine])
                if mean:
                    sums[empty[mine]] = tab.zeroed[at]
                    counts[empty[mine]] = tab.finite[at]
                else:
                    sums[empty[mine]] = tab.values[at]
        return sums, counts

    def _rows(
        self, tab: _Table, y_edges: np.ndarray, y_mid: np.ndarray
    ) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
        """Which channel each pixel row shows: (H,) channel indices (-1: none), and the
        rows in which the centres of several channels lie, with those channels."""
        # A channel lies in the pixel row that holds the middle of its extent.
        c = np.sqrt(tab.lower * tab.upper) if self.log_y else 0.5 * (tab.lower + tab.upper)
        row_of = np.searchsorted(y_edges, c, side="right") - 1
        row_of[(c < y_edges[0]) | (c >= y_edges[-1])] = -1
        rows = _cell_under(tab.lower, tab.upper, y_mid)
        groups: list[tuple[int, np.ndarray]] = []
        inside = np.flatnonzero(row_of >= 0)
        if inside.size:
            held = row_of[inside]
            rows[held] = inside  # one channel per row: that channel
            starts = np.flatnonzero(np.concatenate(([True], held[1:] != held[:-1])))
            ends = np.append(starts[1:], held.size)
            for start, end in zip(starts[ends - starts > 1], ends[ends - starts > 1], strict=True):
                groups.append((int(held[start]), inside[start:end]))
        return rows, groups


def _take(values: np.ndarray, channels: np.ndarray, missing: float) -> np.ndarray:
    """(W, m) values gathered into (H, W) rows: row ``i`` shows channel ``channels[i]``, or
    ``missing`` where that is -1."""
    padded = np.concatenate([values, np.full((values.shape[0], 1), missing)], axis=1)
    return padded[:, np.where(channels >= 0, channels, values.shape[1])].T
