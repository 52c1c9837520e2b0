"""Plot configuration: the override keys, their validators and the TOML config file.

The same keys style a figure whether they come from a config file or from attributes in a
store. Each value is checked once, where it enters, by a ``parse_*`` function that returns
a clean value or raises :class:`~batch_multi_plot_spectrogram.errors.ConfigError` naming
where the value came from, what was received and what is accepted.

The config file
---------------
A TOML file validated against ``schemas/plot-config.schema.json``::

    # Top-level keys apply to every figure and every row.
    z_scale = "log"
    colormap = "plasma"

    # Figure keys (and row keys) for the groups whose path matches the glob.
    [groups."2000/*"]
    vertical_lines = ["2000-01-01T00:10:00Z"]
    zoom_duration_minutes = 5

    # Row keys for the variables whose name matches the glob. A pattern holding a "/"
    # is matched against "group/variable" instead, e.g. "orbit_*/ees_*".
    [variables."ees_*"]
    label = "EES"
    y_min = 10

Which value wins: a ``[variables]`` section over a ``[groups]`` section over a top-level
key; among sections of one kind, the one written later in the file. The config as a whole
wins over the attributes of the store.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import jsonschema
import numpy as np

from .errors import ConfigError
from .schemas import load_schema

__all__ = [
    "FIGURE_KEYS",
    "OVERRIDE_KEYS",
    "ROW_KEYS",
    "Collapse",
    "Origin",
    "PlotConfig",
    "Section",
    "load_config",
    "parse_collapse",
    "parse_colormap",
    "parse_config",
    "parse_name",
    "parse_names",
    "parse_number",
    "parse_override",
    "parse_positive",
    "parse_scale",
    "parse_text",
    "parse_times",
]

CONFIG_SCHEMA = "plot-config.schema.json"

Collapse = Literal["sum", "mean", "max", "min"]

#: Keys that style one row (a panel) of a figure.
ROW_KEYS: tuple[str, ...] = (
    "label",
    "y_label",
    "z_label",
    "y_min",
    "y_max",
    "z_min",
    "z_max",
    "vmin",
    "vmax",
    "y_scale",
    "z_scale",
    "colormap",
    "collapse",
    "collapse_dim",
    "y_dim",
    "gap_seconds",
)
#: Keys that shape a whole figure (one group).
FIGURE_KEYS: tuple[str, ...] = ("title", "rows", "vertical_lines", "zoom_duration_minutes")
#: Every key read from attributes and config files.
OVERRIDE_KEYS: tuple[str, ...] = ROW_KEYS + FIGURE_KEYS

_COLLAPSES: tuple[Collapse, ...] = ("sum", "mean", "max", "min")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a value was read, for messages.

    Parameters
    ----------
    text
        Names the place: ``store '/a/fast.zarr', group 'orbit_1', variable 'ees',
        attribute 'y_scale'``.
    fix
        Tells the user how to fix a bad value there.
    """

    text: str
    fix: str = ""

    @classmethod
    def attribute(cls, store: str, group: str, variable: str | None, key: str) -> Origin:
        """The origin of attribute ``key`` of a variable (or of a group when ``None``)."""
        where = f"store {store!r}, group {group!r}"
        if variable is not None:
            where += f", variable {variable!r}"
        return cls(
            f"{where}, attribute {key!r}",
            f"Fix the attribute in the store, or override {key!r} in a config file.",
        )

    @classmethod
    def config(cls, path: str | None, section: str, key: str) -> Origin:
        """The origin of ``key`` in ``section`` of a config file."""
        name = "config" if path is None else f"config file {path!r}"
        return cls(f"{name}: key {key!r} {section}", "Fix the value in the config file.")

    def error(self, expected: str, value: object, extra: str = "") -> ConfigError:
        """Build the :class:`ConfigError` for ``value`` received where ``expected`` is."""
        msg = f"{self.text}: Expected {expected}. Got {_show(value)} instead.{extra}"
        if self.fix:
            msg += f" {self.fix}"
        return ConfigError(msg)


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
    return repr(_plain(value))


