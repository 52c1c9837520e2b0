"""Every option, once: its type, default, where it may be set, and its validator.

:data:`OPTIONS` is the table of every row, figure and run option. A value is checked once,
where it enters (a keyword argument, a key of a dataset dict, a config file, an attribute
of a store), by the option's ``parse_*`` function, which returns a clean value or raises an
error that names where the value came from (an :class:`Origin`), what was received and
what is accepted. Code downstream trusts the clean values and never checks them again.

The figure-level options of a run are parsed into a :class:`FigureOptions`, a frozen value
that travels to the workers as it is and is recorded, readable, in the progress file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import json
import math
import numbers
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .errors import ConfigError, RowError, SettingError, SpectrogramError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "OPTIONS",
    "OUTPUT_FORMATS",
    "Collapse",
    "FigureOptions",
    "Option",
    "Origin",
    "RowEntry",
    "Scale",
    "Selection",
    "Where",
    "by_config_key",
    "config_keys",
    "describe_value",
    "option",
    "options_where",
    "output_suffix",
    "parse_argument",
    "parse_bool",
    "parse_collapse",
    "parse_collapse_axis",
    "parse_colormap",
    "parse_group_by",
    "parse_memory_budget",
    "parse_name",
    "parse_names",
    "parse_number",
    "parse_output_format",
    "parse_percentiles",
    "parse_pixel_reduce",
    "parse_positive",
    "parse_positive_int",
    "parse_rows",
    "parse_scale",
    "parse_select",
    "parse_storage",
    "parse_text",
    "parse_time_range",
    "parse_times",
    "parse_window",
]

Scale = Literal["linear", "log"]
#: Bytes a worker may use for one group (blocks read, values held and the figure).
DEFAULT_MEMORY_BUDGET = 1_500_000_000
Collapse = Literal["sum", "mean", "max", "min"]
Level = Literal["row", "figure", "run"]
#: Where an option may be set: a keyword ``argument`` of the API (and its command-line
#: flag, when it has one), a key of a ``dataset`` dict, a ``config`` file, an
#: ``attribute`` of a store.
Where = Literal["argument", "dataset", "config", "attribute"]

#: Output formats and the suffix of their files: the only place a suffix is decided.
OUTPUT_FORMATS: Mapping[str, str] = {"png": ".png", "pdf": ".pdf", "svg": ".svg"}

_COLLAPSES: tuple[Collapse, ...] = ("sum", "mean", "max", "min")


def output_suffix(output_format: str) -> str:
    """The file suffix of an output format (``"png"`` -> ``".png"``)."""
    return OUTPUT_FORMATS[output_format]


# ---------------------------------------------------------------------------------------
# Where a value came from
# ---------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    """Numpy scalars, arrays and bytes as plain Python values (attributes come as numpy)."""
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()] if value.ndim else _plain(value.item())
    if isinstance(value, np.generic):
        return _plain(value.item())
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return repr(tuple(_plain(v) for v in value))
    return repr(_plain(value))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value was read, so that its error says so.

    Build one with :meth:`argument`, :meth:`row`, :meth:`config` or :meth:`attribute`.

    Attributes
    ----------
    name
        The option's name as the user wrote it.
    text
        The place, for messages: ``"row 2 ('EES')"``, ``"config file 'a.toml': key 'y_min'
        at the top level"``, ``"store '/a.zarr', group 'g', variable 'v', attribute 'y_min'"``;
        empty for a keyword argument.
    fix
        How to fix a bad value there.
    error
        The class of the error raised for a bad value.
    """

    name: str
    text: str = ""
    fix: str = ""
    error: type[SpectrogramError] = SettingError

    @classmethod
    def argument(cls, name: str) -> Origin:
        """A keyword argument of the API: errors are :class:`SettingError`."""
        return cls(name)

    @classmethod
    def row(cls, where: str, key: str) -> Origin:
        """Key ``key`` of a dataset dict named ``where``: errors are :class:`RowError`."""
        return cls(key, where, error=RowError)

    @classmethod
    def config(cls, path: str | None, section: str, key: str) -> Origin:
        """Key ``key`` in ``section`` of a config file: errors are :class:`ConfigError`."""
        name = "config" if path is None else f"config file {path!r}"
        return cls(
            key, f"{name}: key {key!r} {section}", "Fix the value in the config file.", ConfigError
        )

    @classmethod
    def attribute(cls, store: str, group: str, variable: str | None, key: str) -> Origin:
        """Attribute ``key`` of a variable (or of a group when ``variable`` is None)."""
        where = f"store {store!r}, group {group!r}"
        if variable is not None:
            where += f", variable {variable!r}"
        return cls(
            key,
            f"{where}, attribute {key!r}",
            f"Fix the attribute in the store, or override {key!r} in a config file.",
            ConfigError,
        )

    def fail(self, expected: str, value: object, hint: str = "") -> SpectrogramError:
        """The error for ``value`` received where ``expected`` is accepted."""
        got = f"Got {_show(value)} instead.{hint}"
        detail = f"Expected {expected}. {got}"
        if self.error is ConfigError:
            message = f"{self.text}: {detail}" + (f" {self.fix}" if self.fix else "")
        else:
            message = f"Expected {self.name} to be {expected}. {got}"
            if self.text:
                message = f"{self.text}: {message}"
        error = self.error(message)
        if isinstance(error, SettingError | ConfigError):
            error.option, error.detail = self.name, detail
        return error


