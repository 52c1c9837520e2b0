"""The exceptions of batch_multi_plot_spectrogram.

Every error the library raises on bad input derives from :class:`SpectrogramError`, itself
a :class:`ValueError`, so ``except ValueError`` keeps working for callers that do not know
this package. Subclasses also inherit the matching builtin where one exists.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataShapeError",
    "NoDataError",
    "ProgressFileError",
    "ProgressLockedError",
    "RowError",
    "SettingError",
    "SpectrogramError",
    "StoreError",
    "StoreNotFoundError",
]


class SpectrogramError(ValueError):
    """Base class of every error raised by batch_multi_plot_spectrogram on bad input."""


class RowError(SpectrogramError):
    """A dataset row (one panel) cannot be drawn as given.

    The message starts with the row it concerns, by label or by index.
    """


class DataShapeError(RowError):
    """The shapes of x, y and data of a row disagree."""


class SettingError(SpectrogramError):
    """A plotting option (scale, colormap, limit, reducer, ...) has an unusable value."""


class ConfigError(SpectrogramError):
    """A plot configuration file or a metadata attribute is invalid."""


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
