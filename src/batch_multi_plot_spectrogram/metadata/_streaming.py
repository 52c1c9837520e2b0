"""Reading a row's values block by block along time, within a memory budget.

A group is opened lazily by xarray as dask-backed variables; a row's variable is then
evaluated one block of records at a time, each block on dask's synchronous scheduler (a
graph of one block's chunks, no thread hand-off), its fill and out-of-range values set
to NaN, and its extra dimension reduced NaN-aware (float32 data summed in float64). What
each block gives is folded at once into what the figure needs (the row's values, or
their time cells when the group is too large to hold: :mod:`._time_cells`) and into a
:class:`~..histogram.ValueHistogram` of the values shown, for colour limits. So memory
holds one block, not the variable.

Blocks follow the store's chunks along time (whole chunks, as many as fit), and a chunk
larger than the block size (a contiguous NetCDF variable is one chunk) is read in slices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..histogram import ValueHistogram
from ..options import DEFAULT_MEMORY_BUDGET

if TYPE_CHECKING:
    import xarray as xr

    from ._time_cells import TimeCells

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "RowValues",
    "ValidRange",
    "read_row",
    "record_blocks",
]

# The share of the budget one block may take, with its working copies.
_BLOCK_SHARE = 8


def _number(value: Any) -> float | None:
    try:
        out = float(np.asarray(value).ravel()[0]) if np.size(value) == 1 else None
    except (TypeError, ValueError, IndexError):
        return None
    return out if out is not None and math.isfinite(out) else None


@dataclass(frozen=True)
class ValidRange:
    """Which stored values are values: not the fill value, within the valid range.

    From ISTP ``FILLVAL``, ``VALIDMIN``, ``VALIDMAX`` and CF ``valid_min``,
    ``valid_max``, ``valid_range`` (given in packed units, so unpacked with the
    variable's ``scale_factor`` and ``add_offset``); CF ``_FillValue`` is already NaN
    once xarray has decoded the variable.
    """

    fill: float | None = None
    low: float | None = None
    high: float | None = None

    @classmethod
    def of(cls, da: xr.DataArray) -> ValidRange:
        """The valid range a variable's attributes state."""
        attrs = da.attrs
        scale = _number(da.encoding.get("scale_factor", 1.0)) or 1.0
        offset = _number(da.encoding.get("add_offset", 0.0)) or 0.0

        def unpacked(value: Any) -> float | None:
            number = _number(value)
            return None if number is None else number * scale + offset

        fill = _number(attrs.get("FILLVAL")) if "FILLVAL" in attrs else None
        low = high = None
        if "valid_range" in attrs and np.size(attrs["valid_range"]) == 2:
            low, high = (unpacked(v) for v in np.asarray(attrs["valid_range"]).ravel())
        low = unpacked(attrs["valid_min"]) if "valid_min" in attrs else low
        high = unpacked(attrs["valid_max"]) if "valid_max" in attrs else high
        if low is None and "VALIDMIN" in attrs:
            low = _number(attrs["VALIDMIN"])
        if high is None and "VALIDMAX" in attrs:
            high = _number(attrs["VALIDMAX"])
        return cls(fill, low, high)

    @property
    def any(self) -> bool:
        return self.fill is not None or self.low is not None or self.high is not None

    def _keep(self, values: Any) -> Any:
        """Where ``values`` (numpy or xarray, in their stored type) are values."""
        keep: Any = None

        def both(cond: Any) -> None:
            nonlocal keep
            keep = cond if keep is None else keep & cond

        if self.fill is not None:
            # Compare in the data's own type: -1e31 as float32 differs from -1e31 as float64.
            kind = values.dtype.kind
            fill = np.asarray(self.fill).astype(values.dtype) if kind == "f" else self.fill
            both(values != fill)
        if self.low is not None:
            both(values >= self.low)
        if self.high is not None:
            both(values <= self.high)
        return keep

    def lazy(self, da: xr.DataArray) -> xr.DataArray:
        """``da`` with the values that are not values as NaN (lazily)."""
        if da.dtype.kind not in "iuf" or not self.any:
            return da
        return da.where(self._keep(da))

    def apply(self, block: np.ndarray) -> np.ndarray:
        """A float copy of ``block`` (float32 when that holds its values exactly, else
        float64) with the values that are not values as NaN."""
        exact32 = block.dtype == np.float32 or (block.dtype.kind in "iu" and block.itemsize <= 2)
        out = block.astype(np.float32 if exact32 else np.float64)
        if self.any and block.dtype.kind in "iuf":
            keep = self._keep(block)
            out[~keep] = np.nan
        return out


def record_blocks(chunks: tuple[int, ...], per_block: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of records covering a variable whose chunks along time
    have the lengths ``chunks``: whole chunks, as many as fit in ``per_block`` records,
    and a chunk longer than that in slices of ``per_block``."""
    per_block = max(1, int(per_block))
    blocks: list[tuple[int, int]] = []
    start = stop = 0
    for length in chunks:
        if stop - start + length <= per_block:
            stop += length
            continue
        if stop > start:
            blocks.append((start, stop))
        start = stop
        stop = start + length
        while stop - start > per_block:
            blocks.append((start, start + per_block))
            start += per_block
    if stop > start:
        blocks.append((start, stop))
    return blocks


def _collapse(values: np.ndarray, axis: int, how: str) -> np.ndarray:
    """NaN-aware reduction of a float block along ``axis`` (float64 result); a slice
    without any finite value is NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if how in ("sum", "mean"):
            finite = np.isfinite(values)
            count = finite.sum(axis=axis)
            total = np.where(finite, values, 0).sum(axis=axis, dtype=np.float64)
            if how == "mean":
                total = total / np.maximum(count, 1)
            total[count == 0] = np.nan
            return total
        fold = np.fmax if how == "max" else np.fmin
        return fold.reduce(values, axis=axis).astype(np.float64)


@dataclass
class RowValues:
    """What the figure needs of one row's values.

    ``data`` is (n_time, n_y) at full resolution, or (n_cells, n_y) folded into the time
    cells the reader was given; ``histogram`` summarises the values at full resolution.
    """

    data: np.ndarray
    histogram: ValueHistogram


def read_row(
    da: xr.DataArray,
    time_dim: str,
    y_dim: str,
    collapse_dim: str | None,
    collapse: str,
    *,
    budget: int = DEFAULT_MEMORY_BUDGET,
    cells: TimeCells | None = None,
) -> RowValues:
    """Read one row's values block by block.

    Parameters
    ----------
    da
        The row's variable as opened (dask-backed or in memory), any dimension order.
    time_dim, y_dim, collapse_dim
        Its time and y dimensions, and the one to reduce (if any).
    collapse
        ``"sum"``, ``"mean"``, ``"max"`` or ``"min"``.
    budget
        Bytes this group may use; blocks take an eighth of it with their copies.
    cells
        Fold the values into these time cells instead of keeping every record.
    """
    order = [time_dim, y_dim] + ([collapse_dim] if collapse_dim is not None else [])
    axes = [da.dims.index(d) for d in order]
    valid = ValidRange.of(da)
    raw = da.data
    n_time = da.sizes[time_dim]
    n_y = da.sizes[y_dim]
    per_record = max(1, math.prod(da.shape) // max(n_time, 1))
    work = 4 if da.dtype.itemsize <= 4 else 8
    per_value = da.dtype.itemsize + 2 * work + 1  # the block, its float copy, a temporary
    per_block = max(1, (budget // _BLOCK_SHARE) // (per_record * per_value))
    chunks = getattr(raw, "chunks", None)
    along = chunks[axes[0]] if chunks is not None else (n_time,)
    histogram = ValueHistogram()
    out = cells.empty(n_y) if cells is not None else np.empty((n_time, n_y), dtype=np.float64)
    for start, stop in record_blocks(tuple(along), per_block):
        block = _block(raw, axes[0], start, stop)
        values = valid.apply(block).transpose(axes)
        del block
        if collapse_dim is not None:
            values = _collapse(values, 2, collapse)
        shown = values.astype(np.float64, copy=False)
        histogram.add(shown)
        if cells is None:
            out[start:stop] = shown
        else:
            cells.fold(out, shown, start, stop)
    data = cells.finish(out) if cells is not None else out
    return RowValues(data, histogram)


def _block(raw: Any, axis: int, start: int, stop: int) -> np.ndarray:
    """Records ``start:stop`` along ``axis`` of a (dask or numpy) array, in memory."""
    index = [slice(None)] * raw.ndim
    index[axis] = slice(start, stop)
    part = raw[tuple(index)]
    if hasattr(part, "compute"):
        part = part.compute(scheduler="synchronous")
    return np.asarray(part)
