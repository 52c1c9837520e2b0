"""Find the stores of an archive and list their groups without reading data.

This is the only module that knows Zarr from NetCDF. Stores are Zarr directories
(``*.zarr``, format 2 or 3) and NetCDF files (``*.nc``, ``*.nc4``, ``*.h5``: NetCDF-4/HDF5,
or classic NetCDF). Groups are listed with each format's own library (zarr, h5py), reading
metadata only, which stays fast on thousands of groups; one group is opened lazily with
xarray and dask by :func:`open_group_dataset`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._metadata import METADATA_KEYS, GroupMeta, Overrides, Report, VariableMeta, select_rows
from .config import PlotConfig
from .errors import StoreError, StoreNotFoundError

__all__ = [
    "NETCDF_SUFFIXES",
    "ZARR_SUFFIX",
    "StoreFormat",
    "StoreItem",
    "StoreListing",
    "find_stores",
    "list_groups",
    "open_group_dataset",
    "read_group_metadata",
    "read_root_attrs",
    "store_format",
]

StoreFormat = Literal["zarr", "netcdf4", "netcdf3"]

ZARR_SUFFIX = ".zarr"
NETCDF_SUFFIXES: tuple[str, ...] = (".nc", ".nc4", ".h5")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZARR_MARKERS = ("zarr.json", ".zgroup")
# netCDF-C's markers for HDF5 datasets that are dimensions, not variables.
_PURE_DIMENSION = b"This is a netCDF dimension but not a netCDF variable"
_NON_COORD_PREFIX = "_nc4_non_coord_"

_WHAT_TO_PASS = (
    "Pass a directory holding Zarr stores (*.zarr) or NetCDF files (*.nc, *.nc4, *.h5), "
    "or one such store."
)


@dataclass(frozen=True, slots=True)
class StoreItem:
    """One figure to make: a group of a store.

    Parameters
    ----------
    store
        The path of the store (a ``.zarr`` directory or a NetCDF file).
    group
        The group's path inside the store: ``"/"`` for the root, else e.g.
        ``"orbit_13312"`` or ``"2000/01/orbit_13312"``.
    """

    store: str
    group: str

    @property
    def key(self) -> str:
        """The item's stable name in progress files and logs: its group path."""
        return self.group

    def __str__(self) -> str:
        return self.group


@dataclass(frozen=True, slots=True)
class StoreListing:
    """The groups of one store.

    Attributes
    ----------
    store
        The store's path.
    format
        ``"zarr"``, ``"netcdf4"`` (NetCDF-4/HDF5) or ``"netcdf3"`` (classic NetCDF).
    items
        The groups holding at least one spectrogram variable, by path.
    no_data
        The groups holding variables but no spectrogram variable. Groups that only hold
        other groups are in neither list.
    """

    store: str
    format: StoreFormat
    items: tuple[StoreItem, ...]
    no_data: tuple[str, ...]


def _is_zarr_dir(path: Path) -> bool:
    return path.name.endswith(ZARR_SUFFIX) or any(
        (path / marker).is_file() for marker in _ZARR_MARKERS
    )


def _netcdf_kind(path: Path) -> StoreFormat | None:
    """``netcdf4`` or ``netcdf3`` from the file's signature; None when it is neither."""
    with path.open("rb") as fh:
        head = fh.read(8)
        if head == _HDF5_SIGNATURE:
            return "netcdf4"
        if head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05"):
            return "netcdf3"
        # HDF5 allows a user block before the signature, at 512, 1024, 2048, ... bytes.
        size = path.stat().st_size
        offset = 512
        while offset + 8 <= size:
            fh.seek(offset)
            if fh.read(8) == _HDF5_SIGNATURE:
                return "netcdf4"
            offset *= 2
    return None


def store_format(path: str | os.PathLike[str]) -> StoreFormat:
    """Tell which kind of store ``path`` is.

    Raises
    ------
    StoreNotFoundError
        When ``path`` does not exist.
    StoreError
        When it is not a Zarr store nor a NetCDF file.
    """
    p = Path(path)
    if not p.exists():
        raise StoreNotFoundError(f"{str(path)!r} does not exist. {_WHAT_TO_PASS}")
    if p.is_dir():
        if _is_zarr_dir(p):
            return "zarr"
        raise StoreError(
            f"{str(path)!r} is a directory but not a Zarr store: it is not named *.zarr and "
            "holds no zarr.json or .zgroup. Pass the archive directory to search it, or the "
            "store itself."
        )
    if p.suffix.lower() not in NETCDF_SUFFIXES:
        raise StoreError(
            f"{str(path)!r} is not a store: expected a *.zarr directory or a NetCDF file "
            f"named {', '.join('*' + s for s in NETCDF_SUFFIXES)}. Got a file named "
            f"{p.name!r} instead."
        )
    kind = _netcdf_kind(p)
    if kind is None:
        with p.open("rb") as fh:
            head = fh.read(8)
        got = "is empty" if not head else f"starts with {head!r}"
        raise StoreError(
            f"{str(path)!r} is not a NetCDF file: it {got}, while NetCDF-4/HDF5 files start "
            "with b'\\x89HDF\\r\\n\\x1a\\n' and classic NetCDF files with b'CDF'. Replace it "
            "with a valid NetCDF file, or rename or remove it."
        )
    return kind


