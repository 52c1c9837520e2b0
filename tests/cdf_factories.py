"""ISTP-like CDF files written with cdflib's writer, for tests and benchmarks.

:func:`daily_cdf` writes one day of an electron instrument as CDAWeb serves it: a
``CDF_TIME_TT2000`` (or ``CDF_EPOCH``) ``Epoch``, a (time, energy) float32 flux with
``FILLVAL`` -1e31 and a few fill records, a record-varying energy table (eV, descending, as
electrostatic analysers sweep), ISTP attributes, and gzip-compressed variables.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

FILL = np.float32(-1.0e31)
TT2000 = 33
EPOCH = 31
EPOCH16 = 32
REAL4 = 21
CHAR = 51

GLOBALS: dict[str, str] = {
    "Project": "ISTP>International Solar-Terrestrial Physics",
    "Source_name": "SYN>Synthetic spacecraft",
    "Discipline": "Space Physics>Magnetospheric Science",
    "Data_type": "L2>Level 2",
    "Descriptor": "ESA>Electrostatic analyser",
    "Logical_source_description": "Synthetic electron spectra",
    "PI_name": "nobody",
}


def _globals(values: Mapping[str, str]) -> dict[str, dict[int, str]]:
    return {key: {0: value} for key, value in values.items()}


def write_cdf(
    path: str | os.PathLike[str],
    variables: list[tuple[dict[str, Any], dict[str, Any], Any]],
    global_attrs: Mapping[str, str] | None = None,
) -> Path:
    """Write a CDF: ``variables`` are (spec, attributes, data) as cdflib's writer takes
    them (spec keys ``Variable``, ``Data_Type``, ``Dim_Sizes``, ``Rec_Vary``, ...)."""
    from cdflib.cdfwrite import CDF

    out = Path(path)
    out.unlink(missing_ok=True)
    cdf = CDF(str(out))
    try:
        if global_attrs:
            cdf.write_globalattrs(_globals(global_attrs))
        for spec, attrs, data in variables:
            full = {"Num_Elements": 1, "Rec_Vary": True, "Dim_Sizes": [], **spec}
            cdf.write_var(full, var_attrs=attrs, var_data=data)
    finally:
        cdf.close()
    return out


def epoch_values(times: np.ndarray, data_type: int = TT2000) -> np.ndarray:
    """CDF epoch values of UTC datetime64 times."""
    import cdflib

    parts = [
        [
            int(p)
            for p in str(t.astype("datetime64[ms]"))
            .replace("T", "-")
            .replace(":", "-")
            .replace(".", "-")
            .split("-")
        ]
        for t in times
    ]
    if data_type == TT2000:
        return np.asarray(cdflib.cdfepoch.compute_tt2000(parts), dtype="int64")
    if data_type == EPOCH16:
        return np.asarray(
            cdflib.cdfepoch.compute_epoch16([[*p, 0, 0, 0] for p in parts]), dtype="complex128"
        )
    return np.asarray(cdflib.cdfepoch.compute_epoch(parts), dtype="float64")


def daily_cdf(
    folder: str | os.PathLike[str],
    day: int = 0,
    *,
    source: str = "syn_l2_esa",
    n_time: int = 1440,
    n_energy: int = 32,
    time_type: int = TT2000,
    seed: int | None = None,
    version: str = "v01",
    depend_0: str = "Epoch",
    with_epoch: bool = True,
    compress: int = 6,
) -> Path:
    """One day of synthetic ISTP electron spectra: ``<source>_<YYYYMMDD>_<version>.cdf``.

    ``depend_0`` names the flux's time variable and ``with_epoch`` writes it: set
    ``with_epoch=False`` for a file whose ``DEPEND_0`` names a variable that is missing.
    """
    rng = np.random.default_rng(day if seed is None else seed)
    start = np.datetime64("2020-01-01T00:00:00", "ms") + day * np.timedelta64(1, "D")
    cadence = np.timedelta64(86_400_000 // n_time, "ms")
    times = start + np.arange(n_time) * cadence
    energy = np.geomspace(30_000.0, 10.0, n_energy).astype("float32")
    table = np.repeat(energy[None, :], n_time, axis=0) * rng.uniform(
        0.98, 1.02, (n_time, 1)
    ).astype("float32")
    peak = np.log(1_000.0 * (1 + np.sin(np.arange(n_time) / 200.0 + day)))
    flux = np.exp(-((np.log(table) - peak[:, None]) ** 2) / 2.0) * 1e8
    flux = (flux * rng.lognormal(0.0, 0.2, flux.shape)).astype("float32")
    flux[rng.choice(n_time, max(1, n_time // 100), replace=False)] = FILL
    stamp = str(start.astype("datetime64[D]")).replace("-", "")
    path = Path(folder) / f"{source}_{stamp}_{version}.cdf"
    flux_attrs = {
        "CATDESC": "Omni-directional electron differential energy flux",
        "FIELDNAM": "Electron energy flux",
        "DEPEND_0": depend_0,
        "DEPEND_1": "energy",
        "DISPLAY_TYPE": "spectrogram",
        "VAR_TYPE": "data",
        "UNITS": "keV/(cm^2 s sr keV)",
        "LABLAXIS": "eflux",
        "SCALETYP": "log",
        "FILLVAL": [FILL, "CDF_REAL4"],
        "VALIDMIN": [np.float32(0.0), "CDF_REAL4"],
        "VALIDMAX": [np.float32(1e30), "CDF_REAL4"],
    }
    energy_attrs = {
        "CATDESC": "Energy of each channel",
        "FIELDNAM": "Energy",
        "DEPEND_0": depend_0,
        "VAR_TYPE": "support_data",
        "UNITS": "eV",
        "LABLAXIS": "energy",
        "SCALETYP": "log",
        "FILLVAL": [FILL, "CDF_REAL4"],
        "VALIDMIN": [np.float32(0.0), "CDF_REAL4"],
        "VALIDMAX": [np.float32(1e6), "CDF_REAL4"],
    }
    variables: list[tuple[dict[str, Any], dict[str, Any], Any]] = []
    if with_epoch:
        variables.append(
            (
                {"Variable": "Epoch", "Data_Type": time_type},
                {"CATDESC": "Time tags", "FIELDNAM": "Time", "VAR_TYPE": "support_data"},
                epoch_values(times, time_type),
            )
        )
    variables += [
        (
            {
                "Variable": "eflux",
                "Data_Type": REAL4,
                "Dim_Sizes": [n_energy],
                "Compress": compress,
            },
            flux_attrs,
            flux,
        ),
        (
            {
                "Variable": "energy",
                "Data_Type": REAL4,
                "Dim_Sizes": [n_energy],
                "Compress": compress,
            },
            energy_attrs,
            table,
        ),
    ]
    return write_cdf(path, variables, GLOBALS)