# ---------------------------------------------------------------------------------------
# Validators: a clean value, or an error naming the origin
# ---------------------------------------------------------------------------------------

Parser = Callable[[object, Origin], Any]


def _single(value: object) -> object:
    """Unwrap a one-element list or array, as NetCDF stores scalar attributes."""
    value = _plain(value)
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def parse_number(value: object, origin: Origin) -> float:
    """A finite float from a number (or a numeric string)."""
    plain = _single(value)
    if isinstance(plain, str):
        try:
            plain = float(plain.strip())
        except ValueError:
            raise origin.fail("a number", value) from None
    if isinstance(plain, bool) or not isinstance(plain, int | float):
        raise origin.fail("a number", value)
    out = float(plain)
    if not math.isfinite(out):
        raise origin.fail("a finite number", value)
    return out


def parse_positive(value: object, origin: Origin) -> float:
    """A float greater than 0."""
    try:
        out = parse_number(value, origin)
    except SpectrogramError:
        raise origin.fail("a number greater than 0", value) from None
    if out <= 0:
        raise origin.fail("a number greater than 0", value)
    return out


def parse_positive_int(value: object, origin: Origin) -> int:
    """An integer of at least 1 (booleans and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise origin.fail("an integer >= 1", value)
    return int(value)


def parse_bool(value: object, origin: Origin) -> bool:
    """``True`` or ``False``."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise origin.fail("True or False", value)


def parse_text(value: object, origin: Origin) -> str:
    """A non-empty string."""
    plain = _single(value)
    if not isinstance(plain, str) or not plain.strip():
        raise origin.fail("a non-empty string", value)
    return plain.strip()


def parse_name(value: object, origin: Origin) -> str:
    """A dimension or variable name (a non-empty string without spaces)."""
    name = parse_text(value, origin)
    if any(ch.isspace() for ch in name):
        raise origin.fail("one dimension or variable name", value)
    return name


def parse_scale(value: object, origin: Origin) -> Scale:
    """``"linear"`` or ``"log"`` (any case)."""
    plain = _single(value)
    if isinstance(plain, str) and plain.strip().lower() in ("linear", "log"):
        return "log" if plain.strip().lower() == "log" else "linear"
    raise origin.fail("'linear' or 'log'", value)


def parse_collapse(value: object, origin: Origin) -> Any:
    """A reducer: ``"sum"``, ``"mean"``, ``"max"``, ``"min"``, or a callable."""
    if callable(value):
        return value
    plain = _single(value)
    if isinstance(plain, str):
        for name in _COLLAPSES:
            if plain.strip().lower() == name:
                return name
    raise origin.fail("one of 'sum', 'mean', 'max', 'min' (or, in Python, a callable)", value)