def _single(value: object) -> object:
    """Unwrap a one-element list or array, as NetCDF stores scalar attributes."""
    value = _plain(value)
    if isinstance(value, list) and len(value) == 1:
        return value[0]
    return value


def parse_number(value: object, origin: Origin) -> float:
    """Return a finite float from a number (or a numeric string) or raise ConfigError."""
    plain = _single(value)
    if isinstance(plain, str):
        try:
            plain = float(plain.strip())
        except ValueError:
            raise origin.error("a number", value) from None
    if isinstance(plain, bool) or not isinstance(plain, int | float):
        raise origin.error("a number", value)
    out = float(plain)
    if not math.isfinite(out):
        raise origin.error("a finite number", value)
    return out


def parse_positive(value: object, origin: Origin) -> float:
    """Return a float greater than 0 or raise ConfigError."""
    try:
        out = parse_number(value, origin)
    except ConfigError:
        raise origin.error("a number greater than 0", value) from None
    if out <= 0:
        raise origin.error("a number greater than 0", value)
    return out


def parse_text(value: object, origin: Origin) -> str:
    """Return a non-empty string or raise ConfigError."""
    plain = _single(value)
    if not isinstance(plain, str) or not plain.strip():
        raise origin.error("a non-empty string", value)
    return plain.strip()


def parse_name(value: object, origin: Origin) -> str:
    """Return a dimension or variable name (a non-empty string without spaces)."""
    name = parse_text(value, origin)
    if any(ch.isspace() for ch in name):
        raise origin.error("one dimension or variable name", value)
    return name


def parse_scale(value: object, origin: Origin) -> Literal["linear", "log"]:
    """Return ``"linear"`` or ``"log"`` or raise ConfigError."""
    plain = _single(value)
    if isinstance(plain, str) and plain.strip().lower() in ("linear", "log"):
        return "log" if plain.strip().lower() == "log" else "linear"
    raise origin.error("'linear' or 'log'", value)


def parse_collapse(value: object, origin: Origin) -> Collapse:
    """Return the name of a reducer: ``sum``, ``mean``, ``max`` or ``min``."""
    plain = _single(value)
    if isinstance(plain, str):
        for name in _COLLAPSES:
            if plain.strip().lower() == name:
                return name
    raise origin.error("one of 'sum', 'mean', 'max', 'min'", value)


def parse_colormap(value: object, origin: Origin) -> str:
    """Return the name of a registered Matplotlib colormap or raise ConfigError."""
    # Imported here: only a colormap check needs Matplotlib's registry.
    import matplotlib

    plain = _single(value)
    names = list(matplotlib.colormaps)
    if isinstance(plain, str) and plain.strip() in names:
        return plain.strip()
    hint = ""
    if isinstance(plain, str):
        close = difflib.get_close_matches(plain.strip(), names, n=1)
        if close:
            hint = f" Did you mean {close[0]!r}?"
    raise origin.error(
        "the name of a Matplotlib colormap, such as 'viridis', 'plasma', 'inferno', "
        "'magma', 'cividis' or 'jet'",
        value,
        hint,
    )


def parse_names(value: object, origin: Origin) -> tuple[str, ...]:
    """Return variable names from a list or from one string separated by commas/spaces."""
    plain = _plain(value)
    items: list[object]
    if isinstance(plain, str):
        items = [part for part in re.split(r"[,\s]+", plain) if part]
    elif isinstance(plain, list):
        items = plain
    else:
        items = []
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise origin.error(
            "a list of variable names, or one string of names separated by commas or spaces",
            value,
        )
    return tuple(str(item).strip() for item in items)


