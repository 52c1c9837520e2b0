"""Plot configuration: the TOML config file and the override keys it shares with store
attributes.

The same keys style a figure whether they come from a config file or from attributes in a
store: the options of :data:`~batch_multi_plot_spectrogram.options.OPTIONS` that may be set
there. Each value is checked once, where it enters, by the option's own ``parse_*``
function, which raises :class:`~batch_multi_plot_spectrogram.errors.ConfigError` naming
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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import jsonschema

from .._schemas import load_schema
from ..errors import ConfigError
from ..options import Origin, by_config_key, config_keys, describe_value

__all__ = [
    "FIGURE_KEYS",
    "OVERRIDE_KEYS",
    "ROW_KEYS",
    "PlotConfig",
    "Section",
    "load_config",
    "parse_config",
    "parse_override",
]

CONFIG_SCHEMA = "plot-config.schema.json"

#: Keys that style one row (a panel) of a figure.
ROW_KEYS: tuple[str, ...] = config_keys("row")
#: Keys that shape a whole figure (one group).
FIGURE_KEYS: tuple[str, ...] = config_keys("figure")
#: Every key read from attributes and config files.
OVERRIDE_KEYS: tuple[str, ...] = ROW_KEYS + FIGURE_KEYS


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
    entry = by_config_key(key)
    if entry is None:
        raise ConfigError(
            f"{origin.text}: unknown override key {key!r}. Accepted keys: "
            f"{', '.join(OVERRIDE_KEYS)}."
        )
    return entry.parse(value, origin)


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
    # Never shown nor recorded: it may hold credentials (see stores._remote).
    storage: tuple[tuple[str, Any], ...] = field(default=(), repr=False, compare=False)

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

    def mentions(self, key: str) -> bool:
        """Whether any part of the config (top level or a section) sets ``key``."""
        sections = (*self.groups, *self.variables)
        return key in dict(self.top) or any(key in dict(s.options) for s in sections)

    def with_top(self, values: Mapping[str, Any]) -> PlotConfig:
        """A copy whose top-level keys ``values`` (checked already) win over the file's."""
        if not values:
            return self
        top = {**dict(self.top), **values}
        return PlotConfig(self.path, tuple(top.items()), self.groups, self.variables, self.storage)

    def describe(self) -> dict[str, Any]:
        """The configuration as readable JSON values (for the progress file)."""

        def sections(found: tuple[Section, ...]) -> dict[str, Any]:
            return {s.pattern: describe_value(dict(s.options)) for s in found}

        out: dict[str, Any] = describe_value(dict(self.top))
        if self.groups:
            out["groups"] = sections(self.groups)
        if self.variables:
            out["variables"] = sections(self.variables)
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
    return str(origin.fail(expected, error.instance))


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
    top = {k: v for k, v in plain.items() if k not in ("groups", "variables", "storage")}
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
        storage=tuple(dict(document.get("storage", {})).items()),
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
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {file!r} is not UTF-8 text: byte {exc.object[exc.start]:#04x} at "
            f"position {exc.start} is not valid UTF-8. TOML files are UTF-8: save it as UTF-8."
        ) from None
    except OSError as exc:
        raise ConfigError(f"config file {file!r} cannot be read: {exc.strerror or exc}.") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"config file {file!r} is not valid TOML: {exc}. Fix the syntax (see https://toml.io)."
        ) from None
    return parse_config(document, path=file)
