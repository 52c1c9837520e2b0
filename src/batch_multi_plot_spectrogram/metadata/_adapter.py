"""The adapter: one group of a store becomes the dataset dicts of one figure.

:func:`load_group` opens a group lazily (xarray + dask), classifies it (which variables
are rows, along which dimensions, with which extents: see :mod:`._conventions`), resolves
each row's labels, limits and scales from the config and the attributes, and computes only
what the figure needs (the collapsed (time, y) matrices and the extents) in one dask
computation. :class:`GroupLoader` wraps it as a picklable ``build_datasets_fn`` for the
batch core.

Where values come from, first match wins: the config file, the variable's attributes, the
group's attributes, the store's root attributes, the built-in defaults. Labels default to
the metadata (``long_name``/``units``, or ISTP ``LABLAXIS``/``UNITS``, with IDL format
codes such as ``!E-1!N`` as superscripts), scales to ISTP ``SCALETYP``. Fill values
(``_FillValue``/``missing_value``, ISTP ``FILLVAL``) and values outside
``valid_min``/``valid_max``/``valid_range`` (or ISTP ``VALIDMIN``/``VALIDMAX``) become NaN.

A variable of three dimensions is reduced along the one that is not time or y: by its
``collapse`` when set, else by a mean for an intensive quantity (a differential flux or
phase-space density: per steradian, per energy) and by a sum otherwise (counts); the
colour-bar label says which (``"..., mean over pitch_angle"``).

A variable that cannot be drawn is a problem of its own (named in the result); the other
rows are drawn. A group whose every candidate fails is an error; a group with none is
``no_data``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..errors import ConfigError, NoDataError, SpectrogramError, StoreError
from ..histogram import ValueHistogram
from ..options import Collapse, Origin, options_where
from ..render._binning import time_bins  # numpy only: no matplotlib import
from ..render._datasets import DatasetDict, ItemPlot
from ..render._zoom import zoom_window
from ..stores import GroupMeta, StoreBackend, VariableMeta, backend_for, location
from ..stores._remote import set_storage_options
from ._conventions import (
    METADATA_KEYS,
    RowPlan,
    Selected,
    axis_label,
    classify,
    is_intensive,
)
from ._items import StoreItem
from ._overrides import Overrides, Report
from ._streaming import DEFAULT_MEMORY_BUDGET, RowValues, ValidRange, read_row
from ._time_cells import TimeCells
from ._values import decode_time, format_codes, parse_channel_labels, seconds_per
from .config import PlotConfig, parse_override

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "GroupLoader",
    "GroupPlan",
    "RowSpec",
    "limit_problems",
    "load_group",
    "plan_group",
    "plan_metadata",
    "summarise_group",
]

logger = logging.getLogger(__name__)

#: Row keys that go into the dataset dict as they are (labels and the reducer are
#: resolved on their own).
_DATASET_OVERRIDES: tuple[str, ...] = tuple(
    o.name
    for o in options_where("dataset")
    if "config" in o.where and o.name not in ("label", "y_label", "z_label", "collapse")
)


@dataclass(frozen=True, slots=True)
class RowSpec:
    """One planned row: its dimensions and its resolved dataset-dict options."""

    plan: RowPlan
    options: Mapping[str, Any]
    collapse: Collapse = "sum"
    shared_limits: bool = False

    @property
    def key(self) -> str:
        """What makes rows of different figures the same row, for limits shared across
        an archive: the variable, the ranges it selects, and how its third dimension is
        reduced (``FEDU [pitch_angle 0:30] (mean over pitch_angle)``)."""
        key = self.plan.variable
        if self.plan.select:
            ranges = ", ".join(f"{s.coordinate} {s.low:g}:{s.high:g}" for s in self.plan.select)
            key += f" [{ranges}]"
        if self.plan.collapse_dim is not None:
            key += f" ({self.collapse} over {self.plan.collapse_dim})"
        return key


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Everything about a group's figure that metadata alone decides.

    ``problems`` are those of the group's variables and attributes that keep them from
    being drawn (the rows are drawn without them); ``title`` is the figure title before
    the time range is added (``None``: the title was set explicitly and is ``figure``'s).
    """

    store: str
    group: str
    rows: tuple[RowSpec, ...]
    figure: Mapping[str, Any] = field(default_factory=dict)
    problems: tuple[SpectrogramError, ...] = ()
    title: str | None = None


def _attribute(
    meta: GroupMeta, attrs: Mapping[str, Any], group: str, key: str, report: Report
) -> Any:
    if key not in attrs:
        return None
    try:
        return parse_override(key, attrs[key], Origin.attribute(meta.store, group, None, key))
    except SpectrogramError as exc:
        report.add(exc)
        return None


def _first_text(value: Any) -> str | None:
    """An attribute's text: ISTP global attributes come as lists of one string."""
    if isinstance(value, list | tuple | np.ndarray) and len(value):
        value = value[0]
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip() if isinstance(value, str) and value.strip() else None


def _store_title(attrs: Mapping[str, Any]) -> str | None:
    """What a store holds: CF ``title``, else its ISTP names (:func:`_istp_title`)."""
    return _first_text(attrs.get("title")) or _istp_title(attrs)


