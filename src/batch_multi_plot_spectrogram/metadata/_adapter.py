"""The adapter: one group of a store becomes the dataset dicts of one figure.

:func:`load_group` opens a group lazily (xarray + dask), decides which variables are rows
and along which dimensions, resolves each row's labels, limits and scales from the config
and the attributes, and computes only what the figure needs (the collapsed (time, y)
matrices) in one dask computation. :class:`GroupLoader` wraps it as a picklable
``build_datasets_fn`` for the batch core; :func:`check_archive` runs every check without
reading data, for ``validate``.

Which variables are rows: the group's ``rows`` (a list, or names separated by commas or
spaces), else every variable with a time dimension and a y dimension, in name order.

- The time dimension has a 1-D coordinate variable with datetime values, CF
  ``axis = "T"``, ``standard_name = "time"`` or units ``"<unit> since <epoch>"``, or the
  variable named by the row's ISTP ``DEPEND_0``.
- The y dimension's coordinate variable (1-D, or (time, y) when the table changes with each
  record) is named by ISTP ``DEPEND_1``/``DEPEND_2``, or by the CF ``coordinates``
  attribute, or is the dimension's namesake; it is the y dimension when it has CF
  ``axis = "Y"``, an energy or frequency ``standard_name``, or energy or frequency units
  (eV, keV, MeV, J, Hz, kHz, ...). The ``y_dim`` key names it explicitly.
- A third dimension is collapsed (``collapse``: sum, mean, max or min; a slice without
  any finite value stays NaN). ``collapse_dim`` names it when y cannot be recognised.

Where values come from, first match wins: the config file, the variable's attributes, the
group's attributes, the store's root attributes, the built-in defaults. Labels default to
the metadata (``long_name``/``units``, or ISTP ``LABLAXIS``/``UNITS``), scales to ISTP
``SCALETYP``. Fill values (``_FillValue``/``missing_value``, ISTP ``FILLVAL``) and values
outside ``valid_min``/``valid_max``/``valid_range`` (or ISTP ``VALIDMIN``/``VALIDMAX``)
become NaN.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, NoDataError, SpectrogramError, StoreError
from ..options import Collapse, Origin, options_where
from ..render._datasets import DatasetDict, ItemPlot  # numpy only: no matplotlib import
from ..stores import GroupMeta, StoreBackend, VariableMeta, backend_for
from ._conventions import METADATA_KEYS, RowPlan, axis_label, plan_rows
from ._items import StoreItem
from ._overrides import Overrides, Report
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


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """Everything about a group's figure that metadata alone decides."""

    store: str
    group: str
    rows: tuple[RowSpec, ...]
    figure: Mapping[str, Any] = field(default_factory=dict)


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


def _figure_options(meta: GroupMeta, ov: Overrides) -> dict[str, Any]:
    """``figure_title``, ``vertical_lines`` and ``zoom_duration_minutes`` of a group."""
    configured = ov.config.figure_options(meta.path)
    title = configured.get("title") or _attribute(meta, meta.attrs, meta.path, "title", ov.report)
    if title is None:
        # A store-wide title (CF's global ``title``) names the store, not the group.
        root = (
            _attribute(meta, meta.root_attrs, "/", "title", ov.report)
            if meta.path != "/"
            else None
        )
        title = f"{root}: {meta.path}" if root else meta.path
    out: dict[str, Any] = {"figure_title": title}
    lines = ov.figure("vertical_lines")
    if lines is not None:
        out["vertical_lines"] = [float(t) for t in lines]
    zoom = ov.figure("zoom_duration_minutes")
    if zoom is not None:
        out["zoom_duration_minutes"] = float(zoom)
    return out


def _row_spec(meta: GroupMeta, ov: Overrides, plan: RowPlan) -> RowSpec:
    name = plan.variable
    var = meta.variables[name]
    options: dict[str, Any] = {}
    # Row title: an explicit label, else CF long_name, else ISTP FIELDNAM (its title for
    # plots), else the variable's name.
    options["label"] = (
        ov.row(name, "label") or var.text("long_name") or var.text("FIELDNAM") or name
    )
    y_label = ov.row(name, "y_label") or axis_label(meta.variables[plan.y_var])
    z_label = ov.row(name, "z_label") or axis_label(var)
    if y_label:
        options["y_label"] = y_label
    if z_label:
        options["z_label"] = z_label
    for key in _DATASET_OVERRIDES:
        value = ov.row(name, key)
        if value is not None:
            options[key] = value
    # ISTP's SCALETYP says how the mission plots a variable: a default below overrides.
    for key, source in (("y_scale", meta.variables[plan.y_var]), ("z_scale", var)):
        scale = (source.text("SCALETYP") or "").lower()
        if key not in options and scale in ("linear", "log"):
            options[key] = scale
    return RowSpec(plan, options, ov.row(name, "collapse") or "sum")