def find_stores(path: str | os.PathLike[str]) -> list[str]:
    """Every store under ``path``, searched recursively; ``path`` may be a store itself.

    Zarr directories are not searched inside. Hidden files and directories are skipped.
    Only names are looked at here; :func:`store_format` checks a file's contents.

    Returns
    -------
    list of str
        Absolute paths, sorted.

    Raises
    ------
    StoreNotFoundError
        When ``path`` does not exist or holds no store.
    """
    root = Path(path)
    if not root.exists():
        raise StoreNotFoundError(f"{str(path)!r} does not exist. {_WHAT_TO_PASS}")
    root = root.absolute()
    if root.is_file() or _is_zarr_dir(root):
        store_format(root)
        return [str(root)]
    found: list[str] = []
    for current, dirs, files in os.walk(root):
        here = Path(current)
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            if _is_zarr_dir(here / name):
                found.append(str(here / name))  # a store: listed, not descended into
            else:
                kept.append(name)
        dirs[:] = kept
        found.extend(
            str(here / name)
            for name in files
            if not name.startswith(".") and Path(name).suffix.lower() in NETCDF_SUFFIXES
        )
    if not found:
        raise StoreNotFoundError(
            f"No stores found under {str(path)!r}: it holds no Zarr store (a *.zarr "
            "directory) and no NetCDF file (*.nc, *.nc4, *.h5). Point to the archive "
            "directory that holds them."
        )
    return sorted(found)


