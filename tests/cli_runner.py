"""Running ``batch-spectrograms`` as a user does, for the tests of hostile inputs.

Every command runs in its own session, with its output in unnamed temporary files (no
pipe to fill), and is ended with everything it started when it does not finish in time,
also when the test fails. Output is kept as bytes, so that a control character or a
carriage return the command printed is seen as it was printed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CLI = Path(sys.executable).with_name("batch-spectrograms")
#: Seconds a command on a few small stores may take on a busy 2-core machine (it takes
#: 2 to 5 seconds on an idle one).
COMMAND_SECONDS = 180.0
SUMMARY = re.compile(
    r"^(?:(interrupted|terminated): )?ok (\d+), no_data (\d+), error (\d+)"
    r"((?:, [a-z ]+ \d+)*) in (\d+\.\d) s \((\d+\.\d\d) items/s\)$",
    re.MULTILINE,
)
_SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
#: What :mod:`batch_multi_plot_spectrogram` promises of every name it makes.
MAX_NAME_BYTES = 200


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["MPLBACKEND"] = "Agg"
    out.pop("PYTHONWARNINGS", None)
    out.pop("HDF5_USE_FILE_LOCKING", None)
    return out


@dataclass(frozen=True)
class Ran:
    """A finished command: its exit code and what it printed (bytes)."""

    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")

    def __str__(self) -> str:
        """The command and its output, control characters escaped (a failing test must
        not drive the terminal either)."""
        text = (
            f"{' '.join(self.args)}\nexit {self.returncode}\n--- stdout\n{self.out}\n"
            f"--- stderr\n{self.err}"
        )
        return "".join(c if c.isprintable() or c == "\n" else repr(c)[1:-1] for c in text)

    __repr__ = __str__


def end_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a command started in its own session and whatever it started, if alive."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)


def run(
    command: Sequence[object],
    *,
    timeout: float = COMMAND_SECONDS,
    extra_env: dict[str, str] | None = None,
) -> Ran:
    """Run a command to its end (or fail the test after ``timeout`` seconds)."""
    args = tuple(map(str, command))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env={**env(), **(extra_env or {})},
            start_new_session=True,
        )
        try:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                end_group(proc)
                err.seek(0)
                tail = err.read().decode("utf-8", "replace")[-3000:]
                pytest.fail(f"{' '.join(args)} did not finish in {timeout:g} s:\n{tail}")
        finally:
            end_group(proc)
        out.seek(0)
        err.seek(0)
        return Ran(args, proc.returncode, out.read(), err.read())


def cli(*args: object, prefix: Sequence[str] = (), timeout: float = COMMAND_SECONDS) -> Ran:
    """Run ``batch-spectrograms ARGS`` (after ``prefix``, such as ``setpriv ... --``)."""
    return run([*prefix, CLI, *args], timeout=timeout)


@contextlib.contextmanager
def started(*args: object, stderr: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``batch-spectrograms ARGS`` running in its own session, its stderr going to a file;
    killed with everything it started when the block ends, if still running."""
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [str(CLI), *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env(),
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        end_group(proc)


def wait_for(
    proc: subprocess.Popen[Any],
    seen: Callable[[], bool],
    what: str,
    *,
    stall_seconds: float = 120.0,
    progress: Callable[[], object] | None = None,
) -> None:
    """Poll ``seen()`` while ``proc`` runs; fail when it ends first, or when ``progress()``
    (what the command has done so far) stops changing for ``stall_seconds``."""
    last, changed = None, time.monotonic()
    while not seen():
        if proc.poll() is not None:
            pytest.fail(f"the command ended (exit {proc.returncode}) before {what}")
        now = progress() if progress is not None else None
        if now != last:
            last, changed = now, time.monotonic()
        if time.monotonic() - changed > stall_seconds:
            pytest.fail(f"no progress for {stall_seconds:g} s while waiting until {what}")
        time.sleep(0.02)


def summary(stderr: str) -> dict[str, Any]:
    """The summary line of ``render``: how it stopped, its counts, seconds and rate."""
    found = SUMMARY.findall(stderr)
    assert len(found) == 1, f"expected one summary line in:\n{stderr}"
    stopped, ok, no_data, error, extra, seconds, rate = found[0]
    counts = {"ok": int(ok), "no_data": int(no_data), "error": int(error)}
    for part in filter(None, extra.split(", ")):
        name, _, value = part.rpartition(" ")
        counts[name] = int(value)
    return {"stopped": stopped or None, **counts, "seconds": float(seconds), "rate": float(rate)}


def pngs(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def stamp(path: Path) -> tuple[bytes, int, int]:
    """What shows that a file was left as it was: its bytes, inode and modification time."""
    st = path.stat()
    return path.read_bytes(), st.st_ino, st.st_mtime_ns


def unsafe_parts(relative: Path, suffix: str = ".png") -> list[str]:
    """The components of a path made by the library that break its promise: only
    ``A-Z a-z 0-9 . _ -``, no leading ``.`` or ``-``, at most 200 bytes before the file
    suffix (so that the temporary name of an atomic write, ``.<name>.<8 hex>.tmp``, stays
    within the 255 bytes of common file systems)."""
    bad = []
    for number, part in enumerate(relative.parts):
        name = part
        if number == len(relative.parts) - 1 and part.endswith(suffix):
            name = part[: -len(suffix)]
        temporary = f".{part}.12345678.tmp"
        if (
            not _SAFE.fullmatch(name)
            or len(name.encode()) > MAX_NAME_BYTES
            or len(temporary.encode()) > 255
        ):
            bad.append(part)
    return bad


def without_dac_override() -> list[str]:
    """A command prefix under which permission bits apply to this user: none for a
    normal user; for root, ``setpriv`` without the capabilities that bypass them."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root, and no setpriv to make permission bits apply")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]


def bits_apply(prefix: Sequence[str], unreadable: Path) -> bool:
    """Whether a process started with ``prefix`` is refused to read ``unreadable``."""
    probe = run(
        [*prefix, sys.executable, "-c", "import sys; open(sys.argv[1], 'rb')", unreadable],
        timeout=60,
    )
    return probe.returncode != 0 and b"PermissionError" in probe.stderr


def finish(
    proc: subprocess.Popen[Any],
    *,
    progress: Callable[[], object],
    stall_seconds: float = 120.0,
) -> int:
    """Wait for ``proc`` to end and return its exit code; fail the test when
    ``progress()`` (what the command has done so far) stops changing for
    ``stall_seconds`` while it runs."""
    last, changed = progress(), time.monotonic()
    while proc.poll() is None:
        now = progress()
        if now != last:
            last, changed = now, time.monotonic()
        if time.monotonic() - changed > stall_seconds:
            pytest.fail(f"no progress for {stall_seconds:g} s: {last!r}")
        time.sleep(0.05)
    return proc.returncode
