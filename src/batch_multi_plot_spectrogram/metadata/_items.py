"""Which groups of a store are items: the groups that become figures.

A group is an item when it holds at least one spectrogram variable, or when its metadata
has a defect its figure will report (so the defect is never hidden). Groups holding
variables but no spectrogram are listed as ``no_data``; groups holding only groups are
neither. The decision reads metadata only, never data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from ..stores import StoreBackend, backend_for, location
from ._conventions import METADATA_KEYS, classify
from ._overrides import Overrides, Report
from .config import PlotConfig

__all__ = ["StoreItem", "StoreListing", "Window", "list_groups"]


@dataclass(frozen=True, slots=True)
class Window:
    """A time window of a group: ``[start, end)`` in UNIX seconds, its name in item keys
    (``2015-12-01T12:00``, or a name given) and its event times."""

    start: float
    end: float
    name: str
    events: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class StoreItem:
    """One figure to make: a group of a store.

    Parameters
    ----------
    store
        The path of the store.
    group
        The group's path inside the store: ``"/"`` for the root, else e.g.
        ``"orbit_13312"`` or ``"2000/01/orbit_13312"``.
    backend
        The store's format (default: found from the path when the item is read).
    window
        Draw only this time window of the group (see :mod:`._windows`).
    """

    store: str
    group: str
    backend: StoreBackend | None = field(default=None, compare=False, repr=False)
    window: Window | None = None

    @property
    def key(self) -> str:
        """The item's stable name in progress files and logs: its group path, and for a
        window ``@`` and the window's name (``orbit_1@2015-12-01T12:00``)."""
        if self.window is None:
            return self.group
        return f"{self.group}@{self.window.name}"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class StoreListing:
    """The groups of one store.

    Attributes
    ----------
    store
        The store's path.
    format
        The variant of its format (``"zarr"``, ``"netcdf4"``, ``"netcdf3"``, ...).
    items
        The groups holding at least one spectrogram variable, by path.
    no_data
        The groups holding variables but no spectrogram variable.
    """

    store: str
    format: str
    items: tuple[StoreItem, ...]
    no_data: tuple[str, ...]


def list_groups(
    store: str | os.PathLike[str], *, config: PlotConfig | None = None
) -> StoreListing:
    """List the groups of a store that become figures, reading metadata only.

    Parameters
    ----------
    store
        A store of any registered format.
    config
        A plot configuration whose ``rows``, ``y_dim`` and ``collapse_dim`` keys take part
        in the decision.

    Raises
    ------
    StoreNotFoundError, StoreError
        When the store is missing or cannot be read.
    """
    path = location(store)
    backend = backend_for(path)
    kind = backend.check(path)
    items: list[StoreItem] = []
    no_data: list[str] = []
    for meta in backend.read_groups(path, METADATA_KEYS):
        if not meta.variables:
            continue  # only holds other groups
        if classify(meta, Overrides(meta, config, Report(collect=True))).is_item:
            items.append(StoreItem(path, meta.path, backend))
        else:
            no_data.append(meta.path)
    return StoreListing(path, kind, tuple(items), tuple(no_data))
