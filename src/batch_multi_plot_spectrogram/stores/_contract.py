"""The contract between a store format and the rest of the package.

A store is one file or folder of an archive (a Zarr store, a NetCDF file, ...); its
groups are the items. A :class:`StoreBackend` knows one format: how to recognise its
stores, list their groups and attributes without reading data, and open one group
lazily as an :class:`xarray.Dataset`. What the groups look like travels as a neutral
description (:class:`GroupMeta`, :class:`VariableMeta`), the same for every format, so
that the metadata rules reach the same decisions whichever format holds a group.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["GroupMeta", "StoreBackend", "VariableMeta", "open_decoding_times"]


def open_decoding_times(open_dataset: Callable[..., xr.Dataset]) -> xr.Dataset:
    """``open_dataset(decode_times=True)``, or, when xarray cannot decode a time unit
    (``"fortnights since 2000-01-01"``), ``open_dataset(decode_times=False)``: the group
    then opens, and the variable that needed the unit is reported by name when it is
    used (see ``metadata._values.decode_time``), not the whole group."""
    try:
        return open_dataset(decode_times=True)
    except ValueError as exc:
        if "decode time" not in str(exc):
            raise
    return open_dataset(decode_times=False)


@dataclass(frozen=True, slots=True)
class VariableMeta:
    """What is known of a variable without reading its data.

    Attributes
    ----------
    name
        The variable's name in its group.
    dims
        Its dimension names, in order (empty when the store does not name them).
    kind
        Its numpy dtype kind (``"f"``, ``"i"``, ``"M"``, ...).
    attrs
        Its attributes (those asked for).
    shape
        Its shape, when known.
    """

    name: str
    dims: tuple[str, ...]
    kind: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    shape: tuple[int, ...] | None = None

    def text(self, key: str) -> str | None:
        """Attribute ``key`` as a stripped string, or None when absent or not text."""
        value = self.attrs.get(key)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip():
            return value.strip()
        return None

    @property
    def units(self) -> str | None:
        """CF ``units``, else ISTP ``UNITS``."""
        return self.text("units") or self.text("UNITS")


@dataclass(frozen=True, slots=True)
class GroupMeta:
    """A group of a store: its attributes, its variables and the store's root attributes.

    ``path`` is ``"/"`` for the root group, else e.g. ``"2000/orbit_13312"``.
    """

    store: str
    path: str
    attrs: Mapping[str, Any]
    variables: Mapping[str, VariableMeta]
    root_attrs: Mapping[str, Any] = field(default_factory=dict)


class StoreBackend(ABC):
    """One store format.

    Subclass it, set the class attributes, implement the four methods, and register an
    instance with :func:`~batch_multi_plot_spectrogram.stores.register_backend`: the
    archive runner then finds, lists, checks and renders stores of the format like any
    other. Instances are small and stateless; they travel to worker processes with the
    items, by class.

    Attributes
    ----------
    name
        The format's name (``"zarr"``), unique in the registry.
    description
        What its stores are, for messages (``"Zarr stores (*.zarr)"``).
    suffixes
        Lower-case name endings of its stores (``(".zarr",)``).
    directory
        Whether its stores are folders (never searched inside for other stores).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]
    directory: ClassVar[bool] = False

    def matches(self, path: Path) -> bool:
        """Whether ``path`` is named like a store of this format (no content is read)."""
        return path.name.lower().endswith(self.suffixes) and path.is_dir() == self.directory

    @abstractmethod
    def check(self, path: str) -> str:
        """Check from its content that ``path`` is a store of this format.

        Returns
        -------
        str
            The variant found (e.g. ``"netcdf4"`` or ``"netcdf3"``), for messages.

        Raises
        ------
        StoreError
            Naming the path and what it holds instead.
        """

    @abstractmethod
    def read_groups(self, path: str, keys: Container[str]) -> list[GroupMeta]:
        """Describe every group of a store (the root first), reading no data.

        Parameters
        ----------
        path
            The store.
        keys
            The attribute names wanted (others may be left out, for speed).

        Raises
        ------
        StoreError
            When the store cannot be read.
        """

    def read_root_attrs(self, path: str, keys: Container[str]) -> dict[str, Any]:
        """The store's root attributes among ``keys``, without describing every group."""
        return dict(self.read_groups(path, keys)[0].attrs)

    @abstractmethod
    def open_group(self, path: str, group: str) -> xr.Dataset:
        """Open one group lazily: variables backed by dask, no data read.

        Raises
        ------
        StoreError
            When the group does not exist or cannot be opened.
        """

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
