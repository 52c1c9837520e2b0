"""Planning: what to do with each item as it comes.

For each item the planner decides, from its key, its ledger's records and the files on
disk, whether it is a repeat (skipped), already done (skipped with its recorded status),
unplaceable (an error), or to be rendered (a task for the executor).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SettingError
from ._keys import item_key, output_path
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
    output_name_fn
        Names an item's output file relative to its ledger's folder (default: the key's
        safe file name and the format's suffix).
    previews
        Ask workers for each item's thumbnail and record (see :mod:`._previews`).
    """

    def __init__(
        self,
        shipment: Shipment,
        output_format: str,
        output_name_fn: Callable[[str], Any] | None,
        *,
        previews: bool = False,
    ) -> None:
        self.shipment = shipment
        self.output_format = output_format
        self.output_name_fn = output_name_fn
        self.previews = previews
        self._paths: dict[int, dict[Path, str]] = {}

    def plan(self, ledger: Ledger, index: int, item: Any, pending: set[str]) -> Decision:
        key = item_key(item)
        if key in ledger.statuses or key in pending:
            return Repeat(key)
        try:
            path = output_path(
                key, ledger.spec.output_dir, self.output_format, self.output_name_fn
            )
        except Exception as exc:
            return Failed(key, exc)
        recorded = ledger.progress.status_of(key)
        if recorded == "no_data" or (recorded == "ok" and path.exists()):
            return Done(key, recorded)
        if self.output_name_fn is not None:
            other = self._paths.setdefault(ledger.number, {}).setdefault(path, key)
            if other != key:
                return Failed(
                    key,
                    SettingError(
                        f"output_name_fn gave item {key!r} the file {str(path)!r}, which item "
                        f"{other!r} already uses; it must give each item its own path."
                    ),
                )
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
        return Submit(task, missing=recorded == "ok")