def _istp_title(attrs: Mapping[str, Any]) -> str | None:
    """ISTP ``Source_name`` and ``Descriptor`` in their short forms (before ``>``:
    ``"MMS1 DES"``), else ``Logical_source_description``."""
    names = [_first_text(attrs.get(k)) for k in ("Source_name", "Descriptor")]
    short = " ".join(n.split(">")[0].strip() for n in names if n)
    return short or _first_text(attrs.get("Logical_source_description"))


def _figure_options(meta: GroupMeta, ov: Overrides) -> tuple[dict[str, Any], str | None]:
    """``figure_title``, ``vertical_lines`` and ``zoom_duration_minutes`` of a group, and
    the title to complete with the time range (None when set explicitly)."""
    configured = ov.config.figure_options(meta.path)
    title = configured.get("title")
    if title is None and meta.path != "/":
        # A group's own title is its figure's; the root's is the store's (CF global
        # ``title``), completed below like the ISTP names.
        title = _attribute(meta, meta.attrs, meta.path, "title", ov.report)
    out: dict[str, Any] = {}
    base = None
    if title is not None:
        out["figure_title"] = format_codes(title)
    else:
        # The store names what it holds (CF title, ISTP source and descriptor); the
        # figure adds the group and, once the data are read, the time range.
        root = meta.root_attrs if meta.path != "/" else meta.attrs
        named = _store_title(root)
        # Without a name of its own, the root group is named by its store's file.
        where = meta.path if meta.path != "/" else os.path.basename(str(meta.store).rstrip("/"))
        base = f"{named}: {meta.path}" if named and meta.path != "/" else named or where
        if meta.path != "/" and (own := _istp_title(meta.attrs)):
            base = own  # a group that names its own source (one CDF file per group)
        base = format_codes(base)
        out["figure_title"] = base
    lines = ov.figure("vertical_lines")
    if lines is not None:
        out["vertical_lines"] = [float(t) for t in lines]
    zoom = ov.figure("zoom_duration_minutes")
    if zoom is not None:
        out["zoom_duration_minutes"] = float(zoom)
    return out, base


def _label(text: str | None) -> str | None:
    return None if text is None else format_codes(text)


def _range_text(low: float, high: float, units: str | None) -> str:
    """``0–30°``, ``100–1000 eV``: a selected range with its unit."""
    unit = (units or "").strip()
    if unit.lower() in ("deg", "degree", "degrees", "°"):
        unit = "°"
    elif unit:
        unit = f" {unit}"
    span = f"{low:g}" if low == high else f"{low:g}–{high:g}"
    return f"{span}{unit}"


def _row_spec(meta: GroupMeta, ov: Overrides, plan: RowPlan) -> RowSpec:
    name = plan.variable
    var = meta.variables[name]
    y_var = meta.variables[plan.y_var]

    def row(key: str) -> Any:
        # A ``rows`` entry's own keys win over the variable's.
        value = plan.entry.get(key) if plan.entry is not None else None
        return value if value is not None else ov.row(name, key)

    options: dict[str, Any] = {}
    # Row title: an explicit label, else CF long_name, else ISTP FIELDNAM (its title for
    # plots), else the variable's name; a selection says its ranges.
    ranges = {
        sel.dim: _range_text(sel.low, sel.high, meta.variables[sel.coordinate].units)
        for sel in plan.select
    }
    # Ranges are named by their coordinate (a dimension of a CDF has a made-up name).
    named = {sel.dim: sel.coordinate for sel in plan.select}
    label = row("label")
    # The title says the ranges unless a label was set where the selection was: in the
    # row's own ``rows`` entry, or for the variable.
    own = plan.entry is not None and plan.entry.get("select") is not None
    said = plan.entry.get("label") is not None if own and plan.entry else label is not None
    if label is None:
        label = var.text("long_name") or var.text("FIELDNAM") or name
    if not said:
        label += "".join(f" {named[dim]} {text}" for dim, text in ranges.items())
    options["label"] = _label(label)
    y_label = row("y_label") or axis_label(y_var)
    z_label = row("z_label") or axis_label(var)
    for key in _DATASET_OVERRIDES:
        value = row(key)
        if value is not None:
            options[key] = value
    # ISTP's SCALETYP says how the mission plots a variable: a default below overrides.
    for key, source in (("y_scale", y_var), ("z_scale", var)):
        scale = (source.text("SCALETYP") or "").lower()
        if key not in options and scale in ("linear", "log"):
            options[key] = scale
    collapse: Collapse = row("collapse") or ("mean" if is_intensive(var.units) else "sum")
    if plan.collapse_dim is not None and row("z_label") is None:
        # Say how the third dimension was reduced: a mean of a flux is a flux, a sum not.
        z_label = f"{z_label or name}, {collapse} over {plan.collapse_dim}"
        if plan.collapse_dim in ranges:
            z_label += f" {ranges[plan.collapse_dim]}"
    if y_label:
        options["y_label"] = _label(y_label)
    if z_label:
        options["z_label"] = _label(z_label)
    return RowSpec(plan, options, collapse, bool(row("shared_limits")))


