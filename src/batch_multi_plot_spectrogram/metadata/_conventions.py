"""CF and ISTP conventions: which variables are spectrograms, along which dimensions, with
which extents.

Everything here works on the neutral description of a group that every store backend
gives (:class:`~..stores.GroupMeta`: names, dimensions, dtype kinds and attributes, never
data), so that listing a store through its own library and opening a group through xarray
reach the same decisions. :func:`classify` is the one classification of a group that
``list``, ``validate``, ``--dry-run`` and ``render`` share.

Which variables are spectra (unless ``rows`` names them):

- a variable is *support* when ISTP says so (``VAR_TYPE`` ``support_data``, ``metadata``,
  ``ignore_data``), when another variable refers to it (``DEPEND_n``, ``LABL_PTR_n``,
  ``DELTA_PLUS_VAR``/``DELTA_MINUS_VAR``, CF ``coordinates``, ``bounds``), or when it is a
  dimension's own coordinate; every other numeric variable is data, whatever its name or
  ``standard_name``;
- a data variable with a time dimension is a spectrum when each of its other dimensions
  has a coordinate: numbers, or text given as ranges (``"13.6 - 15.1 MeV"``), through
  ``DEPEND_n``, CF ``coordinates`` or the dimension's namesake. With three dimensions, the
  one whose coordinate is an energy or frequency (CF ``axis="Y"``, an energy or frequency
  ``standard_name`` or units) is y and the other is reduced;
- a variable that would be a spectrum, or that ISTP calls one (``DISPLAY_TYPE
  spectrogram``), but cannot be planned (repeated dimension names, a reference to a
  missing variable, no y coordinate) is a *problem* of that variable alone: the rest of
  the group is drawn;
- the rows keep the order of the group's variables (a NetCDF or CDF file's own order;
  in a Zarr store, which keeps none, the names sorted).

Extents: a coordinate's cells span its CF ``bounds`` variable, or ISTP
``DELTA_PLUS_VAR``/``DELTA_MINUS_VAR`` on the support variable (on the ``DEPEND_1``
variable for channels, on the ``DEPEND_0`` variable for samples; on a data variable they
are error bars and are not extents).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import SpectrogramError, StoreError
from ..options import RowEntry
from ..stores import GroupMeta, VariableMeta
from ._overrides import Overrides
from .config import FIGURE_KEYS, ROW_KEYS

__all__ = [
    "METADATA_KEYS",
    "Classification",
    "Extent",
    "RowPlan",
    "Selected",
    "axis_label",
    "classify",
    "is_intensive",
]

#: The attributes by which a variable refers to another (which is then support data).
_REFERENCES = (
    "DEPEND_0",
    "DEPEND_1",
    "DEPEND_2",
    "DEPEND_3",
    "LABL_PTR_1",
    "LABL_PTR_2",
    "LABL_PTR_3",
    "DELTA_PLUS_VAR",
    "DELTA_MINUS_VAR",
    "bounds",
)
#: The attributes the rules below read (besides the override keys).
ROLE_KEYS: tuple[str, ...] = (
    *_REFERENCES,
    "units",
    "UNITS",
    "axis",
    "standard_name",
    "long_name",
    "LABLAXIS",
    "FIELDNAM",
    "coordinates",
    "VAR_TYPE",
    "DISPLAY_TYPE",
    "SCALETYP",
    "TIME_BASE",
    "TIME_SCALE",
    "CDF_DATA_TYPE",
    # Global attributes that name what a store holds (for figure titles).
    "Source_name",
    "Descriptor",
    "Logical_source_description",
)
#: Every attribute a listing needs to read to reach the adapter's decisions.
METADATA_KEYS: frozenset[str] = frozenset(ROLE_KEYS + ROW_KEYS + FIGURE_KEYS)

_SINCE = re.compile(r"^\s*[a-zA-Z]+\s+since\s+\S", re.ASCII)
_ENERGY_UNITS = frozenset({"ev", "kev", "mev", "gev", "j", "joule", "joules", "erg"})
_FREQUENCY_UNITS = frozenset({"hz", "khz", "mhz", "ghz", "s-1", "s^-1", "1/s", "/s"})
_SUPPORT_VAR_TYPES = frozenset({"support_data", "metadata", "ignore_data"})


@dataclass(frozen=True, slots=True)
class Extent:
    """Where the cells of a coordinate end, when the store says so.

    ``bounds``: a CF bounds variable (lower and upper edge of each cell); ``plus`` and
    ``minus``: ISTP ``DELTA_PLUS_VAR`` and ``DELTA_MINUS_VAR`` (the cell reaches from
    ``value - minus`` to ``value + plus``).
    """

    bounds: str | None = None
    plus: str | None = None
    minus: str | None = None

    @property
    def known(self) -> bool:
        """Whether the store says anything of the extent."""
        return self.bounds is not None or self.plus is not None or self.minus is not None


@dataclass(frozen=True, slots=True)
class Selected:
    """A range of a dimension a row keeps: the cells of ``coordinate`` that reach into
    ``[low, high]`` (their extents from ``extent`` when the store states them)."""

    dim: str
    coordinate: str
    low: float
    high: float
    extent: Extent = field(default_factory=lambda: Extent())


@dataclass(frozen=True, slots=True)
class RowPlan:
    """How one variable becomes one row: its dimensions, coordinates and extents, and the
    ranges of other dimensions it keeps (``select``); ``entry`` is the ``rows`` entry that
    named it, whose row keys win over the variable's."""

    variable: str
    time_dim: str
    time_var: str
    y_dim: str
    y_var: str
    collapse_dim: str | None
    y_text: bool = False  # y_var holds text ranges ("13.6 - 15.1 MeV"), not numbers
    y_extent: Extent = field(default_factory=Extent)
    time_extent: Extent = field(default_factory=Extent)
    select: tuple[Selected, ...] = ()
    entry: RowEntry | None = None


