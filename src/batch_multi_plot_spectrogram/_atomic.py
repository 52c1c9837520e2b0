"""Atomic file writes: a reader sees the old file or the new one, never a torn one.

The bytes go to a temporary file in the target's own folder (a rename is only atomic
within one file system), which is flushed and fsynced before :func:`os.replace` puts it
in place; the folder is fsynced last so that the rename itself survives a power cut.
A process killed mid-write may leave a hidden ``.<name>.<random>.tmp`` file behind; the
target itself is never partial.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["fsync_directory", "write_bytes_atomic", "write_text_atomic"]


def fsync_directory(folder: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (new names, renames) to disk, where the platform can."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return  # e.g. Windows, where folders cannot be opened: nothing more to do
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and network mounts) refuse fsync on folders
    finally:
        os.close(fd)


def _open_temporary(target: Path) -> tuple[int, Path]:
    # O_EXCL with the usual 0o666 mode: the umask applies as for any new file, unlike
    # tempfile.mkstemp, whose 0o600 would leave PNGs unreadable to the user's group.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


def write_bytes_atomic(
    path: str | os.PathLike[str], data: bytes, *, make_parents: bool = False
) -> Path:
    """Write ``data`` to ``path`` atomically and durably.

    Parameters
    ----------
    path
        The file to create or replace.
    data
        The complete new content.
    make_parents
        Create missing parent folders first.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.
    """
    target = Path(path)
    if make_parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = _open_temporary(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_directory(target.parent)
    return target


def write_text_atomic(
    path: str | os.PathLike[str], text: str, *, make_parents: bool = False
) -> Path:
    """Write ``text`` as UTF-8 to ``path`` atomically; see :func:`write_bytes_atomic`."""
    return write_bytes_atomic(path, text.encode("utf-8"), make_parents=make_parents)
