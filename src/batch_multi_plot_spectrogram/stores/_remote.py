"""Stores named by URL (``s3://``, ``https://``, ``http://``, ``gs://``...): one job,
reaching them through fsspec.

A store is a URL string wherever a local store is a path. The storage options (the
``[storage]`` table of a config file: ``endpoint_url``, ``anon``, credentials...) are
kept in this process's memory (:func:`set_storage_options`), never in an item or a
record: the driver sets them for listing, and the loader that travels to the workers
sets them again there before it opens a store. They are never shown, logged or
recorded (credentials among them: ``key``, ``secret``, ``token``, ``password``...).

Retries: s3fs retries throttling (503 ``SlowDown``), 5xx and timeouts itself, with
exponential backoff (``retries``, default 5, a storage option); HTTP(S) requests go
through an aiohttp session whose middleware retries 5xx, 429 and connection errors
:data:`HTTP_RETRIES` times, backing off exponentially, and logs each retry.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "HTTP_CONNECT_RETRIES",
    "HTTP_RETRIES",
    "NETCDF_BLOCK_SIZE",
    "NETCDF_CACHE",
    "filesystem",
    "is_url",
    "local_path",
    "open_file",
    "set_storage_options",
    "storage_options",
    "zarr_store",
]

log = logging.getLogger(__name__)

#: Attempts after the first for an HTTP(S) request that fails transiently: at 30 % of
#: requests failing, one request in about six million fails them all (at 5 retries, one
#: in 1,400: a run of a few hundred requests would often lose an item).
HTTP_RETRIES = 12
#: Attempts after the first when the server cannot be reached or does not answer: a
#: server that is gone is not back within seconds, and the item's failure names it.
HTTP_CONNECT_RETRIES = 5
#: Backoff before retry ``n`` (from 0): ``HTTP_BACKOFF * 2**n`` seconds, at most
#: ``HTTP_BACKOFF_MAX``, with jitter (all of them together: well under two minutes).
HTTP_BACKOFF = 0.1
HTTP_BACKOFF_MAX = 8.0
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: How NetCDF-4/HDF5 files are read over the network (see README, "Remote archives").
NETCDF_CACHE = "blockcache"
NETCDF_BLOCK_SIZE = 1 << 20

_options: dict[str, Any] = {}


def is_url(path: object) -> bool:
    """Whether ``path`` names a store through a URL other than ``file://``."""
    text = str(path)
    scheme, sep, _ = text.partition("://")
    return bool(sep) and scheme.isidentifier() and scheme.lower() != "file"


def local_path(path: str) -> str:
    """``file://`` URLs as plain paths; anything else unchanged."""
    if str(path).lower().startswith("file://"):
        return urlsplit(str(path)).path
    return path


def set_storage_options(options: Mapping[str, Any] | None) -> None:
    """The storage options of this process's remote stores (replacing earlier ones)."""
    _options.clear()
    _options.update(options or {})


def storage_options() -> dict[str, Any]:
    """A copy of this process's storage options."""
    return dict(_options)


def _retry_middleware() -> Any:
    import aiohttp

    async def middleware(request: Any, handler: Any) -> Any:
        attempt = 0
        while True:
            failure: str
            try:
                response = await handler(request)
            except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                if attempt >= HTTP_CONNECT_RETRIES:
                    raise
                failure = f"{type(exc).__name__}: {exc}"
            else:
                if response.status not in _RETRY_STATUS or attempt >= HTTP_RETRIES:
                    return response
                failure = f"HTTP {response.status}"
                response.release()
            delay = min(HTTP_BACKOFF * 2**attempt, HTTP_BACKOFF_MAX) * (0.5 + random.random())
            attempt += 1
            log.warning(
                "retry %d/%d of %s %s in %.2f s after %s",
                attempt,
                HTTP_RETRIES,
                request.method,
                request.url.with_query(None),  # a signed URL's query is a credential
                delay,
                failure,
            )
            await asyncio.sleep(delay)

    return middleware


async def _http_client(**kwargs: Any) -> Any:
    """fsspec's ``get_client`` for HTTP(S): an aiohttp session that retries."""
    import aiohttp

    return aiohttp.ClientSession(middlewares=(_retry_middleware(),), **kwargs)


def _options_for(protocol: str) -> dict[str, Any]:
    options = storage_options()
    if protocol in ("http", "https"):
        options.setdefault("get_client", _http_client)
    return options


def filesystem(url: str, **extra: Any) -> tuple[Any, str]:
    """The fsspec file system of ``url`` and the path within it."""
    import fsspec

    protocol = urlsplit(url).scheme.lower()
    return fsspec.core.url_to_fs(url, **_options_for(protocol), **extra)


def zarr_store(url: str) -> Any:
    """A read-only zarr store over ``url``."""
    from zarr.storage import FsspecStore

    protocol = urlsplit(url).scheme.lower()
    return FsspecStore.from_url(
        url.rstrip("/"), storage_options=_options_for(protocol), read_only=True
    )


_files: dict[str, Any] = {}


def open_file(url: str) -> Any:
    """A file object reading ``url`` in :data:`NETCDF_BLOCK_SIZE` blocks, cached; the
    same object for the same URL in a process, so that the groups of one file read by
    one worker share its blocks (HDF5 metadata is read once, not once per group). Do not
    close it: readers seek before they read."""
    key = f"{NETCDF_CACHE}:{NETCDF_BLOCK_SIZE}:{url}"
    found = _files.get(key)
    if found is None or found.closed:
        fs, path = filesystem(url)
        found = fs.open(path, "rb", cache_type=NETCDF_CACHE, block_size=NETCDF_BLOCK_SIZE)
        while len(_files) >= 16:  # the oldest is dropped, not closed: a dataset may use it
            _files.pop(next(iter(_files)))
        _files[key] = found
    return found
