"""Metadata: from a store's groups to the dataset dicts of their figures.

The only code that reads attributes. Modules:

- ``config``: the TOML config file;
- ``_overrides``: which value wins (config, variable, group, store root attributes);
- ``_conventions``: CF and ISTP conventions (which variables are spectrograms, along which
  dimensions);
- ``_items``: which groups of a store are items;
- ``_windows``: time windows of a group as items of their own;
- ``_adapter``: one group opened lazily and turned into dataset dicts.
"""

from __future__ import annotations

from ._adapter import GroupLoader, GroupPlan, load_group, plan_group
from ._items import StoreItem, StoreListing, Window, list_groups
from ._windows import WindowPlan, read_windows_csv, window_items
from .config import PlotConfig, load_config, parse_config

__all__ = [
    "GroupLoader",
    "GroupPlan",
    "PlotConfig",
    "StoreItem",
    "StoreListing",
    "Window",
    "WindowPlan",
    "list_groups",
    "load_config",
    "load_group",
    "parse_config",
    "plan_group",
    "read_windows_csv",
    "window_items",
]