@dataclass(frozen=True)
class Classification:
    """What a group holds for a figure.

    Attributes
    ----------
    rows
        The rows, in the order of the group's variables (or of ``rows``).
    problems
        What could not be used, one error per variable or attribute, naming it.
    named
        Whether ``rows`` named the variables.
    """

    rows: tuple[RowPlan, ...]
    problems: tuple[SpectrogramError, ...] = ()
    named: bool = False

    @property
    def is_item(self) -> bool:
        """Whether the group becomes a figure (or a report of why it cannot)."""
        return bool(self.rows or self.problems)


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


def _is_text(var: VariableMeta) -> bool:
    return var.kind in "USO"


def is_intensive(units: str | None) -> bool:
    """Whether a quantity in ``units`` is intensive over angles and energies (a
    differential flux: per steradian or per energy; a phase-space density: s^3/cm^6), so
    that reducing it over an angle takes a mean rather than a sum."""
    if not units:
        return False
    text = units.lower()
    words = re.findall(r"[a-z]+", text)
    if any(w in ("sr", "ster", "steradian", "steradians") for w in words):
        return True
    compact = re.sub(r"[\s^()]", "", text)
    if re.search(r"s3/(c?m|km)6|s3(c?m|km)-6", compact):
        return True
    # An energy in a denominator ("/(cm^2 s eV)", "/MeV") or to the power -1 ("keV^-1").
    _, slash, below = text.partition("/")
    per_energy = slash and any(w in _ENERGY_WORDS for w in re.findall(r"[a-z]+", below))
    return bool(per_energy or re.search(r"(?<![a-z])[kmg]?ev\s*\^?\s*-\s*1", text))


_ENERGY_WORDS = frozenset({"ev", "kev", "mev", "gev"})


