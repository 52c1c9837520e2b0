"""Stores at scale: listing 1,000 groups, and what loading one group costs.

Run from the repository root::

    python benchmarks/stores.py [--groups 1000] [--keep DIR]

Builds, once, a Zarr (format 3) store and a NetCDF-4 file of ``--groups`` FAST-like orbit
groups (two (time, pitch_angle, energy) rows each, nested by year) plus a few groups of
housekeeping data, then prints:

- the time to list every group with :func:`list_groups` (target: under 2 s each), also for
  the Zarr store once its metadata is consolidated, and the time of ``check_archive``;
- for one group: the time to load it and to render it, the number of dask computations
  (one), and the bytes the process read doing so against the data held by the store, which
  shows that no other group's data is read.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from batch_multi_plot_spectrogram.archive import check_archive
from batch_multi_plot_spectrogram.metadata import GroupLoader, StoreItem, list_groups

N_TIME, N_PITCH, N_ENERGY = 120, 8, 32
CADENCE_MS = 2500
T0_MS = 946684800000  # 2000-01-01T00:00:00Z


def group_path(index: int) -> str:
    """``2000/orbit_00000`` ...: orbits nested under their year, as archives keep them."""
    return f"{2000 + index // 400}/orbit_{index:05d}"


def _orbit_arrays(index: int, rng: np.random.Generator) -> dict[str, Any]:
    energy = np.geomspace(30000.0, 5.0, N_ENERGY).astype("float32")
    shape = (N_TIME, N_PITCH, N_ENERGY)
    return {
        "time": T0_MS + index * 6_000_000 + CADENCE_MS * np.arange(N_TIME, dtype="int64"),
        "energy": energy,
        "pitch_angle": np.linspace(11.25, 348.75, N_PITCH, dtype="float32"),
        "ees_eflux": rng.gamma(2.0, 1e5, shape).astype("float32"),
        "ies_eflux": rng.gamma(2.0, 1e4, shape).astype("float32"),
    }


_ATTRS: dict[str, dict[str, Any]] = {
    "time": {
        "units": "milliseconds since 1970-01-01",
        "calendar": "proleptic_gregorian",
        "standard_name": "time",
    },
    "energy": {"long_name": "Energy", "units": "eV"},
    "pitch_angle": {"long_name": "Pitch angle", "units": "degrees"},
    "ees_eflux": {
        "long_name": "Electron energy flux",
        "units": "eV/(cm^2 s sr eV)",
        "label": "EES",
    },
    "ies_eflux": {"long_name": "Ion energy flux", "units": "eV/(cm^2 s sr eV)", "label": "IES"},
}
_DIMS = {
    "time": ("time",),
    "energy": ("energy",),
    "pitch_angle": ("pitch_angle",),
    "ees_eflux": ("time", "pitch_angle", "energy"),
    "ies_eflux": ("time", "pitch_angle", "energy"),
}


def build_zarr(path: Path, n_groups: int) -> None:
    """Write the Zarr store with zarr itself, group by group, without consolidating."""
    import zarr

    rng = np.random.default_rng(0)
    root = zarr.open_group(str(path), mode="w", zarr_format=3)
    root.attrs.update({"title": "benchmark archive", "y_scale": "log", "z_scale": "log"})
    for index in range(n_groups):
        group = root.create_group(group_path(index))
        group.attrs["vertical_lines"] = [float(T0_MS / 1000 + index * 6000 + 100)]
        for name, values in _orbit_arrays(index, rng).items():
            array = group.create_array(
                name,
                shape=values.shape,
                dtype=values.dtype,
                chunks=values.shape,
                dimension_names=_DIMS[name],
                attributes=_ATTRS[name],
                fill_value=0,
            )
            array[...] = values
    hk = root.create_group("housekeeping")
    array = hk.create_array(
        "time",
        shape=(10,),
        dtype="int64",
        dimension_names=("time",),
        attributes=_ATTRS["time"],
        fill_value=0,
    )
    array[...] = np.arange(10, dtype="int64")


def build_netcdf(path: Path, n_groups: int) -> None:
    """Write the NetCDF-4 file with h5netcdf in one session (far faster than netCDF4)."""
    import h5netcdf

    rng = np.random.default_rng(0)
    with h5netcdf.File(path, "w") as fh:
        fh.attrs.update({"title": "benchmark archive", "y_scale": "log", "z_scale": "log"})
        for index in range(n_groups):
            group = fh.create_group(group_path(index))
            group.attrs["vertical_lines"] = [float(T0_MS / 1000 + index * 6000 + 100)]
            group.dimensions = {"time": N_TIME, "pitch_angle": N_PITCH, "energy": N_ENERGY}
            for name, values in _orbit_arrays(index, rng).items():
                var = group.create_variable(name, _DIMS[name], data=values)
                var.attrs.update(_ATTRS[name])
        hk = fh.create_group("housekeeping")
        hk.dimensions = {"time": 10}
        var = hk.create_variable("time", ("time",), data=np.arange(10, dtype="int64"))
        var.attrs.update(_ATTRS["time"])


def bytes_read() -> int:
    """Bytes read by this process through read(2)-like calls (Linux ``/proc``)."""
    with open("/proc/self/io", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return -1


def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The fastest of ``repeat`` runs, in seconds, and the last result."""
    times = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def data_bytes(path: Path) -> int:
    """The bytes a store holds on disk."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size


def one_group(store: Path, group: str) -> dict[str, Any]:
    """Load and render one group; count dask computations and bytes read."""
    from dask.callbacks import Callback

    from batch_multi_plot_spectrogram.render import render_png

    class Count(Callback):
        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        def _start(self, dsk: Any) -> None:
            self.n += 1

    loader = GroupLoader()
    item = StoreItem(str(store), group)
    render_png(**_as_kwargs(loader(StoreItem(str(store), group_path(1)))))  # warm up
    loads = []
    for _ in range(5):
        start = time.perf_counter()
        loader(item)
        loads.append(time.perf_counter() - start)
    with Count() as counter:
        before = bytes_read()
        start = time.perf_counter()
        plot = loader(item)
        loaded = time.perf_counter()
        read_loading = bytes_read() - before
        # Nothing lazy is left for the renderer to read: every array is in memory.
        assert all(isinstance(row[k], np.ndarray) for row in plot.datasets for k in "xy")
        assert all(isinstance(row["data"], np.ndarray) for row in plot.datasets)
        png = render_png(**_as_kwargs(plot))
        elapsed = time.perf_counter() - start
        read_rendering = bytes_read() - before - read_loading
    return {
        "load_s": statistics.median(loads),
        "render_s": elapsed - (loaded - start),
        "computes": counter.n,
        "bytes_loading": read_loading,
        "bytes_rendering": read_rendering,
        "group_bytes": _group_bytes(store, group),
        "png_bytes": len(png),
    }


def _group_bytes(store: Path, group: str) -> int:
    """The bytes of the group's own arrays as stored (compressed, if they are)."""
    if store.is_dir():
        return data_bytes(store / group)
    import h5py

    with h5py.File(store, "r") as fh:
        return sum(fh[group][name].id.get_storage_size() for name in fh[group] if name in _DIMS)


