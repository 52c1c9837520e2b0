"""The dataset dict: the contract between data sources and the renderer.

A dataset dict describes one row of a figure. ``x``, ``y`` and ``data`` are required;
everything else is an optional per-row override, one of the row options of
:data:`~batch_multi_plot_spectrogram.options.OPTIONS`. :func:`parse_dataset` checks one
dict once, at the boundary, with the options' own validators, and returns a :class:`Row`
the renderer trusts.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np

from ..errors import DataShapeError, RowError
from ..histogram import ValueHistogram
from ..options import Origin, Scale, options_where

__all__ = [
    "DATASET_KEYS",
    "DatasetDict",
    "ItemPlot",
    "Row",
    "as_unix_seconds",
    "collapse_cube",
    "parse_dataset",
    "parse_datasets",
    "reducer_function",
    "row_name",
]


class DatasetDict(TypedDict, total=False):
    """One row of a figure, as built by a ``build_datasets_fn``.

    Required: ``x`` (times: UNIX seconds or datetime64, shape (n_time,)), ``y`` (bin
    centres, shape (n_y,) or (n_time, n_y) when the table changes with each record) and
    ``data`` (shape (n_time, n_y), or 3-D with ``collapse_axis`` naming the axis to
    reduce). Everything else is optional: the true extents ``x_bounds`` (each sample's
    span, shape (n_time, 2), in the kind of ``x``) and ``y_bounds`` (each channel's
    extent, shape (n_y, 2) or (n_time, n_y, 2)), laid out as CF ``bounds`` variables;
    ``z_summary``, a :class:`~..histogram.ValueHistogram` of the values the percentile
    colour limits are to be read from (the row's own at full resolution when ``data``
    holds fewer, or those of every figure of the row, for limits shared by an archive);
    and the row options.
    """

    x: Any
    y: Any
    data: Any
    x_bounds: Any
    y_bounds: Any
    z_summary: ValueHistogram
    label: str
    y_min: float
    y_max: float
    z_min: float
    z_max: float
    vmin: float
    vmax: float
    y_label: str
    z_label: str
    y_scale: Scale
    z_scale: Scale
    colormap: str
    collapse_axis: int
    collapse: str
    gap_seconds: float
    pixel_reduce: str


#: The keys a dataset dict may hold: x, y, data, their bounds and the row options.
DATASET_KEYS: frozenset[str] = frozenset(
    {"x", "y", "data", "x_bounds", "y_bounds", "z_summary"}
    | {o.name for o in options_where("dataset")}
)

_REDUCERS: dict[str, Callable[..., Any]] = {
    "sum": np.nansum,
    "mean": np.nanmean,
    "max": np.nanmax,
    "min": np.nanmin,
}


def row_name(index: int, label: object = None) -> str:
    """Name a row in messages: ``row 2 ('EES')`` or ``row 2``."""
    return f"row {index} ({label!r})" if label not in (None, "") else f"row {index}"


def reducer_function(collapse: str | Callable[..., Any]) -> Callable[..., Any]:
    """The NaN-aware function of a checked reducer (a name or a callable)."""
    return collapse if callable(collapse) else _REDUCERS[collapse]


def as_unix_seconds(x: Any, where: str) -> np.ndarray:
    """UNIX seconds as float64 from UNIX seconds, datetime64 or datetime values.

    Naive datetimes are taken as UTC, like datetime64 values. ``where`` starts the error
    message (e.g. ``"row 2 ('EES'): x"``).
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "M":
        ns = arr.astype("datetime64[ns]")
        out = ns.astype("int64").astype("float64") / 1e9
        out[np.isnat(ns)] = np.nan
        return out
    if arr.dtype.kind == "O" and arr.size and hasattr(arr.flat[0], "timestamp"):
        # Naive datetimes are UTC, as datetime64 values are, whatever the local zone.
        return np.array(
            [
                (v if v.tzinfo is not None else v.replace(tzinfo=dt.UTC)).timestamp()
                for v in arr.ravel()
            ],
            dtype="float64",
        ).reshape(arr.shape)
    if arr.dtype.kind not in "iuf":
        raise DataShapeError(
            f"{where} must be UNIX seconds or datetime64. Got dtype {arr.dtype} instead."
        )
    return arr.astype("float64", copy=False)


@dataclass(frozen=True, slots=True)
class Row:
    """A checked row: float64 UNIX-second times, float y table, 2-D (time, y) data."""

    name: str
    label: str
    x: np.ndarray
    y: np.ndarray
    data: np.ndarray
    y_min: float | None = None
    y_max: float | None = None
    z_min: float | None = None
    z_max: float | None = None
    vmin: float | None = None
    vmax: float | None = None
    y_label: str | None = None
    z_label: str | None = None
    y_scale: Scale | None = None
    z_scale: Scale | None = None
    colormap: Any = None  # a colormap name or a matplotlib Colormap
    gap_seconds: float | None = None
    pixel_reduce: str | None = None
    x_bounds: np.ndarray | None = None  # (n_time, 2) UNIX seconds
    y_bounds: np.ndarray | None = None  # (n_y, 2) or (n_time, n_y, 2)
    z_summary: ValueHistogram | None = None  # where percentile colour limits come from