def parse_pixel_reduce(value: object, origin: Origin) -> str:
    """What a pixel shows when several samples fall in it: ``"mean"``, ``"max"``,
    ``"min"``."""
    plain = _single(value)
    if isinstance(plain, str) and plain.strip().lower() in ("mean", "max", "min"):
        return plain.strip().lower()
    raise origin.fail("one of 'mean', 'max', 'min'", value)


def parse_collapse_axis(value: object, origin: Origin) -> int:
    """The axis of 3-D (time, a, b) data to reduce, an integer (checked against each row's
    data when it is drawn: 1 or 2, or -2 or -1)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise origin.fail("an integer (1 or 2; axis 0 is time)", value)
    return int(value)


def parse_colormap(value: object, origin: Origin) -> Any:
    """The name of a registered Matplotlib colormap (or, in Python, a ``Colormap``)."""
    # Imported here: only a colormap check needs Matplotlib's registry.
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(value, Colormap):
        return value
    plain = _single(value)
    if isinstance(plain, str) and plain.strip() in matplotlib.colormaps:
        return plain.strip()
    hint = ""
    if isinstance(plain, str):
        close = difflib.get_close_matches(
            plain.strip(), list(matplotlib.colormaps), n=1, cutoff=0.75
        )
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise origin.fail(
        "the name of a Matplotlib colormap, such as 'viridis', 'plasma', 'inferno', "
        "'magma', 'cividis' or 'jet'",
        value,
        hint,
    )


def parse_names(value: object, origin: Origin) -> tuple[str, ...]:
    """Variable names from a list, or from one string separated by commas or spaces."""
    plain = _plain(value)
    items: list[object]
    if isinstance(plain, str):
        items = [part for part in re.split(r"[,\s]+", plain) if part]
    elif isinstance(plain, list):
        items = plain
    else:
        items = []
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise origin.fail(
            "a list of variable names, or one string of names separated by commas or spaces",
            value,
        )
    return tuple(str(item).strip() for item in items)


#: A selection: ``(dimension, low, high)`` ranges, by dimension name.
Selection = tuple[tuple[str, float, float], ...]

_SELECT = (
    "a table of dimension ranges such as {pitch_angle = [0, 30]} (in an attribute: that "
    "table as JSON, or 'pitch_angle=0:30', several separated by ';')"
)


def _select_text(text: str) -> object:
    """An attribute's selection: JSON, or ``dim=low:high`` parts separated by ``;``."""
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return None
    out: dict[str, object] = {}
    for part in (p for p in re.split(r"[;\n]", text) if p.strip()):
        name, eq, span = part.partition("=")
        low, colon, high = span.partition(":")
        if not eq or not colon:
            return None
        out[name.strip()] = [low.strip(), high.strip()]
    return out or None


def parse_select(value: object, origin: Origin) -> Selection:
    """Ranges of dimensions a row selects: ``{dim: [low, high]}`` with low <= high.

    A mapping (config), or a string holding JSON or ``dim=low:high`` parts separated by
    ``;`` (attributes). Returned sorted by dimension name, so equal selections compare
    equal.
    """
    plain = _single(value)
    if isinstance(plain, str):
        plain = _select_text(plain)
    if not isinstance(plain, Mapping) or not plain:
        raise origin.fail(_SELECT, value)
    out = []
    for name, span in plain.items():
        pair = _plain(span)
        if (
            not isinstance(name, str)
            or not name.strip()
            or any(ch.isspace() for ch in name.strip())
            or not isinstance(pair, list)
            or len(pair) != 2
        ):
            raise origin.fail(_SELECT, value)
        try:
            low, high = (parse_number(v, origin) for v in pair)
        except SpectrogramError:
            raise origin.fail(_SELECT, value) from None
        if low > high:
            raise origin.fail(f"{_SELECT}, each range [low, high] with low <= high", value)
        out.append((name.strip(), low, high))
    return tuple(sorted(out))


@dataclass(frozen=True, slots=True)
class RowEntry:
    """One row named in ``rows``: a variable, and row keys for that row alone.

    The same variable may be named several times (with different ``select``, ``y_dim``,
    ``collapse``...), each entry its own row.
    """

    variable: str
    options: tuple[tuple[str, Any], ...] = ()

    def get(self, key: str) -> Any:
        """The value this entry sets for row key ``key``, or None."""
        return dict(self.options).get(key)


