"""Builders of small Zarr and NetCDF stores for the store tests.

``spectrogram_group`` makes one FAST-like group as an ``xarray.Dataset``; ``write_store``
writes groups into a store of any supported format.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
from dask.callbacks import Callback

#: The store formats the conformance tests cover, with their file suffixes.
FORMATS: dict[str, str] = {"zarr3": ".zarr", "zarr2": ".zarr", "netcdf4": ".nc"}

START = "2000-01-01T00:00:00"
FILL = np.float32(-1.0e31)


def times(n_time: int, start: str = START, cadence_s: float = 4.0) -> np.ndarray:
    """``n_time`` datetime64[ns] values every ``cadence_s`` seconds."""
    step = np.timedelta64(int(cadence_s * 1e9), "ns")
    return np.datetime64(start, "ns") + np.arange(n_time) * step


def spectrogram_group(
    n_time: int = 12,
    n_pitch: int = 3,
    n_energy: int = 5,
    *,
    start: str = START,
    seed: int = 0,
    variables: tuple[str, ...] = ("ees",),
    attrs: Mapping[str, Any] | None = None,
    var_attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """A group with (time, pitch_angle, energy) variables, energies descending (FAST)."""
    rng = np.random.default_rng(seed)
    data_vars = {}
    for name in variables:
        values = rng.uniform(1.0, 100.0, (n_time, n_pitch, n_energy)).astype("float32")
        data_vars[name] = (
            ("time", "pitch_angle", "energy"),
            values,
            {"long_name": f"{name} flux", "units": "counts/s", **(var_attrs or {})},
        )
    return xr.Dataset(
        data_vars,
        coords={
            "time": ("time", times(n_time, start)),
            "pitch_angle": (
                "pitch_angle",
                np.linspace(0, 180, n_pitch).astype("float32"),
                {"units": "degrees"},
            ),
            "energy": (
                "energy",
                np.geomspace(1e4, 10, n_energy).astype("float32"),
                {"long_name": "Energy", "units": "eV"},
            ),
        },
        attrs=dict(attrs or {}),
    )


def _encoding(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    encoding: dict[str, dict[str, Any]] = {}
    for name, var in ds.variables.items():
        enc: dict[str, Any] = {}
        if var.dtype.kind == "M":
            enc = {"units": "seconds since 1970-01-01", "dtype": "float64"}
        if "_FillValue" in var.attrs:
            enc["_FillValue"] = var.attrs["_FillValue"]
        elif var.dtype.kind == "f":
            enc["_FillValue"] = None
        encoding[str(name)] = enc
    return encoding


def _without_fill_attr(ds: xr.Dataset) -> xr.Dataset:
    out = ds.copy()
    for name in out.variables:
        out[name].attrs.pop("_FillValue", None)
    return out


def write_store(
    path: Path,
    fmt: str,
    groups: Mapping[str, xr.Dataset],
    root_attrs: Mapping[str, Any] | None = None,
    *,
    append: bool = False,
) -> Path:
    """Write ``groups`` (path -> dataset; ``"/"`` is the root) into a new store, or, with
    ``append``, add them to an existing store (whose root is then left as it is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = groups.get("/", xr.Dataset())
    root = root.assign_attrs({**root.attrs, **(root_attrs or {})})
    ordered = [("/", root)] + [(g, ds) for g, ds in groups.items() if g != "/"]
    if append:
        ordered = ordered[1:]
    for index, (group, ds) in enumerate(ordered):
        encoding = _encoding(ds)
        ds = _without_fill_attr(ds)
        mode: Literal["w", "a"] = "w" if index == 0 and not append else "a"
        target = None if group == "/" else group
        if fmt in ("zarr3", "zarr2"):
            ds.to_zarr(
                path,
                group=target,
                mode=mode,
                consolidated=False,
                zarr_format=3 if fmt == "zarr3" else 2,
                encoding=encoding,
            )
        elif fmt == "netcdf4":
            ds.to_netcdf(path, group=target, mode=mode, engine="h5netcdf", encoding=encoding)
        else:
            raise ValueError(f"unknown format {fmt!r}")
    return path


class CountComputes(Callback):
    """Counts the dask computations started while it is active (``with CountComputes()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def _start(self, dsk: Any) -> None:
        self.count += 1


def bytes_read() -> int:
    """Bytes this process has read through read(2)-like calls so far (Linux ``/proc``)."""
    with open("/proc/self/io", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")