def _unique_labels(rows: list[RowSpec]) -> tuple[RowSpec, ...]:
    """Row titles that name two rows alike get the variable's name."""
    seen: dict[str, int] = {}
    for spec in rows:
        seen[spec.options["label"]] = seen.get(spec.options["label"], 0) + 1
    out = []
    for spec in rows:
        label = spec.options["label"]
        if seen[label] > 1 and label != spec.plan.variable:
            spec = dataclasses.replace(
                spec, options={**spec.options, "label": f"{label} ({spec.plan.variable})"}
            )
        out.append(spec)
    return tuple(out)


def plan_metadata(meta: GroupMeta, config: PlotConfig | None) -> GroupPlan:
    """Plan the figure of a described group: its rows, and the problems of the variables
    and attributes that cannot be used (never raises for those)."""
    report = Report(collect=True)
    ov = Overrides(meta, config, report)
    found = classify(meta, ov)
    rows = [_row_spec(meta, ov, plan) for plan in found.rows]
    figure, title = _figure_options(meta, ov)
    problems = list(found.problems)
    problems += [p for p in report.problems if all(str(p) != str(q) for q in problems)]
    return GroupPlan(meta.store, meta.path, _unique_labels(rows), figure, tuple(problems), title)


def _dataset_meta(
    store: str, group: str, ds: xr.Dataset, root_attrs: Mapping[str, Any]
) -> GroupMeta:
    """Describe an opened group the way the listing describes stored metadata."""
    variables: dict[str, VariableMeta] = {}
    for key, var in ds.variables.items():
        attrs = dict(var.attrs)
        # xarray moves these into .encoding while decoding; the rules read them as stored.
        for moved in ("units", "calendar", "coordinates"):
            if moved in var.encoding and moved not in attrs:
                attrs[moved] = var.encoding[moved]
        name = str(key)
        variables[name] = VariableMeta(
            name, tuple(str(d) for d in var.dims), var.dtype.kind, attrs
        )
    attrs = dict(ds.attrs)
    return GroupMeta(store, group, attrs, variables, attrs if group == "/" else root_attrs)


def _normal_group(group: str) -> str:
    return "/" if group.strip("/") == "" else group.strip("/")


def plan_group(
    store: str | os.PathLike[str],
    group: str = "/",
    *,
    config: PlotConfig | None = None,
    backend: StoreBackend | None = None,
) -> tuple[GroupPlan, xr.Dataset]:
    """Open a group lazily and plan its figure; reads metadata and index coordinates only.

    Returns
    -------
    plan, dataset
        The plan (with the problems of the variables and attributes it cannot use) and the
        open dataset (dask-backed; close it when done).

    Raises
    ------
    StoreError
        When the group cannot be opened.
    """
    path = location(store)
    group = _normal_group(group)
    backend = backend or backend_for(path)
    root_attrs = backend.read_root_attrs(path, METADATA_KEYS) if group != "/" else {}
    with warnings.catch_warnings():
        # A variable with a repeated dimension (a tensor, (time, dim0, dim0)) is reported
        # by the plan, naming it, if it was to be a row; xarray's general warning is noise.
        warnings.filterwarnings("ignore", "Duplicate dimension names", UserWarning)
        ds = backend.open_group(path, group)
    try:
        plan = plan_metadata(_dataset_meta(path, group, ds, root_attrs), config)
    except BaseException:
        ds.close()
        raise
    return plan, ds


def _mask(da: xr.DataArray) -> xr.DataArray:
    """Fill values and values outside the valid range as NaN (lazily)."""
    return ValidRange.of(da).lazy(da)


def _lazy_row(ds: xr.Dataset, spec: RowSpec) -> dict[str, Any]:
    """The lazy arrays of one row but its values (read block by block, see
    :mod:`._streaming`): times, y and whatever extents the store states."""
    plan = spec.plan
    y = ds[plan.y_var] if plan.y_text else _mask(ds[plan.y_var])
    if y.ndim == 2:
        y = y.transpose(plan.time_dim, plan.y_dim)
    out: dict[str, Any] = {"x": ds[plan.time_var].data, "y": y.data}
    y_extent, t_extent = plan.y_extent, plan.time_extent
    if y_extent.bounds is not None and not plan.y_text:
        bounds = _mask(ds[y_extent.bounds])
        dims = [d for d in (plan.time_dim, plan.y_dim) if d in bounds.dims]
        out["y_bounds"] = bounds.transpose(*dims, ...).data
    elif (y_extent.plus or y_extent.minus) and not plan.y_text:
        plus = _delta(ds, y_extent.plus, y)
        minus = _delta(ds, y_extent.minus, y)
        dims = [d for d in (plan.time_dim, plan.y_dim) if d in y.dims]
        out["y_lower"] = (y - minus).transpose(*dims).data
        out["y_upper"] = (y + plus).transpose(*dims).data
    if t_extent.bounds is not None:
        out["x_bounds"] = ds[t_extent.bounds].transpose(plan.time_dim, ...).data
    else:
        for key, name in (("x_plus", t_extent.plus), ("x_minus", t_extent.minus)):
            if name is not None:
                out[key] = _mask(ds[name]).astype("float64").data
    return out


