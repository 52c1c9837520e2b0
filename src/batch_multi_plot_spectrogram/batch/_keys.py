"""Item keys and the file names made from them.

An item's *key* names it in the progress file, in the log and, by default, in the name of
its output file. Keys must be stable from run to run, or progress could not be resumed.
"""

from __future__ import annotations

import hashlib
import numbers
import os
import re
from collections.abc import Collection
from typing import Any

import numpy as np

from ..errors import SettingError
from ..options import output_suffix

__all__ = [
    "MAX_NAME",
    "default_output_name",
    "item_key",
    "name_digest",
    "safe_file_stem",
    "safe_name",
    "with_digest",
]


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
# What a name made safe ends with: a name that already looks so is hashed too, so that a
# key can never take the name made for another key.
_HASHED = re.compile(r"-[0-9a-f]{10}$")
# Names Windows gives to devices, whatever the extension.
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(10)}
)
#: The longest name made, in bytes: with a file suffix and the temporary name of an atomic
#: write (``.<name>.<8 hex>.tmp``), a file name stays within the usual 255 bytes.
MAX_NAME = 200
_DIGEST = 10


def name_digest(identity: str) -> str:
    """10 hex digits of the SHA-256 of ``identity``."""
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST]


def with_digest(name: str, identity: str) -> str:
    """``name`` (cut to fit) with ``-`` and the digest of ``identity`` appended."""
    return f"{name[: MAX_NAME - _DIGEST - 1]}-{name_digest(identity)}"


def safe_name(name: str, *, reserved: Collection[str] = ()) -> str:
    """A file or folder name for ``name``, safe on any file system, and never the same for
    two different names.

    Characters outside ``[A-Za-z0-9._-]`` (path separators, control characters, terminal
    escapes, ``:?*<>|`` and the like) become ``_``; a leading ``.`` or ``-`` gets a ``_``
    in front; over-long names are cut to :data:`MAX_NAME` bytes. Whenever anything changed,
    and also when the name is a Windows device name (``CON``, ``com1.txt``), ends with a
    dot, ends like a digest, or is one of ``reserved`` (compared case-insensitively), ``-``
    and 10 hex digits of the name's SHA-256 are appended.
    """
    safe = _UNSAFE.sub("_", name)
    changed = safe != name
    if not safe or safe[0] in ".-":
        safe, changed = "_" + safe, True
    if (
        safe.split(".", 1)[0].upper() in _DEVICES
        or safe.endswith(".")
        or _HASHED.search(safe)
        or safe.casefold() in reserved
        or len(safe) > MAX_NAME
    ):
        changed = True
    return with_digest(safe, name) if changed else safe


def safe_file_stem(key: str) -> str:
    """The file name stem of an item of :func:`generic_batch_plot` (see :func:`safe_name`)."""
    return safe_name(key)


def default_output_name(key: str, output_format: str) -> str:
    """The output file of an item of :func:`generic_batch_plot`: its safe stem and the
    format's suffix."""
    return safe_file_stem(key) + output_suffix(output_format)
