"""A mergeable summary of many values, exact enough for colour limits.

:class:`ValueHistogram` counts finite values in fixed bins that are uniform in
``log10(|value|)`` on each side of zero (``BINS_PER_DECADE`` per decade, from ``1e-30`` to
``1e30``), plus a bin for zeros (and magnitudes below ``1e-30``). Because the edges never
depend on the data, two histograms merge by adding their counts: a worker summarises its
item, and the summaries of a whole archive add up in memory of the size of one summary,
whatever the number of values. A percentile read from it lies in the same bin as the
exact percentile of all the values pooled: within a factor ``10 ** (1 / BINS_PER_DECADE)``
(2.3 %) of it, and never outside the range of the values (the exact minimum and maximum
are kept too).

The JSON form (:meth:`ValueHistogram.to_json`) keeps only the bins that hold values, so
a summary is a few kB.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["BINS_PER_DECADE", "ValueHistogram"]

BINS_PER_DECADE = 100
_LOW_EXP, _HIGH_EXP = -30, 30
_SIDE = (_HIGH_EXP - _LOW_EXP) * BINS_PER_DECADE  # bins on each side of zero
# Index layout: 0 .. _SIDE-1 negative values (largest magnitude first), _SIDE zero,
# _SIDE+1 .. 2*_SIDE positive values (smallest magnitude first).
_ZERO = _SIDE
_SIZE = 2 * _SIDE + 1


def _magnitude_bins(magnitudes: np.ndarray) -> np.ndarray:
    """Bin of each magnitude (>= 1e-30) on its side, 0 .. _SIDE-1, clipped at 1e30."""
    position = (np.log10(magnitudes) - _LOW_EXP) * BINS_PER_DECADE
    return np.clip(position.astype(np.int64), 0, _SIDE - 1)


def _bin_value(index: int) -> float:
    """The geometric centre of a bin (0 for the zero bin)."""
    if index == _ZERO:
        return 0.0
    side = index - _ZERO - 1 if index > _ZERO else _SIDE - 1 - index
    magnitude = 10.0 ** (_LOW_EXP + (side + 0.5) / BINS_PER_DECADE)
    return magnitude if index > _ZERO else -magnitude


class ValueHistogram:
    """Counts of finite values in fixed log-magnitude bins; mergeable and persistable.

    Examples
    --------
    >>> h = ValueHistogram()
    >>> h.add(np.array([1.0, 10.0, 100.0, np.nan]))
    >>> h.count
    3
    >>> round(h.percentile(50), 1)
    10.1
    """

    __slots__ = ("counts", "maximum", "min_positive", "minimum")

    def __init__(self) -> None:
        self.counts = np.zeros(_SIZE, dtype=np.int64)
        self.minimum = math.inf
        self.maximum = -math.inf
        self.min_positive = math.inf

    @property
    def count(self) -> int:
        """The number of finite values added."""
        return int(self.counts.sum())

    @property
    def positive_count(self) -> int:
        """The number of finite values above zero."""
        return int(self.counts[_ZERO + 1 :].sum())

    def add(self, values: Any) -> None:
        """Count the finite values of an array (NaN and infinities are left out)."""
        flat = np.asarray(values).ravel()
        if flat.dtype.kind not in "fiu":
            flat = flat.astype("float64")
        finite = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
        if finite.size == 0:
            return
        self.minimum = min(self.minimum, float(finite.min()))
        self.maximum = max(self.maximum, float(finite.max()))
        magnitude = np.abs(finite.astype("float64", copy=False))
        small = magnitude < 10.0**_LOW_EXP
        positive = (finite > 0) & ~small
        negative = (finite < 0) & ~small
        self.counts[_ZERO] += int(small.sum())
        if positive.any():
            self.min_positive = min(self.min_positive, float(finite[positive].min()))
            bins = _magnitude_bins(magnitude[positive])
            self.counts[_ZERO + 1 :] += np.bincount(bins, minlength=_SIDE)
        if negative.any():
            bins = _magnitude_bins(magnitude[negative])
            self.counts[:_ZERO] += np.bincount(bins, minlength=_SIDE)[::-1]

    def merge(self, other: ValueHistogram) -> ValueHistogram:
        """Add the counts of ``other`` to these (in place); returns self."""
        self.counts += other.counts
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        self.min_positive = min(self.min_positive, other.min_positive)
        return self

    def percentile(self, q: float, *, positive: bool = False) -> float:
        """The ``q``-th percentile (0-100) of the values counted (of the positive ones
        only with ``positive=True``, as a log colour scale needs), to one bin; NaN when
        there is none.

        The result is the centre of the bin holding the percentile, clamped to the range
        of the values, so it is exact at q=0 and q=100.
        """
        counts = self.counts[_ZERO + 1 :] if positive else self.counts
        offset = _ZERO + 1 if positive else 0
        total = int(counts.sum())
        if total == 0:
            return math.nan
        low = self.min_positive if positive else self.minimum
        if q <= 0:
            return low
        if q >= 100:
            return self.maximum
        # The rank np.percentile interpolates at ((n - 1) * q / 100), rounded to a value.
        rank = (total - 1) * q / 100.0
        index = int(np.searchsorted(np.cumsum(counts), math.floor(rank) + 1))
        return min(max(_bin_value(index + offset), low), self.maximum)

    # -- persistence ------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form holding only the bins with values."""
        nonzero = np.flatnonzero(self.counts)
        return {
            "bins_per_decade": BINS_PER_DECADE,
            "exponents": [_LOW_EXP, _HIGH_EXP],
            "bins": nonzero.tolist(),
            "counts": self.counts[nonzero].tolist(),
            "minimum": None if math.isinf(self.minimum) else self.minimum,
            "maximum": None if math.isinf(self.maximum) else self.maximum,
            "min_positive": None if math.isinf(self.min_positive) else self.min_positive,
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> ValueHistogram:
        """Read :meth:`to_json`'s form back.

        Raises
        ------
        ValueError
            When the document was made with other bins, or is not such a form.
        """
        layout = (document.get("bins_per_decade"), list(document.get("exponents", ())))
        if layout != (BINS_PER_DECADE, [_LOW_EXP, _HIGH_EXP]):
            raise ValueError(
                f"a histogram with {layout[0]} bins per decade over exponents {layout[1]}; "
                f"this version uses {BINS_PER_DECADE} over [{_LOW_EXP}, {_HIGH_EXP}]"
            )
        out = cls()
        bins = np.asarray(document["bins"], dtype=np.int64)
        counts = np.asarray(document["counts"], dtype=np.int64)
        if bins.shape != counts.shape or (bins.size and (bins.min() < 0 or bins.max() >= _SIZE)):
            raise ValueError("bins and counts do not match, or a bin is out of range")
        out.counts[bins] = counts
        for name, default in (
            ("minimum", math.inf),
            ("maximum", -math.inf),
            ("min_positive", math.inf),
        ):
            value = document.get(name)
            setattr(out, name, default if value is None else float(value))
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValueHistogram):
            return NotImplemented
        return bool(
            np.array_equal(self.counts, other.counts)
            and self.minimum == other.minimum
            and self.maximum == other.maximum
            and self.min_positive == other.min_positive
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ValueHistogram(count={self.count}, range=({self.minimum}, {self.maximum}))"