def _time_seconds(item: object, origin: Origin, value: object) -> float:
    if isinstance(item, dt.datetime):
        stamp = item if item.tzinfo else item.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(item, np.datetime64):
        return float(item.astype("datetime64[ns]").astype("int64")) / 1e9
    if isinstance(item, str):
        text = item.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            # Python 3.11 reads ISO 8601 including a trailing "Z"; naive times are UTC.
            return _time_seconds(dt.datetime.fromisoformat(text), origin, value)
        except ValueError:
            pass
    elif isinstance(item, int | float) and not isinstance(item, bool) and math.isfinite(item):
        return float(item)
    raise origin.error(
        "ISO-8601 times (e.g. '2000-01-01T00:10:00Z') or UNIX seconds, one or a list",
        value,
    )


def parse_times(value: object, origin: Origin) -> tuple[float, ...]:
    """Return UNIX seconds from ISO-8601 strings or numbers, one or a list.

    A string may hold several times separated by commas. Times without a time zone are
    taken as UTC.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == "M":
        return tuple(_time_seconds(v, origin, value) for v in value.ravel())
    plain = _plain(value)
    items: list[object]
    if isinstance(plain, str):
        items = [part for part in plain.split(",") if part.strip()]
    elif isinstance(plain, list):
        items = plain
    else:
        items = [plain]
    return tuple(_time_seconds(item, origin, value) for item in items)


_PARSERS: dict[str, Callable[[object, Origin], Any]] = {
    "label": parse_text,
    "y_label": parse_text,
    "z_label": parse_text,
    "y_min": parse_number,
    "y_max": parse_number,
    "z_min": parse_number,
    "z_max": parse_number,
    "vmin": parse_number,
    "vmax": parse_number,
    "y_scale": parse_scale,
    "z_scale": parse_scale,
    "colormap": parse_colormap,
    "collapse": parse_collapse,
    "collapse_dim": parse_name,
    "y_dim": parse_name,
    "gap_seconds": parse_positive,
    "title": parse_text,
    "rows": parse_names,
    "vertical_lines": parse_times,
    "zoom_duration_minutes": parse_positive,
}


def parse_override(key: str, value: object, origin: Origin) -> Any:
    """Validate the override ``key`` and return its clean value.

    Parameters
    ----------
    key
        One of :data:`OVERRIDE_KEYS`.
    value
        The raw value, as read from an attribute or a config file.
    origin
        Where the value was read, for the message of a :class:`ConfigError`.
    """
    try:
        parser = _PARSERS[key]
    except KeyError:
        raise ConfigError(
            f"{origin.text}: unknown override key {key!r}. Accepted keys: "
            f"{', '.join(OVERRIDE_KEYS)}."
        ) from None
    return parser(value, origin)


Options = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Section:
    """One ``[groups."<glob>"]`` or ``[variables."<glob>"]`` section of a config file."""

    pattern: str
    options: Options = ()

    def matches(self, path: str) -> bool:
        """Whether the glob matches ``path`` (case-sensitive, ``*`` also crosses ``/``)."""
        pattern = self.pattern if self.pattern == "/" else self.pattern.lstrip("/")
        return fnmatch.fnmatchcase(path, pattern)


@dataclass(frozen=True)
class PlotConfig:
    """A checked plot configuration. Hashable and picklable, so it can travel to workers.

    Build one with :func:`load_config` (from a TOML file) or :func:`parse_config` (from a
    mapping). Values are already validated.

    Attributes
    ----------
    path
        The file it came from, if any (for messages).
    top
        Top-level keys: they apply to every figure and row.
    groups
        ``[groups."<glob>"]`` sections, in file order.
    variables
        ``[variables."<glob>"]`` sections, in file order.
    """

    path: str | None = None
    top: Options = ()
    groups: tuple[Section, ...] = field(default=())
    variables: tuple[Section, ...] = field(default=())

    def figure_options(self, group: str) -> dict[str, Any]:
        """Every key the config sets for the figure of ``group`` (row keys included)."""
        out = dict(self.top)
        for section in self.groups:
            if section.matches(group):
                out.update(section.options)
        return out

    def row_options(self, group: str, variable: str) -> dict[str, Any]:
        """The row keys the config sets for ``variable`` in ``group``."""
        out = {k: v for k, v in self.figure_options(group).items() if k in ROW_KEYS}
        qualified = variable if group == "/" else f"{group.strip('/')}/{variable}"
        for section in self.variables:
            target = qualified if "/" in section.pattern else variable
            if section.matches(target):
                out.update(section.options)
        return out


def _section_name(path: list[str | int]) -> str:
    if not path:
        return "at the top level"
    if len(path) == 2 and path[0] in ("groups", "variables"):
        return f'in [{path[0]}."{path[1]}"]'
    return "in " + ".".join(str(p) for p in path)


def _describe_schema_error(error: jsonschema.ValidationError, file: str | None) -> str:
    path = list(error.absolute_path)
    name = "config" if file is None else f"config file {file!r}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in known]
        lines = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            lines.append(
                f"{name}: unknown key {key!r} {_section_name(path)}. "
                f"Accepted keys: {', '.join(known)}.{hint} Fix the key in the config file."
            )
        return "\n".join(lines)
    # Name the key, and the list position when the bad value sits inside a list.
    keys = [p for p in path if isinstance(p, str)]
    key = keys[-1] if keys else "(top level)"
    section = path[: path.index(key)] if keys else []
    position = f" (item {path[-1]})" if path and isinstance(path[-1], int) else ""
    expected = error.schema.get("description") or error.message
    origin = Origin.config(file, _section_name(section) + position, key)
    return str(origin.error(expected, error.instance))


def _stringify_dates(value: object) -> object:
    """TOML dates and times become ISO strings so that the schema sees plain JSON types."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _stringify_dates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_dates(v) for v in value]
    return value