def _delta(ds: xr.Dataset, name: str | None, like: xr.DataArray) -> Any:
    """An ISTP delta variable masked and in float (0 when the store gives none)."""
    if name is None:
        return 0.0
    delta = _mask(ds[name]).astype("float64")
    # A delta laid out on other dimension names (a scalar, or a table of the same shape
    # under a generic name) is taken as it is.
    if delta.ndim and not set(delta.dims) <= set(like.dims) and delta.shape == like.shape:
        delta = delta.copy(data=delta.data).rename(dict(zip(delta.dims, like.dims, strict=True)))
    return delta


def _compute(
    views: Sequence[tuple[RowSpec, xr.Dataset]], plan: GroupPlan
) -> list[dict[str, np.ndarray]]:
    """Compute the times, channels and extents of every row of the group in one dask
    computation, in this thread (the values are read later, block by block)."""
    import dask

    lazy = [_lazy_row(view, spec) for spec, view in views]
    with warnings.catch_warnings():
        # All-NaN slices are expected (fill values) and come out as NaN, as intended.
        warnings.filterwarnings(
            "ignore",
            message="(All-NaN slice|Mean of empty slice|invalid value encountered)",
            category=RuntimeWarning,
        )
        try:
            (values,) = dask.compute(lazy, scheduler="synchronous")
        except Exception as exc:
            raise _read_failure(plan, [spec for spec, _ in views], lazy, exc) from exc
    return [{k: np.asarray(v) for k, v in row.items()} for row in values]


def _read_failure(
    plan: GroupPlan, specs: Sequence[RowSpec], lazy: list[dict[str, Any]], exc: Exception
) -> StoreError:
    """The failure to read a group's times, channels or extents, naming the variable that
    fails (found by reading the rows one at a time) and what the store library said (a
    corrupt chunk's key, a missing file)."""
    import dask

    where = f"store {plan.store!r}, group {plan.group!r}"
    for spec, row in zip(specs, lazy, strict=True):
        try:
            dask.compute(row, scheduler="synchronous")
        except Exception as failed:
            where += f", variable {spec.plan.variable!r}"
            exc = failed
            break
    return StoreError(
        f"{where}: its data cannot be read: {type(exc).__name__}: {exc}. The store may be "
        "damaged (a truncated or corrupt chunk) or changing while it is read."
    )


def _cell_edges(ds: xr.Dataset, sel: Selected, centres: np.ndarray) -> tuple[Any, Any]:
    """The lower and upper edges of the cells of a selected dimension, from its bounds or
    ISTP deltas; the centres themselves when the store states no extent."""
    extent = sel.extent
    if extent.bounds is not None and extent.bounds in ds.variables:
        bounds = np.asarray(_mask(ds[extent.bounds]).values, dtype="float64")
        if bounds.shape[:-1] == centres.shape and bounds.shape[-1] == 2:
            return bounds.min(axis=-1), bounds.max(axis=-1)
    if extent.plus is not None or extent.minus is not None:
        like = ds[sel.coordinate]
        plus = _delta(ds, extent.plus, like)
        minus = _delta(ds, extent.minus, like)
        plus = np.asarray(getattr(plus, "values", plus), dtype="float64")
        minus = np.asarray(getattr(minus, "values", minus), dtype="float64")
        return centres - np.abs(minus), centres + np.abs(plus)
    return centres, centres


def _index(keep: np.ndarray) -> slice | np.ndarray:
    """Positions to keep, as a slice when they follow each other (a cheap lazy read)."""
    found = np.flatnonzero(keep)
    if found.size and found[-1] - found[0] + 1 == found.size:
        return slice(int(found[0]), int(found[-1]) + 1)
    return found


