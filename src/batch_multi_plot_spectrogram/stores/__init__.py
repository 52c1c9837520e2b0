"""Stores: the formats an archive may hold, in one table, and finding them.

Each format is one :class:`StoreBackend` in :data:`BACKENDS` (Zarr, NetCDF and CDF are
registered here). This package is the only code that imports a format's library (zarr,
h5py, netCDF4, cdflib); the rest of the package reaches stores through the functions below.

To add a format, write a :class:`StoreBackend` and register it::

    from batch_multi_plot_spectrogram.stores import StoreBackend, register_backend

    class NpzBackend(StoreBackend):
        name, description, suffixes = "npz", "NumPy archives (*.npz)", (".npz",)
        ...

    register_backend(NpzBackend())
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Container
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError, StoreNotFoundError
from ._cdf import CDFBackend
from ._contract import GroupMeta, StoreBackend, VariableMeta
from ._netcdf import NetCDFBackend
from ._remote import is_url, local_path
from ._zarr import ZarrBackend

if TYPE_CHECKING:
    import xarray as xr

__all__ = [
    "BACKENDS",
    "CDFBackend",
    "GroupMeta",
    "StoreBackend",
    "VariableMeta",
    "backend_for",
    "find_stores",
    "location",
    "open_group",
    "read_groups",
    "read_root_attrs",
    "register_backend",
    "store_format",
]

log = logging.getLogger(__name__)

#: The registered formats, by name, in the order they are tried.
BACKENDS: dict[str, StoreBackend] = {}


def register_backend(backend: StoreBackend) -> StoreBackend:
    """Add a store format to :data:`BACKENDS` (replacing one of the same name).

    Returns the backend, so that a module can register as it defines.
    """
    if not isinstance(backend, StoreBackend):
        raise TypeError(f"Expected a StoreBackend instance. Got {backend!r} instead.")
    BACKENDS[backend.name] = backend
    return backend


register_backend(ZarrBackend())
register_backend(NetCDFBackend())
register_backend(CDFBackend())


def _formats() -> str:
    descriptions = [b.description for b in BACKENDS.values()]
    if len(descriptions) < 2:
        return "".join(descriptions)
    return ", ".join(descriptions[:-1]) + " or " + descriptions[-1]


def _what_to_pass() -> str:
    return f"Pass a directory holding {_formats()}, or one such store."


def location(path: str | os.PathLike[str]) -> str:
    """A store's name everywhere: its URL as given, or its absolute path (``file://``
    URLs become paths)."""
    text = local_path(os.fspath(path))
    return text.rstrip("/") if is_url(text) else str(Path(text).absolute())


def _remote_backend(url: str) -> StoreBackend:
    name = url.rstrip("/").rsplit("/", 1)[-1].lower()
    for backend in BACKENDS.values():
        if name.endswith(backend.suffixes):
            return backend
    raise StoreError(
        f"{url!r} is not named like a store: expected one of {_formats()}. Name the store, "
        "or a prefix (folder) that holds stores."
    )


def backend_for(path: str | os.PathLike[str]) -> StoreBackend:
    """The format of a store, from its name (and, for folders, their marker files).

    Raises
    ------
    StoreNotFoundError
        When ``path`` does not exist.
    StoreError
        When no registered format claims it.
    """
    if is_url(path):
        return _remote_backend(os.fspath(path))
    p = Path(path)
    if not p.exists():
        raise StoreNotFoundError(f"{str(path)!r} does not exist. {_what_to_pass()}")
    if not p.is_dir():
        _check_regular(p)
    for backend in BACKENDS.values():
        if backend.matches(p):
            return backend
    if p.is_dir():
        raise StoreError(
            f"{str(path)!r} is a directory but not a store of any known format "
            f"({_formats()}). Pass the archive directory to search it, or the store itself."
        )
    raise StoreError(
        f"{str(path)!r} is not a store: expected one of {_formats()}. Got a file named "
        f"{p.name!r} instead."
    )


def store_format(path: str | os.PathLike[str]) -> str:
    """Tell which kind of store ``path`` is, from its name and content (``"zarr"``,
    ``"netcdf4"``, ``"netcdf3"``, ...).

    Raises
    ------
    StoreNotFoundError, StoreError
        When it does not exist or is not a store of a known format.
    """
    absolute = location(path)
    return backend_for(absolute).check(absolute)


def find_stores(path: str | os.PathLike[str]) -> list[str]:
    """Every store under ``path``, searched recursively; ``path`` may be a store itself.

    Folder stores are not searched inside. Hidden files and folders are skipped. Only
    names are looked at here, except when ``path`` is a store itself.

    Returns
    -------
    list of str
        Absolute paths, sorted.

    Raises
    ------
    StoreNotFoundError
        When ``path`` does not exist or holds no store.
    """
    if is_url(local_path(os.fspath(path))):
        return _find_remote(location(path))
    root = Path(local_path(os.fspath(path)))
    if not root.exists():
        raise StoreNotFoundError(f"{str(path)!r} does not exist. {_what_to_pass()}")
    root = root.absolute()
    if not root.is_dir():
        store_format(root)
        return [str(root)]
    if any(b.matches(root) for b in BACKENDS.values() if b.directory):
        store_format(root)
        return [str(root)]
    folders = [b for b in BACKENDS.values() if b.directory]
    files = [b for b in BACKENDS.values() if not b.directory]
    found: list[str] = []
    for current, dirs, names in os.walk(root):
        here = Path(current)
        kept = []
        for name in sorted(dirs):
            if name.startswith("."):
                continue
            if any(b.matches(here / name) for b in folders):
                found.append(str(here / name))  # a store: listed, not descended into
            else:
                kept.append(name)
        dirs[:] = kept
        for name in names:
            candidate = here / name
            if name.startswith(".") or not any(b.matches(candidate) for b in files):
                continue
            if not _is_regular(candidate):
                # A FIFO, socket or device named like a store would block or fail whoever
                # opens it: it is not a store, and it is never opened.
                log.warning(
                    "skipped %r: named like a store but not a regular file", str(candidate)
                )
                continue
            found.append(str(candidate))
    if not found:
        raise StoreNotFoundError(
            f"No stores found under {str(path)!r}: it holds none of {_formats()}. Point to "
            "the archive directory that holds them."
        )
    return sorted(found)


def _find_remote(url: str) -> list[str]:
    """The stores under a URL, found with the file system's own listing: a prefix is
    listed level by level, never inside a store (a Zarr store's chunks are not listed).
    A URL naming a store is that store (HTTP cannot list: name the store)."""
    from ._remote import filesystem

    if any(url.lower().endswith(b.suffixes) for b in BACKENDS.values()):
        store_format(url)
        return [url]
    fs, root = filesystem(url)
    try:
        found_root = fs.isdir(root)
    except (OSError, ValueError) as exc:
        raise StoreNotFoundError(f"{url!r} cannot be listed: {exc}. {_what_to_pass()}") from None
    if not found_root:
        raise StoreNotFoundError(
            f"{url!r} does not exist (no bucket, prefix or folder by that name). {_what_to_pass()}"
        )
    found: list[str] = []
    pending = [root]
    while pending:
        here = pending.pop()
        for entry in fs.ls(here, detail=True):
            name = entry["name"].rstrip("/")
            base = name.rsplit("/", 1)[-1]
            if base.startswith(".") or name.rstrip("/") == here.rstrip("/"):
                continue
            named = [b for b in BACKENDS.values() if base.lower().endswith(b.suffixes)]
            if named:
                found.append(fs.unstrip_protocol(name))
            elif entry.get("type") == "directory":
                pending.append(name)
    if not found:
        raise StoreNotFoundError(
            f"No stores found under {url!r}: it holds none of {_formats()}. Point to the "
            "prefix that holds them."
        )
    return sorted(found)


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # unreadable: let reading it say why, for this store alone


def _check_regular(path: Path) -> None:
    if not _is_regular(path):
        raise StoreError(
            f"{str(path)!r} is not a regular file (a FIFO, socket or device): it is never "
            "opened as a store. Pass the file or folder that holds the data."
        )


def read_groups(store: str | os.PathLike[str], keys: Container[str]) -> list[GroupMeta]:
    """Describe every group of a store (the root first), reading no data.

    ``keys`` are the attribute names wanted. Raises :class:`StoreError` when the store
    cannot be read.
    """
    path = location(store)
    backend = backend_for(path)
    backend.check(path)
    return backend.read_groups(path, keys)


def read_root_attrs(store: str | os.PathLike[str], keys: Container[str]) -> dict[str, Any]:
    """The store's root attributes among ``keys``, without describing its groups."""
    path = location(store)
    return backend_for(path).read_root_attrs(path, keys)


def open_group(
    store: str | os.PathLike[str], group: str = "/", backend: StoreBackend | None = None
) -> xr.Dataset:
    """Open one group lazily as an :class:`xarray.Dataset` backed by dask (no data read).

    Raises
    ------
    StoreError
        When the group does not exist or cannot be opened.
    """
    path = location(store)
    return (backend or backend_for(path)).open_group(path, group)
