"""Reading values the way their conventions mean them: times, durations, text channels and
the format codes of labels.

- Times: datetime64 values as they are; CF ``"<unit> since <epoch>"`` is decoded by
  xarray before this; numbers with an ISTP epoch (CDF ``TT2000`` nanoseconds since J2000
  with leap seconds, ``CDF_EPOCH`` milliseconds since year 0) are converted with cdflib;
  UNIX seconds are accepted when the variable says seconds and the values are plausible
  ones. Anything else is an error naming the variable and its unit.
- Durations (ISTP ``DELTA_PLUS_VAR`` on an epoch) in ``ns``, ``us``, ``ms``, ``s``,
  ``min``, ``h``, ``d``, spelled out or not.
- Channels given only as text, ``"13.6 - 15.1 MeV"``: a range and a unit each.
- IDL/ISTP format codes in labels (``!E``, ``!U`` superscript, ``!D``, ``!I`` subscript,
  ``!N`` back to normal) as Matplotlib mathtext.
"""

from __future__ import annotations

import re

import numpy as np

from ..errors import StoreError

__all__ = [
    "decode_time",
    "format_codes",
    "parse_channel_labels",
    "seconds_per",
]

_SECONDS = {
    "ns": 1e-9, "nanosecond": 1e-9, "nanoseconds": 1e-9,
    "us": 1e-6, "µs": 1e-6, "microsecond": 1e-6, "microseconds": 1e-6,
    "ms": 1e-3, "millisecond": 1e-3, "milliseconds": 1e-3, "msec": 1e-3,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip


def seconds_per(units: str | None) -> float | None:
    """Seconds in one ``units`` of time (``"ns"`` -> 1e-9), or None when not a time unit."""
    if not units:
        return None
    return _SECONDS.get(units.strip().lower())


# Plausible UNIX seconds: 1950 to 2100.
_UNIX_RANGE = (-631152000.0, 4102444800.0)


def decode_time(values: np.ndarray, *, where: str, attrs: dict[str, object]) -> np.ndarray:
    """Times as datetime64[ns] (NaT where there is none).

    Raises
    ------
    StoreError
        When the values cannot be placed in time: naming ``where`` (the store, group and
        variable) and the unit.
    """
    if values.dtype.kind == "M":
        return values.astype("datetime64[ns]")
    units = next((str(attrs[k]) for k in ("units", "UNITS") if attrs.get(k)), None)
    hints = " ".join(str(attrs.get(k, "")) for k in ("CDF_DATA_TYPE", "TIME_BASE", "TIME_SCALE"))
    finite = values[np.isfinite(values.astype("float64"))] if values.dtype.kind in "iuf" else []
    since = _SINCE.match(units or "")
    if since is not None and values.dtype.kind in "iuf":
        # Only when xarray could not decode the unit (the store was opened without time
        # decoding): the calendar is the standard one, or the unit is not a time unit.
        out = _since(values, since[1], since[2])
        if out is not None:
            return out
    elif values.dtype.kind in "iuf" and len(finite):
        import_cdflib = (
            "TT2000" in hints
            or "J2000" in hints
            or (units is not None and units.strip().lower() == "ns" and values.dtype.kind in "iu")
        )
        if import_cdflib or "CDF_EPOCH" in hints:
            return _cdf_epoch(values, where=where, units=units)
        factor = seconds_per(units)
        low, high = float(np.min(finite)), float(np.max(finite))
        if (
            factor is not None
            and _UNIX_RANGE[0] <= low * factor
            and high * factor <= _UNIX_RANGE[1]
        ):
            seconds = values.astype("float64") * factor
            out = (seconds * 1e9).astype("int64").astype("datetime64[ns]")
            out[~np.isfinite(seconds)] = np.datetime64("NaT")
            return out
    raise StoreError(
        f"{where}: its times cannot be placed: values of dtype {values.dtype} in units "
        f"{units!r}. Accepted: datetime values, CF units '<unit> since <epoch>', CDF epochs "
        "(TT2000, CDF_EPOCH, EPOCH16), or UNIX seconds in units 's'. Fix the units "
        "attribute of the time variable."
    )


_SINCE = re.compile(r"^\s*(\w+)\s+since\s+(.+?)\s*$", re.IGNORECASE)


def _since(values: np.ndarray, unit: str, epoch: str) -> np.ndarray | None:
    """``values`` in ``unit`` since ``epoch`` as datetime64[ns], or None when ``unit`` is
    not a unit of time or ``epoch`` not a date."""
    import pandas as pd

    factor = seconds_per(unit)
    try:
        start = pd.Timestamp(epoch.removesuffix("UTC").strip())
    except ValueError:
        return None
    if factor is None or start is pd.NaT:
        return None
    if start.tzinfo is not None:
        start = start.tz_convert("UTC").tz_localize(None)
    seconds = values.astype("float64") * factor
    out = np.datetime64(start.to_datetime64(), "ns") + (seconds * 1e9).astype("int64").astype(
        "timedelta64[ns]"
    )
    out[~np.isfinite(seconds)] = np.datetime64("NaT")
    return out


def _cdf_epoch(values: np.ndarray, *, where: str, units: str | None) -> np.ndarray:
    try:
        import cdflib
    except ImportError:
        raise StoreError(
            f"{where}: its times are CDF epochs (units {units!r}), which need cdflib to be "
            "read. Install cdflib."
        ) from None
    try:
        return np.asarray(cdflib.cdfepoch.to_datetime(values), dtype="datetime64[ns]")
    except Exception as exc:
        raise StoreError(
            f"{where}: its values look like CDF epochs (units {units!r}) but cannot be read "
            f"as such: {exc}."
        ) from None


_NUMBER = r"[-+]?\d+(?:\s*\.\s*\d*)?(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*(?:-|–|to)\s*({_NUMBER})\s*([^\d\s].*?)?\s*$")