def _view(
    ds: xr.Dataset,
    plan: GroupPlan,
    spec: RowSpec,
    window: tuple[float, float] | None,
) -> xr.Dataset:
    """The group as one row sees it: its selected ranges and the time window (with the
    record on either side of it; none when the window holds no record), cut on the lazy
    arrays (``isel``), so that only those records and cells are read.

    Raises
    ------
    StoreError
        When a selected range keeps no cell of its dimension, naming the range and the
        dimension's extent.
    """
    indexers: dict[str, Any] = {}
    for sel in spec.plan.select:
        coordinate = _mask(ds[sel.coordinate])
        centres = np.asarray(coordinate.values, dtype="float64")
        lower, upper = _cell_edges(ds, sel, centres)
        if sel.low == sel.high or lower is upper:
            keep = (upper >= sel.low) & (lower <= sel.high)
        else:
            # A cell partly inside the range is kept: it overlaps it.
            keep = (upper > sel.low) & (lower < sel.high)
        if coordinate.ndim == 2:
            # A table that changes with each record: a cell is kept when it reaches into
            # the range in any record.
            axis = coordinate.dims.index(sel.dim)
            keep = keep.any(axis=1 - axis)
        if not keep.any():
            finite = np.isfinite(lower) & np.isfinite(upper)
            span = (
                f"{np.min(lower[finite]):g} to {np.max(upper[finite]):g}"
                if finite.any()
                else "no finite value"
            )
            raise StoreError(
                f"store {plan.store!r}, group {plan.group!r}, variable "
                f"{spec.plan.variable!r}, row {spec.options['label']!r}: select "
                f"{sel.dim} = [{sel.low:g}, {sel.high:g}] keeps no {sel.dim!r} cell: "
                f"{sel.coordinate!r} spans {span}. Choose a range that overlaps it."
            )
        indexers[sel.dim] = _index(keep)
    if window is not None:
        time_var = ds[spec.plan.time_var]
        attrs = {**time_var.attrs, **time_var.encoding}
        where = f"store {plan.store!r}, group {plan.group!r}, variable {spec.plan.variable!r}"
        seconds = _unix(decode_time(np.asarray(time_var.values), where=where, attrs=attrs))
        inside = (seconds >= window[0]) & (seconds < window[1])
        if inside.any():
            # The record on either side is read too: its cell may reach into the window
            # (the figure is cut at the window's edges), so that data going on past an
            # edge is drawn up to it instead of stopping half a sample short.
            first, last = np.flatnonzero(inside)[[0, -1]]
            inside[max(first - 1, 0)] = inside[min(last + 1, inside.size - 1)] = True
        indexers[spec.plan.time_dim] = _index(inside)
    return ds.isel(indexers) if indexers else ds


def _unix(x: np.ndarray) -> np.ndarray:
    seconds = x.astype("datetime64[ns]").astype("int64").astype("float64") / 1e9
    seconds[np.isnat(x)] = np.nan
    return seconds


def _row(
    ds: xr.Dataset,
    plan: GroupPlan,
    spec: RowSpec,
    values: dict[str, np.ndarray],
    budget: int,
) -> tuple[dict[str, Any], ValueHistogram]:
    """One row's dataset dict from its computed arrays, its values read block by block
    (folded into time cells when the group is too large to hold within ``budget``), and
    the histogram of its values at full resolution.

    Raises
    ------
    StoreError
        When the row cannot be drawn (its times or its text channels cannot be read).
    """
    where = f"store {plan.store!r}, group {plan.group!r}, variable {spec.plan.variable!r}"
    time_var = ds[spec.plan.time_var]
    attrs = {**time_var.attrs, **time_var.encoding}
    x = decode_time(values["x"], where=f"{where} (times in {spec.plan.time_var!r})", attrs=attrs)
    y = values["y"]
    row: dict[str, Any] = dict(spec.options)
    good = ~np.isnat(x)
    seconds = _unix(x)
    x_bounds = None
    if "x_bounds" in values:
        edges = values["x_bounds"].reshape(x.size, -1)
        if edges.dtype.kind != "M":
            edges = np.stack(
                [decode_time(edges[:, i], where=where, attrs=attrs) for i in (0, 1)], axis=1
            )
        x_bounds = np.stack([_unix(edges[:, 0]), _unix(edges[:, 1])], axis=1)
    elif "x_plus" in values or "x_minus" in values:
        spans = []
        for key, name in (
            ("x_minus", spec.plan.time_extent.minus),
            ("x_plus", spec.plan.time_extent.plus),
        ):
            if key not in values:
                spans.append(np.zeros(x.size))
                continue
            units = ds[name].attrs.get("units") or ds[name].attrs.get("UNITS")
            factor = seconds_per(units if isinstance(units, str) else None)
            if factor is None:
                logger.info(
                    "%s: the unit %r of %s is not a time unit; its sample spans are not used",
                    where,
                    units,
                    name,
                )
                spans = []
                break
            spans.append(np.broadcast_to(values[key] * factor, x.shape))
        if spans:
            x_bounds = np.stack([seconds - spans[0], seconds + spans[1]], axis=1)
    if x_bounds is not None and np.isfinite(x_bounds[good]).all():
        row["x_bounds"] = x_bounds
    if spec.plan.y_text:
        labels = [
            v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in np.asarray(y).ravel()
        ]
        try:
            y, y_bounds, units = parse_channel_labels(labels)
        except ValueError as exc:
            raise StoreError(
                f"{where}: its channels are given only as text ({spec.plan.y_var!r}), and "
                f"{exc}. Give the channels as numbers, or as ranges with a unit."
            ) from None
        row["y_bounds"] = y_bounds
        if units and "(" not in str(row.get("y_label", "")):
            row["y_label"] = f"{row.get('y_label') or spec.plan.y_var} ({units})"
    else:
        y = y.astype("float64")
        if "y_bounds" in values:
            row["y_bounds"] = values["y_bounds"]
        elif "y_lower" in values:
            row["y_bounds"] = np.stack([values["y_lower"], values["y_upper"]], axis=-1)
        if "y_bounds" in row and not np.isfinite(row["y_bounds"][..., 0][np.isfinite(y)]).all():
            logger.info(
                "%s: some channel extents are fill values; channels are drawn "
                "between midpoints instead",
                where,
            )
            del row["y_bounds"]
        if row.get("y_scale") == "log" and (y <= 0).any():
            # A channel at or below zero (an unused channel of energy 0) has no place on a
            # log axis: it is left out, not the whole row.
            logger.info(
                "%s: %d channel centre(s) <= 0 left out of the log y axis",
                where,
                int((y <= 0).sum()),
            )
            y = np.where(y > 0, y, np.nan)
    cells = _time_cells(plan, spec, row, seconds, good, y, budget)
    read = _read_values(ds, spec, where, budget, cells)
    data = read.data
    if cells is not None:
        # One sample per time cell, spanning the records folded into it.
        centre = 0.5 * (cells.left + cells.right)
        x = (centre * 1e9).astype("int64").astype("datetime64[ns]")
        row["x_bounds"] = cells.bounds
        row["z_summary"] = read.histogram
        good = np.ones(x.size, dtype=bool)
    if not good.all():
        # Records without a time cannot be placed on the time axis.
        logger.debug("%s: dropped %d records without a time", where, int((~good).sum()))
        x, data = x[good], data[good]
        y = y[good] if y.ndim == 2 else y
        for key in ("x_bounds", "y_bounds"):
            if key in row and (key == "x_bounds" or row[key].ndim == 3):
                row[key] = row[key][good]
    row.update(x=x, y=y, data=data)
    return row, read.histogram


