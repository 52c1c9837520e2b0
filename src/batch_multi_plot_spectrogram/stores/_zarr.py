"""Zarr stores (format 2 and 3): ``*.zarr`` folders.

Groups are listed with zarr itself (metadata documents only); one group is opened with
xarray and dask without consolidated metadata: each group's own metadata is smaller to
read than the whole store's consolidated document, and never stale.
"""

from __future__ import annotations

import warnings
from collections.abc import Container, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import StoreError
from ._contract import GroupMeta, StoreBackend, VariableMeta, open_decoding_times
from ._remote import filesystem, is_url, zarr_store

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ZarrBackend"]

_MARKERS = ("zarr.json", ".zgroup")


def _wanted(attrs: Mapping[str, Any], keys: Container[str]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k in keys}


def _group_order(path: str) -> tuple[int, str]:
    return (0, "") if path == "/" else (1, path)


class ZarrBackend(StoreBackend):
    """Zarr stores, format 2 and 3."""

    name = "zarr"
    description = "Zarr stores (*.zarr)"
    suffixes = (".zarr",)
    directory = True

    def matches(self, path: Path) -> bool:
        # A folder named *.zarr, or any folder holding Zarr root metadata.
        return path.is_dir() and (
            path.name.lower().endswith(self.suffixes)
            or any((path / marker).is_file() for marker in _MARKERS)
        )

    def check(self, path: str) -> str:
        if is_url(path):
            fs, root = filesystem(path)
            try:
                present = any(fs.isfile(f"{root}/{marker}") for marker in _MARKERS)
            except OSError as exc:
                raise StoreError(f"{path!r} cannot be read: {exc}.") from None
        else:
            present = any((Path(path) / marker).is_file() for marker in _MARKERS)
        if not present:
            raise StoreError(
                f"{path!r} is named like a Zarr store but holds no zarr.json (format 3) or "
                ".zgroup (format 2) metadata. Check that it is a complete Zarr store."
            )
        return "zarr"

    def _open_root(self, path: str, **kwargs: Any) -> Any:
        import zarr

        try:
            where = zarr_store(path) if is_url(path) else path
            return zarr.open_group(where, mode="r", **kwargs)
        except (FileNotFoundError, KeyError, ValueError, TypeError) as exc:
            raise StoreError(
                f"{path!r} is named like a Zarr store but cannot be opened as one: {exc}. "
                "Check that it holds zarr.json (format 3) or .zgroup (format 2) metadata."
            ) from None

    def read_groups(self, path: str, keys: Container[str]) -> list[GroupMeta]:
        import zarr

        # zarr reads consolidated metadata when the store has it: one read for all groups.
        root = self._open_root(path)
        root_attrs = _wanted(root.attrs.asdict(), keys)
        attrs: dict[str, dict[str, Any]] = {"/": root_attrs}
        variables: dict[str, dict[str, VariableMeta]] = {"/": {}}
        # A Zarr store keeps no order of its members; sorted names make one that does not
        # depend on the file system's or the object store's listing.
        for member, node in sorted(root.members(max_depth=None), key=lambda m: m[0]):
            if isinstance(node, zarr.Group):
                attrs[member] = _wanted(node.attrs.asdict(), keys)
                variables.setdefault(member, {})
                continue
            parent, _, name = member.rpartition("/")
            raw = node.attrs.asdict()
            names: Any = getattr(node.metadata, "dimension_names", None) or raw.get(
                "_ARRAY_DIMENSIONS"
            )
            dims = tuple(str(d) for d in names) if isinstance(names, list | tuple) else ()
            variables.setdefault(parent or "/", {})[name] = VariableMeta(
                name, dims, np.dtype(node.dtype).kind, _wanted(raw, keys), tuple(node.shape)
            )
        return [
            GroupMeta(path, group, attrs.get(group, {}), variables[group], root_attrs)
            for group in sorted(variables, key=_group_order)
        ]

    def read_root_attrs(self, path: str, keys: Container[str]) -> dict[str, Any]:
        # The root's own metadata document only: a consolidated one can be megabytes.
        return _wanted(self._open_root(path, use_consolidated=False).attrs.asdict(), keys)

    def open_group(self, path: str, group: str) -> xr.Dataset:

        try:
            with warnings.catch_warnings():
                # Remote stores without consolidated metadata are read group by group.
                warnings.filterwarnings("ignore", "Failed to open Zarr store with consol")
                ds = self._open(path, group)
        except (OSError, KeyError, ValueError) as exc:
            raise StoreError(
                f"store {path!r}, group {group!r} cannot be opened: {exc}. List the store's "
                "groups to see which exist."
            ) from None
        # The same order as read_groups gives: names sorted.
        return ds[sorted(ds.data_vars, key=str)]

    def _open(self, path: str, group: str) -> xr.Dataset:
        import xarray as xr

        return open_decoding_times(
            partial(
                xr.open_dataset,
                zarr_store(path) if is_url(path) else path,
                engine="zarr",
                # Remote: one consolidated document saves a round trip per array (and
                # HTTP cannot list a group's arrays without it).
                consolidated=None if is_url(path) else False,
                chunks={},
                group=None if group in ("", "/") else group.strip("/"),
                decode_timedelta=False,
            )
        )
