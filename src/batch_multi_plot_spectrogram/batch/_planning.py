"""Planning: what to do with each item as it comes.

For each item the planner decides, from its key, its ledger's records and the files on
disk, whether it is a repeat (skipped), already done (skipped with its recorded status),
unplaceable (an error), or to be rendered (a task for the executor).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath
from typing import Any

from ..errors import SettingError
from ._keys import default_output_name, item_key, with_digest
from ._previews import preview_paths
from ._recording import Ledger
from ._shipping import Shipment
from ._tasks import ItemTask, Status

__all__ = ["Done", "Failed", "Planner", "Repeat", "Submit"]


@dataclass(frozen=True)
class Submit:
    """Render the item (``missing``: again, because its recorded output is gone)."""

    task: ItemTask
    missing: bool = False


@dataclass(frozen=True)
class Done:
    """The item is recorded as done and its output is there: keep its status."""

    key: str
    status: Status


@dataclass(frozen=True)
class Repeat:
    """An item whose key came before in this run."""

    key: str


@dataclass(frozen=True)
class Failed:
    """The item cannot be rendered at all (no key, no place for its output)."""

    key: str
    error: BaseException


Decision = Submit | Done | Repeat | Failed


class Planner:
    """Decides, item by item, what the run does.

    Parameters
    ----------
    shipment
        The run's functions, named in every task.
    output_format
        The format of the figures.
    output_name
        ``output_name(ledger number, key)``: an item's output file relative to its
        ledger's folder (a name that another item has, in this run or in the progress
        file, is then an error); None for the key's safe file name and the format's
        suffix, with a digest of the key when another item has that name but for case.
    previews
        Ask workers for each item's thumbnail and record (see :mod:`._previews`).
    """

    def __init__(
        self,
        shipment: Shipment,
        output_format: str,
        output_name: Callable[[int, str], Any] | None,
        *,
        previews: bool = False,
    ) -> None:
        self.shipment = shipment
        self.output_format = output_format
        self.output_name = output_name
        self.previews = previews
        self._claimed: dict[int, dict[str, str]] = {}  # casefolded output -> key, this run

    def _relative(self, ledger: Ledger, key: str) -> PurePosixPath:
        if self.output_name is None:
            return PurePosixPath(default_output_name(key, self.output_format))
        relative = self.output_name(ledger.number, key)
        try:
            parts = PurePosixPath(PurePath(os.fspath(relative)).as_posix())
        except TypeError:
            parts = None
        if parts is None or parts.is_absolute() or ".." in parts.parts or str(parts) in ("", "."):
            raise SettingError(
                f"output_name_fn({key!r}) returned {relative!r}; expected a relative file "
                "path inside output_dir such as 'orbits/orbit_001.png' (no '..', not "
                "absolute)."
            )
        return parts

    def plan(self, ledger: Ledger, index: int, item: Any, pending: set[str]) -> Decision:
        key = item_key(item)
        if key in ledger.statuses or key in pending:
            return Repeat(key)
        try:
            relative = self._relative(ledger, key)
        except Exception as exc:
            return Failed(key, exc)
        claimed = self._claimed.setdefault(ledger.number, {})
        other = claimed.get(str(relative).casefold())
        earlier = ledger.progress.owner_of(str(relative))
        if self.output_name is None and {other, earlier} - {None, key}:
            # Names that differ only by case share a file on some file systems. The name
            # is the item's that has it in this run or had it in an earlier one (whichever
            # comes first in this run); this item gets a digest.
            relative = relative.with_name(with_digest(relative.stem, key) + relative.suffix)
            other = claimed.get(str(relative).casefold())
        if other is not None and other != key:
            return Failed(
                key,
                SettingError(
                    f"output_name_fn gave item {key!r} the file "
                    f"{str(ledger.spec.output_dir / relative)!r}, which item {other!r} already "
                    "uses; it must give each item its own path."
                ),
            )
        recorded = ledger.progress.owner_of(str(relative))
        if recorded is not None and recorded != key:
            return Failed(
                key,
                SettingError(
                    f"item {key!r} would write {str(ledger.spec.output_dir / relative)!r}, which "
                    f"the progress file {str(ledger.spec.progress_path)!r} records as the figure "
                    f"of item {recorded!r}; it is left as it is. Give the items names that differ "
                    "by more than case or unsafe characters, or use another output folder."
                ),
            )
        claimed[str(relative).casefold()] = key
        path = ledger.spec.output_dir / relative
        status = ledger.progress.status_of(key)
        if status == "no_data" or (status == "ok" and path.exists()):
            return Done(key, status)
        thumbnail = record = None
        if self.previews:
            previews = preview_paths(ledger.spec.output_dir, path, self.output_format)
            thumbnail, record = str(previews.thumbnail), str(previews.record)
        task = ItemTask(
            index=index,
            key=key,
            item=item,
            output_path=str(path),
            functions_digest=self.shipment.digest,
            functions=self.shipment.blob,
            thumbnail_path=thumbnail,
            record_path=record,
        )
        return Submit(task, missing=status == "ok")