def _time_cells(
    plan: GroupPlan,
    spec: RowSpec,
    row: dict[str, Any],
    seconds: np.ndarray,
    good: np.ndarray,
    y: np.ndarray,
    budget: int,
) -> TimeCells | None:
    """The time cells to fold a row into, or None to keep every record: only for rows
    too large for the budget, with one channel table (cells cannot mix tables)."""
    n_y = y.shape[-1]
    bounds = row.get("y_bounds")
    one_table = y.ndim == 1 and (bounds is None or bounds.ndim == 2)
    if not one_table or not TimeCells.wanted(seconds.size, n_y, len(plan.rows), budget):
        return None
    timed = seconds[good]
    if timed.size < 2 or not (np.all(np.diff(timed) > 0) or np.all(np.diff(timed) < 0)):
        return None  # out of order: the renderer reports it
    left = np.full(seconds.size, np.nan)
    right = np.full(seconds.size, np.nan)
    if "x_bounds" in row:
        left, right = row["x_bounds"][:, 0], row["x_bounds"][:, 1]
    else:
        order = slice(None) if timed[0] < timed[-1] else slice(None, None, -1)
        lo, hi, _ = time_bins(timed[order], spec.options.get("gap_seconds"))
        left[good], right[good] = lo[order], hi[order]
    zoom = zoom_window(plan.figure.get("vertical_lines"), plan.figure.get("zoom_duration_minutes"))
    reduce = str(spec.options.get("pixel_reduce") or "mean")
    return TimeCells(np.where(good, seconds, np.nan), left, right, zoom, reduce)


def _read_values(
    ds: xr.Dataset, spec: RowSpec, where: str, budget: int, cells: TimeCells | None
) -> RowValues:
    """Read a row's values block by block.

    Raises
    ------
    StoreError
        Naming the variable, when its data cannot be read.
    """
    plan = spec.plan
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Duplicate dimension names", UserWarning)
            return read_row(
                ds[plan.variable],
                plan.time_dim,
                plan.y_dim,
                plan.collapse_dim,
                spec.collapse,
                budget=budget,
                cells=cells,
            )
    except Exception as exc:
        raise StoreError(
            f"{where}: its data cannot be read: {type(exc).__name__}: {exc}. The store may "
            "be damaged (a truncated or corrupt chunk) or changing while it is read."
        ) from exc


def _window_text(window: tuple[float, float]) -> str:
    """A window's range, as the title shows it."""
    start, end = (np.datetime64(round(t * 1e9), "ns") for t in window)
    return _span_text(start, end)


def _time_range(rows: list[dict[str, Any]]) -> str:
    """``2015-12-01 23:48 to 24:00 UTC``: the span of the figure's data, for its title."""
    start = min(r["x"][0] for r in rows if r["x"].size)
    end = max(r["x"][-1] for r in rows if r["x"].size)
    return _span_text(start, end)


def _span_text(start: np.datetime64, end: np.datetime64) -> str:
    """``2015-12-01 23:48 to 24:00 UTC``."""

    def shown(unit: Literal["m", "s"]) -> tuple[str, str]:
        first, last = (
            str(np.datetime_as_string(t.astype("datetime64[s]"), unit=unit)).replace("T", " ")
            for t in (start, end)
        )
        return first, last

    first, last = shown("m")
    if first == last:  # under a minute: to the second
        first, last = shown("s")
    if first[:10] == last[:10]:
        last = last[11:]
    return f"{first} to {last} UTC"


