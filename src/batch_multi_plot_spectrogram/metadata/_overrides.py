"""Overrides and their precedence: config file, variable, group, store root attributes.

A value is read from the first place that sets it and validated once, where it is read,
by the option's own validator; a bad value is reported (:class:`Report`) and treated as
unset, so one bad attribute never hides the rest of a group.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..errors import SpectrogramError
from ..options import Origin
from ..stores import GroupMeta
from .config import PlotConfig, parse_override

__all__ = ["Overrides", "Report"]


class Report:
    """Raise the first problem, or collect them all (for ``validate``) and go on."""

    def __init__(self, collect: bool = False) -> None:
        self.collect = collect
        self.problems: list[SpectrogramError] = []

    def add(self, exc: SpectrogramError) -> None:
        """Raise ``exc``, or record it once when collecting."""
        if not self.collect:
            raise exc
        if all(str(p) != str(exc) for p in self.problems):
            self.problems.append(exc)


class Overrides:
    """Resolve an override key: config, then variable, group, and store root attributes.

    Each winning value is validated once, where it is read; a bad value is reported and
    treated as unset.
    """

    def __init__(self, meta: GroupMeta, config: PlotConfig | None, report: Report) -> None:
        self.meta = meta
        self.config = config or PlotConfig()
        self.report = report
        self._figure = self.config.figure_options(meta.path)
        self._cache: dict[tuple[str | None, str], Any] = {}

    def _attribute_levels(
        self, variable: str | None
    ) -> Iterator[tuple[Mapping[str, Any], str | None, str]]:
        if variable is not None:
            yield self.meta.variables[variable].attrs, variable, self.meta.path
        yield self.meta.attrs, None, self.meta.path
        if self.meta.path != "/":
            yield self.meta.root_attrs, None, "/"

    def _resolve(self, key: str, variable: str | None, configured: Mapping[str, Any]) -> Any:
        if (variable, key) in self._cache:
            return self._cache[(variable, key)]
        value: Any = None
        if key in configured:
            value = configured[key]  # validated when the config was loaded
        else:
            for attrs, var, group in self._attribute_levels(variable):
                if key in attrs:
                    origin = Origin.attribute(self.meta.store, group, var, key)
                    try:
                        value = parse_override(key, attrs[key], origin)
                    except SpectrogramError as exc:
                        self.report.add(exc)
                    break
        self._cache[(variable, key)] = value
        return value

    def figure(self, key: str) -> Any:
        """The value of figure key ``key`` for the group, or None."""
        return self._resolve(key, None, self._figure)

    def row(self, variable: str, key: str) -> Any:
        """The value of row key ``key`` for ``variable``, or None."""
        configured = self.config.row_options(self.meta.path, variable)
        return self._resolve(key, variable, configured)
