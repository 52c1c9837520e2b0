"""Colour limits shared across an archive: the first pass, its state, its figures."""

from __future__ import annotations

import io
import json
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
from PIL import Image

from batch_multi_plot_spectrogram import render_archive
from batch_multi_plot_spectrogram.archive import limits_path
from batch_multi_plot_spectrogram.histogram import BINS_PER_DECADE
from batch_multi_plot_spectrogram.metadata import load_config
from batch_multi_plot_spectrogram.shared_limits import read_shared_limits
from cli_runner import cli, started, summary, wait_for
from store_factories import spectrogram_group, write_store

QUIET: dict[str, Any] = {"progress_bar": False, "install_signal_handlers": False, "gallery": False}
#: One histogram bin, as a ratio.
BIN = 10 ** (1 / BINS_PER_DECADE)


def orbit(i: int, variables: tuple[str, ...] = ("ees",)) -> xr.Dataset:
    """An orbit whose intensity level is its own: 10**(i % 4) times a common shape."""
    ds = spectrogram_group(n_time=40, seed=i, variables=variables)
    for name in variables:
        ds[name] = ds[name] * np.float32(10.0 ** (i % 4))
        ds[name].attrs.update(long_name=f"{name} flux", units="counts/s")
    return ds


def archive_of(root: Path, n: int, variables: tuple[str, ...] = ("ees",)) -> Path:
    archive = root / "archive"
    write_store(
        archive / "orbits.zarr", "zarr3", {f"orbit_{i:03d}": orbit(i, variables) for i in range(n)}
    )
    return archive


def pooled(n: int, name: str = "ees") -> np.ndarray:
    """Every value the figures of a row show: each orbit's (time, energy) sums over the
    pitch angles, all orbits together."""
    return np.concatenate(
        [orbit(i)[name].values.astype("float64").sum(axis=1).ravel() for i in range(n)]
    )


def colour_bar(png: Path) -> np.ndarray:
    """The right-hand strip of a figure: its colour bar and tick labels."""
    pixels = np.asarray(Image.open(io.BytesIO(png.read_bytes())).convert("RGB"))
    return pixels[:, int(pixels.shape[1] * 0.88) :]


def test_every_figure_of_a_row_gets_the_percentiles_of_the_whole_archive(
    tmp_path: Path,
) -> None:
    n = 12
    archive = archive_of(tmp_path, n)
    shared_out, own_out = tmp_path / "shared", tmp_path / "own"

    run = render_archive(archive, shared_out, shared_limits=True, max_workers=2, **QUIET)

    assert run.counts()["ok"] == n
    state = read_shared_limits(limits_path(archive))
    assert state is not None and len(state.seen) == n and not state.failed
    low, high = state.limits()["ees (sum over pitch_angle)"]
    expected = np.percentile(pooled(n), [1, 99])
    assert expected[0] / BIN <= low <= expected[0] * BIN
    assert expected[1] / BIN <= high <= expected[1] * BIN
    # The progress file records the limits the figures were drawn with.
    recorded = json.loads((archive / "orbits.zarr.progress.json").read_text())
    assert recorded["settings"]["build_datasets_fn"]["shared_limits"] == {
        "ees (sum over pitch_angle)": [low, high]
    }
    # Every colour bar is the same, pixel for pixel; without shared limits they differ
    # with the orbit's level.
    figures = sorted((shared_out / "orbits.zarr").glob("*.png"))
    assert len(figures) == n
    first = colour_bar(figures[0])
    for figure in figures[1:]:
        assert np.array_equal(colour_bar(figure), first), figure.name
    render_archive(archive, own_out, progress_dir=tmp_path / "own-progress", **QUIET)
    own = [colour_bar(own_out / "orbits.zarr" / f.name) for f in figures[:4]]
    assert not np.array_equal(own[0], own[1])
    assert not np.array_equal(own[0], first)