def plan_metadata(meta: GroupMeta, config: PlotConfig | None, report: Report) -> GroupPlan:
    """Plan the figure of a described group, reporting each problem through ``report``."""
    ov = Overrides(meta, config, report)
    plans = plan_rows(meta, ov)
    rows = tuple(_row_spec(meta, ov, plan) for plan in plans)
    figure = _figure_options(meta, ov)
    if not plans and not report.problems:
        report.add(
            NoDataError(
                f"store {meta.store!r}, group {meta.path!r}: no spectrogram variable. A "
                "spectrogram variable has a time dimension and an energy or frequency "
                "dimension; name the variables to plot in the group's rows attribute."
            )
        )
    return GroupPlan(meta.store, meta.path, rows, figure)


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
        The plan and the open dataset (dask-backed; close it when done).

    Raises
    ------
    StoreError, ConfigError, NoDataError
        At the first problem, naming the store, group, variable and attribute.
    """
    path = os.path.abspath(os.fspath(store))
    group = _normal_group(group)
    backend = backend or backend_for(path)
    root_attrs = backend.read_root_attrs(path, METADATA_KEYS) if group != "/" else {}
    ds = backend.open_group(path, group)
    try:
        plan = plan_metadata(_dataset_meta(path, group, ds, root_attrs), config, Report())
    except BaseException:
        ds.close()
        raise
    return plan, ds


def _number(value: Any) -> float | None:
    try:
        out = float(np.asarray(value).ravel()[0]) if np.size(value) == 1 else None
    except (TypeError, ValueError, IndexError):
        return None
    return out if out is not None and math.isfinite(out) else None


def _mask(da: xr.DataArray) -> xr.DataArray:
    """Fill values and values outside the valid range as NaN (lazily)."""
    if da.dtype.kind not in "iuf":
        return da
    attrs = da.attrs
    scale = _number(da.encoding.get("scale_factor", 1.0)) or 1.0
    offset = _number(da.encoding.get("add_offset", 0.0)) or 0.0

    def unpacked(value: Any) -> float | None:
        # valid_* are given in packed units (CF); the data are already unpacked.
        number = _number(value)
        return None if number is None else number * scale + offset

    keep: Any = None

    def both(cond: Any) -> None:
        nonlocal keep
        keep = cond if keep is None else keep & cond

    fill = _number(attrs.get("FILLVAL")) if "FILLVAL" in attrs else None
    if fill is not None:
        # Compare in the data's own type: -1e31 as float32 differs from -1e31 as float64.
        both(da != np.asarray(fill).astype(da.dtype) if da.dtype.kind == "f" else da != fill)
    low = high = None
    if "valid_range" in attrs and np.size(attrs["valid_range"]) == 2:
        low, high = (unpacked(v) for v in np.asarray(attrs["valid_range"]).ravel())
    low = unpacked(attrs["valid_min"]) if "valid_min" in attrs else low
    high = unpacked(attrs["valid_max"]) if "valid_max" in attrs else high
    if low is None and "VALIDMIN" in attrs:
        low = _number(attrs["VALIDMIN"])
    if high is None and "VALIDMAX" in attrs:
        high = _number(attrs["VALIDMAX"])
    if low is not None:
        both(da >= low)
    if high is not None:
        both(da <= high)
    return da if keep is None else da.where(keep)


def _collapse(da: xr.DataArray, dim: str, how: Collapse) -> xr.DataArray:
    """NaN-aware reduction along ``dim``; a slice without any finite value stays NaN."""
    if how == "sum":
        return da.sum(dim, skipna=True, min_count=1)
    if how == "mean":
        return da.mean(dim, skipna=True)
    if how == "max":
        return da.max(dim, skipna=True)
    return da.min(dim, skipna=True)


def _lazy_row(ds: xr.Dataset, spec: RowSpec) -> tuple[Any, Any, Any]:
    plan = spec.plan
    # Reduce in float64: float32 sums would depend on the store's chunking.
    data = _mask(ds[plan.variable]).astype("float64")
    if plan.collapse_dim is not None:
        data = _collapse(data, plan.collapse_dim, spec.collapse)
    data = data.transpose(plan.time_dim, plan.y_dim)
    y = _mask(ds[plan.y_var]) if ds[plan.y_var].dtype.kind == "f" else ds[plan.y_var]
    if y.ndim == 2:
        y = y.transpose(plan.time_dim, plan.y_dim)
    return ds[plan.time_var].data, y.data, data.data


def _compute(ds: xr.Dataset, plan: GroupPlan) -> list[tuple[Any, Any, Any]]:
    """Compute every row of the group in one dask computation, in this thread."""
    import dask

    lazy = [_lazy_row(ds, spec) for spec in plan.rows]
    flat = [a for row in lazy for a in row]
    with warnings.catch_warnings():
        # All-NaN slices are expected (fill values) and come out as NaN, as intended.
        warnings.filterwarnings(
            "ignore",
            message="(All-NaN slice|Mean of empty slice|invalid value encountered)",
            category=RuntimeWarning,
        )
        try:
            values = dask.compute(*flat, scheduler="synchronous")
        except Exception as exc:
            raise _read_failure(plan, lazy, exc) from exc
    arrays = [np.asarray(v) for v in values]
    return [tuple(arrays[i : i + 3]) for i in range(0, len(arrays), 3)]  # type: ignore[misc]


def _read_failure(plan: GroupPlan, lazy: list[tuple[Any, Any, Any]], exc: Exception) -> StoreError:
    """The failure to read a group's data, naming the variable that fails (found by
    reading the rows one at a time) and what the store library said (a corrupt chunk's
    key, a missing file)."""
    import dask

    where = f"store {plan.store!r}, group {plan.group!r}"
    for spec, row in zip(plan.rows, lazy, strict=True):
        try:
            dask.compute(*row, scheduler="synchronous")
        except Exception as failed:
            where += f", variable {spec.plan.variable!r}"
            exc = failed
            break
    return StoreError(
        f"{where}: its data cannot be read: {type(exc).__name__}: {exc}. The store may be "
        "damaged (a truncated or corrupt chunk) or changing while it is read."
    )


def _valid_times(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind == "M":
        return ~np.isnat(x)
    return np.isfinite(x.astype("float64"))


def load_group(
    store: str | os.PathLike[str],
    group: str = "/",
    *,
    config: PlotConfig | None = None,
    backend: StoreBackend | None = None,
) -> ItemPlot:
    """Build the dataset dicts and figure options of one group.

    Parameters
    ----------
    store
        A ``.zarr`` directory or a NetCDF file.
    group
        The group's path (``"/"`` for the root).
    config
        A plot configuration; it wins over the attributes.

    Returns
    -------
    ItemPlot
        ``datasets``: one dict per row with ``x`` (datetime64), ``y`` (bin centres, 1-D or
        (time, y) when the table changes with each record), ``data`` ((time, y) float64,
        NaN where there is no data) and the resolved labels, limits and scales.
        ``options``: ``figure_title`` and, when set, ``vertical_lines`` (UNIX seconds) and
        ``zoom_duration_minutes``.

    Raises
    ------
    StoreError, ConfigError
        When the group or its metadata cannot be used, naming the store, group, variable
        and attribute.
    NoDataError
        When the group has no spectrogram variable, or no row holds a finite value.
    """
    plan, ds = plan_group(store, group, config=config, backend=backend)
    try:
        computed = _compute(ds, plan)
    finally:
        ds.close()
    datasets: list[DatasetDict] = []
    for spec, (x, y, data) in zip(plan.rows, computed, strict=True):
        good = _valid_times(x)
        if not good.all():
            # Records without a time cannot be placed on the time axis.
            logger.debug(
                "%s %s %s: dropped %d records without a time",
                plan.store,
                plan.group,
                spec.plan.variable,
                int((~good).sum()),
            )
            x, data = x[good], data[good]
            y = y[good] if y.ndim == 2 else y
        row: dict[str, Any] = {"x": x, "y": y, "data": data, **spec.options}
        datasets.append(row)  # type: ignore[arg-type]
    if not any(np.isfinite(row["data"]).any() for row in datasets):
        names = ", ".join(spec.plan.variable for spec in plan.rows)
        raise NoDataError(
            f"store {plan.store!r}, group {plan.group!r}: no finite value in any row "
            f"({names}); every value is a fill value or outside the valid range."
        )
    return ItemPlot(datasets=list(datasets), options=dict(plan.figure))


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

    Examples
    --------
    >>> listing = list_groups("archive/fast_2000.zarr")  # doctest: +SKIP
    >>> generic_batch_plot(listing.items, "plots", GroupLoader(config))  # doctest: +SKIP
    """

    config: PlotConfig | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    def effective_config(self) -> PlotConfig | None:
        """The config with the overrides applied."""
        if not self.overrides:
            return self.config
        return (self.config or PlotConfig()).with_top(dict(self.overrides))

    def __call__(self, item: StoreItem) -> ItemPlot:
        """Load the dataset dicts of ``item``'s group."""
        return load_group(
            item.store, item.group, config=self.effective_config(), backend=item.backend
        )

    def describe_settings(self) -> dict[str, Any]:
        """What shapes the pictures besides the run's options: the config file, readable.

        The overrides are not repeated here: the run records them as its own options.
        """
        if self.config is None:
            return {"config": None}
        return {"config": self.config.describe(), "config_file": self.config.path}


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
