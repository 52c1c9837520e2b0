"""Real CDF files converted the way a user would: ``cdflib.xarray.cdf_to_xarray`` and only
the fixes that writing to NetCDF or Zarr cannot do without.

``cdf_to_xarray`` output cannot be written as it is: datetime-typed attributes (the
``FILLVAL``, ``VALIDMIN`` and ``VALIDMAX`` of epochs), ``units`` attributes on variables
that hold datetimes (xarray encodes those itself), and attribute values that are not
numbers or strings. And cdflib 1.3.16 drops a variable that is both the ``DEPEND_1`` and
the ``LABL_PTR_1`` of another (STEREO HET's text channels), leaving a reference to
nothing: it is put back, as the CDF holds it, along the dimension cdflib made for it.
Those are the only changes made; names, dimensions, values and every other ISTP attribute
are kept as cdflib gives them.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
MMS = REALDATA / "mms1_fpi_fast_l2_des-moms_20151201220000_v3.3.0.cdf"
HET = REALDATA / "sta_l1_het_20240103_v01.cdf"
FAST_MASTER = REALDATA / "fa_esa_l2_eeb_00000000_v01.cdf"


def _writable(value: Any) -> Any:
    """An attribute value NetCDF and Zarr accept, or None to drop it."""
    if isinstance(value, np.ndarray) and value.dtype.kind == "M":
        return None
    if isinstance(value, np.datetime64 | np.timedelta64):
        return None
    if isinstance(value, list | tuple):
        items = [_writable(v) for v in value]
        return None if any(v is None for v in items) else items
    if isinstance(value, bool | np.bool_):
        return int(value)
    return value


def opened(cdf: Path) -> contextlib.AbstractContextManager[Any]:
    """``cdflib.CDF(cdf)``, quiet, its file closed on leaving."""
    from batch_multi_plot_spectrogram.stores._cdf import _opened

    return _opened(str(cdf))


def read_raw(cdf: Path, name: str) -> Any:
    """One variable's values as cdflib reads them."""
    with opened(cdf) as raw, contextlib.redirect_stdout(io.StringIO()):
        return raw.varget(name)


def _restore_dropped_labels(ds: xr.Dataset, cdf: Path) -> xr.Dataset:
    with opened(cdf) as raw:
        return _restore_from(ds, raw)


def _restore_from(ds: xr.Dataset, raw: Any) -> xr.Dataset:
    for var in list(ds.data_vars.values()):
        for index, dim in enumerate(var.dims[1:], start=1):
            label = var.attrs.get(f"DEPEND_{index}")
            if not isinstance(label, str) or label in ds.variables:
                continue
            with contextlib.redirect_stdout(io.StringIO()):
                values = np.asarray(raw.varget(label))
            if values.dtype.kind in "SU" and values.shape == (ds.sizes[dim],):
                attrs = dict(raw.varattsget(label))
                ds = ds.assign_coords({label: (dim, values.astype(str), attrs)})
    return ds


def convert(cdf: Path) -> xr.Dataset:
    """The dataset ``cdf_to_xarray`` makes of ``cdf``, made writable."""
    from cdflib.xarray import cdf_to_xarray

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # cdflib's ISTP compliance notes
        ds = cdf_to_xarray(str(cdf), to_datetime=True, fillval_to_nan=True)
    ds = _restore_dropped_labels(ds, cdf)
    for var in ds.variables.values():
        for key, value in list(var.attrs.items()):
            fixed = _writable(value)
            if fixed is None or (var.dtype.kind == "M" and key.lower() == "units"):
                del var.attrs[key]
            else:
                var.attrs[key] = fixed
    for key, value in list(ds.attrs.items()):
        fixed = _writable(value)
        if fixed is None:
            del ds.attrs[key]
        else:
            ds.attrs[key] = fixed
    return ds


def write_converted(cdf: Path, store: Path) -> Path:
    """Convert ``cdf`` and write it as a NetCDF-4 file or a Zarr store (by suffix)."""
    ds = convert(cdf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr's notes on string arrays
        if store.suffix == ".zarr":
            ds.to_zarr(store, mode="w", consolidated=False)
        else:
            ds.to_netcdf(store, engine="h5netcdf")
    return store