def load_group(
    store: str | os.PathLike[str],
    group: str = "/",
    *,
    config: PlotConfig | None = None,
    backend: StoreBackend | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    shared: Mapping[str, ValueHistogram] | None = None,
    window: tuple[float, float] | None = None,
) -> ItemPlot:
    """Build the dataset dicts and figure options of one group.

    The values are read block by block along time, a block at a time in memory; a group
    whose rows would not fit in ``memory_budget`` at full resolution is folded into time
    cells as it is read (see :mod:`._time_cells`).

    Parameters
    ----------
    store
        A store of any registered format.
    group
        The group's path (``"/"`` for the root).
    config
        A plot configuration; it wins over the attributes.
    backend
        The store's format (default: found from the path).
    memory_budget
        Bytes the group may take (default 1.5 GB).
    shared
        Histograms of the values of every figure of a row, by :attr:`RowSpec.key`: a row
        whose ``shared_limits`` is set takes its automatic colour limits from them (see
        :mod:`batch_multi_plot_spectrogram.shared_limits`).
    window
        ``(start, end)`` UNIX seconds: draw only the records in ``[start, end)``, cut on
        the lazy arrays so that only they are read; the figure spans the window.

    Returns
    -------
    ItemPlot
        ``datasets``: one dict per row with ``x`` (datetime64), ``y`` (channel centres, 1-D
        or (time, y) when the table changes with each record), ``data`` ((time, y)
        float64, NaN where there is no data), the extents the store states (``x_bounds``,
        ``y_bounds``) and the resolved labels, limits and scales. ``options``:
        ``figure_title`` and, when set, ``vertical_lines`` (UNIX seconds) and
        ``zoom_duration_minutes``. ``problems``: one line per variable (or attribute) that
        could not be used; the other rows are drawn.

    Raises
    ------
    StoreError, ConfigError
        When no row can be drawn, naming the store, group, variable and attribute of
        each problem.
    NoDataError
        When the group has no spectrogram variable, or no row holds a finite value.
    """
    plan, rows, problems = _load_rows(store, group, config, backend, memory_budget, window)
    datasets: list[DatasetDict] = []
    for spec, row, _ in rows:
        pooled = (shared or {}).get(spec.key) if spec.shared_limits else None
        if pooled is not None:
            row["z_summary"] = pooled
        elif spec.shared_limits:
            logger.warning(
                "store %r, group %r, row %r: no shared colour limits were computed for it; "
                "its own values set its limits",
                plan.store,
                plan.group,
                spec.key,
            )
        datasets.append(row)  # type: ignore[arg-type]
    options: dict[str, Any] = dict(plan.figure)
    span = _time_range(datasets) if window is None else _window_text(window)  # type: ignore[arg-type]
    if plan.title is not None:
        options["figure_title"] = f"{plan.title} — {span}"
    if window is not None:
        options["time_range"] = window
    return ItemPlot(datasets=datasets, options=options, problems=tuple(str(p) for p in problems))


def summarise_group(
    store: str | os.PathLike[str],
    group: str = "/",
    *,
    config: PlotConfig | None = None,
    backend: StoreBackend | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    window: tuple[float, float] | None = None,
) -> dict[str, tuple[ValueHistogram, bool]]:
    """The histogram of the values of each row of a group whose ``shared_limits`` is
    set, by :attr:`RowSpec.key`, with whether the row's colour scale is logarithmic.

    Read as :func:`load_group` reads them (the same rows, masks and reductions); raises
    as it does.
    """
    _, rows, _ = _load_rows(store, group, config, backend, memory_budget, window)
    return {
        spec.key: (histogram, row.get("z_scale") == "log")
        for spec, row, histogram in rows
        if spec.shared_limits
    }


def _load_rows(
    store: str | os.PathLike[str],
    group: str,
    config: PlotConfig | None,
    backend: StoreBackend | None,
    memory_budget: int,
    window: tuple[float, float] | None = None,
) -> tuple[GroupPlan, list[tuple[RowSpec, dict[str, Any], ValueHistogram]], list[Any]]:
    """Plan and read the rows of a group: each row's spec, dataset dict and histogram,
    and the problems of the variables that could not be drawn."""
    plan, ds = plan_group(store, group, config=config, backend=backend)
    rows: list[tuple[RowSpec, dict[str, Any], ValueHistogram]] = []
    try:
        problems: list[Any] = list(plan.problems)
        fatal = [p for p in problems if isinstance(p, ConfigError)]
        if fatal:
            # An attribute or config value that cannot be used: the figure would not be
            # the one asked for.
            raise _combined(fatal)
        views: list[tuple[RowSpec, xr.Dataset]] = []
        for spec in plan.rows:
            try:
                views.append((spec, _view(ds, plan, spec, window)))
            except StoreError as exc:
                problems.append(exc)  # a selection that keeps nothing costs its row
        if (
            window is not None
            and views
            and not any(view.sizes[spec.plan.time_dim] for spec, view in views)
        ):
            raise NoDataError(
                f"store {plan.store!r}, group {plan.group!r}: no record in the window "
                f"{_window_text(window)}."
            )
        if views:
            for (spec, view), values in zip(views, _compute(views, plan), strict=True):
                try:
                    row, histogram = _row(view, plan, spec, values, memory_budget)
                except StoreError as exc:
                    problems.append(exc)
                else:
                    rows.append((spec, row, histogram))
    finally:
        ds.close()
    if not rows:
        if problems:
            raise _combined(problems)
        raise NoDataError(
            f"store {plan.store!r}, group {plan.group!r}: no spectrogram variable. A "
            "spectrogram variable has a time dimension and a dimension with a coordinate "
            "variable (energy, frequency, ...); name the variables to plot in the group's "
            "rows attribute."
        )
    if not any(np.isfinite(row["data"]).any() for _, row, _ in rows):
        names = ", ".join(spec.plan.variable for spec in plan.rows)
        raise NoDataError(
            f"store {plan.store!r}, group {plan.group!r}: no finite value in any row "
            f"({names}); every value is a fill value or outside the valid range."
        )
    return plan, rows, problems


