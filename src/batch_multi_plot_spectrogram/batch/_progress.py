"""The progress file of a batch: load, check, update and persist it; one writer at a time.

The file holds the spec's keys (``completed_items``, ``errors``, ``no_data``,
``last_index``, ``schema_version``) plus ``output_dir``, ``settings``, ``outputs``,
``problems`` and ``updated_at``.
It is checked against ``schemas/progress.schema.json`` when read and before it is written,
and always written atomically, so a crash at any instant leaves the old file or the new
one. A lock file (``<progress>.lock``) keeps a second run off the same progress file; who
holds it is written to ``<progress>.lock.owner``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import filelock
import jsonschema

from .._atomic import write_text_atomic
from .._schemas import load_schema
from ..errors import ProgressFileError, ProgressLockedError

__all__ = [
    "SCHEMA_NAME",
    "SCHEMA_VERSION",
    "Progress",
    "ProgressLock",
    "Status",
    "compare_settings",
    "progress_validator",
    "read_statuses",
]

Status = Literal["ok", "no_data", "error"]

SCHEMA_NAME = "progress.schema.json"
SCHEMA_VERSION = 1

_LIST_OF: dict[Status, str] = {"ok": "completed_items", "error": "errors", "no_data": "no_data"}
# What the user may do about a progress file that cannot be used (see errors.API_REMEDIES).
_START_AFRESH = ("ignore_progress", "other_progress_file")

_validator: jsonschema.protocols.Validator | None = None


def progress_validator() -> jsonschema.protocols.Validator:
    """Return the (cached) JSON Schema validator of the progress file."""
    global _validator
    if _validator is None:
        schema = load_schema(SCHEMA_NAME)
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
        _validator = cls(schema)
    return _validator


def _schema_problem(document: object) -> str | None:
    """Describe the most relevant schema violation of ``document``, or return None."""
    error = jsonschema.exceptions.best_match(progress_validator().iter_errors(document))
    if error is None:
        return None
    return f"at {error.json_path}: {error.message}"


def _normalise(value: Any) -> Any:
    # What a value looks like after a trip through JSON (tuples become lists, ...).
    return json.loads(json.dumps(value))


def compare_settings(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """List the settings that differ, one ``"name: recorded X, now Y"`` line each.

    Settings that are tables (a config file's sections) are compared key by key, named
    ``table.key``.
    """
    missing = object()
    lines = []

    def walk(before_map: Mapping[str, Any], now_map: Mapping[str, Any], prefix: str) -> None:
        for name in sorted(set(before_map) | set(now_map)):
            before, now = before_map.get(name, missing), now_map.get(name, missing)
            if before == now:
                continue
            if isinstance(before, dict) and isinstance(now, dict):
                walk(before, now, f"{prefix}{name}.")
                continue
            shown_before = "(not recorded)" if before is missing else json.dumps(before)
            shown_now = "(not set)" if now is missing else json.dumps(now)
            lines.append(f"{prefix}{name}: recorded {shown_before}, now {shown_now}")

    walk(recorded, _normalise(dict(current)), "")
    return lines


def _read_document(path: Path) -> dict[str, Any] | None:
    """Read and check a progress file: its document, or None when there is no file.

    Raises
    ------
    ProgressFileError
        When the file is not valid JSON, does not match the schema, has an unknown
        ``schema_version`` or lists an item twice. The file is left untouched.
    """
    where = f"Progress file {str(path)!r}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ProgressFileError(f"{where} cannot be read: {exc}.") from exc
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProgressFileError(
            f"{where} is not UTF-8 text ({exc}); it is not a progress file of "
            "generic_batch_plot. The file was left as it is.",
            remedies=_START_AFRESH,
        ) from None
    except json.JSONDecodeError as exc:
        hint = " (the file is empty)" if not raw.strip() else " (it may be truncated)"
        raise ProgressFileError(
            f"{where} is not valid JSON{hint}: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}. The file was left as it is.",
            remedies=_START_AFRESH,
        ) from None
    if not isinstance(document, dict):
        raise ProgressFileError(
            f"{where} holds a JSON {type(document).__name__}; a progress file holds an "
            "object with keys completed_items, errors, no_data, last_index and "
            "schema_version. The file was left as it is.",
            remedies=_START_AFRESH,
        )
    version = document.get("schema_version", None)
    if "schema_version" in document and version != SCHEMA_VERSION:
        raise ProgressFileError(
            f"{where} has schema_version {version!r}; this version of "
            f"batch_multi_plot_spectrogram reads schema_version {SCHEMA_VERSION} only. "
            "The file was left as it is.",
            remedies=_START_AFRESH,
        )
    problem = _schema_problem(document)
    if problem is not None:
        raise ProgressFileError(
            f"{where} does not match the progress schema ({SCHEMA_NAME}) {problem}. "
            "The file was left as it is.",
            remedies=_START_AFRESH,
        )
    owner: dict[str, str] = {}
    for name in _LIST_OF.values():
        for key in document[name]:
            if key in owner:
                raise ProgressFileError(
                    f"{where} lists item {key!r} in both {owner[key]} and {name}; an "
                    "item has one status. The file was left as it is.",
                    remedies=_START_AFRESH,
                )
            owner[key] = name
    return document


def read_statuses(path: str | os.PathLike[str]) -> dict[str, Status]:
    """Item key -> recorded status, from a progress file (empty when there is none).

    Raises
    ------
    ProgressFileError
        When the file is corrupt, truncated or not a progress file.
    """
    document = _read_document(Path(path))
    if document is None:
        return {}
    statuses: dict[str, Status] = {}
    for status, name in _LIST_OF.items():
        statuses.update(dict.fromkeys(document[name], status))
    return statuses


class Progress:
    """The state of a batch: which items are finished, and how.

    Every item key is in at most one of three insertion-ordered sets (dicts with ``None``
    values): ``ok``, ``errors`` and ``no_data``. Moving a key costs O(1), which keeps a
    batch of a million items cheap to keep track of.

    Parameters
    ----------
    path
        The progress file.
    output_dir
        Absolute path of the folder the PNGs go to (recorded in the file).
    settings
        The picture-shaping settings of this run (recorded in the file).
    """

    def __init__(
        self, path: str | os.PathLike[str], output_dir: str, settings: Mapping[str, Any]
    ) -> None:
        self.path = Path(path)
        self.output_dir = output_dir
        self.settings: dict[str, Any] = _normalise(dict(settings))
        self.ok: dict[str, None] = {}
        self.errors: dict[str, None] = {}
        self.no_data: dict[str, None] = {}
        self.last_index: int | None = None
        # Item key -> its output file, relative to output_dir (POSIX): a recorded file
        # belongs to its item, and is never handed to another.
        self.outputs: dict[str, str] = {}
        # Item key -> what its figure was drawn without (variables that could not be rows).
        self.problems: dict[str, list[str]] = {}
        self._owners: dict[str, str] | None = None  # casefolded output -> item key
        self.extra: dict[str, Any] = {}  # keys of later versions, carried over unchanged
        self.dirty = False
        # Keys recorded since the last save: only these still need the per-key schema check.
        self._unchecked: dict[str, None] = {}

    # -- reading ------------------------------------------------------------------------

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], output_dir: str, settings: Mapping[str, Any]
    ) -> tuple[Progress, list[str]]:
        """Read and check a progress file written by an earlier run.

        Returns
        -------
        progress, warnings
            The recorded state (a fresh one when the file does not exist) and notes for
            the log (e.g. settings that could not be checked).

        Raises
        ------
        ProgressFileError
            When the file is not valid JSON, does not match the schema, has an unknown
            ``schema_version``, lists an item twice, or was written for another output
            folder or other settings. The file is left untouched.
        """
        progress = cls(path, output_dir, settings)
        where = f"Progress file {str(progress.path)!r}"
        document = _read_document(progress.path)
        if document is None:
            return progress, []
        for status, name in _LIST_OF.items():
            progress._set_of(status).update(dict.fromkeys(document[name]))
        progress.last_index = document["last_index"]
        progress.outputs = dict(document.get("outputs", {}))
        progress.problems = {k: list(v) for k, v in document.get("problems", {}).items()}
        known = {
            *_LIST_OF.values(),
            "last_index",
            "schema_version",
            "output_dir",
            "settings",
            "updated_at",
            "outputs",
            "problems",
        }
        progress.extra = {k: v for k, v in document.items() if k not in known}
        return progress, progress._check_compatible(document, where)

    def _check_compatible(self, document: Mapping[str, Any], where: str) -> list[str]:
        differences = []
        notes = []
        recorded_dir = document.get("output_dir")
        if recorded_dir is None:
            notes.append(f"{where} does not record its output folder; it was not checked.")
        elif os.path.normpath(recorded_dir) != os.path.normpath(self.output_dir):
            differences.append(
                f"output_dir: recorded {json.dumps(recorded_dir)}, now "
                f"{json.dumps(self.output_dir)}"
            )
        recorded_settings = document.get("settings")
        if recorded_settings is None:
            notes.append(f"{where} does not record the plot settings; they were not checked.")
        else:
            differences += compare_settings(recorded_settings, self.settings)
        if differences:
            listed = "".join(f"\n  {line}" for line in differences)
            raise ProgressFileError(
                f"{where} was written by a run with other settings, so its records cannot "
                f"say which pictures are up to date:{listed}\n"
                "Nothing was rendered and the file was left as it is.",
                remedies=_START_AFRESH,
            )
        return notes

    # -- updating -----------------------------------------------------------------------

    def status_of(self, key: str) -> Status | None:
        """Return the recorded status of ``key``, or None when it has none."""
        if key in self.ok:
            return "ok"
        if key in self.no_data:
            return "no_data"
        if key in self.errors:
            return "error"
        return None

    def owner_of(self, output: str) -> str | None:
        """The item whose recorded output is ``output`` (compared case-insensitively, as
        some file systems compare names), if any."""
        if self._owners is None:
            self._owners = {path.casefold(): key for key, path in self.outputs.items()}
        return self._owners.get(output.casefold())

    def record(
        self,
        key: str,
        status: Status,
        index: int,
        output: str | None = None,
        problems: Iterable[str] = (),
    ) -> None:
        """Record the outcome of one finished item (moving it out of any other list), the
        output file it wrote (relative to the output folder) and what its figure was drawn
        without."""
        listed = list(problems)
        if listed:
            self.problems[key] = listed
        else:
            self.problems.pop(key, None)
        if output is not None:
            self.outputs[key] = output
            if self._owners is not None:
                self._owners[output.casefold()] = key
        target = self._set_of(status)
        self.ok.pop(key, None)
        self.errors.pop(key, None)
        self.no_data.pop(key, None)
        target[key] = None
        self.last_index = index
        self._unchecked[key] = None
        self.dirty = True

    def _set_of(self, status: str) -> dict[str, None]:
        if status == "ok":
            return self.ok
        if status == "error":
            return self.errors
        if status == "no_data":
            return self.no_data
        raise ValueError(f"Expected status 'ok', 'no_data' or 'error'. Got {status!r} instead.")

    def counts(self) -> dict[str, int]:
        """Number of items per status."""
        return {"ok": len(self.ok), "no_data": len(self.no_data), "error": len(self.errors)}

    # -- writing ------------------------------------------------------------------------

    def document(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        """The JSON document of this state.

        Parameters
        ----------
        keys
            Restrict the three lists to these keys (used to check new keys only).
        """
        if keys is None:
            lists = {name: list(self._set_of(status)) for status, name in _LIST_OF.items()}
            outputs = self.outputs
            problems = self.problems
        else:
            lists = {name: [] for name in _LIST_OF.values()}
            outputs = {}
            problems = {}
            for key in keys:
                status = self.status_of(key)
                if status is not None:
                    lists[_LIST_OF[status]].append(key)
                if key in self.outputs:
                    outputs[key] = self.outputs[key]
                if key in self.problems:
                    problems[key] = self.problems[key]
        return {
            **lists,
            "outputs": outputs,
            "problems": problems,
            "last_index": self.last_index,
            "schema_version": SCHEMA_VERSION,
            "output_dir": self.output_dir,
            "settings": self.settings,
            "updated_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            **self.extra,
        }

    def to_text(self) -> str:
        """The file's text: one top-level key per line, lists on one line each."""
        # The C JSON encoder is used only without indent: one dumps per value keeps a
        # 100,000-item file fast to write and still readable.
        document = self.document()
        lines = [
            f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in document.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n}\n"

    def save(self) -> None:
        """Check the state against the schema and write it atomically.

        The whole document is checked except the list entries saved before, which were
        checked then (or when read): re-checking 100,000 keys costs about 0.3 s, too much
        for every save. A list never holds a key twice and a key is never in two lists,
        because each list is the key set of a dict and :meth:`record` moves keys.
        """
        problem = _schema_problem(self.document(self._unchecked))
        if problem is not None:
            raise ProgressFileError(
                f"Refusing to write progress file {str(self.path)!r}: the state does not "
                f"match the progress schema {problem}."
            )
        write_text_atomic(self.path, self.to_text())
        self._unchecked.clear()
        self.dirty = False


# ---------------------------------------------------------------------------------------
# One writer at a time
# ---------------------------------------------------------------------------------------


def _command_line() -> str:
    argv = getattr(sys, "orig_argv", None) or sys.argv
    text = " ".join(str(a) for a in argv)
    return text if len(text) <= 300 else text[:297] + "..."


class ProgressLock:
    """An exclusive lock on a progress file, held for the length of a run.

    Uses :class:`filelock.FileLock` on ``<progress>.lock`` (an OS lock: it is released when
    the holder exits, even when killed). ``filelock`` empties the lock file, so the
    holder's pid, host, command line and start time go to ``<progress>.lock.owner``.

    Parameters
    ----------
    progress_path
        The progress file to protect.
    """

    def __init__(self, progress_path: str | os.PathLike[str]) -> None:
        self.progress_path = Path(progress_path)
        self.lock_path = Path(f"{self.progress_path}.lock")
        self.owner_path = Path(f"{self.progress_path}.lock.owner")
        self._lock = filelock.FileLock(str(self.lock_path), timeout=0)

    def acquire(self) -> None:
        """Take the lock or raise :class:`ProgressLockedError` naming the holder."""
        try:
            self._lock.acquire(timeout=0)
        except filelock.Timeout:
            raise ProgressLockedError(
                f"Progress file {str(self.progress_path)!r} is in use by another run "
                f"({self._describe_holder()}).",
                remedies=("wait_for_lock",),
            ) from None
        try:
            owner = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": _command_line(),
                "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            }
            write_text_atomic(self.owner_path, json.dumps(owner) + "\n")
        except BaseException:
            self._lock.release()
            raise

    def _describe_holder(self) -> str:
        # The holder writes its owner file right after taking the lock: wait a moment
        # for it rather than report an unknown holder.
        deadline = time.monotonic() + 1.0
        while True:
            try:
                owner = json.loads(self.owner_path.read_text(encoding="utf-8"))
                return (
                    f"pid {owner['pid']} on host {owner['host']}, running "
                    f"{owner['command']!r} since {owner['since']}"
                )
            except (OSError, ValueError, KeyError, TypeError):
                if time.monotonic() > deadline:
                    return f"its owner is unknown: {str(self.owner_path)!r} is missing"
                time.sleep(0.05)

    def release(self) -> None:
        """Remove the owner file and release the lock."""
        with contextlib.suppress(OSError):
            self.owner_path.unlink()
        self._lock.release()

    def __enter__(self) -> ProgressLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
