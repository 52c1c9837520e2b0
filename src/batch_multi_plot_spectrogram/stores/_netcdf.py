"""NetCDF files: NetCDF-4/HDF5 (``*.nc``, ``*.nc4``, ``*.h5``) and classic NetCDF.

Which of the two a file is comes from its signature. NetCDF-4 groups are listed with
h5py (attributes and dimension scales only, fast on thousands of groups) and opened with
h5netcdf, which opens one group of a many-group file faster than netCDF4 does; classic
files (one group) are read with netCDF4.

HDF5 files are opened without HDF5's file lock: a reader holding it would make a
producer that appends to a live archive fail to open the file for writing. A group read
while a producer rewrites it may then fail to read; that item fails and is tried again by
the next run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Container
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import StoreError
from ._contract import GroupMeta, StoreBackend, VariableMeta, open_decoding_times
from ._remote import is_url, open_file

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["NetCDFBackend"]

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# netCDF-C's markers for HDF5 datasets that are dimensions, not variables.
_PURE_DIMENSION = b"This is a netCDF dimension but not a netCDF variable"
_NON_COORD_PREFIX = "_nc4_non_coord_"


def _kind(path: Path | str) -> str | None:
    """``netcdf4`` or ``netcdf3`` from the file's signature; None when it is neither."""
    with _open_binary(path) as fh:
        head = fh.read(8)
        if head == _HDF5_SIGNATURE:
            return "netcdf4"
        if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
            return "netcdf3"
        # HDF5 allows a user block before the signature, at 512, 1024, 2048, ... bytes.
        size = fh.seek(0, 2)
        offset = 512
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == _HDF5_SIGNATURE:
                return "netcdf4"
            offset *= 2
    return None


def _open_binary(path: Path | str) -> Any:
    """The file, read through fsspec's block cache when it is a URL (the HDF5 library
    reads many small pieces: each block is fetched once)."""
    if is_url(path):
        shared = open_file(str(path))
        shared.seek(0)
        return contextlib.nullcontext(shared)
    return open(path, "rb")


def _h5file(path: str) -> Any:
    import h5py

    if is_url(path):
        return h5py.File(open_file(path), "r")  # closing it leaves the shared file open
    return h5py.File(path, "r", locking=False)


