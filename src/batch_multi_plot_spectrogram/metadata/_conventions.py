"""CF and ISTP conventions: which variables are spectrograms, along which dimensions.

Everything here works on the neutral description of a group that every store backend
gives (:class:`~..stores.GroupMeta`: names, dimensions, dtype kinds and attributes, never
data), so that listing a store through its own library and opening a group through xarray
reach the same decisions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import StoreError
from ..stores import GroupMeta, VariableMeta
from ._overrides import Overrides
from .config import FIGURE_KEYS, ROW_KEYS

__all__ = [
    "METADATA_KEYS",
    "RowPlan",
    "axis_label",
    "plan_rows",
    "select_rows",
]

#: The attributes the rules below read (besides the override keys).
ROLE_KEYS: tuple[str, ...] = (
    "units",
    "UNITS",
    "axis",
    "standard_name",
    "long_name",
    "LABLAXIS",
    "FIELDNAM",
    "coordinates",
    "VAR_TYPE",
    "SCALETYP",
    "DEPEND_0",
    "DEPEND_1",
    "DEPEND_2",
    "DEPEND_3",
)
#: Every attribute a listing needs to read to reach the adapter's decisions.
METADATA_KEYS: frozenset[str] = frozenset(ROLE_KEYS + ROW_KEYS + FIGURE_KEYS)

_SINCE = re.compile(r"^\s*[a-zA-Z]+\s+since\s+\S", re.ASCII)
_ENERGY_UNITS = frozenset({"ev", "kev", "mev", "gev", "j", "joule", "joules", "erg"})
_FREQUENCY_UNITS = frozenset({"hz", "khz", "mhz", "ghz", "s-1", "s^-1", "1/s", "/s"})
_SUPPORT_VAR_TYPES = frozenset({"support_data", "metadata", "ignore_data"})


@dataclass(frozen=True, slots=True)
class RowPlan:
    """How one variable becomes one row: its dimensions and coordinate variables."""

    variable: str
    time_dim: str
    time_var: str
    y_dim: str
    y_var: str
    collapse_dim: str | None


def _is_time(var: VariableMeta, depend0: set[str]) -> bool:
    if len(var.dims) != 1:
        return False
    if var.kind == "M":
        return True
    axis = (var.text("axis") or "").upper()
    standard = (var.text("standard_name") or "").lower()
    units = var.units or ""
    if axis == "T" or standard == "time" or _SINCE.match(units):
        return True
    # ISTP names the time variable of a record-varying variable in DEPEND_0.
    return var.name in depend0 and var.kind in "iuf"


def _is_y_like(var: VariableMeta) -> bool:
    axis = (var.text("axis") or "").upper()
    standard = (var.text("standard_name") or "").lower()
    units = (var.units or "").lower().replace(" ", "")
    return (
        axis == "Y"
        or "energy" in standard
        or "frequency" in standard
        or units in _ENERGY_UNITS
        or units in _FREQUENCY_UNITS
    )


def _time_coordinates(meta: GroupMeta) -> dict[str, str]:
    """Map each time dimension to its time variable (the dimension's namesake first)."""
    depend0 = {v.text("DEPEND_0") for v in meta.variables.values()} - {None}
    found: dict[str, str] = {}
    for _, var in sorted(meta.variables.items()):
        if _is_time(var, depend0):  # type: ignore[arg-type]
            dim = var.dims[0]
            if dim not in found or var.name == dim:
                found[dim] = var.name
    return found


def _coordinate_names(meta: GroupMeta) -> set[str]:
    """Variables that other variables use as coordinates (so they are not rows)."""
    used: set[str] = set()
    for var in meta.variables.values():
        for key in ("DEPEND_0", "DEPEND_1", "DEPEND_2", "DEPEND_3"):
            name = var.text(key)
            if name:
                used.add(name)
        used.update((var.text("coordinates") or "").split())
    return used


def _is_data_like(var: VariableMeta, coordinates: set[str]) -> bool:
    if var.kind not in "iuf" or len(var.dims) not in (2, 3):
        return False
    if var.name in coordinates or var.name in var.dims or _is_y_like(var):
        return False
    return (var.text("VAR_TYPE") or "").lower() not in _SUPPORT_VAR_TYPES


class _Rules:
    """The decisions for one group, with the group's time and coordinate tables."""

    def __init__(self, meta: GroupMeta, overrides: Overrides) -> None:
        self.meta = meta
        self.ov = overrides
        self.times = _time_coordinates(meta)
        self.coordinates = _coordinate_names(meta)

    def where(self, variable: str) -> str:
        return f"store {self.meta.store!r}, group {self.meta.path!r}, variable {variable!r}"

    def _along(self, name: str, dim: str, time_dim: str | None) -> bool:
        dims = self.meta.variables[name].dims
        return dims == (dim,) or (time_dim is not None and set(dims) == {time_dim, dim})

    def coordinate(self, var: VariableMeta, dim: str, time_dim: str | None) -> str | None:
        """The variable holding the bin centres along ``dim`` of ``var``, if any."""
        index = var.dims.index(dim)
        depend = var.text(f"DEPEND_{index}") if index else None
        if depend is not None:
            if depend not in self.meta.variables:
                raise StoreError(
                    f"{self.where(var.name)}: attribute DEPEND_{index} names {depend!r}, "
                    f"which is not a variable of the group. Variables: "
                    f"{', '.join(sorted(self.meta.variables))}. Fix the attribute or add the "
                    "variable."
                )
            if self.meta.variables[depend].dims[-1:] == (dim,) or self._along(
                depend, dim, time_dim
            ):
                return depend
        if dim in self.meta.variables and self.meta.variables[dim].dims == (dim,):
            return dim
        listed = [n for n in (var.text("coordinates") or "").split() if n in self.meta.variables]
        # Sorted: stores list their variables in no reliable order.
        others = [n for n in sorted(self.meta.variables) if n not in listed and n != var.name]
        for name in listed:
            if self._along(name, dim, time_dim):
                return name
        for name in others:
            if self._along(name, dim, time_dim) and _is_y_like(self.meta.variables[name]):
                return name
        return None

    def time_dim(self, var: VariableMeta) -> str | None:
        depend0 = var.text("DEPEND_0")
        if depend0 is not None and depend0 in self.meta.variables:
            first = self.meta.variables[depend0].dims[:1]
            if first and first[0] in var.dims:
                return first[0]
        for dim in var.dims:
            if dim in self.times:
                return dim
        return None

    def has_y_coordinate(self, var: VariableMeta, time_dim: str | None) -> bool:
        try:
            return any(
                (c := self.coordinate(var, d, time_dim)) is not None
                and _is_y_like(self.meta.variables[c])
                for d in var.dims
                if d != time_dim
            )
        except StoreError:
            return True  # a broken DEPEND_i: the row must surface its error

    def plan(self, name: str, explicit: bool) -> RowPlan | None:
        """Decide the dimensions of one row; None when an automatic candidate is not one."""
        var = self.meta.variables[name]
        where = self.where(name)
        if var.kind not in "iufb":
            raise StoreError(
                f"{where}: its values have dtype kind {var.kind!r}; a spectrogram needs "
                "numbers. Remove it from rows."
            )
        time_dim = self.time_dim(var)
        depend0 = var.text("DEPEND_0")
        if time_dim is None and depend0 is not None and depend0 not in self.meta.variables:
            raise StoreError(
                f"{where}: attribute DEPEND_0 names {depend0!r}, which is not a variable of "
                "the group, so its records have no time. Fix the attribute or add the "
                "variable."
            )
        if time_dim is None:
            raise StoreError(
                f"{where}: none of its dimensions {var.dims} has a time coordinate. "
                "Accepted: a 1-D coordinate variable along the dimension with datetime "
                "values, axis='T', standard_name='time' or units '<unit> since <epoch>', "
                "or one named by the variable's DEPEND_0 attribute. Add such a variable."
            )
        if len(var.dims) not in (2, 3):
            raise StoreError(
                f"{where}: it has {len(var.dims)} dimensions {var.dims}; a spectrogram has "
                "(time, y) or (time, y, one dimension to collapse)."
            )
        others = [d for d in var.dims if d != time_dim]
        y_dim, y_var = self._y_dimension(var, others, time_dim, explicit)
        if y_dim is None:
            return None
        if y_var is None:
            y_var = self.coordinate(var, y_dim, time_dim)
        if y_var is None:
            raise StoreError(
                f"{where}: its dimension {y_dim!r} matches no coordinate variable, so the "
                f"bin centres are unknown. Accepted: a variable {y_dim!r} with dims "
                f"({y_dim!r},), or a variable with dims ({y_dim!r},) or ({time_dim!r}, "
                f"{y_dim!r}) named by the DEPEND_{var.dims.index(y_dim)} or coordinates "
                "attribute. Add one."
            )
        collapse_dim = None
        if len(others) == 2:
            collapse_dim = next(d for d in others if d != y_dim)
            wanted = self.ov.row(name, "collapse_dim")
            if wanted is not None and wanted != collapse_dim:
                names = {collapse_dim}
                names.update(n for n in self.meta.variables if self._along(n, collapse_dim, None))
                if wanted not in names:
                    self.ov.report.add(
                        StoreError(
                            f"{where}: collapse_dim is {wanted!r}, but the dimension left "
                            f"to collapse is {collapse_dim!r} (time is {time_dim!r}, y is "
                            f"{y_dim!r}). Set collapse_dim to {collapse_dim!r}, or set "
                            "y_dim to choose the y dimension."
                        )
                    )
        time_var = self.times.get(time_dim) or var.text("DEPEND_0") or time_dim
        return RowPlan(name, time_dim, time_var, y_dim, y_var, collapse_dim)

    def _y_dimension(
        self, var: VariableMeta, others: list[str], time_dim: str, explicit: bool
    ) -> tuple[str | None, str | None]:
        name = var.name
        wanted = self.ov.row(name, "y_dim")
        if wanted is not None:
            if wanted in others:
                return wanted, None
            chosen = self.meta.variables.get(wanted)
            if chosen is not None and chosen.dims and chosen.dims[-1] in others:
                return chosen.dims[-1], wanted
            self.ov.report.add(
                StoreError(
                    f"{self.where(name)}: y_dim is {wanted!r}, which is neither one of its "
                    f"dimensions {tuple(others)} nor a coordinate variable along one. "
                    "Set y_dim to one of them."
                )
            )
        coords = {d: self.coordinate(var, d, time_dim) for d in others}
        y_like = [
            d
            for d in others
            if (c := coords[d]) is not None and _is_y_like(self.meta.variables[c])
        ]
        if y_like:
            return y_like[-1], coords[y_like[-1]]
        collapse = self.ov.row(name, "collapse_dim")
        if collapse is not None and len(others) == 2:
            for dim in others:
                if collapse in (dim, coords[dim]):
                    rest = next(d for d in others if d != dim)
                    return rest, coords[rest]
        if explicit and len(others) == 1:
            return others[0], coords[others[0]]
        if not explicit:
            return None, None
        raise StoreError(
            f"{self.where(name)}: cannot tell which of its dimensions {tuple(others)} holds "
            "the energies or frequencies: none has a coordinate variable with axis='Y', an "
            "energy or frequency standard_name, or energy/frequency units. Set the y_dim "
            "attribute (or config key) to the dimension to plot along y."
        )


def select_rows(meta: GroupMeta, overrides: Overrides) -> tuple[list[str], bool]:
    """The variables that become rows, and whether they were named by ``rows``.

    Without ``rows``: every variable with a time dimension and a recognised y dimension,
    in name order; when none has a time dimension, the variables that would be
    spectrograms but for it (so that the missing time coordinate is reported, not hidden).
    """
    named = overrides.figure("rows")
    if named:
        return list(named), True
    rules = _Rules(meta, overrides)
    timed: list[str] = []
    untimed: list[str] = []
    for var in meta.variables.values():
        if not _is_data_like(var, rules.coordinates):
            continue
        time_dim = rules.time_dim(var)
        if time_dim is None:
            if rules.has_y_coordinate(var, None):
                untimed.append(var.name)
            continue
        try:
            found = rules.plan(var.name, explicit=False) is not None
        except StoreError:
            found = True  # a candidate with a defect: its row reports it
        if found or overrides.row(var.name, "y_dim") is not None:
            timed.append(var.name)
    # Name order: the same in every format (Zarr keeps no creation order).
    return sorted(timed or untimed), False


def plan_rows(meta: GroupMeta, overrides: Overrides) -> list[RowPlan]:
    """Plan every row of a group, reporting each problem through ``overrides.report``."""
    names, _ = select_rows(meta, overrides)
    rules = _Rules(meta, overrides)
    plans: list[RowPlan] = []
    for name in names:
        if name not in meta.variables:
            overrides.report.add(
                StoreError(
                    f"store {meta.store!r}, group {meta.path!r}: rows names {name!r}, which "
                    f"is not a variable of the group. Variables: "
                    f"{', '.join(sorted(meta.variables))}. Fix the rows attribute or config key."
                )
            )
            continue
        try:
            plan = rules.plan(name, explicit=True)
        except StoreError as exc:
            overrides.report.add(exc)
            continue
        if plan is not None:
            plans.append(plan)
    return plans


def axis_label(var: VariableMeta) -> str | None:
    """A label such as ``energy (eV)`` from CF ``long_name``/``units`` or ISTP ``LABLAXIS``/
    ``UNITS``; None when the variable says nothing of itself."""
    name = var.text("long_name") or var.text("LABLAXIS")
    standard = var.text("standard_name")
    if name is None and standard is not None:
        name = standard.replace("_", " ")
    units = var.units
    if name is None and units is None:
        return None
    if name is None:
        name = var.name
    return f"{name} ({units})" if units else name
