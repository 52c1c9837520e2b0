"""Signals during a run: SIGINT and SIGTERM stop it cleanly, once its state is saved."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = ["Interrupted", "SignalGuard"]


class Interrupted(BaseException):
    """Raised by the signal handler inside sections that may be cut short."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class SignalGuard:
    """Temporary SIGINT and SIGTERM handlers for the length of a batch.

    The first signal sets :attr:`received`; the driver sees it within
    ``_POLL_SECONDS`` and stops. Only inside :meth:`interruptible` sections (code of the
    caller: iterating ``items``, running an item with ``executor="serial"``) does it raise
    at once; bookkeeping is never cut short, unless a second signal comes.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._interruptible = False

    def install(self) -> None:
        # Handlers can only be set from the main thread; elsewhere, leave them alone.
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous in (signal.SIG_IGN, None):
                continue  # ignored on purpose (nohup, background job) or set outside Python
            self._previous[signum] = previous
            signal.signal(signum, self._handle)

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.received is None
        if first:
            self.received = signum
        if self._interruptible or not first:
            self._interruptible = False
            raise Interrupted(signum)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.received is not None:
            raise Interrupted(self.received)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False