_ROWS = (
    "a list of variable names, or one string of names separated by commas or spaces, or "
    "a list of row tables ({variable = 'name', select = {...}, label = '...'}; in an "
    "attribute: that list as JSON)"
)


def parse_rows(value: object, origin: Origin) -> tuple[RowEntry, ...]:
    """The rows of a figure: variable names, or tables naming a ``variable`` with row keys
    for that row alone (``select``, ``y_dim``, ``collapse``, ``label``, ...)."""
    plain = _plain(value)
    if isinstance(plain, str) and plain.strip()[:1] in ("[", "{"):
        try:
            plain = json.loads(plain)
        except ValueError:
            raise origin.fail(_ROWS, value) from None
        plain = [plain] if isinstance(plain, dict) else plain
    if isinstance(plain, list) and any(isinstance(item, Mapping) for item in plain):
        entries = []
        for position, item in enumerate(plain, 1):
            if isinstance(item, str) and item.strip():
                entries.append(RowEntry(item.strip()))
                continue
            if not isinstance(item, Mapping) or not isinstance(item.get("variable"), str):
                raise origin.fail(_ROWS, value, f" Row {position} names no variable.")
            options = []
            for key, raw in item.items():
                if key == "variable":
                    continue
                entry = by_config_key(key)
                if entry is None or entry.level != "row":
                    keys = ", ".join(config_keys("row"))
                    hint = f" Row {position} has the unknown key {key!r}; row keys: {keys}."
                    raise origin.fail(_ROWS, value, hint)
                inner = dataclasses.replace(origin, text=f"{origin.text} (row {position})")
                options.append((entry.config_key, _frozen(entry.parse(raw, inner))))
            entries.append(RowEntry(parse_name(item["variable"], origin), tuple(options)))
        return tuple(entries)
    try:
        names = parse_names(value if not isinstance(plain, list) else plain, origin)
    except SpectrogramError:
        raise origin.fail(_ROWS, value) from None
    return tuple(RowEntry(name) for name in names)


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


_WINDOW = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|min|m|h|d)\s*$", re.IGNORECASE)
_WINDOW_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_window(value: object, origin: Origin) -> float:
    """A window length in seconds from ``"6h"``, ``"1d"``, ``"30min"``, ``"90s"`` (or a
    number of seconds)."""
    expected = "a duration such as '30min', '6h', '1d' or '90s' (a number and s, min, h or d)"
    plain = _single(value)
    seconds: float | None = None
    if isinstance(plain, str):
        match = _WINDOW.match(plain)
        if match:
            seconds = float(match.group(1)) * _WINDOW_SECONDS[match.group(2).lower()]
    elif isinstance(plain, int | float) and not isinstance(plain, bool):
        seconds = float(plain)
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise origin.fail(expected, value)
    return seconds


_TIMES = (
    "ISO-8601 times (e.g. '2000-01-01T00:10:00Z'), UNIX seconds or datetime64 "
    "values, one or a list"
)


def _time_seconds(item: object) -> float | None:
    if isinstance(item, dt.datetime):
        # Naive datetimes are UTC, as datetime64 values are, whatever the local zone.
        stamp = item if item.tzinfo else item.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(item, np.datetime64):
        if np.isnat(item):
            return None
        return float(item.astype("datetime64[ns]").astype("int64")) / 1e9
    if isinstance(item, str):
        text = item.strip()
        try:
            return _time_seconds(float(text))
        except ValueError:
            pass
        try:
            # Python 3.11 reads ISO 8601 including a trailing "Z"; naive times are UTC.
            return _time_seconds(dt.datetime.fromisoformat(text))
        except ValueError:
            return None
    if isinstance(item, numbers.Real) and not isinstance(item, bool | np.bool_):
        out = float(item)
        return out if math.isfinite(out) else None
    return None


