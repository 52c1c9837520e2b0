"""The exceptions of batch_multi_plot_spectrogram.

Every error the library raises on bad input derives from :class:`SpectrogramError`, itself
a :class:`ValueError`, so ``except ValueError`` keeps working for callers that do not know
this package. Subclasses also inherit the matching builtin where one exists.

An error that the user can fix in more than one way carries its remedies as data
(:attr:`SpectrogramError.remedies`): ``str(error)`` phrases them for the Python API, and
the command line phrases the same remedies in terms of its flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = [
    "API_REMEDIES",
    "CallStoppedError",
    "ClusterError",
    "ConfigError",
    "DataShapeError",
    "DiskFullError",
    "ItemTimeoutError",
    "NoDataError",
    "PoolBrokenError",
    "ProgressFileError",
    "ProgressLockedError",
    "RowError",
    "SettingError",
    "SpectrogramError",
    "StoreError",
    "StoreNotFoundError",
    "WorkerDiedError",
]

#: How the Python API words each remedy an error may carry.
API_REMEDIES: Mapping[str, str] = {
    "ignore_progress": "Pass ignore_progress_json=True to start afresh (the file is then "
    "overwritten at the first save)",
    "other_progress_file": "pass another progress_json_path to keep this file",
    "wait_for_lock": "Wait for that run to finish or stop it, or pass another progress_json_path",
    "writable_output": "Choose folders you can write to",
}


def _phrase(remedies: Sequence[str], words: Mapping[str, str]) -> str:
    """Join the wording of each remedy into one sentence: ``A, or b.``"""
    parts = [words[r] for r in remedies if r in words]
    if not parts:
        return ""
    text = ", or ".join(parts)
    return text[0].upper() + text[1:] + "."


class SpectrogramError(ValueError):
    """Base class of every error raised by batch_multi_plot_spectrogram on bad input.

    Parameters
    ----------
    reason
        What is wrong, naming the store, group, variable, option or file concerned.
    remedies
        Keys of the ways out (see :data:`API_REMEDIES`), phrased by each front end.
    """

    def __init__(self, reason: str = "", *, remedies: Sequence[str] = ()) -> None:
        self.reason = reason
        self.remedies = tuple(remedies)
        super().__init__(self.phrase(API_REMEDIES))

    def phrase(self, words: Mapping[str, str]) -> str:
        """The message with the remedies worded by ``words`` (a front end's table)."""
        advice = _phrase(self.remedies, words)
        return f"{self.reason} {advice}" if advice else self.reason

    def __reduce__(self) -> tuple[object, ...]:
        # Errors travel back from worker processes: keep the remedies.
        return (_rebuild, (type(self), self.reason, self.remedies, self.__dict__))


def _rebuild(
    cls: type[SpectrogramError], reason: str, remedies: tuple[str, ...], state: dict[str, object]
) -> SpectrogramError:
    error = cls.__new__(cls)
    SpectrogramError.__init__(error, reason, remedies=remedies)
    error.__dict__.update(state)
    return error


class RowError(SpectrogramError):
    """A dataset row (one panel) cannot be drawn as given.

    The message starts with the row it concerns, by label or by index.
    """


class DataShapeError(RowError):
    """The shapes of x, y and data of a row disagree."""


class SettingError(SpectrogramError):
    """An option (scale, colormap, limit, reducer, ...) has an unusable value.

    ``option`` names the option and ``detail`` says what was expected and received,
    without naming where the value came from, so that a front end can say it in its own
    terms (a keyword argument, a command-line flag).
    """

    option: str | None = None
    detail: str = ""


class ConfigError(SpectrogramError):
    """A plot configuration file or a metadata attribute is invalid."""

    option: str | None = None
    detail: str = ""


class StoreError(SpectrogramError):
    """A store, group or variable cannot be read as a spectrogram source."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """A path that should hold stores does not exist or holds none."""


class ProgressFileError(SpectrogramError):
    """A progress file is corrupt, truncated, foreign or from another run's settings."""


class ProgressLockedError(SpectrogramError, RuntimeError):
    """Another process holds the progress file of this run."""


class NoDataError(SpectrogramError):
    """An item has nothing to plot: no rows, or no finite value in any row."""


class DiskFullError(SpectrogramError, OSError):
    """The disk holding the output or the progress files is full; the run stops."""


class ClusterError(SettingError, ConnectionError):
    """The scheduler cannot be reached, or a local cluster cannot be started."""


# Failures of the machinery that runs items (not of the user's input): they fail one item.


class WorkerDiedError(RuntimeError):
    """The worker process running an item ended before returning the item's result."""


class ItemTimeoutError(TimeoutError):
    """An item ran longer than the item timeout and its worker process was stopped."""


class CallStoppedError(RuntimeError):
    """A running call was stopped on request."""


class PoolBrokenError(RuntimeError):
    """Worker processes cannot start (their initializer fails)."""
