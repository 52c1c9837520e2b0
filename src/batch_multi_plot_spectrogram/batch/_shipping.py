"""Shipping the caller's functions to the workers, once.

``build_datasets_fn``, ``vertical_lines_fn``, ``title_fn`` and the figure options are the
same for every item of a run: they are pickled once (cloudpickle, so lambdas and closures
of ``__main__`` or a notebook work), sent once to each worker where the executor can
share a payload (else with every task), and unpickled once per worker, kept under their
digest. With an executor that runs items in the caller's thread, nothing is pickled: the
caller's own objects run.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cloudpickle

from ..errors import SettingError
from ..options import FigureOptions
from ._logs import apply_logger_levels, logger_levels
from .executors import BatchExecutor
from .executors._local import shared_payload

__all__ = ["FunctionSet", "Shipment", "functions_of"]

log = logging.getLogger(__name__)

FunctionSet = tuple[
    Callable[[Any], Any],
    Callable[[Any], Any] | None,
    Callable[[Any], Any] | None,
    FigureOptions,
]

_LARGE = 10_000_000  # bytes of pickled functions worth a warning when sent with every task

# digest -> functions. Entries starting with "local:" belong to a run in this process and
# are removed when it ends; unpickled ones are few (one per run).
_FUNCTIONS: dict[str, FunctionSet] = {}
_MAX_UNPICKLED = 4


@dataclass
class Shipment:
    """The functions of one run, packed.

    Attributes
    ----------
    digest
        Their name in every task.
    blob
        What each task carries: empty once the functions are shared with the workers or
        registered in this process.
    """

    digest: str
    blob: bytes

    @classmethod
    def pack(cls, functions: FunctionSet, *, in_caller: bool) -> Shipment:
        """Pickle the functions (or register them, when items run in this thread).

        Raises
        ------
        SettingError
            When they cannot be pickled, before anything else happens.
        """
        if in_caller:
            digest = f"local:{uuid.uuid4().hex}"
            _FUNCTIONS[digest] = functions
            return cls(digest, b"")
        try:
            # The driver's logger levels travel with the functions, so workers of any
            # executor (a dask cluster's too) keep the records the driver would log.
            blob = cloudpickle.dumps((functions, logger_levels()))
        except Exception as exc:
            raise SettingError(
                f"build_datasets_fn (with vertical_lines_fn, title_fn and the plot options) "
                f"cannot be sent to worker processes: {type(exc).__name__}: {exc}. Make it "
                "picklable (no open files, locks or connections in its closure; open them "
                "inside the function), or use executor='serial'."
            ) from exc
        return cls(hashlib.sha256(blob).hexdigest()[:16], blob)

    def send(self, executor: BatchExecutor) -> None:
        """Share the functions with the executor's workers, where it can."""
        if not self.blob:
            return
        if executor.share(self.digest, self.blob):
            self.blob = b""
        elif len(self.blob) > _LARGE:
            log.warning(
                "build_datasets_fn (with its closure, vertical_lines_fn, title_fn and the plot "
                "options) pickles to %.0f MB, sent with every item to %s. Load large data "
                "inside the function instead of capturing it.",
                len(self.blob) / 1e6,
                executor.describe(),
            )

    def release(self, executor: BatchExecutor) -> None:
        """Forget the functions at the end of the run."""
        if self.digest.startswith("local:"):
            _FUNCTIONS.pop(self.digest, None)
        else:
            executor.unshare(self.digest)


def functions_of(digest: str, blob: bytes) -> FunctionSet:
    """In a worker: the functions of a task, unpickled once per run and kept."""
    found = _FUNCTIONS.get(digest)
    if found is None:
        blob = blob or shared_payload(digest) or b""
        if not blob:
            raise RuntimeError(
                f"The functions of this batch ({digest}) are not known in this process: "
                "the task ran outside its batch."
            )
        found, levels = cloudpickle.loads(blob)
        apply_logger_levels(levels)
        _FUNCTIONS[digest] = found
        unpickled = [k for k in _FUNCTIONS if not k.startswith("local:")]
        for stale in unpickled[:-_MAX_UNPICKLED]:
            del _FUNCTIONS[stale]
    return found