def _as_kwargs(plot: Any) -> dict[str, Any]:
    return {"datasets": plot.datasets, **plot.options}


def run(workdir: Path, n_groups: int) -> None:
    """Build the stores (once) and print the figures."""
    zarr_path = workdir / "bench.zarr"
    nc_path = workdir / "bench.nc"
    for path, build in ((zarr_path, build_zarr), (nc_path, build_netcdf)):
        if not path.exists():
            start = time.perf_counter()
            build(path, n_groups)
            print(
                f"built {path.name}: {n_groups} groups in {time.perf_counter() - start:.1f} s"
                f", {data_bytes(path) / 1e6:.1f} MB"
            )
    print(f"\nlisting {n_groups} groups (best of 3; target < 2 s)")
    for path in (zarr_path, nc_path):
        seconds, listing = best_of(functools.partial(list_groups, path))
        assert len(listing.items) == n_groups, len(listing.items)
        print(
            f"  {path.name:<24} list_groups   {seconds:6.3f} s  "
            f"({len(listing.items)} items, {len(listing.no_data)} no_data)"
        )
    for path in (zarr_path, nc_path):
        seconds, problems = best_of(functools.partial(check_archive, path), repeat=1)
        print(f"  {path.name:<24} check_archive {seconds:6.3f} s  ({len(problems)} problems)")

    consolidated = workdir / "bench_consolidated.zarr"
    if not consolidated.exists():
        import shutil

        import zarr

        shutil.copytree(zarr_path, consolidated)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # consolidated metadata is outside the v3 spec
            zarr.consolidate_metadata(str(consolidated))
    seconds, listing = best_of(lambda: list_groups(consolidated))
    print(f"  {consolidated.name:<24} list_groups   {seconds:6.3f} s  (consolidated metadata)")

    group = group_path(n_groups // 2)
    print(f"\none group ({group}) of each store: load (median of 5), then load + render once")
    for path in (zarr_path, nc_path):
        stats = one_group(path, group)
        total = data_bytes(path)
        print(
            f"  {path.name:<24} load {stats['load_s'] * 1000:6.1f} ms, render "
            f"{stats['render_s']:.2f} s, dask computations {stats['computes']}; read while "
            f"loading {stats['bytes_loading'] / 1e3:.0f} kB (the group's arrays: "
            f"{stats['group_bytes'] / 1e3:.0f} kB; the store: {total / 1e6:.1f} MB), while "
            f"rendering {stats['bytes_rendering'] / 1e3:.0f} kB (Matplotlib's font file; "
            "the renderer gets in-memory arrays only)"
        )
        assert stats["computes"] == 1
        # Loading reads the group's arrays plus metadata, nothing near the other groups.
        assert stats["bytes_loading"] < 0.05 * total


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the stores here")
    args = parser.parse_args(argv)
    if not os.path.exists("/proc/self/io"):
        print("note: /proc/self/io is missing; bytes read are not measured", file=sys.stderr)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        run(args.keep, args.groups)
    else:
        with tempfile.TemporaryDirectory(prefix="bmps-stores-") as tmp:
            run(Path(tmp), args.groups)


if __name__ == "__main__":
    main()