def parse_times(value: object, origin: Origin) -> tuple[float, ...]:
    """Instants as UNIX seconds: ISO-8601 strings, numbers, datetimes or datetime64.

    One value or a flat sequence; a string may hold several times separated by commas.
    Times without a time zone are UTC.
    """
    if isinstance(value, str):
        items: list[object] = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, bytes):
        return parse_times(value.decode("utf-8", "replace"), origin)
    elif isinstance(value, np.ndarray):
        if value.ndim > 1:
            raise origin.fail(_TIMES, value)
        items = list(value.ravel())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, np.ndarray) and item.ndim == 0:
            item = item[()]
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        if isinstance(item, np.generic) and not isinstance(item, np.datetime64):
            item = item.item()
        seconds = _time_seconds(item)
        if seconds is None:
            raise origin.fail(_TIMES, value)
        out.append(seconds)
    return tuple(out)


def parse_percentiles(value: object, origin: Origin) -> tuple[float, float]:
    """A (low, high) pair of percentiles with 0 <= low < high <= 100."""
    expected = "two numbers (low, high) with 0 <= low < high <= 100"
    try:
        low, high = (float(v) for v in value)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        raise origin.fail(expected, value) from None
    if not 0.0 <= low < high <= 100.0:
        raise origin.fail(expected, value)
    return low, high


def parse_time_range(value: object, origin: Origin) -> tuple[float, float]:
    """Two instants (start, end) with start < end, as UNIX seconds."""
    expected = "two times (start, end) with start < end"
    try:
        start, end = parse_times(value, origin)
    except (SpectrogramError, ValueError):
        raise origin.fail(expected, value) from None
    if not start < end:
        raise origin.fail(expected, value)
    return start, end


def parse_output_format(value: object, origin: Origin) -> str:
    """An output format: ``"png"``, ``"pdf"`` or ``"svg"`` (any case)."""
    plain = _single(value)
    if isinstance(plain, str) and plain.strip().lower().lstrip(".") in OUTPUT_FORMATS:
        return plain.strip().lower().lstrip(".")
    names = ", ".join(repr(name) for name in OUTPUT_FORMATS)
    raise origin.fail(f"one of {names}", value)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_SIZE_UNITS.update({f"{k[0]}ib": 2 ** (10 * n) for n, k in enumerate(("kb", "mb", "gb", "tb"), 1)})


def parse_memory_budget(value: object, origin: Origin) -> int:
    """A number of bytes of at least 1 MB: an integer, or a size such as ``"1.5GB"``,
    ``"800MB"`` or ``"2GiB"`` (kB, MB, GB, TB are powers of 1000; KiB, MiB, GiB, TiB
    of 1024)."""
    expected = "a size of at least 1MB, in bytes or as '800MB', '1.5GB', '2GiB'"
    plain = _single(value)
    size: float
    if isinstance(plain, str) and (match := _SIZE.match(plain)):
        size = float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()]
    elif isinstance(plain, numbers.Real) and not isinstance(plain, bool):
        size = float(plain)
    else:
        raise origin.fail(expected, value)
    if not math.isfinite(size) or size < 1_000_000:
        raise origin.fail(expected, value)
    return int(size)


#: How ingest names the group of each CDF file.
GROUP_BY: tuple[str, ...] = ("day", "file")


def parse_storage(value: object, origin: Origin) -> dict[str, Any]:
    """A table of fsspec storage options (its values are the file system's to check)."""
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        # Never the value itself: it may be a credential.
        raise origin.fail("a table of storage options", f"a {type(value).__name__}")
    return dict(value)


def parse_group_by(value: object, origin: Origin) -> str:
    """How ingest names groups: ``"day"`` or ``"file"`` (any case)."""
    plain = _single(value)
    if isinstance(plain, str) and plain.strip().lower() in GROUP_BY:
        return plain.strip().lower()
    names = ", ".join(repr(name) for name in GROUP_BY)
    raise origin.fail(f"one of {names}", value)


