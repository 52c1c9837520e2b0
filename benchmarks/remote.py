"""An archive on a local S3 server (moto) against the same archive on disk.

Run from the repository root (needs the ``remote`` and ``test`` extras)::

    python benchmarks/remote.py [--groups 200] [--repeats 3] [--workers 2]

Builds, once, a Zarr store of ``--groups`` small groups (two (time, energy) rows of
300 x 24 float32, log scales; consolidated metadata) and a NetCDF-4 file of 20 such
groups, and uploads both to a moto S3 server on 127.0.0.1 behind a WSGI wrapper that
counts requests and response bytes. Then, in each repeat:

- lists the archive (:func:`plan_archive`) from disk and from ``s3://``;
- renders it (:func:`render_archive`, ``--workers`` processes, no gallery) from disk and
  from ``s3://``.

Prints the median seconds of each, the remote/disk ratios of the medians, the median of
the per-repeat ratios, and the S3 requests per group. Last, opens and reads 10 groups of
the NetCDF file through each fsspec cache type, and prints the requests and bytes per
group (what ``NETCDF_CACHE`` in ``stores/_remote.py`` costs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from batch_multi_plot_spectrogram import plan_archive, render_archive
from batch_multi_plot_spectrogram.metadata import load_group
from batch_multi_plot_spectrogram.stores import _remote

N_TIME, N_ENERGY, NC_GROUPS = 300, 24, 20


def group(index: int) -> xr.Dataset:
    rng = np.random.default_rng(index)
    start = np.datetime64("2000-01-01T00:00", "ns") + index * np.timedelta64(1, "h")
    energy = np.geomspace(10, 30000, N_ENERGY)
    rows = {
        f"row_{i}": (
            ("time", "energy"),
            rng.gamma(2.0, 50.0, (N_TIME, N_ENERGY)).astype("float32"),
            {"long_name": f"row {i}", "units": "counts/s"},
        )
        for i in range(2)
    }
    return xr.Dataset(
        rows,
        coords={
            "time": start + np.arange(N_TIME) * np.timedelta64(4, "s"),
            "energy": ("energy", energy, {"units": "eV"}),
        },
        attrs={"y_scale": "log", "z_scale": "log"},
    )


def build(folder: Path, n: int) -> Path:
    import zarr

    archive = folder / "archive"
    if archive.exists():
        return archive
    archive.mkdir(parents=True)
    for index in range(n):
        ds = group(index)
        ds.to_zarr(archive / "small.zarr", group=f"g{index:04d}", mode="a", consolidated=False)
        if index < NC_GROUPS:
            mode = "w" if index == 0 else "a"
            ds.to_netcdf(archive / "small.nc", group=f"g{index:04d}", mode=mode, engine="h5netcdf")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zarr.consolidate_metadata(str(archive / "small.zarr"))
    return archive


class Counting:
    """A WSGI wrapper counting requests and response bytes."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.requests = 0
        self.bytes = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = list(self.app(environ, start_response))
        with self.lock:
            self.requests += 1
            self.bytes += sum(len(b) for b in body)
        return body

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.requests, self.bytes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_s3() -> tuple[str, Counting, Any]:
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    counting = Counting(DomainDispatcherApplication(create_backend_app))
    port = free_port()
    server = make_server("127.0.0.1", port, counting, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", counting, server


def timed(fn: Callable[[], Any], counting: Counting) -> tuple[float, int, int, Any]:
    before = counting.snapshot()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    after = counting.snapshot()
    return seconds, after[0] - before[0], after[1] - before[1], result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="build the archive here and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_remote_"))
    archive = build(work, args.groups)
    endpoint, counting, server = start_s3()
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint)
    fs.mkdir("bench")
    fs.put(str(archive / "small.zarr"), "bench/archive/small.zarr", recursive=True)
    fs.put(str(archive / "small.nc"), "bench/archive/small.nc")
    config = work / "remote.toml"
    config.write_text(f'[storage]\nendpoint_url = "{endpoint}"\n')
    n_items = args.groups + min(args.groups, NC_GROUPS)
    sources = {"disk": str(archive), "s3": "s3://bench/archive"}
    results: dict[str, list[float]] = {}
    requests: dict[str, list[int]] = {}
    for repeat in range(args.repeats):
        for where, source in sources.items():
            took, n_req, _, plan = timed(
                lambda source=source: plan_archive(source, config=config), counting
            )
            assert plan.n_items == n_items, plan.n_items
            results.setdefault(f"list {where}", []).append(took)
            requests.setdefault(f"list {where}", []).append(n_req)
            out = work / "out" / where
            shutil.rmtree(out, ignore_errors=True)
            took, n_req, _, run = timed(
                lambda source=source, out=out: render_archive(
                    source,
                    out / "plots",
                    config=config,
                    progress_dir=out / "progress",
                    max_workers=args.workers,
                    progress_bar=False,
                    gallery=False,
                ),
                counting,
            )
            counts = run.counts()
            if counts["ok"] != n_items:
                print(f"{where}: only {counts} of {n_items} ok", file=sys.stderr)
                return 1
            results.setdefault(f"render {where}", []).append(took)
            requests.setdefault(f"render {where}", []).append(n_req)
            print(
                f"repeat {repeat + 1}: {where:<5} list {results[f'list {where}'][-1]:6.2f} s, "
                f"render {took:6.2f} s ({n_items / took:5.2f} items/s), "
                f"{n_req / n_items:5.1f} requests/group",
                flush=True,
            )
    print()
    print(f"{n_items} groups ({args.groups} Zarr + the rest NetCDF), {args.workers} workers")
    print(f"{'case':<14}{'median s':>10}{'requests/group':>16}")
    for name, values in results.items():
        print(
            f"{name:<14}{statistics.median(values):>10.2f}"
            f"{statistics.median(requests[name]) / n_items:>16.1f}"
        )
    for what in ("list", "render"):
        remote, disk = results[f"{what} s3"], results[f"{what} disk"]
        per = [r / d for r, d in zip(remote, disk, strict=True)]
        print(
            f"{what}: s3 / disk {statistics.median(remote) / statistics.median(disk):.2f}x "
            f"(median of per-repeat ratios {statistics.median(per):.2f})"
        )
    print()
    print("NetCDF-4 over S3, 10 groups of one file opened and read in one process, cold:")
    _remote.set_storage_options({"endpoint_url": endpoint})
    nc_groups = [f"g{i:04d}" for i in range(min(10, args.groups))]
    for cache in ("blockcache", "readahead", "first", "bytes", "none"):
        _remote.NETCDF_CACHE = cache  # type: ignore[misc]
        for block in (1 << 20, 1 << 16):
            _remote.NETCDF_BLOCK_SIZE = block  # type: ignore[misc]
            _remote._files.clear()  # a cold start: the listing above warmed the cache
            took, n_req, n_bytes, _ = timed(
                lambda: [load_group("s3://bench/archive/small.nc", g) for g in nc_groups],
                counting,
            )
            print(
                f"  {cache:<11} block {block >> 10:>5} KiB: {n_req / 10:6.1f} requests, "
                f"{n_bytes / 10 / 1024:8.1f} KiB per group, {took / 10 * 1000:6.1f} ms per group"
            )
    print(f"(the file is {(archive / 'small.nc').stat().st_size / 1024:.0f} KiB)")
    server.shutdown()
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