class _Rules:
    """The decisions for one group, with the group's time and coordinate tables."""

    def __init__(self, meta: GroupMeta, overrides: Overrides) -> None:
        self.meta = meta
        self.ov = overrides
        depend0 = {v.text("DEPEND_0") for v in meta.variables.values()} - {None}
        self.times: dict[str, str] = {}
        for _, var in sorted(meta.variables.items()):
            if _is_time(var, depend0):  # type: ignore[arg-type]
                dim = var.dims[0]
                if dim not in self.times or var.name == dim:
                    self.times[dim] = var.name
        self.referenced: set[str] = set()
        for var in meta.variables.values():
            for key in _REFERENCES:
                name = var.text(key)
                if name and name != var.name:
                    self.referenced.add(name)
            self.referenced.update((var.text("coordinates") or "").split())

    def where(self, variable: str) -> str:
        return f"store {self.meta.store!r}, group {self.meta.path!r}, variable {variable!r}"

    # -- roles ----------------------------------------------------------------------------

    def is_data(self, var: VariableMeta) -> bool:
        """A numeric variable that nothing marks as support data."""
        if var.kind not in "iufb" or var.name in var.dims or var.name in self.referenced:
            return False
        return (var.text("VAR_TYPE") or "").lower() not in _SUPPORT_VAR_TYPES

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

    def _along(self, name: str, dim: str, time_dim: str | None) -> bool:
        dims = self.meta.variables[name].dims
        return dims == (dim,) or (time_dim is not None and dims == (time_dim, dim))

    def coordinate(self, var: VariableMeta, dim: str, time_dim: str | None) -> str | None:
        """The variable holding the centres (or the text) along ``dim`` of ``var``.

        Raises
        ------
        StoreError
            When ``DEPEND_i`` names a variable the group does not have.
        """
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
            found = self.meta.variables[depend].dims
            if found[-1:] == (dim,) or self._along(depend, dim, time_dim):
                return depend
        if dim in self.meta.variables and self.meta.variables[dim].dims == (dim,):
            return dim
        for name in (var.text("coordinates") or "").split():
            if name in self.meta.variables and self._along(name, dim, time_dim):
                return name
        return None

    def _extent(self, var: VariableMeta) -> Extent:
        """The extents a coordinate variable states (references to missing variables are
        left out)."""

        def present(key: str) -> str | None:
            name = var.text(key)
            return name if name is not None and name in self.meta.variables else None

        return Extent(present("bounds"), present("DELTA_PLUS_VAR"), present("DELTA_MINUS_VAR"))

    # -- one variable ---------------------------------------------------------------------

    def looks_like_spectrum(self, var: VariableMeta, time_dim: str | None) -> bool:
        """A data variable that should become a row: ISTP says it is a spectrogram, or each
        of its non-time dimensions has a coordinate, or ``y_dim`` is set for it."""
        if (var.text("DISPLAY_TYPE") or "").lower().startswith("spectrogram"):
            return True
        if self.ov.row(var.name, "y_dim") is not None:
            return True
        others = [d for d in var.dims if d != time_dim]
        if not others or len(var.dims) > 3:
            return False
        try:
            found = [self.coordinate(var, d, time_dim) is not None for d in others]
        except StoreError:
            return True  # a broken DEPEND_i: the row must surface its error
        if time_dim is None:  # a spectrum but for its time (unrecognised, or no coordinate)
            return found.count(False) <= 1
        return all(found)

    def row(self, name: str, key: str, entry: RowEntry | None) -> Any:
        """Row key ``key`` of a row of ``name``: its ``rows`` entry's, else the variable's."""
        value = entry.get(key) if entry is not None else None
        return value if value is not None else self.ov.row(name, key)

    def plan(self, name: str, entry: RowEntry | None = None) -> RowPlan:
        """Decide the dimensions, coordinates and extents of one row.

        Raises
        ------
        StoreError
            Naming the variable and what keeps it from being drawn.
        """
        var = self.meta.variables[name]
        where = self.where(name)
        if var.kind not in "iufb":
            raise StoreError(
                f"{where}: its values have dtype kind {var.kind!r}; a spectrogram needs "
                "numbers. Remove it from rows."
            )
        repeated = sorted({d for d in var.dims if var.dims.count(d) > 1})
        if repeated:
            raise StoreError(
                f"{where}: its dimensions {var.dims} repeat {', '.join(map(repr, repeated))}; "
                "a spectrogram needs distinct dimensions (time, y and at most one to "
                "reduce). Give each dimension its own name, or leave the variable out of "
                "rows."
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
        y_dim, y_var = self._y_dimension(var, others, time_dim, entry)
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
            collapse_dim = others[1] if others[0] == y_dim else others[0]
            wanted = self.row(name, "collapse_dim", entry)
            if wanted is not None and wanted != collapse_dim:
                names = {collapse_dim}
                names.update(n for n in self.meta.variables if self._along(n, collapse_dim, None))
                if wanted not in names:
                    raise StoreError(
                        f"{where}: collapse_dim is {wanted!r}, but the dimension left to "
                        f"collapse is {collapse_dim!r} (time is {time_dim!r}, y is "
                        f"{y_dim!r}). Set collapse_dim to {collapse_dim!r}, or set y_dim to "
                        "choose the y dimension."
                    )
        time_var = self.times.get(time_dim) or var.text("DEPEND_0") or time_dim
        select = self._selection(var, others, time_dim, entry)
        y_meta = self.meta.variables[y_var]
        time_meta = self.meta.variables.get(time_var)
        return RowPlan(
            variable=name,
            time_dim=time_dim,
            time_var=time_var,
            y_dim=y_dim,
            y_var=y_var,
            collapse_dim=collapse_dim,
            y_text=_is_text(y_meta),
            y_extent=self._extent(y_meta),
            time_extent=self._extent(time_meta) if time_meta is not None else Extent(),
            select=select,
            entry=entry,
        )

    def _selection(
        self, var: VariableMeta, others: list[str], time_dim: str, entry: RowEntry | None
    ) -> tuple[Selected, ...]:
        """The ranges a row keeps, each on a dimension with a coordinate."""
        ranges = self.row(var.name, "select", entry) or ()
        out = []
        for dim, low, high in ranges:
            found = [d for d in others if dim == d]
            if not found:
                # A coordinate's name stands for its dimension.
                found = [d for d in others if self.coordinate(var, d, time_dim) == dim]
            if not found:
                raise StoreError(
                    f"{self.where(var.name)}: select names {dim!r}, which is not one of its "
                    f"dimensions {tuple(others)} besides time ({time_dim!r}) nor their "
                    "coordinate. Select a range of one of them."
                )
            coordinate = self.coordinate(var, found[0], time_dim)
            if coordinate is None or _is_text(self.meta.variables[coordinate]):
                raise StoreError(
                    f"{self.where(var.name)}: select names {dim!r}, whose dimension "
                    f"{found[0]!r} has no numeric coordinate to compare [{low:g}, {high:g}] "
                    "with. Add a coordinate variable along it."
                )
            extent = self._extent(self.meta.variables[coordinate])
            out.append(Selected(found[0], coordinate, low, high, extent))
        return tuple(out)

    def _y_dimension(
        self, var: VariableMeta, others: list[str], time_dim: str, entry: RowEntry | None
    ) -> tuple[str, str | None]:
        name = var.name
        wanted = self.row(name, "y_dim", entry)
        if wanted is not None:
            if wanted in others:
                return wanted, self.coordinate(var, wanted, time_dim)
            chosen = self.meta.variables.get(wanted)
            if chosen is not None and chosen.dims and chosen.dims[-1] in others:
                return chosen.dims[-1], wanted
            raise StoreError(
                f"{self.where(name)}: y_dim is {wanted!r}, which is neither one of its "
                f"dimensions {tuple(others)} nor a coordinate variable along one. "
                "Set y_dim to one of them."
            )
        coords = {d: self.coordinate(var, d, time_dim) for d in others}
        if len(others) == 1:
            return others[0], coords[others[0]]
        y_like = [
            d
            for d in others
            if (c := coords[d]) is not None and _is_y_like(self.meta.variables[c])
        ]
        if y_like:
            return y_like[-1], coords[y_like[-1]]
        collapse = self.row(name, "collapse_dim", entry)
        if collapse is not None:
            for dim in others:
                if collapse in (dim, coords[dim]):
                    rest = others[1] if others[0] == dim else others[0]
                    return rest, coords[rest]
        raise StoreError(
            f"{self.where(name)}: cannot tell which of its dimensions {tuple(others)} holds "
            "the energies or frequencies: none has a coordinate variable with axis='Y', an "
            "energy or frequency standard_name, or energy/frequency units. Set the y_dim "
            "attribute (or config key) to the dimension to plot along y."
        )


def classify(meta: GroupMeta, overrides: Overrides) -> Classification:
    """The rows of a group and the problems of the variables that cannot be rows.

    With ``rows``: each named variable is planned, and one that cannot be is a problem.
    Without: every data variable that looks like a spectrum (see the module's notes), in
    the order of the group's variables; when none has a time dimension, those that would
    be spectra but for it are planned, so that the missing time coordinate is reported
    rather than hidden. Problems of attribute values (an unusable ``y_scale``) are
    problems too; nothing here raises.
    """
    report = overrides.report
    collected: list[SpectrogramError] = []
    rules = _Rules(meta, overrides)
    named = overrides.figure("rows")
    entries: list[RowEntry]
    if named:
        entries = list(named)
    else:
        timed: list[str] = []
        untimed: list[str] = []
        for var in meta.variables.values():
            if not rules.is_data(var) or len(var.dims) < 2:
                continue
            time_dim = rules.time_dim(var)
            if not rules.looks_like_spectrum(var, time_dim):
                continue
            (timed if time_dim is not None else untimed).append(var.name)
        entries = [RowEntry(name) for name in timed or untimed]
    rows: list[RowPlan] = []
    for entry in entries:
        name = entry.variable
        if name not in meta.variables:
            collected.append(
                StoreError(
                    f"store {meta.store!r}, group {meta.path!r}: rows names {name!r}, which "
                    f"is not a variable of the group. Variables: "
                    f"{', '.join(sorted(meta.variables))}. Fix the rows attribute or config key."
                )
            )
            continue
        try:
            rows.append(rules.plan(name, entry))
        except SpectrogramError as exc:
            collected.append(exc)
    problems = [*collected, *(p for p in report.problems if p not in collected)]
    unique = {str(p): p for p in problems}
    return Classification(tuple(rows), tuple(unique.values()), named=bool(named))


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