def parse_channel_labels(labels: list[str]) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Channel centres, bounds and unit from labels like ``"13.6 - 15.1 MeV"``.

    Spaces inside a number (``"33. 4"``) are ignored. Every label must be a range; the
    unit is that of the labels (they must agree where given).

    Raises
    ------
    ValueError
        Naming the first label that is not a range, or labels whose units differ.
    """
    bounds = []
    units: set[str] = set()
    for label in labels:
        match = _RANGE.match(str(label))
        if match is None:
            raise ValueError(f"label {label!r} is not a range such as '13.6 - 15.1 MeV'")
        low, high = (float(re.sub(r"\s+", "", match[i])) for i in (1, 2))
        bounds.append((min(low, high), max(low, high)))
        if match[3]:
            units.add(match[3].strip())
    if len(units) > 1:
        raise ValueError(f"the labels give different units: {sorted(units)}")
    array = np.array(bounds, dtype="float64").reshape(-1, 2)
    return array.mean(axis=1), array, (units.pop() if units else None)


_CODE = re.compile(r"!([EUDIN!])", re.IGNORECASE)


def format_codes(text: str) -> str:
    """IDL/ISTP format codes as Matplotlib mathtext: ``"cm!E-2!N"`` -> ``"cm$^{-2}$"``.

    Text without codes is returned as it is (dollar signs included).
    """
    if "!" not in text or not _CODE.search(text):
        return text
    out: list[str] = []
    mode = ""  # "^" or "_" while raised or lowered
    for part in re.split(r"(![EUDIN!])", text, flags=re.IGNORECASE):
        code = part[1:].upper() if _CODE.fullmatch(part) else None
        if code == "!":
            out.append("!")
            continue
        if code is not None:
            if mode:
                out.append("}$")
                mode = ""
            if code in ("E", "U"):
                mode = "^"
            elif code in ("D", "I"):
                mode = "_"
            if mode:
                out.append("$" + mode + "{")
            continue
        escaped = part.replace("$", r"\$")
        out.append(_math_text(escaped) if mode else escaped)
    if mode:
        out.append("}$")
    return "".join(out)


def _math_text(text: str) -> str:
    """Plain text inside mathtext: spaces kept, letters upright."""
    return r"\mathrm{" + text.replace(" ", r"\ ") + "}" if re.search(r"[A-Za-z ]", text) else text