def _decode(value: Any) -> Any:
    """HDF5 attribute values as Python strings and lists where they are text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SOU":
        return [_decode(v) for v in value.ravel().tolist()]
    return value


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _group_order(meta: GroupMeta) -> tuple[int, str]:
    return (0, "") if meta.path == "/" else (1, meta.path)


class NetCDFBackend(StoreBackend):
    """NetCDF-4/HDF5 and classic NetCDF files."""

    name = "netcdf"
    description = "NetCDF files (*.nc, *.nc4, *.h5)"
    suffixes = (".nc", ".nc4", ".h5")

    def check(self, path: str) -> str:
        try:
            kind = _kind(path)
        except FileNotFoundError:
            raise StoreError(f"{path!r} does not exist.") from None
        if kind is None:
            with _open_binary(path) as fh:
                head = fh.read(8)
            got = "is empty" if not head else f"starts with {head!r}"
            raise StoreError(
                f"{path!r} is not a NetCDF file: it {got}, while NetCDF-4/HDF5 files start "
                "with b'\\x89HDF\\r\\n\\x1a\\n' and classic NetCDF files with b'CDF'. Replace "
                "it with a valid NetCDF file, or rename or remove it."
            )
        return kind

    def read_groups(self, path: str, keys: Container[str]) -> list[GroupMeta]:
        if self.check(path) == "netcdf3":
            return [self._classic(path, keys)]
        return self._hdf5_groups(path, keys)

    def read_root_attrs(self, path: str, keys: Container[str]) -> dict[str, Any]:
        if self.check(path) == "netcdf3":
            return dict(self._classic(path, keys).attrs)
        with _h5file(path) as fh:
            return {k: _decode(v) for k, v in fh.attrs.items() if k in keys}

    def _hdf5_groups(self, path: str, keys: Container[str]) -> list[GroupMeta]:
        import h5py

        out: list[GroupMeta] = []
        try:
            fh = _h5file(path)
        except OSError as exc:
            raise StoreError(
                f"{path!r} cannot be opened as a NetCDF-4/HDF5 file: {exc}."
            ) from None
        with fh:
            root_attrs = {k: _decode(v) for k, v in fh.attrs.items() if k in keys}

            def visit(group: h5py.Group, where: str, scope: dict[Any, str]) -> None:
                datasets: dict[str, h5py.Dataset] = {}
                subgroups: dict[str, h5py.Group] = {}
                for name, node in group.items():
                    if isinstance(node, h5py.Group):
                        subgroups[name] = node
                    elif isinstance(node, h5py.Dataset):
                        datasets[name] = node
                # Dimensions are dimension scales of this group or of an enclosing one.
                scope = {**scope, **{ds.id: name for name, ds in datasets.items()}}
                found: dict[str, VariableMeta] = {}
                for name, ds in datasets.items():
                    names = list(ds.attrs)
                    # A dimension scale carries CLASS and NAME (reading CLASS costs time).
                    if "CLASS" in names and "NAME" in names and "DIMENSION_LIST" not in names:
                        label = ds.attrs["NAME"]
                        if isinstance(label, bytes | str) and _as_bytes(label).startswith(
                            _PURE_DIMENSION
                        ):
                            continue
                        dims: tuple[str, ...] = (name,)
                    elif "DIMENSION_LIST" in names:
                        resolved = [
                            scope.get(h5py.h5r.dereference(refs[0], fh.id)) if len(refs) else None
                            for refs in ds.attrs["DIMENSION_LIST"]
                        ]
                        dims = tuple(r for r in resolved if r is not None)
                        if len(dims) != ds.ndim:
                            dims = ()
                    else:
                        dims = ()
                    attrs = {k: _decode(ds.attrs[k]) for k in names if k in keys}
                    var_name = name.removeprefix(_NON_COORD_PREFIX)
                    found[var_name] = VariableMeta(
                        var_name, dims, ds.dtype.kind, attrs, tuple(ds.shape)
                    )
                gattrs = (
                    root_attrs
                    if where == "/"
                    else {k: _decode(v) for k, v in group.attrs.items() if k in keys}
                )
                out.append(GroupMeta(path, where, gattrs, found, root_attrs))
                for name, sub in subgroups.items():
                    visit(sub, name if where == "/" else f"{where}/{name}", scope)

            visit(fh, "/", {})
        return sorted(out, key=_group_order)

    def _classic(self, path: str, keys: Container[str]) -> GroupMeta:
        import netCDF4

        try:
            nc = netCDF4.Dataset(path, "r")
        except OSError as exc:
            raise StoreError(f"{path!r} cannot be opened as a NetCDF file: {exc}.") from None
        with nc:
            root_attrs = {k: nc.getncattr(k) for k in nc.ncattrs() if k in keys}
            found = {
                name: VariableMeta(
                    name,
                    tuple(var.dimensions),
                    np.dtype(var.dtype).kind,
                    {k: var.getncattr(k) for k in var.ncattrs() if k in keys},
                    tuple(var.shape),
                )
                for name, var in nc.variables.items()
            }
        return GroupMeta(path, "/", root_attrs, found, root_attrs)

    def open_group(self, path: str, group: str) -> xr.Dataset:
        import xarray as xr

        common: dict[str, Any] = {
            "chunks": {},
            "group": None if group in ("", "/") else group.strip("/"),
            "decode_timedelta": False,
        }
        try:
            kind = self.check(path)
            if kind == "netcdf4" and is_url(path):
                return open_decoding_times(
                    partial(
                        xr.open_dataset,
                        open_file(path),
                        engine="h5netcdf",
                        phony_dims="access",
                        **common,
                    )
                )
            if kind == "netcdf4":
                return open_decoding_times(
                    partial(
                        xr.open_dataset,
                        path,
                        engine="h5netcdf",
                        phony_dims="access",
                        driver_kwds={"locking": False},
                        **common,
                    )
                )
            if is_url(path):
                raise OSError("classic NetCDF files are read from local paths only")
            if group not in ("", "/"):
                raise OSError(f"classic NetCDF files have no groups; asked for {group!r}")
            return open_decoding_times(partial(xr.open_dataset, path, engine="netcdf4", **common))
        except (OSError, KeyError, ValueError) as exc:
            raise StoreError(
                f"store {path!r}, group {group!r} cannot be opened: {exc}. List the store's "
                "groups to see which exist."
            ) from None