def test_a_row_the_config_opts_out_keeps_its_own_limits(tmp_path: Path) -> None:
    archive = archive_of(tmp_path, 4, variables=("ees", "ies"))
    config = tmp_path / "plots.toml"
    config.write_text('[variables."ies"]\nshared_limits = false\n')

    render_archive(
        archive, tmp_path / "out", config=load_config(config), shared_limits=True, **QUIET
    )

    state = read_shared_limits(limits_path(archive))
    assert state is not None
    assert sorted(state.rows) == ["ees (sum over pitch_angle)"]


def test_the_config_alone_turns_shared_limits_on_for_its_rows(tmp_path: Path) -> None:
    archive = archive_of(tmp_path, 3, variables=("ees", "ies"))
    config = tmp_path / "plots.toml"
    config.write_text('[variables."ies"]\nshared_limits = true\n')

    render_archive(archive, tmp_path / "out", config=load_config(config), **QUIET)

    state = read_shared_limits(limits_path(archive))
    assert state is not None
    assert sorted(state.rows) == ["ies (sum over pitch_angle)"]


def test_list_prints_the_shared_limits(tmp_path: Path) -> None:
    archive = archive_of(tmp_path, 3)
    out = tmp_path / "out"
    missing = cli("list", archive, "--limits")
    assert missing.returncode == 1 and "Render with --shared-limits first" in missing.err

    rendered = cli("render", archive, "-o", out, "--shared-limits", "--workers", "1")
    assert rendered.returncode == 0, rendered
    listed = cli("list", archive, "--limits")

    assert listed.returncode == 0, listed
    state = read_shared_limits(limits_path(archive))
    assert state is not None
    low, high = state.limits()["ees (sum over pitch_angle)"]
    assert f"  ees (sum over pitch_angle): {low:.4g} to {high:.4g} (linear;" in listed.out


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL])
def test_a_pass_stopped_midway_resumes_where_it_stopped(tmp_path: Path, signum: int) -> None:
    n = 40
    archive = archive_of(tmp_path, n)
    out = tmp_path / "out"
    path = limits_path(archive)
    command = ("render", archive, "-o", out, "--shared-limits", "--workers", "1")

    def seen() -> int:
        state = read_shared_limits(path) if path.exists() else None
        return 0 if state is None else len(state.seen)

    with started(*command, "--flush-batch-size", "1", stderr=tmp_path / "err") as proc:
        wait_for(proc, lambda: seen() >= 3, "three items of the pass", progress=seen)
        proc.send_signal(signum)
        proc.wait(timeout=60)
    before = seen()
    assert 3 <= before < n, "the pass was not stopped midway"
    assert not list(out.rglob("*.png")), "figures were drawn before the pass ended"

    again = cli(*command, "-v")

    assert again.returncode == 0, again
    assert f"shared limits: {n - before} item(s) to read, {before} read before" in again.err
    assert summary(again.err)["ok"] == n
    state = read_shared_limits(path)
    assert state is not None and len(state.seen) == n
    low, high = state.limits()["ees (sum over pitch_angle)"]
    expected = np.percentile(pooled(n), [1, 99])
    assert expected[0] / BIN <= low <= expected[0] * BIN
    assert expected[1] / BIN <= high <= expected[1] * BIN


def test_the_pass_runs_on_a_dask_cluster_like_the_render(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    n = 6
    archive = archive_of(tmp_path, n)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        run = render_archive(archive, tmp_path / "out", client=client, shared_limits=True, **QUIET)

    assert run.counts()["ok"] == n
    state = read_shared_limits(limits_path(archive))
    assert state is not None and len(state.seen) == n
    low, high = state.limits()["ees (sum over pitch_angle)"]
    expected = np.percentile(pooled(n), [1, 99])
    assert expected[0] / BIN <= low <= expected[0] * BIN
    assert expected[1] / BIN <= high <= expected[1] * BIN