def collapse_cube(
    data: Any, collapse_axis: int | None, reducer: str | Callable[..., Any], where: str
) -> np.ndarray:
    """Reduce a 3-D (time, a, b) cube along one of its non-time axes to 2-D.

    ``reducer`` is a checked reducer (see :func:`~..options.parse_collapse`). A slice with
    no finite value stays NaN (never 0), whatever the reducer.
    """
    arr = np.asarray(data)
    if arr.ndim == 2:
        return arr
    if arr.ndim != 3:
        raise DataShapeError(
            f"{where}: data must be 2-D (time, y) or 3-D with collapse_axis. "
            f"Got shape {arr.shape} instead."
        )
    if collapse_axis is None:
        raise DataShapeError(
            f"{where}: data is 3-D with shape {arr.shape}; pass collapse_axis (1 or 2) "
            "to say which axis to reduce."
        )
    axis = int(collapse_axis)
    if axis < 0:
        axis += 3
    if axis not in (1, 2):
        raise DataShapeError(
            f"{where}: collapse_axis={collapse_axis} is out of range for 3-D data of shape "
            f"{arr.shape}: axis 0 is time, so use 1 or 2."
        )
    func = reducer_function(reducer)
    if arr.dtype.kind not in "fc":
        arr = arr.astype("float64")
    finite = np.isfinite(arr).any(axis=axis)
    with warnings.catch_warnings():
        # An all-NaN slice is expected in real data; it is restored to NaN below.
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.asarray(func(arr, axis=axis), dtype="float64")
    if out.shape != finite.shape:
        raise RowError(
            f"{where}: the collapse reducer returned shape {out.shape}; expected "
            f"{finite.shape} (it must reduce along the given axis)."
        )
    out[~finite] = np.nan
    return out


_TEXT_KEYS = ("label", "y_label", "z_label")


def _row_option(key: str, value: object, where: str) -> Any:
    """A row option of a dataset dict, checked by the option's own validator."""
    if key in _TEXT_KEYS:
        return str(value)  # any label is shown as text
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None  # NaN limits (common in tables of rows) are unset
    return _ROW_OPTIONS[key].parse(value, Origin.row(where, key))


_ROW_OPTIONS = {o.name: o for o in options_where("dataset")}