def _decode(value: Any) -> Any:
    """HDF5 attribute values as Python strings and lists where they are text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.dtype.kind in "SOU":
        return [_decode(v) for v in value.ravel().tolist()]
    return value


def _wanted(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if k in METADATA_KEYS}


def _zarr_groups(store: str) -> list[GroupMeta]:
    import zarr

    try:
        # zarr reads consolidated metadata when the store has it: one read for all groups.
        root = zarr.open_group(store, mode="r")
    except (FileNotFoundError, KeyError, ValueError, TypeError) as exc:
        raise StoreError(
            f"{store!r} is named like a Zarr store but cannot be opened as one: {exc}. "
            "Check that it holds zarr.json (format 3) or .zgroup (format 2) metadata."
        ) from None
    root_attrs = _wanted(root.attrs.asdict())
    attrs: dict[str, dict[str, Any]] = {"/": root_attrs}
    variables: dict[str, dict[str, VariableMeta]] = {"/": {}}
    for path, node in root.members(max_depth=None):
        if isinstance(node, zarr.Group):
            attrs[path] = _wanted(node.attrs.asdict())
            variables.setdefault(path, {})
            continue
        parent, _, name = path.rpartition("/")
        raw = node.attrs.asdict()
        names: Any = getattr(node.metadata, "dimension_names", None) or raw.get(
            "_ARRAY_DIMENSIONS"
        )
        dims = tuple(str(d) for d in names) if isinstance(names, list | tuple) else ()
        variables.setdefault(parent or "/", {})[name] = VariableMeta(
            name, dims, np.dtype(node.dtype).kind, _wanted(raw)
        )
    return [
        GroupMeta(store, path, attrs.get(path, {}), variables[path], root_attrs)
        for path in sorted(variables, key=_group_order)
    ]


def _group_order(path: str) -> tuple[int, str]:
    return (0, "") if path == "/" else (1, path)


def _hdf5_groups(store: str) -> list[GroupMeta]:
    import h5py

    out: list[GroupMeta] = []
    try:
        fh = h5py.File(store, "r")
    except OSError as exc:
        raise StoreError(f"{store!r} cannot be opened as a NetCDF-4/HDF5 file: {exc}.") from None
    with fh:
        root_attrs = {k: _decode(v) for k, v in fh.attrs.items() if k in METADATA_KEYS}

        def visit(group: h5py.Group, path: str, scope: dict[Any, str]) -> None:
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
                keys = list(ds.attrs)
                # A dimension scale carries CLASS and NAME (reading CLASS too costs time).
                if "CLASS" in keys and "NAME" in keys and "DIMENSION_LIST" not in keys:
                    label = ds.attrs["NAME"]
                    if isinstance(label, bytes | str) and _as_bytes(label).startswith(
                        _PURE_DIMENSION
                    ):
                        continue
                    dims: tuple[str, ...] = (name,)
                elif "DIMENSION_LIST" in keys:
                    resolved = [
                        scope.get(h5py.h5r.dereference(refs[0], fh.id)) if len(refs) else None
                        for refs in ds.attrs["DIMENSION_LIST"]
                    ]
                    dims = tuple(r for r in resolved if r is not None)
                    if len(dims) != ds.ndim:
                        dims = ()
                else:
                    dims = ()
                attrs = {k: _decode(ds.attrs[k]) for k in keys if k in METADATA_KEYS}
                var_name = name.removeprefix(_NON_COORD_PREFIX)
                found[var_name] = VariableMeta(var_name, dims, ds.dtype.kind, attrs)
            gattrs = (
                root_attrs
                if path == "/"
                else {k: _decode(v) for k, v in group.attrs.items() if k in METADATA_KEYS}
            )
            out.append(GroupMeta(store, path, gattrs, found, root_attrs))
            for name, sub in subgroups.items():
                visit(sub, name if path == "/" else f"{path}/{name}", scope)

        visit(fh, "/", {})
    return sorted(out, key=lambda m: _group_order(m.path))


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _netcdf3_groups(store: str) -> list[GroupMeta]:
    import netCDF4

    try:
        nc = netCDF4.Dataset(store, "r")
    except OSError as exc:
        raise StoreError(f"{store!r} cannot be opened as a NetCDF file: {exc}.") from None
    with nc:
        root_attrs = {k: nc.getncattr(k) for k in nc.ncattrs() if k in METADATA_KEYS}
        found = {
            name: VariableMeta(
                name,
                tuple(var.dimensions),
                np.dtype(var.dtype).kind,
                {k: var.getncattr(k) for k in var.ncattrs() if k in METADATA_KEYS},
            )
            for name, var in nc.variables.items()
        }
    return [GroupMeta(store, "/", root_attrs, found, root_attrs)]


def read_group_metadata(store: str | os.PathLike[str]) -> list[GroupMeta]:
    """Describe every group of a store (names, dimensions, attributes), reading no data."""
    path = str(Path(store).absolute())
    kind = store_format(path)
    if kind == "zarr":
        return _zarr_groups(path)
    if kind == "netcdf4":
        return _hdf5_groups(path)
    return _netcdf3_groups(path)


def list_groups(
    store: str | os.PathLike[str], *, config: PlotConfig | None = None
) -> StoreListing:
    """List the groups of a store that become figures, reading metadata only.

    A group is an item when it holds at least one spectrogram variable (a variable with
    a time dimension and an energy or frequency dimension, or one named by ``rows``), or
    when its metadata has a defect that its figure will report.

    Parameters
    ----------
    store
        A ``.zarr`` directory or a NetCDF file.
    config
        A plot configuration whose ``rows``, ``y_dim`` and ``collapse_dim`` keys take part
        in the decision.

    Raises
    ------
    StoreNotFoundError, StoreError
        When the store is missing or cannot be read.
    """
    path = str(Path(store).absolute())
    kind = store_format(path)
    items: list[StoreItem] = []
    no_data: list[str] = []
    for meta in read_group_metadata(path):
        if not meta.variables:
            continue  # only holds other groups
        report = Report(collect=True)
        names, _ = select_rows(meta, Overrides(meta, config, report))
        if names or report.problems:
            items.append(StoreItem(path, meta.path))
        else:
            no_data.append(meta.path)
    return StoreListing(path, kind, tuple(items), tuple(no_data))


def read_root_attrs(store: str | os.PathLike[str]) -> dict[str, Any]:
    """The store's root attributes that the metadata rules read, without opening groups."""
    path = str(Path(store).absolute())
    kind = store_format(path)
    if kind == "zarr":
        import zarr

        # The root's own metadata document only: a consolidated one can be megabytes.
        root = zarr.open_group(path, mode="r", use_consolidated=False)
        return _wanted(root.attrs.asdict())
    if kind == "netcdf4":
        import h5py

        with h5py.File(path, "r") as fh:
            return {k: _decode(v) for k, v in fh.attrs.items() if k in METADATA_KEYS}
    return dict(_netcdf3_groups(path)[0].attrs)


def open_group_dataset(store: str | os.PathLike[str], group: str = "/") -> Any:
    """Open one group lazily as an :class:`xarray.Dataset` backed by dask (no data read).

    Zarr groups are opened without consolidated metadata: each group's own metadata is
    smaller to read than the whole store's consolidated document, and never stale.

    Raises
    ------
    StoreError
        When the group does not exist or cannot be opened.
    """
    import xarray as xr

    path = str(Path(store).absolute())
    kind = store_format(path)
    common: dict[str, Any] = {
        "chunks": {},
        "group": None if group in ("", "/") else group.strip("/"),
        "decode_timedelta": False,
    }
    try:
        if kind == "zarr":
            return xr.open_dataset(path, engine="zarr", consolidated=False, **common)
        if kind == "netcdf4":
            # h5netcdf opens one group of a many-group file faster than netCDF4 does.
            return xr.open_dataset(path, engine="h5netcdf", phony_dims="access", **common)
        if group not in ("", "/"):
            raise OSError(f"classic NetCDF files have no groups; asked for {group!r}")
        return xr.open_dataset(path, engine="netcdf4", **common)
    except (OSError, KeyError, ValueError) as exc:
        raise StoreError(
            f"store {path!r}, group {group!r} cannot be opened: {exc}. List the store's "
            "groups to see which exist."
        ) from None
