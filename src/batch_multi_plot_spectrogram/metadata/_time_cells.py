"""Folding a row with more records than a figure can show into time cells.

A group too large to hold at full resolution within the memory budget is read block by
block (:mod:`._streaming`) and each block folded at once into cells: consecutive records
whose times fall in one cell of a fixed grid become one sample, holding the ``pixel_reduce``
of their values (mean, max or min, NaN ignored) and spanning from the first record's
extent to the last one's. The grid has :data:`CELLS` cells across the data's time range,
and as many again across the zoom window, so a cell is at least twice as fine as a pixel
of the figure at its default size and every record still reaches the pixel it lies in.
A gap wider than a cell stays a gap: the records on either side fall in different cells,
each spanning only its own records.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CELLS", "TimeCells"]

#: Cells across the data's time range (and across the zoom window).
CELLS = 4096


class TimeCells:
    """Which cell each record falls in, and the time extent of each cell.

    Parameters
    ----------
    seconds
        The records' times, UNIX seconds, non-decreasing where finite (NaN: no time).
    left, right
        Each record's time extent (its bounds, or its bin between neighbours).
    zoom
        The zoom column's window, refined with its own :data:`CELLS` cells.
    reduce
        ``"mean"``, ``"max"`` or ``"min"``.
    """

    def __init__(
        self,
        seconds: np.ndarray,
        left: np.ndarray,
        right: np.ndarray,
        zoom: tuple[float, float] | None,
        reduce: str,
    ) -> None:
        good = np.isfinite(seconds)
        first, last = float(seconds[good].min()), float(seconds[good].max())
        edges = np.linspace(first, last, CELLS + 1)
        if zoom is not None and zoom[1] > first and zoom[0] < last:
            fine = np.linspace(max(zoom[0], first), min(zoom[1], last), CELLS + 1)
            outside = np.concatenate([edges[edges < fine[0]], edges[edges > fine[-1]]])
            edges = np.unique(np.concatenate([outside, fine]))
        grid = np.clip(np.searchsorted(edges, seconds, side="right") - 1, 0, edges.size - 2)
        # Over the records with a time: a new cell wherever the grid cell changes.
        timed = np.flatnonzero(good)
        new = np.ones(timed.size, dtype=bool)
        new[1:] = grid[timed[1:]] != grid[timed[:-1]]
        self.cell_of = np.full(seconds.size, -1, dtype=np.int64)
        self.cell_of[timed] = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        self.n_cells = int(starts.size)
        self.left = np.minimum.reduceat(left[timed], starts)
        self.right = np.maximum.reduceat(right[timed], starts)
        self.reduce = reduce

    @staticmethod
    def wanted(n_time: int, n_y: int, n_rows: int, budget: int) -> bool:
        """Whether rows of ``n_time`` records by ``n_y`` channels are to be folded: when
        holding them at full resolution would take more than an eighth of ``budget``
        (drawing them takes about five times as much again, measured), and folding
        makes them smaller."""
        return n_time * n_y * 8 * n_rows > budget // 8 and n_time > 4 * CELLS

    def empty(self, n_y: int) -> np.ndarray:
        """The accumulator for a row of ``n_y`` channels (sums and counts for a mean)."""
        if self.reduce == "mean":
            return np.zeros((2, self.n_cells, n_y), dtype=np.float64)
        return np.full((self.n_cells, n_y), np.nan, dtype=np.float64)

    def fold(self, into: np.ndarray, values: np.ndarray, start: int, stop: int) -> None:
        """Fold the values of records ``start:stop`` (shape (stop - start, n_y))."""
        cells = self.cell_of[start:stop]
        keep = cells >= 0
        if not keep.all():
            values, cells = values[keep], cells[keep]
        if cells.size == 0:
            return
        first = np.flatnonzero(np.concatenate(([True], cells[1:] != cells[:-1])))
        target = cells[first]
        if self.reduce == "mean":
            finite = np.isfinite(values)
            into[0, target] += np.add.reduceat(np.where(finite, values, 0.0), first, axis=0)
            into[1, target] += np.add.reduceat(finite, first, axis=0)
        else:
            fold = np.fmax if self.reduce == "max" else np.fmin
            into[target] = fold(into[target], fold.reduceat(values, first, axis=0))

    def finish(self, into: np.ndarray) -> np.ndarray:
        """The cells' values, (n_cells, n_y), NaN where a cell has none."""
        if self.reduce != "mean":
            return into
        total, count = into
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    @property
    def bounds(self) -> np.ndarray:
        """Each cell's time extent, UNIX seconds, shape (n_cells, 2)."""
        return np.stack([self.left, self.right], axis=1)