def parse_dataset(
    dataset: Mapping[str, Any],
    index: int,
    *,
    collapse_axis: int | None = None,
    collapse: str | Callable[..., Any] = "sum",
) -> Row:
    """Check one dataset dict and return a :class:`Row`.

    ``collapse_axis`` and ``collapse`` (already checked) apply to rows that set none.

    Raises
    ------
    RowError
        Naming the row (label or index) and what is wrong.
    """
    if not isinstance(dataset, Mapping):
        raise RowError(
            f"{row_name(index)}: expected a dict with keys x, y and data. "
            f"Got {type(dataset).__name__} instead."
        )
    label = dataset.get("label")
    where = row_name(index, label)
    missing = [k for k in ("x", "y", "data") if dataset.get(k) is None]
    if missing:
        raise RowError(f"{where}: missing required key(s) {missing}; a row needs x, y and data.")
    unknown = sorted(set(dataset) - DATASET_KEYS)
    if unknown:
        raise RowError(
            f"{where}: unknown key(s) {unknown}. Accepted keys: {sorted(DATASET_KEYS)}."
        )
    options = {
        key: _row_option(key, value, where)
        for key, value in dataset.items()
        if key in _ROW_OPTIONS and value is not None
    }
    x = as_unix_seconds(dataset["x"], f"{where}: x")
    if x.ndim != 1:
        raise DataShapeError(f"{where}: x must be 1-D. Got shape {x.shape} instead.")
    if x.size == 0:
        raise DataShapeError(f"{where}: x is empty; a row needs at least one time.")
    y = np.asarray(dataset["y"])
    if y.dtype.kind not in "iuf":
        raise DataShapeError(f"{where}: y must be numeric. Got dtype {y.dtype} instead.")
    y = y.astype("float64", copy=False)
    if y.size == 0:
        raise DataShapeError(f"{where}: y is empty; a row needs at least one bin.")
    data = collapse_cube(
        dataset["data"],
        options.pop("collapse_axis", collapse_axis),
        options.pop("collapse", None) or collapse,
        where,
    )
    if data.dtype.kind not in "iufb":
        raise DataShapeError(f"{where}: data must be numeric. Got dtype {data.dtype} instead.")
    if data.size == 0:
        raise DataShapeError(f"{where}: data is empty (shape {data.shape}).")
    n_y = y.shape[-1]
    if y.ndim not in (1, 2) or (y.ndim == 2 and y.shape[0] != x.size):
        raise DataShapeError(
            f"{where}: y must have shape (n_y,) or (n_time, n_y) = ({x.size}, n_y). "
            f"Got {y.shape} instead."
        )
    if data.shape != (x.size, n_y):
        hint = " (it looks transposed: pass data.T)" if data.shape == (n_y, x.size) else ""
        raise DataShapeError(
            f"{where}: data shape {data.shape} does not match (len(x), len(y)) = "
            f"({x.size}, {n_y}){hint}."
        )
    finite_x = x[np.isfinite(x)]
    if finite_x.size != x.size:
        raise DataShapeError(f"{where}: x holds {x.size - finite_x.size} NaN/NaT time(s).")
    if x.size > 1:
        steps = np.diff(x)
        # The direction most steps take is the intended one; the first step against it
        # is where the records are out of order.
        decreasing = np.count_nonzero(steps < 0) > np.count_nonzero(steps > 0)
        wrong = np.flatnonzero(steps >= 0 if decreasing else steps <= 0)
        if wrong.size:
            i = int(wrong[0]) + 1
            raise DataShapeError(
                f"{where}: x must be strictly monotonic; x[{i}] = {float(x[i])!r} does not "
                f"{'precede' if decreasing else 'follow'} x[{i - 1}] = {float(x[i - 1])!r}. "
                "Sort the records by time and drop repeated times first."
            )
    x_bounds = _bounds(dataset.get("x_bounds"), [(x.size, 2)], f"{where}: x_bounds", time=True)
    y_shapes: list[tuple[int, ...]] = (
        [(x.size, n_y, 2)] if y.ndim == 2 else [(n_y, 2), (x.size, n_y, 2)]
    )
    y_bounds = _bounds(dataset.get("y_bounds"), y_shapes, f"{where}: y_bounds", time=False)
    if y_bounds is not None and y_bounds.ndim == 3 and y.ndim == 1:
        y = np.broadcast_to(y, (x.size, n_y))  # the bounds change with each record
    if x.size > 1 and x[0] > x[-1]:
        x = x[::-1]
        data = data[::-1]
        if y.ndim == 2:
            y = y[::-1]
        if x_bounds is not None:
            x_bounds = x_bounds[::-1]
        if y_bounds is not None and y_bounds.ndim == 3:
            y_bounds = y_bounds[::-1]
    options.pop("label", None)
    summary = dataset.get("z_summary")
    if summary is not None and not isinstance(summary, ValueHistogram):
        raise DataShapeError(
            f"{where}: z_summary must be a batch_multi_plot_spectrogram.ValueHistogram. Got "
            f"{type(summary).__name__} instead."
        )
    return Row(
        name=where,
        label="" if label is None else str(label),
        x=x,
        y=y,
        data=np.asarray(data, dtype="float64"),
        x_bounds=x_bounds,
        y_bounds=y_bounds,
        z_summary=summary,
        **{k: v for k, v in options.items() if v is not None},
    )


def _bounds(
    value: Any, shapes: list[tuple[int, ...]], where: str, *, time: bool
) -> np.ndarray | None:
    """Check bounds laid out as CF does: one of the accepted shapes, numbers (or, for time,
    datetime64 values)."""
    if value is None:
        return None
    arr = as_unix_seconds(value, where) if time else np.asarray(value)
    if arr.dtype.kind not in "iuf":
        raise DataShapeError(f"{where} must be numeric. Got dtype {arr.dtype} instead.")
    if arr.shape not in shapes:
        shown = " or ".join(str(s) for s in shapes)
        raise DataShapeError(
            f"{where} must have shape {shown} (the lower and upper extent of each "
            f"{'sample' if time else 'channel'}). Got {arr.shape} instead."
        )
    return arr.astype("float64", copy=False)


def parse_datasets(datasets: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """Return the datasets as a list, raising :class:`RowError` when it is not one."""
    if datasets is None:
        return []
    if isinstance(datasets, Mapping) or not isinstance(datasets, Sequence | list | tuple):
        raise RowError(f"datasets must be a list of dicts. Got {type(datasets).__name__} instead.")
    return list(datasets)


@dataclass(frozen=True)
class ItemPlot:
    """What a ``build_datasets_fn`` may return instead of a bare list of dataset dicts.

    ``options`` holds per-item plotting options (``figure_title``, ``vertical_lines``,
    ``zoom_duration_minutes``, ``colormap``, ``y_scale``, ``z_scale``, limits, ...) that
    take precedence over the options given to the batch call. ``problems`` are what could
    not be drawn (one line each, e.g. a variable of a group that is not a spectrogram):
    the item is drawn without them, and they are reported with it.
    """

    datasets: Sequence[Mapping[str, Any]]
    options: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
