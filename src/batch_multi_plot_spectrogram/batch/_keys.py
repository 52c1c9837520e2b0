"""Item keys and the file names made from them.

An item's *key* names it in the progress file, in the log and, by default, in the name of
its output file. Keys must be stable from run to run, or progress could not be resumed.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import re
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from ..errors import SettingError
from ..options import output_suffix

__all__ = ["default_output_name", "item_key", "output_path", "safe_file_stem"]


def item_key(item: Any) -> str:
    """The stable name of an item, used in the progress file and for its PNG.

    - a ``str`` is its own key;
    - integers (``int``, numpy integers) give ``str(int(item))``, so ``5`` and
      ``numpy.int64(5)`` are the same item;
    - other real numbers give ``repr(float(item))`` (``2.5`` -> ``"2.5"``);
    - an ``os.PathLike`` gives its ``os.fspath`` (``Path("a/b")`` -> ``"a/b"``);
    - a tuple gives the keys of its parts joined by ``"/"`` (``("2000", 1)`` ->
      ``"2000/1"``);
    - anything else gives ``str(item)``, unless that looks like a default object repr
      (``<... object at 0x...>``), which changes from run to run.

    Raises
    ------
    SettingError
        For booleans and for objects without a stable ``str``.
    """
    if isinstance(item, str):
        return str(item)
    if isinstance(item, bool | np.bool_):
        raise SettingError(
            f"Expected an item to be a str, int, float, os.PathLike or tuple of those. Got "
            f"the boolean {item!r} instead, which names no item; pass names or numbers."
        )
    if isinstance(item, numbers.Integral):
        return str(int(item))
    if isinstance(item, numbers.Real):
        return repr(float(item))
    if isinstance(item, os.PathLike):
        return os.fsdecode(os.fspath(item))
    if isinstance(item, tuple):
        return "/".join(item_key(part) for part in item)
    text = str(item)
    if " object at 0x" in text:
        raise SettingError(
            f"Cannot name the item {text}: its str() is a default object repr, which changes "
            f"from run to run, so progress could not be resumed. Pass items as str, int, "
            f"float, os.PathLike or tuples of those, or give {type(item).__qualname__} a "
            "__str__ that names the item."
        )
    return text


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_STEM = 150


def safe_file_stem(key: str) -> str:
    """A file name stem for ``key``, safe on any file system.

    Characters outside ``[A-Za-z0-9._-]`` become ``_``; a leading dot gets a ``_`` in
    front and over-long names are cut. Whenever anything changed, ``-`` and 10 hex digits
    of the key's SHA-256 are appended, so two different keys never share a file.
    """
    stem = _UNSAFE.sub("_", key)
    changed = stem != key
    if not stem or stem.startswith("."):
        stem, changed = "_" + stem, True
    if len(stem) > _MAX_STEM:
        stem, changed = stem[:_MAX_STEM], True
    if changed:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        stem = f"{stem}-{digest}"
    return stem


def default_output_name(key: str, output_format: str) -> str:
    """The output file of an item of :func:`generic_batch_plot`: its safe stem and the
    format's suffix."""
    return safe_file_stem(key) + output_suffix(output_format)


def output_path(
    key: str,
    output_dir: Path,
    output_format: str,
    output_name_fn: Callable[[str], Any] | None = None,
) -> Path:
    """Where an item's figure goes: ``output_dir`` joined with ``output_name_fn(key)``, or
    with :func:`default_output_name`.

    Raises
    ------
    SettingError
        When ``output_name_fn`` gives anything but a relative path inside ``output_dir``.
    """
    if output_name_fn is None:
        return output_dir / default_output_name(key, output_format)
    relative = output_name_fn(key)
    try:
        parts = PurePath(os.fspath(relative))
    except TypeError:
        parts = None
    if parts is None or parts.is_absolute() or ".." in parts.parts or str(parts) in ("", "."):
        raise SettingError(
            f"output_name_fn({key!r}) returned {relative!r}; expected a relative file path "
            "inside output_dir such as 'orbits/orbit_001.png' (no '..', not absolute)."
        )
    return output_dir / parts