def _combined(problems: Sequence[SpectrogramError]) -> SpectrogramError:
    """The first problem, with the others listed after it."""
    if len(problems) == 1:
        return problems[0]
    first = problems[0]
    rest = "".join(f"\n  {p}" for p in problems[1:])
    return type(first)(f"{first} ({len(problems) - 1} more problem(s) in this group:{rest})")


@dataclass(frozen=True)
class GroupLoader:
    """A picklable ``build_datasets_fn`` for :class:`StoreItem` items.

    Parameters
    ----------
    config
        The plot configuration applied to every group.
    overrides
        Config keys (checked already) that win over the config's own top-level keys: the
        plot options given to an archive run.
    memory_budget
        Bytes a worker may use for one group (see :func:`load_group`).
    shared
        By row key, the merged histogram of the row's values across an archive and
        whether its colour scale is logarithmic (see :mod:`..shared_limits`): rows whose
        ``shared_limits`` is set take their colour limits from it.

    Examples
    --------
    >>> listing = list_groups("archive/fast_2000.zarr")  # doctest: +SKIP
    >>> generic_batch_plot(listing.items, "plots", GroupLoader(config))  # doctest: +SKIP
    """

    config: PlotConfig | None = None
    overrides: tuple[tuple[str, Any], ...] = ()
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    shared: Mapping[str, tuple[ValueHistogram, bool]] = field(default_factory=dict)

    def effective_config(self) -> PlotConfig | None:
        """The config with the overrides applied."""
        if not self.overrides:
            return self.config
        return (self.config or PlotConfig()).with_top(dict(self.overrides))

    def __call__(self, item: StoreItem) -> ItemPlot:
        """Load the dataset dicts of ``item``'s group (of its time window, if any)."""
        self._reach_storage()
        window = item.window
        plot = load_group(
            item.store,
            item.group,
            config=self.effective_config(),
            backend=item.backend,
            memory_budget=self.memory_budget,
            window=None if window is None else (window.start, window.end),
            shared={key: histogram for key, (histogram, _) in self.shared.items()},
        )
        if window is None or not window.events:
            return plot
        # A window's events are its figure's event lines, and its zoom column looks at
        # them (a sixth of the window wide, unless the config says otherwise).
        options = dict(plot.options)
        options["vertical_lines"] = [*options.get("vertical_lines", ()), *window.events]
        options.setdefault("zoom_duration_minutes", (window.end - window.start) / 360.0)
        return ItemPlot(datasets=plot.datasets, options=options, problems=plot.problems)

    def _reach_storage(self) -> None:
        if self.config is not None and self.config.storage:
            # In this (worker) process's memory only: stores named by URL need them.
            set_storage_options(dict(self.config.storage))

    def summarise(self, item: StoreItem) -> dict[str, tuple[ValueHistogram, bool]]:
        """The histograms of ``item``'s rows that share their limits (see
        :func:`summarise_group`)."""
        self._reach_storage()
        window = item.window
        return summarise_group(
            item.store,
            item.group,
            config=self.effective_config(),
            backend=item.backend,
            memory_budget=self.memory_budget,
            window=None if window is None else (window.start, window.end),
        )

    def describe_settings(self) -> dict[str, Any]:
        """What shapes the pictures besides the run's options: the config file, readable.

        The overrides are not repeated here: the run records them as its own options.
        Nor is the memory budget, a run option like the number of workers: a run resumed
        with another budget (after running out of memory) keeps what was done.
        """
        described: dict[str, Any] = {"config": None}
        if self.config is not None:
            described = {"config": self.config.describe(), "config_file": self.config.path}
        if self.shared:
            # The limits at the default percentiles: what the figures of each row share.
            described["shared_limits"] = {
                key: [histogram.percentile(q, positive=log_scale) for q in (1.0, 99.0)]
                for key, (histogram, log_scale) in sorted(self.shared.items())
            }
        return described


def limit_problems(plan: GroupPlan) -> list[SpectrogramError]:
    """Row limits that no data can satisfy: the renderer would refuse the figure."""
    found: list[SpectrogramError] = []
    for spec in plan.rows:
        low, high = spec.options.get("y_min"), spec.options.get("y_max")
        if low is not None and high is not None and low >= high:
            found.append(
                ConfigError(
                    f"store {plan.store!r}, group {plan.group!r}, variable "
                    f"{spec.plan.variable!r}, attributes 'y_min' and 'y_max': Expected y_min "
                    f"below y_max. Got y_min={low!r} and y_max={high!r} instead, an empty y "
                    "range. Fix the attributes in the store, or override them in a config file."
                )
            )
    return found