def _options(values: Mapping[str, Any], file: str | None, section: str) -> Options:
    return tuple(
        (key, _freeze(parse_override(key, value, Origin.config(file, section, key))))
        for key, value in values.items()
    )


def _freeze(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def parse_config(document: Mapping[str, Any], *, path: str | None = None) -> PlotConfig:
    """Validate a configuration mapping (as read from TOML) and return a :class:`PlotConfig`.

    Parameters
    ----------
    document
        The parsed TOML document.
    path
        The file it came from, for messages.

    Raises
    ------
    ConfigError
        Naming the file, every unknown key or wrong value, and what is accepted.
    """
    plain = _stringify_dates(dict(document))
    validator = jsonschema.Draft202012Validator(load_schema(CONFIG_SCHEMA))
    errors = sorted(validator.iter_errors(plain), key=lambda e: [str(p) for p in e.path])
    if errors:
        raise ConfigError("\n".join(_describe_schema_error(e, path) for e in errors))
    assert isinstance(plain, dict)
    top = {k: v for k, v in plain.items() if k not in ("groups", "variables")}
    groups = tuple(
        Section(pattern, _options(values, path, f'in [groups."{pattern}"]'))
        for pattern, values in plain.get("groups", {}).items()
    )
    variables = tuple(
        Section(pattern, _options(values, path, f'in [variables."{pattern}"]'))
        for pattern, values in plain.get("variables", {}).items()
    )
    return PlotConfig(
        path=path,
        top=_options(top, path, "at the top level"),
        groups=groups,
        variables=variables,
    )


def load_config(path: str | PathLike[str]) -> PlotConfig:
    """Read and validate a TOML plot configuration.

    Parameters
    ----------
    path
        The ``.toml`` file.

    Returns
    -------
    PlotConfig
        The checked configuration.

    Raises
    ------
    ConfigError
        When the file is missing, is not TOML, or holds an unknown key or a wrong value.
    """
    file = str(path)
    try:
        text = Path(file).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {file!r} does not exist. Check the path, or leave the config out "
            "to use the attributes of the stores alone."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {file!r} cannot be read: {exc}.") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {file!r} is not valid TOML: {exc}. Fix the syntax (see https://toml.io)."
        ) from None
    return parse_config(document, path=file)