# ---------------------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Option:
    """One option.

    Attributes
    ----------
    name
        Its name as a keyword argument and in dataset dicts.
    level
        ``"row"`` (one panel), ``"figure"`` (one item) or ``"run"`` (the batch).
    parse
        Its validator.
    default
        Its value when nobody sets it (None: unset, the renderer decides).
    where
        Where it may be set.
    help
        One line for documentation and ``--help``.
    schema
        The entry of ``$defs`` in ``schemas/plot-config.schema.json`` that describes its
        values, for options a config file may set.
    key
        Its name in config files and attributes when it differs from ``name``.
    """

    name: str
    level: Level
    parse: Parser
    default: Any
    where: frozenset[Where]
    help: str
    schema: str | None = None
    key: str | None = None

    @property
    def config_key(self) -> str:
        """The option's name in config files and store attributes."""
        return self.key or self.name


_ALL: frozenset[Where] = frozenset({"argument", "dataset", "config", "attribute"})
_ROW_META: frozenset[Where] = frozenset({"dataset", "config", "attribute"})
_METADATA: frozenset[Where] = frozenset({"config", "attribute"})
_FIGURE_ALL: frozenset[Where] = frozenset({"argument", "config", "attribute"})
_ARGUMENT: frozenset[Where] = frozenset({"argument"})
_ARGUMENT_ROW: frozenset[Where] = frozenset({"argument", "dataset"})

