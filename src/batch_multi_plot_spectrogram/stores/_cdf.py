"""CDF files (``*.cdf``), ISTP-labelled, read with cdflib.

A CDF file is a store of one item, its root group. What the metadata layer sees is a
*layout* built once per file (:func:`describe_cdf`, cached by the file's size and
modification time):

- **Dimensions.** The record dimension of a variable is named after its ``DEPEND_0``
  (the time variable, whose own dimension is its name, so that it is the dimension's
  coordinate). Every other axis is named after the support variable that describes it:
  ``DEPEND_i`` and ``LABL_PTR_i`` tie a variable's axis to the one axis of a support
  variable, and each group of tied axes gets one name: that of a non-record-varying 1-D
  numeric support variable among them (it becomes the dimension's coordinate), else
  ``<support variable>_dim``, else ``<variable>_dim<i>``. A variable and its support data
  therefore always agree on dimension names.
- **Time.** ``CDF_EPOCH``, ``CDF_EPOCH16`` and ``CDF_TIME_TT2000`` values become UTC
  ``datetime64[ns]`` through cdflib's own breakdown (leap seconds from its table; fill
  and pad values become NaT). Their epoch-valued ``FILLVAL``/``VALIDMIN``/``VALIDMAX``
  become ISO 8601 text, and their ``UNITS`` (``ms``, ``ns``) move to ``CDF_UNITS``.
- **Attributes** are plain Python strings, numbers and lists of them: what NetCDF and
  Zarr accept as they are.
- **Master CDFs.** A file named ``<source>_00000000_v<NN>.cdf`` beside data files of the
  same source supplies the attributes and non-record-varying support variables they lack
  (the data file's own attributes win). :meth:`CDFBackend.with_masters` names masters
  explicitly.
- **Missing references.** A ``DEPEND_i`` naming a variable that holds no data in the file
  or its master falls back to the file's only support variable of the same shape, with a
  warning in the log; otherwise it is left for the metadata rules to report.
- **Text channels.** Channels given only as text labels (``"13.6 - 15.1 MeV"``) become a
  numeric centre variable ``<labels>_centre`` (the midpoint of each range, ``units`` the
  labels' unit) with a CF ``bounds`` variable ``<labels>_bounds`` of the ranges, and the
  data variable's ``DEPEND_i`` names the centre variable.

Variables are read lazily, per variable and per block of records, by dask tasks that
open the file themselves. cdflib's messages (its logger, its warnings and anything it
prints) go to this module's logger, never to the terminal.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import re
import threading
import warnings
from collections.abc import Container, Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import NoDataError, StoreError
from ._contract import GroupMeta, StoreBackend, VariableMeta

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "CDFBackend",
    "CDFLayout",
    "CDFVariable",
    "cdf_name_parts",
    "describe_cdf",
    "find_master",
    "parse_channel_labels",
]

logger = logging.getLogger(__name__)

#: CDF data type codes (CDF User's Guide, section 2.5) and their numpy types.
_NUMPY_TYPES: dict[int, str] = {
    1: "i1",
    41: "i1",
    2: "i2",
    4: "i4",
    8: "i8",
    11: "u1",
    12: "u2",
    14: "u4",
    21: "f4",
    44: "f4",
    22: "f8",
    45: "f8",
    31: "f8",
    32: "c16",
    33: "i8",
}
_TIME_TYPES: dict[int, str] = {31: "CDF_EPOCH", 32: "CDF_EPOCH16", 33: "CDF_TIME_TT2000"}
_STRING_TYPES = frozenset({51, 52})
_CDF_MAGIC = (b"\xcd\xf3\x00\x01", b"\xcd\xf2\x60\x02", b"\x00\x00\xff\xff")
#: Attributes holding values in the variable's own type (epochs for time variables).
_VALUE_KEYS = ("FILLVAL", "VALIDMIN", "VALIDMAX", "SCALEMIN", "SCALEMAX")
#: Records per dask block: about 64 MiB of values, never fewer than one record.
_BLOCK_BYTES = 64 * 2**20

# ISTP file names: <source>_<YYYYMMDD[hh[mm[ss]]]>_v<version>.cdf
_NAME = re.compile(
    r"^(?P<source>.+?)_(?P<date>\d{8})(?P<time>\d{2,6})?_v(?P<version>[0-9][0-9.\-]*)\.cdf$",
    re.IGNORECASE,
)
_MASTER_DATE = "00000000"


# ---------------------------------------------------------------------------------------
# cdflib, quietly
# ---------------------------------------------------------------------------------------

_QUIET = threading.RLock()


class _Forward(logging.Handler):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def emit(self, record: logging.LogRecord) -> None:
        logger.log(record.levelno, "%s: cdflib: %s", self.path, record.getMessage())


@contextlib.contextmanager
def _quiet(path: str) -> Iterator[None]:
    """Run cdflib with its output in this module's log: its logger's records, its
    warnings and whatever it prints to stdout."""
    with _QUIET:
        library = logging.getLogger("cdflib")
        handler = _Forward(path)
        propagate = library.propagate
        library.addHandler(handler)
        library.propagate = False
        printed = io.StringIO()
        try:
            with (
                warnings.catch_warnings(record=True) as caught,
                contextlib.redirect_stdout(printed),
            ):
                warnings.simplefilter("always")
                yield
        finally:
            library.removeHandler(handler)
            library.propagate = propagate
            text = printed.getvalue().strip()
            if text:
                logger.info("%s: cdflib printed: %s", path, text)
            for warning in caught:
                logger.info("%s: cdflib: %s", path, warning.message)


@contextlib.contextmanager
def _opened(path: str) -> Iterator[Any]:
    """A ``cdflib.CDF`` of ``path``, its file closed on leaving (cdflib keeps it open
    until the object is collected)."""
    import cdflib

    with _quiet(path):
        try:
            cdf = cdflib.CDF(path)
        except BaseException:
            # A file cdflib gave up on stays open inside its half-made object: collect it
            # here, where its warning of an unclosed file goes to the log.
            gc.collect()
            raise
        try:
            yield cdf
        finally:
            handle = getattr(cdf, "_f", None)
            if handle is not None and hasattr(handle, "close"):
                handle.close()


# ---------------------------------------------------------------------------------------
# Names: data files and masters
# ---------------------------------------------------------------------------------------


def cdf_name_parts(path: str | os.PathLike[str]) -> dict[str, str] | None:
    """``source``, ``date`` (``YYYYMMDD``), ``time`` (``hhmmss``, maybe empty) and
    ``version`` of an ISTP file name; None when the name does not follow ISTP."""
    found = _NAME.match(Path(path).name)
    if found is None:
        return None
    return {
        "source": found["source"],
        "date": found["date"],
        "time": found["time"] or "",
        "version": found["version"],
    }


def is_master_name(path: str | os.PathLike[str]) -> bool:
    """Whether a file is named like a master CDF (``<source>_00000000_v<NN>.cdf``)."""
    parts = cdf_name_parts(path)
    return parts is not None and parts["date"] == _MASTER_DATE and not parts["time"]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


@lru_cache(maxsize=256)
def _masters_in(folder: str, stamp: int) -> dict[str, str]:
    """The newest master of each source in a folder (cached per folder modification)."""
    best: dict[str, tuple[tuple[int, ...], str]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return {}
    for name in names:
        if not name.lower().endswith(".cdf") or not is_master_name(name):
            continue
        parts = cdf_name_parts(name)
        assert parts is not None
        key = _version_key(parts["version"])
        source = parts["source"].lower()
        if source not in best or key > best[source][0]:
            best[source] = (key, os.path.join(folder, name))
    return {source: path for source, (_, path) in best.items()}


def find_master(
    path: str | os.PathLike[str], masters: Mapping[str, str] | None = None
) -> str | None:
    """The master CDF of a data file, or None.

    ``masters`` maps a glob on file names, or a logical source, to a master file; it wins
    over a master found beside the file (the newest version of
    ``<source>_00000000_v<NN>.cdf`` in the file's folder). A master has no master.
    """
    file = Path(path)
    if is_master_name(file):
        return None
    parts = cdf_name_parts(file)
    for pattern, master in (masters or {}).items():
        if fnmatchcase(file.name, pattern) or (
            parts is not None and parts["source"].lower() == pattern.lower()
        ):
            return os.path.abspath(master)
    if parts is None:
        return None
    folder = str(file.absolute().parent)
    try:
        stamp = os.stat(folder).st_mtime_ns
    except OSError:
        return None
    return _masters_in(folder, stamp).get(parts["source"].lower())


# ---------------------------------------------------------------------------------------
# Text channels
# ---------------------------------------------------------------------------------------

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(
    rf"^\s*(?P<low>{_NUMBER})\s*(?:-|–|to)\s*(?P<high>{_NUMBER})\s*(?P<unit>[A-Za-z][\w/^*.\-]*)\s*$"
)
#: Energy units and their factor to eV, to bring labels of mixed units to one.
_ENERGY_EV = {"ev": 1.0, "kev": 1e3, "mev": 1e6, "gev": 1e9}


def parse_channel_labels(labels: list[str]) -> tuple[np.ndarray, str] | None:
    """Channel ranges from text labels such as ``"13.6 - 15.1 MeV"``.

    Every label must read ``<low> - <high> <unit>`` (``to`` or an en dash also separate;
    a stray space inside a number, ``"33. 4"``, is tolerated). Labels in different energy
    units are brought to the first label's unit.

    Returns
    -------
    (bounds, unit) or None
        ``bounds`` of shape ``(n, 2)``, low then high; None when any label does not parse.
    """
    found: list[tuple[float, float, str]] = []
    for raw in labels:
        text = re.sub(r"(\d)\.\s+(\d)", r"\1.\2", str(raw).replace("\x00", ""))
        match = _RANGE.match(text)
        if match is None:
            return None
        found.append((float(match["low"]), float(match["high"]), match["unit"]))
    if not found:
        return None
    unit = found[0][2]
    bounds = np.empty((len(found), 2), dtype="float64")
    for number, (low, high, this) in enumerate(found):
        factor = 1.0
        if this != unit:
            if this.lower() not in _ENERGY_EV or unit.lower() not in _ENERGY_EV:
                return None
            factor = _ENERGY_EV[this.lower()] / _ENERGY_EV[unit.lower()]
        bounds[number] = (min(low, high) * factor, max(low, high) * factor)
    return bounds, unit


# ---------------------------------------------------------------------------------------
# The layout of a file
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CDFVariable:
    """One variable as presented: where it is read from and how.

    ``source`` is the file holding its values (the data file or its master); ``values``
    holds them already for variables made here (text channel centres and bounds) and for
    small non-record-varying ones.
    """

    name: str
    dims: tuple[str, ...]
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    attrs: Mapping[str, Any]
    source: str = ""
    record_varying: bool = False
    cdf_type: int = 0
    values: np.ndarray | None = None

    @property
    def kind(self) -> str:
        return self.dtype.kind


@dataclass(frozen=True)
class CDFLayout:
    """A CDF file as the rest of the package sees it (see the module's notes)."""

    path: str
    master: str | None
    attrs: Mapping[str, Any]
    variables: Mapping[str, CDFVariable]
    n_records: int
    notes: tuple[str, ...] = field(default=())

    def meta(self, keys: Container[str] | None = None) -> GroupMeta:
        """The neutral description of the file's root group."""

        def wanted(attrs: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in attrs.items() if keys is None or k in keys}

        variables = {
            name: VariableMeta(name, var.dims, var.kind, wanted(var.attrs), var.shape)
            for name, var in self.variables.items()
        }
        attrs = wanted(self.attrs)
        return GroupMeta(self.path, "/", attrs, variables, attrs)


def _plain(value: Any) -> Any:
    """An attribute value as a plain string, number or list of them; None to drop it."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, np.ndarray):
        if value.size == 1:
            return _plain(value.reshape(()).item())
        return [_plain(v) for v in value.ravel().tolist()]
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, complex):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _global_attrs(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Global attributes: one entry as it is, several entries of text as lines."""
    out: dict[str, Any] = {}
    for key, entries in raw.items():
        values = [v for v in (_plain(e) for e in entries) if v is not None]
        if not values:
            continue
        if len(values) == 1:
            out[key] = values[0]
        elif all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            out[key] = values
        else:
            out[key] = "\n".join(str(v) for v in values)
    return out


def _iso(value: Any, cdf_type: int) -> Any:
    """An epoch-valued attribute as ISO 8601 text, as cdflib encodes epochs (fill values
    read ``9999-12-31T23:59:59.999``)."""
    import cdflib

    try:
        array = np.asarray(value, dtype={31: "f8", 32: "c16", 33: "i8"}[cdf_type]).ravel()
        text = cdflib.cdfepoch.encode(array)
    except (TypeError, ValueError, OverflowError, KeyError, IndexError):
        return _plain(value)
    if isinstance(text, str):
        return text
    found = [str(t) for t in text]
    return found[0] if len(found) == 1 else found


@dataclass
class _Raw:
    """What one file says of one variable."""

    name: str
    cdf_type: int
    n_elements: int
    shape: tuple[int, ...]  # per record (varying dimensions only)
    record_varying: bool
    n_records: int
    attrs: dict[str, Any]
    source: str


def _read_raw(path: str) -> tuple[dict[str, _Raw], dict[str, Any]]:
    """Every variable of a file with its attributes, and the global attributes."""
    try:
        with _opened(path) as cdf:
            info = cdf.cdf_info()
            found: dict[str, _Raw] = {}
            for name in list(info.zVariables) + list(info.rVariables):
                q = cdf.varinq(name)
                shape = tuple(
                    int(size)
                    for size, vary in zip(q.Dim_Sizes, q.Dim_Vary, strict=False)
                    if vary not in (0, False)
                )
                attrs = {
                    k: v
                    for k, v in ((k, _plain(v)) for k, v in cdf.varattsget(name).items())
                    if v is not None
                }
                found[name] = _Raw(
                    name=name,
                    cdf_type=int(q.Data_Type),
                    n_elements=int(q.Num_Elements),
                    shape=shape,
                    record_varying=bool(q.Rec_Vary),
                    n_records=int(q.Last_Rec) + 1,
                    attrs=attrs,
                    source=path,
                )
            return found, _global_attrs(cdf.globalattsget())
    except StoreError:
        raise
    except FileNotFoundError:
        raise
    except Exception as exc:
        raise StoreError(
            f"{path!r} cannot be read as a CDF file: {type(exc).__name__}: {exc}. It may be "
            "truncated or damaged: download it again, or remove it from the archive."
        ) from None


def _dtype(raw: _Raw) -> np.dtype[Any]:
    if raw.cdf_type in _TIME_TYPES:
        return np.dtype("datetime64[ns]")
    if raw.cdf_type in _STRING_TYPES:
        return np.dtype(f"<U{max(1, raw.n_elements)}")
    code = _NUMPY_TYPES.get(raw.cdf_type)
    if code is None:
        raise StoreError(f"unknown CDF data type {raw.cdf_type}")
    return np.dtype(code)


def _is_numeric(raw: _Raw) -> bool:
    return raw.cdf_type in _NUMPY_TYPES and raw.cdf_type not in _TIME_TYPES


class _Axes:
    """Union-find over (variable, axis) pairs: the axes that must share a dimension."""

    def __init__(self) -> None:
        self.parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(self, node: tuple[str, int]) -> tuple[str, int]:
        self.parent.setdefault(node, node)
        while self.parent[node] != node:
            self.parent[node] = self.parent[self.parent[node]]
            node = self.parent[node]
        return node

    def join(self, a: tuple[str, int], b: tuple[str, int]) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _read_values(raw: _Raw, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Read records ``start`` to ``stop`` (exclusive) of a variable, decoded."""
    import cdflib

    total = raw.n_records if raw.record_varying else 1
    stop = total if stop is None else min(stop, total)
    count = max(0, stop - start)
    per_record = raw.shape
    if raw.cdf_type in _STRING_TYPES:
        dtype: np.dtype[Any] = np.dtype(object)
    else:
        dtype = np.dtype(_NUMPY_TYPES[raw.cdf_type])
    if count == 0:
        values = np.empty((0, *per_record), dtype=dtype)
    else:
        with _opened(raw.source) as cdf:
            if raw.record_varying:
                data = cdf.varget(raw.name, startrec=start, endrec=stop - 1)
            else:
                data = cdf.varget(raw.name)
            if isinstance(data, str):
                data = np.array([data])
            values = np.asarray(data)
            if raw.cdf_type in _STRING_TYPES:
                values = values.astype(object)
            values = values.reshape((count, *per_record))
    if raw.cdf_type in _TIME_TYPES:
        if values.size == 0:
            values = values.astype("datetime64[ns]")
        else:
            with _quiet(raw.source):
                flat = np.asarray(cdflib.cdfepoch.to_datetime(values.ravel()), "datetime64[ns]")
            values = flat.reshape(values.shape)
    if raw.cdf_type in _STRING_TYPES:
        values = np.array([str(v).rstrip("\x00") for v in values.ravel()], dtype=object).reshape(
            values.shape
        )
    return values if raw.record_varying else values[0]


def _build(path: str, master: str | None) -> CDFLayout:
    own, own_globals = _read_raw(path)
    notes: list[str] = []
    raws: dict[str, _Raw] = dict(own)
    declared: dict[str, _Raw] = {}  # variables of the master without data
    attrs = dict(own_globals)
    if master is not None:
        theirs, their_globals = _read_raw(master)
        attrs = {**their_globals, **own_globals}
        for name, raw in theirs.items():
            mine = raws.get(name)
            if mine is not None:
                mine.attrs = {**raw.attrs, **mine.attrs}
            elif not raw.record_varying and raw.n_records > 0 and "VIRTUAL" not in raw.attrs:
                raws[name] = raw  # support data the data file lacks
            else:
                declared[name] = raw
    n_records = max((r.n_records for r in raws.values() if r.record_varying), default=0)

    # Missing references: a DEPEND_i naming a variable that holds no data here.
    for raw in raws.values():
        for axis in range(1, len(raw.shape) + 1):
            key = f"DEPEND_{axis}"
            target = raw.attrs.get(key)
            if not isinstance(target, str) or not target.strip() or target in raws:
                continue
            replacement = _fallback(raw, axis, target, raws, declared, own)
            if replacement is not None:
                what = (
                    "is declared by the master but holds no data"
                    if target in declared
                    else ("is a variable of neither the file nor its master")
                )
                message = (
                    f"{path}: variable {raw.name!r}: {key} names {target!r}, which {what}; "
                    f"using {replacement!r}, the file's only support variable of that shape"
                )
                notes.append(message)
                raw.attrs[key] = replacement

    # Text channels: DEPEND_i or LABL_PTR_i naming a string variable of ranges.
    extra: dict[str, CDFVariable] = {}
    centres: dict[str, str] = {}
    shared: list[tuple[str, str]] = []  # (a, b): axis 1 of a is axis 1 of b
    for raw in list(raws.values()):
        for axis in range(1, len(raw.shape) + 1):
            depend = raw.attrs.get(f"DEPEND_{axis}")
            label = raw.attrs.get(f"LABL_PTR_{axis}")
            if isinstance(depend, str) and depend in raws:
                if raws[depend].cdf_type not in _STRING_TYPES:
                    continue
                text_var = depend
            elif isinstance(label, str) and label in raws and not depend:
                text_var = label
            else:
                continue
            if text_var not in centres:
                made = _text_channels(raws[text_var], raws, extra)
                if made is None:
                    continue
                centres[text_var] = made
                shared.append((text_var, made))
                shared.append((str(extra[made].attrs["bounds"]), made))
            centre = centres[text_var]
            if extra[centre].shape[0] == raw.shape[axis - 1]:
                raw.attrs[f"DEPEND_{axis}"] = centre

    variables = _name_dimensions(path, raws, extra, shared)
    # No title is made up here: the figure's title comes from the ISTP global attributes
    # (Source_name, Descriptor) and the data's time range, as for any store.
    return CDFLayout(path, master, attrs, variables, n_records, tuple(notes))


def _fallback(
    raw: _Raw,
    axis: int,
    target: str,
    raws: Mapping[str, _Raw],
    declared: Mapping[str, _Raw],
    own: Mapping[str, _Raw],
) -> str | None:
    """The variable to use for a ``DEPEND_i`` that names no variable with data."""
    size = raw.shape[axis - 1]

    def fits(name: str) -> bool:
        other = raws.get(name)
        return (
            other is not None
            and name != raw.name
            and _is_numeric(other)
            and other.shape == (size,)
            and (other.record_varying == raw.record_varying or not other.record_varying)
        )

    # A virtual variable of the master that is another view of one of the file's own.
    virtual = declared.get(target)
    if virtual is not None and str(virtual.attrs.get("FUNCTION", "")).lower() in (
        "alternate_view",
    ):
        component = virtual.attrs.get("COMPONENT_0")
        if isinstance(component, str) and component in own and fits(component):
            return component
    # Support data, not another spectrum: no DEPEND_1 of its own.
    candidates = [n for n in own if fits(n) and not isinstance(raws[n].attrs.get("DEPEND_1"), str)]
    return candidates[0] if len(candidates) == 1 else None


def _unique(name: str, taken: Container[str]) -> str:
    while name in taken:
        name += "_"
    return name


def _text_channels(
    labels: _Raw, raws: Mapping[str, _Raw], extra: dict[str, CDFVariable]
) -> str | None:
    """Make the centre and bounds variables of text channel labels; their centre's name."""
    if labels.cdf_type not in _STRING_TYPES or len(labels.shape) != 1 or labels.record_varying:
        return None
    try:
        text = [str(v) for v in _read_values(labels).ravel()]
    except StoreError:
        return None
    parsed = parse_channel_labels(text)
    if parsed is None:
        return None
    bounds, unit = parsed
    taken = set(raws) | set(extra)
    centre = _unique(f"{labels.name}_centre", taken)
    taken.add(centre)
    bounds_name = _unique(f"{labels.name}_bounds", taken)
    title = labels.attrs.get("FIELDNAM") or labels.attrs.get("LABLAXIS") or labels.name
    extra[centre] = CDFVariable(
        name=centre,
        dims=(),
        shape=(len(text),),
        dtype=np.dtype("float64"),
        attrs={
            "long_name": str(title),
            "units": unit,
            "bounds": bounds_name,
            "VAR_TYPE": "support_data",
            "comment": f"midpoints of the channel ranges given as text by {labels.name}",
        },
        values=bounds.mean(axis=1),
    )
    extra[bounds_name] = CDFVariable(
        name=bounds_name,
        dims=(),
        shape=(len(text), 2),
        dtype=np.dtype("float64"),
        attrs={
            "units": unit,
            "VAR_TYPE": "support_data",
            "comment": f"channel ranges (low, high) given as text by {labels.name}",
        },
        values=bounds,
    )
    return centre


def _name_dimensions(
    path: str,
    raws: Mapping[str, _Raw],
    extra: Mapping[str, CDFVariable],
    shared: list[tuple[str, str]],
) -> dict[str, CDFVariable]:
    """Give every axis its dimension name (see the module's notes)."""
    per_record: dict[str, tuple[int, ...]] = {n: r.shape for n, r in raws.items()}
    per_record.update({n: v.shape for n, v in extra.items()})
    axes = _Axes()
    referenced: set[str] = set()

    def link(name: str, axis: int, target: Any) -> None:
        if not isinstance(target, str) or target not in per_record or target == name:
            return
        shape = per_record[target]
        if len(shape) != 1 or shape[0] != per_record[name][axis - 1]:
            return
        axes.join((name, axis), (target, 1))

    for name, raw in raws.items():
        for axis in range(1, len(raw.shape) + 1):
            depend = raw.attrs.get(f"DEPEND_{axis}")
            if isinstance(depend, str):
                referenced.add(depend)
            link(name, axis, depend)
            link(name, axis, raw.attrs.get(f"LABL_PTR_{axis}"))
    for a, b in shared:
        axes.join((a, 1), (b, 1))

    def is_index(name: str) -> bool:
        raw = raws.get(name)
        if raw is not None:
            return not raw.record_varying and _is_numeric(raw) and len(raw.shape) == 1
        var = extra[name]
        return len(var.shape) == 1 and var.kind in "iuf"

    members: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for name, shape in per_record.items():
        for axis in range(1, len(shape) + 1):
            members.setdefault(axes.find((name, axis)), []).append((name, axis))
    taken = set(per_record)
    names: dict[tuple[str, int], str] = {}
    for root, group in sorted(members.items()):
        owners = sorted({n for n, _ in group})
        index = [n for n in owners if n in referenced and is_index(n)]
        index = index or [n for n in owners if is_index(n) and n in extra]
        if index:
            label = index[0]
        else:
            support = [n for n in owners if n in referenced and len(per_record[n]) == 1]
            if support:
                label = _unique(f"{support[0]}_dim", taken)
            else:
                label = _unique(f"{root[0]}_dim{root[1]}", taken)
        taken.add(label)
        names[root] = label

    variables: dict[str, CDFVariable] = {}
    sizes: dict[str, int] = {}
    for name in list(raws) + list(extra):
        shape = per_record[name]
        dims: list[str] = []
        own = raws.get(name)
        if own is not None and own.record_varying:
            dims.append(_record_dim(path, own, raws, sizes))
        for axis in range(1, len(shape) + 1):
            dim = names[axes.find((name, axis))]
            if dim in dims:
                dim = _unique(f"{dim}_{axis}", taken | set(dims))
            dims.append(dim)
        if own is not None:
            full = ((own.n_records,) if own.record_varying else ()) + shape
            variables[name] = CDFVariable(
                name=name,
                dims=tuple(dims),
                shape=full,
                dtype=_dtype(own),
                attrs=_presented_attrs(own),
                source=own.source,
                record_varying=own.record_varying,
                cdf_type=own.cdf_type,
            )
        else:
            made = extra[name]
            variables[name] = CDFVariable(
                made.name, tuple(dims), made.shape, made.dtype, made.attrs, values=made.values
            )
    return variables


def _record_dim(path: str, raw: _Raw, raws: Mapping[str, _Raw], sizes: dict[str, int]) -> str:
    """The name of a record-varying variable's record dimension."""
    depend = raw.attrs.get("DEPEND_0")
    if raw.cdf_type in _TIME_TYPES and not isinstance(depend, str):
        name = raw.name
    elif isinstance(depend, str) and depend.strip():
        name = depend
    else:
        name = "record"
    count = raw.n_records
    time = raws.get(name)
    expected = time.n_records if time is not None and time.record_varying else count
    if expected != count or sizes.get(name, count) != count:
        logger.debug(
            "%s: variable %r has %d records but its DEPEND_0 %r has %d; it gets a record "
            "dimension of its own",
            path,
            raw.name,
            count,
            name,
            expected,
        )
        name = f"{name}_{count}_records"
    sizes.setdefault(name, count)
    return name


def _presented_attrs(raw: _Raw) -> dict[str, Any]:
    attrs = dict(raw.attrs)
    if raw.cdf_type in _TIME_TYPES:
        for key in _VALUE_KEYS:
            if key in attrs:
                attrs[key] = _iso(attrs[key], raw.cdf_type)
        if "UNITS" in attrs:
            attrs["CDF_UNITS"] = attrs.pop("UNITS")
        attrs["CDF_DATA_TYPE"] = _TIME_TYPES[raw.cdf_type]
    if not raw.record_varying:
        attrs.pop("DEPEND_0", None)
    return attrs


# ---------------------------------------------------------------------------------------
# The cache and the backend
# ---------------------------------------------------------------------------------------


def _stamp(path: str | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _cached(
    path: str, master: str | None, stamp: Any, master_stamp: Any
) -> tuple[CDFLayout, dict[str, _Raw]]:
    layout = _build(path, master)
    raws = {
        name: _Raw(
            name,
            var.cdf_type,
            var.dtype.itemsize // 4 if var.dtype.kind == "U" else 1,
            var.shape[1:] if var.record_varying else var.shape,
            var.record_varying,
            var.shape[0] if var.record_varying else 1,
            {},
            var.source,
        )
        for name, var in layout.variables.items()
        if var.values is None
    }
    return layout, raws


def describe_cdf(
    path: str | os.PathLike[str], masters: Mapping[str, str] | None = None
) -> CDFLayout:
    """The layout of a CDF file with its master applied (cached per file state).

    Raises
    ------
    StoreError
        When the file or its master cannot be read as CDF.
    """
    absolute = os.path.abspath(os.fspath(path))
    master = find_master(absolute, masters)
    if master is not None and not os.path.isfile(master):
        raise StoreError(
            f"{absolute!r}: its master CDF {master!r} does not exist. Fix the path of the "
            "master, or remove it from the configuration."
        )
    return _cached(absolute, master, _stamp(absolute), _stamp(master))[0]


def _raw_of(layout: CDFLayout, name: str) -> _Raw:
    return _cached(layout.path, layout.master, _stamp(layout.path), _stamp(layout.master))[1][name]


class _LazyVariable:
    """A variable's values for :func:`dask.array.from_array`: records read on demand."""

    def __init__(self, raw: _Raw, shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
        self.raw = raw
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        if self.raw.record_varying and self.ndim:
            first = key[0]
            if isinstance(first, slice) and first.step in (None, 1):
                start, stop, _ = first.indices(self.shape[0])
                values = _read_values(self.raw, start, stop)
                return np.asarray(values[(slice(None), *key[1:])], dtype=self.dtype)
        values = _read_values(self.raw)
        return np.asarray(values[key], dtype=self.dtype)


def _block(shape: tuple[int, ...], dtype: np.dtype[Any]) -> tuple[int, ...]:
    if not shape:
        return ()
    per_record = max(1, int(np.prod(shape[1:], dtype="int64")) * max(1, dtype.itemsize))
    records = max(1, min(shape[0], _BLOCK_BYTES // per_record))
    return (records, *shape[1:])


def open_layout(layout: CDFLayout) -> xr.Dataset:
    """An :class:`xarray.Dataset` of a layout: dask-backed variables, time and 1-D
    coordinates read now (they become indexes)."""
    import dask.array as da
    import xarray as xr

    data_vars: dict[str, Any] = {}
    coords: dict[str, Any] = {}
    stamp = _stamp(layout.path)
    for name, var in layout.variables.items():
        index = var.dims == (name,)
        if var.values is not None:
            values: Any = var.values
        elif index or var.kind in "UO":
            values = _read_values(_raw_of(layout, name))
            if var.kind == "U":
                values = np.asarray(values, dtype=object)
        else:
            lazy = _LazyVariable(_raw_of(layout, name), var.shape, var.dtype)
            token = f"cdf-{abs(hash((layout.path, layout.master, stamp, name))):x}"
            values = da.from_array(
                lazy,
                chunks=_block(var.shape, var.dtype),
                name=token,
                lock=False,
                asarray=False,
                meta=np.empty((0,) * len(var.shape), dtype=var.dtype),
            )
        target = coords if index else data_vars
        target[name] = xr.Variable(var.dims, values, dict(var.attrs))
    return xr.Dataset(data_vars, coords=coords, attrs=dict(layout.attrs))


def _is_cdf(path: str) -> str:
    """``cdf3`` or ``cdf2`` from the file's signature, else raise naming the path."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise StoreError(f"{path!r} cannot be read: {exc.strerror or exc}.") from None
    if head[:4] in _CDF_MAGIC:
        return "cdf3" if head[:4] == _CDF_MAGIC[0] else "cdf2"
    got = "is empty" if not head else f"starts with {head[:4]!r}"
    raise StoreError(
        f"{path!r} is not a CDF file: it {got}, while CDF files start with "
        f"{_CDF_MAGIC[0]!r} (version 3) or {_CDF_MAGIC[1]!r} (version 2). Replace it with a "
        "valid CDF file, or rename or remove it."
    )


class CDFBackend(StoreBackend):
    """CDF files, one item each (the root group), with master CDFs applied.

    Parameters
    ----------
    masters
        Explicit masters: a glob on data file names, or a logical source, mapped to the
        master CDF to use (instead of one found beside the file).
    """

    name = "cdf"
    description = "CDF files (*.cdf)"
    suffixes = (".cdf",)

    def __init__(self, masters: Mapping[str, str] | None = None) -> None:
        self.masters: dict[str, str] = dict(masters or {})

    def with_masters(self, masters: Mapping[str, str]) -> CDFBackend:
        """This backend with more explicit masters."""
        return CDFBackend({**self.masters, **masters})

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, CDFBackend)
            and type(other) is type(self)
            and (other.masters == self.masters)
        )

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(self.masters.items()))))

    def check(self, path: str) -> str:
        return _is_cdf(path)

    def describe(self, path: str) -> CDFLayout:
        """The layout of a file (see :func:`describe_cdf`)."""
        _is_cdf(path)
        return describe_cdf(path, self.masters)

    def read_groups(self, path: str, keys: Container[str]) -> list[GroupMeta]:
        return [self.describe(path).meta(keys)]

    def read_root_attrs(self, path: str, keys: Container[str]) -> dict[str, Any]:
        return {k: v for k, v in self.describe(path).attrs.items() if k in keys}

    def open_group(self, path: str, group: str) -> xr.Dataset:
        if group.strip("/"):
            raise StoreError(
                f"store {path!r}, group {group!r} cannot be opened: a CDF file has one "
                "group, the root '/'."
            )
        layout = self.describe(path)
        for note in layout.notes:
            logger.warning("%s", note)
        if layout.n_records == 0:
            master = (
                " (a master CDF: attributes and support data only)"
                if (is_master_name(path))
                else ""
            )
            raise NoDataError(f"store {path!r}: the file holds no records{master}.")
        return open_layout(layout)
