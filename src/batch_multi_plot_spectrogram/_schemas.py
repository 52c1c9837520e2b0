"""The JSON Schemas shipped with the package.

The schemas live in the top-level ``schemas/`` folder of the source tree; the wheel carries
them inside the package as ``batch_multi_plot_spectrogram/schemas/``. :func:`load_schema`
finds them in either place.
"""

from __future__ import annotations

import copy
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["load_schema", "schema_path"]

_SOURCE_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema_path(name: str) -> Path:
    """Return the path of the schema file ``name`` (e.g. ``"plot-config.schema.json"``).

    Raises
    ------
    FileNotFoundError
        When the schema is neither in the installed package nor in the source checkout.
    """
    packaged = resources.files(__package__) / "schemas" / name
    if packaged.is_file():
        # An installed wheel: the schemas sit inside the package.
        return Path(str(packaged))
    source = _SOURCE_DIR / name
    if source.is_file():
        # A source checkout or an editable install: the top-level schemas/ folder.
        return source
    raise FileNotFoundError(
        f"Schema {name!r} was found neither in the installed package "
        f"({packaged}) nor in the source tree ({source}). Reinstall the package."
    )


@functools.cache
def _load(name: str) -> dict[str, Any]:
    with schema_path(name).open(encoding="utf-8") as fh:
        schema: dict[str, Any] = json.load(fh)
    return schema


def load_schema(name: str) -> dict[str, Any]:
    """Return the JSON Schema ``name`` as a dict (a fresh copy on every call).

    Parameters
    ----------
    name
        The file name inside ``schemas/``, e.g. ``"progress.schema.json"``.
    """
    return copy.deepcopy(_load(name))