#: Every option, once.
OPTIONS: tuple[Option, ...] = (
    # -- rows ----------------------------------------------------------------------------
    Option("label", "row", parse_text, None, _ROW_META, "row title", "text"),
    Option(
        "y_label",
        "row",
        parse_text,
        None,
        _ROW_META,
        "y axis label (default 'Energy (eV)')",
        "text",
    ),
    Option(
        "z_label",
        "row",
        parse_text,
        None,
        _ROW_META,
        "colour bar label (default 'Counts')",
        "text",
    ),
    Option("y_min", "row", parse_number, None, _ALL, "lower y limit", "number"),
    Option("y_max", "row", parse_number, None, _ALL, "upper y limit", "number"),
    Option("z_min", "row", parse_number, None, _ALL, "lower colour limit", "number"),
    Option("z_max", "row", parse_number, None, _ALL, "upper colour limit", "number"),
    Option(
        "vmin",
        "row",
        parse_number,
        None,
        _ROW_META,
        "lower colour limit, clamped by a global z_min",
        "number",
    ),
    Option(
        "vmax",
        "row",
        parse_number,
        None,
        _ROW_META,
        "upper colour limit, clamped by a global z_max",
        "number",
    ),
    Option("y_scale", "row", parse_scale, "linear", _ALL, "y axis scale", "scale"),
    Option("z_scale", "row", parse_scale, "linear", _ALL, "colour scale", "scale"),
    Option("colormap", "row", parse_colormap, "viridis", _ALL, "Matplotlib colormap", "colormap"),
    Option(
        "collapse",
        "row",
        parse_collapse,
        "sum",
        _ALL,
        "reducer of a 3-D variable's third dimension",
        "reducer",
    ),
    Option(
        "collapse_axis",
        "row",
        parse_collapse_axis,
        1,
        _ARGUMENT_ROW,
        "axis of 3-D data to reduce (1 or 2)",
    ),
    Option(
        "collapse_dim",
        "row",
        parse_name,
        None,
        _METADATA,
        "dimension of a 3-D variable to reduce",
        "text",
    ),
    Option(
        "y_dim",
        "row",
        parse_name,
        None,
        _METADATA,
        "dimension of a variable to plot along y",
        "text",
    ),
    Option(
        "pixel_reduce",
        "row",
        parse_pixel_reduce,
        "mean",
        _ALL,
        "what a pixel shows when several samples or channels fall in it: mean, max or min",
        "pixel_reduce",
    ),
    Option(
        "gap_seconds",
        "row",
        parse_positive,
        None,
        _ALL,
        "time spacing above which two records are separated by a gap",
        "positive",
    ),
    Option(
        "row_shared_limits",
        "row",
        parse_bool,
        None,
        _METADATA,
        "whether the row shares its colour limits across the archive (default: the run's "
        "shared_limits)",
        "flag",
        key="shared_limits",
    ),
    Option(
        "select",
        "row",
        parse_select,
        None,
        _METADATA,
        "ranges of dimensions to keep before reducing, e.g. {pitch_angle = [0, 30]}",
        "select",
    ),
    # -- figures -------------------------------------------------------------------------
    Option(
        "figure_title",
        "figure",
        parse_text,
        None,
        _FIGURE_ALL,
        "figure title",
        "text",
        key="title",
    ),
    Option(
        "rows",
        "figure",
        parse_rows,
        None,
        _METADATA,
        "which variables become rows, in order (names, or tables with row keys of their own)",
        "rows",
    ),
    Option(
        "vertical_lines",
        "figure",
        parse_times,
        (),
        _FIGURE_ALL,
        "event times drawn as vertical lines",
        "times",
    ),
    Option(
        "zoom_duration_minutes",
        "figure",
        parse_positive,
        None,
        _FIGURE_ALL,
        "width of the zoom column around the events",
        "positive",
    ),
    Option(
        "time_range",
        "figure",
        parse_time_range,
        None,
        _ARGUMENT,
        "the time axis's limits (start, end), UNIX seconds (default: the data's extent)",
    ),
    Option(
        "z_percentiles",
        "figure",
        parse_percentiles,
        (1.0, 99.0),
        _ARGUMENT,
        "percentiles of the automatic colour limits",
    ),
    Option("dpi", "figure", parse_positive, 150.0, _ARGUMENT, "resolution of the figure"),
    Option(
        "output_format",
        "figure",
        parse_output_format,
        "png",
        _ARGUMENT,
        "file format of the figures: png, pdf or svg",
    ),
    # -- runs ----------------------------------------------------------------------------
    Option(
        "flush_batch_size",
        "run",
        parse_positive_int,
        10,
        _ARGUMENT,
        "save progress every N finished items",
    ),
    Option(
        "log_flush_batch_size",
        "run",
        parse_positive_int,
        None,
        _ARGUMENT,
        "write the log every N records (default: flush_batch_size)",
    ),
    Option(
        "max_workers",
        "run",
        parse_positive_int,
        None,
        _ARGUMENT,
        "worker processes (default: all usable cores)",
    ),
    Option(
        "max_in_flight",
        "run",
        parse_positive_int,
        None,
        _ARGUMENT,
        "items submitted but not finished at any time",
    ),
    Option("item_timeout", "run", parse_positive, None, _ARGUMENT, "seconds an item may take"),
    Option(
        "flush_interval_seconds",
        "run",
        parse_positive,
        60.0,
        _ARGUMENT,
        "save progress at least this often",
    ),
    Option(
        "ignore_progress_json",
        "run",
        parse_bool,
        False,
        _ARGUMENT,
        "ignore recorded progress and render everything",
    ),
    Option(
        "group_by",
        "run",
        parse_group_by,
        "day",
        _ARGUMENT,
        "ingest: one group per day (<source>/<YYYY-MM-DD>) or per file (its name)",
    ),
    Option(
        "install_signal_handlers",
        "run",
        parse_bool,
        True,
        _ARGUMENT,
        "handle SIGINT and SIGTERM for the length of the run",
    ),
    Option(
        "shared_limits",
        "run",
        parse_bool,
        False,
        _ARGUMENT,
        "colour limits shared by every figure of a row across the archive (a first pass)",
    ),
    Option(
        "window",
        "run",
        parse_window,
        None,
        _ARGUMENT,
        "cut each group into UTC-aligned time windows this long (6h, 1d, 30min), each a figure",
    ),
    Option(
        "memory_budget",
        "run",
        parse_memory_budget,
        DEFAULT_MEMORY_BUDGET,
        _ARGUMENT,
        "bytes a worker may use for one group; larger groups are folded into time cells",
    ),
    Option(
        "gallery",
        "run",
        parse_bool,
        True,
        _ARGUMENT,
        "write thumbnails and OUT/index.html to browse an archive run",
    ),
    Option(
        "storage",
        "run",
        parse_storage,
        None,
        frozenset({"config"}),
        "fsspec storage options of stores named by URL (a [storage] table; never recorded)",
        "storage",
    ),
)

_BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


def option(name: str) -> Option:
    """The option called ``name`` (KeyError when there is none)."""
    return _BY_NAME[name]


def options_where(where: Where, level: Level | None = None) -> tuple[Option, ...]:
    """The options that may be set at ``where`` (and of ``level``), in table order."""
    return tuple(o for o in OPTIONS if where in o.where and (level is None or o.level == level))


def parse_argument(name: str, value: object) -> Any:
    """Check keyword argument ``name``: None is "unset" where the default is None."""
    entry = _BY_NAME[name]
    if value is None and entry.default is None:
        return None
    return entry.parse(value, Origin.argument(name))


# ---------------------------------------------------------------------------------------
# The figure options of a run: parsed once, frozen, sent to workers as they are
# ---------------------------------------------------------------------------------------


def describe_value(value: Any) -> Any:
    """A readable JSON value for a setting (a callable by its qualified name)."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, RowEntry):
        return {"variable": value.variable, **describe_value(dict(value.options))}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [describe_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): describe_value(v) for k, v in value.items()}
    name = getattr(value, "name", None)
    if isinstance(name, str) and type(value).__name__.endswith("Colormap"):
        return f"Colormap:{name}"
    if callable(value):
        module = getattr(value, "__module__", None) or type(value).__module__
        qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{module}.{qualname}"
    return repr(value)


@dataclass(frozen=True)
class FigureOptions:
    """The figure-level options of a figure or a run, checked.

    Row options here (``colormap``, ``y_scale``, limits, ...) are defaults for the rows
    that set none. Build one with :meth:`parse`; derive one with :meth:`updated`.
    """

    colormap: Any = "viridis"
    y_scale: Scale = "linear"
    z_scale: Scale = "linear"
    y_min: float | None = None
    y_max: float | None = None
    z_min: float | None = None
    z_max: float | None = None
    gap_seconds: float | None = None
    pixel_reduce: str = "mean"
    z_percentiles: tuple[float, float] = (1.0, 99.0)
    collapse_axis: int | None = 1
    collapse: Any = "sum"
    vertical_lines: tuple[float, ...] = ()
    zoom_duration_minutes: float | None = None
    figure_title: str | None = None
    time_range: tuple[float, float] | None = None
    dpi: float = 150.0
    output_format: str = "png"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names a FigureOptions holds."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def parse(cls, values: Mapping[str, Any] | None = None) -> FigureOptions:
        """Check keyword arguments (unset ones keep their defaults)."""
        return cls().updated(values or {})

    def updated(
        self, values: Mapping[str, Any], origin: Callable[[str], Origin] = Origin.argument
    ) -> FigureOptions:
        """A copy with ``values`` checked and applied.

        ``collapse_axis`` and ``vertical_lines`` accept None (no axis, no line); any other
        None is refused unless the option's default is None.

        Raises
        ------
        SettingError
            For an unknown name or an unusable value.
        """
        unknown = sorted(set(values) - set(self.names()))
        if unknown:
            raise SettingError(
                f"Unknown plotting option(s) {unknown}. Accepted: {sorted(self.names())}."
            )
        clean: dict[str, Any] = {}
        for name, value in values.items():
            entry = _BY_NAME[name]
            if value is None and (entry.default is None or name == "collapse_axis"):
                clean[name] = None
            elif value is None and name == "vertical_lines":
                clean[name] = ()
            else:
                clean[name] = entry.parse(value, origin(name))
        return dataclasses.replace(self, **clean)

    def describe(self) -> dict[str, Any]:
        """The options as readable JSON values, for the progress file."""
        return {f.name: describe_value(getattr(self, f.name)) for f in dataclasses.fields(self)}


def config_keys(level: Level | None = None) -> tuple[str, ...]:
    """Names of the keys a config file or a store attribute may set (of ``level``)."""
    return tuple(
        o.config_key
        for o in OPTIONS
        if "config" in o.where and (level is None or o.level == level)
    )


def by_config_key(key: str) -> Option | None:
    """The option a config file or attribute calls ``key``, if any."""
    for entry in OPTIONS:
        if entry.config_key == key and "config" in entry.where:
            return entry
    return None
