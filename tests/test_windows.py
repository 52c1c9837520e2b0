"""Time windows as items: ``--window 6h`` and ``--windows FILE.csv``.

Each window of a group is an item of its own (``group@2015-12-01T12:00``), resumable in
the same progress file; its figure shows exactly the window (title, recorded range, axis
limits) and reads only the window's records; a window without records is ``no_data``;
the events of a windows file are drawn as event lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr

from batch_multi_plot_spectrogram.archive import plan_archive, render_archive, window_plan
from batch_multi_plot_spectrogram.errors import ConfigError, SettingError
from batch_multi_plot_spectrogram.metadata import GroupLoader, WindowPlan, load_group
from batch_multi_plot_spectrogram.options import Origin, parse_window
from store_factories import bytes_read, spectrogram_group, write_store
from test_cli import pixels, pngs, progress_of, run_cli, shows

DAY0 = 1448928000.0  # 2015-12-01T00:00:00Z
CADENCE = 600  # seconds


def two_days(
    gap: tuple[str, str] | None = None, chunk: int | None = None, n_energy: int = 5
) -> xr.Dataset:
    """Two days of records every 10 minutes from 2015-12-01 00:05, optionally with no
    record in ``[gap[0], gap[1])``."""
    n = 2 * 86400 // CADENCE
    ds = spectrogram_group(n_time=n, n_pitch=3, n_energy=n_energy, seed=5)
    start = np.datetime64("2015-12-01T00:05:00", "ns")
    ds = ds.assign_coords(time=start + np.arange(n) * np.timedelta64(CADENCE, "s"))
    if gap is not None:
        inside = (ds.time >= np.datetime64(gap[0])) & (ds.time < np.datetime64(gap[1]))
        ds = ds.isel(time=np.flatnonzero(~inside.values))
    return ds.chunk({"time": chunk}) if chunk else ds


def archive(folder: Path, ds: xr.Dataset) -> Path:
    write_store(folder / "two_days.zarr", "zarr3", {"orbit": ds})
    return folder


def records(out: Path) -> dict[str, dict[str, Any]]:
    """The gallery records of a run, by item key."""
    found = {}
    for path in (out / "two_days.zarr" / ".thumbs").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        found[record["key"]] = record
    return found


def test_six_hour_windows_make_eight_figures_and_resume(tmp_path: Path) -> None:
    folder = archive(tmp_path / "archive", two_days())
    out = tmp_path / "out"
    result = run_cli("render", folder, "-o", out, "--window", "6h", "--workers", "1")
    assert result.returncode == 0, shows(result)
    assert len(pngs(out)) == 8
    starts = [DAY0 + 6 * 3600 * i for i in range(8)]
    keys = [f"orbit@2015-12-0{1 + i // 4}T{6 * (i % 4):02d}:00" for i in range(8)]
    found = records(out)
    assert sorted(found) == sorted(keys)
    for key, start in zip(keys, starts, strict=True):
        record = found[key]
        assert record["status"] == "ok"
        # The figure spans the window: its recorded range and its title say so.
        assert (record["start"], record["end"]) == (start, start + 6 * 3600)
        hour = int(key[-5:-3])
        end = "06:00" if hour == 0 else f"{hour + 6:02d}:00".replace("24:00", "00:00")
        if hour == 18:
            assert record["title"].endswith(f"{key[6:16]} 18:00 to {_next_day(key)} 00:00 UTC")
        else:
            assert record["title"] == f"orbit — {key[6:16]} {hour:02d}:00 to {end} UTC"
    progress = progress_of(folder / "two_days.zarr.progress.json")
    assert sorted(progress["completed_items"]) == sorted(keys)

    again = run_cli("render", folder, "-o", out, "--window", "6h", "--workers", "1")
    assert again.returncode == 0, shows(again)
    assert "ok 0, no_data 0, error 0, already done 8" in again.stderr

    listed = run_cli("list", folder, "--window", "6h")
    assert listed.returncode == 0, shows(listed)
    assert [line.split() for line in listed.stdout.splitlines()[1:]] == [
        ["ok", key] for key in keys
    ]


def _next_day(key: str) -> str:
    return "2015-12-02" if key[6:16] == "2015-12-01" else "2015-12-03"


def test_the_axis_spans_the_window_and_a_window_without_records_is_no_data(
    tmp_path: Path,
) -> None:
    ds = two_days(gap=("2015-12-01T06:00", "2015-12-01T12:00"))
    folder = archive(tmp_path / "archive", ds)
    run = render_archive(folder, tmp_path / "out", window="6h", executor="serial", gallery=False)
    by_key = {item.key: status for item, status in run.statuses.items()}
    assert by_key["orbit@2015-12-01T06:00"] == "no_data"
    assert sum(status == "ok" for status in by_key.values()) == 7
    # What the item gives the renderer: the window as the time axis's limits.
    plan = plan_archive(folder, windows=WindowPlan(length=6 * 3600))
    item = next(i for i in plan.stores[0].items if i.key == "orbit@2015-12-01T12:00")
    plot = GroupLoader()(item)
    assert plot.options["time_range"] == (DAY0 + 12 * 3600, DAY0 + 18 * 3600)
    (row,) = plot.datasets
    seconds = row["x"].astype("datetime64[ns]").astype("int64") / 1e9
    inside = (seconds >= DAY0 + 12 * 3600) & (seconds < DAY0 + 18 * 3600)
    assert inside.sum() == 36
    # Besides them, the record on either side, whose cell may reach into the window (the
    # axis cuts it): here the last one before the gap, and the first of the next window.
    assert seconds.size == 38
    assert seconds[0] < DAY0 + 6 * 3600 and DAY0 + 18 * 3600 <= seconds[-1] < DAY0 + 19 * 3600


def test_a_window_reads_only_its_records_and_their_neighbours(tmp_path: Path) -> None:
    ds = two_days(chunk=36, n_energy=64)  # one chunk per 6 hours (from 00:05)
    store = write_store(tmp_path / "two_days.zarr", "zarr3", {"orbit": ds})
    window = (DAY0 + 12 * 3600, DAY0 + 18 * 3600)
    load_group(store, "orbit", window=window)  # warm up: imports, caches

    def read(**kwargs: Any) -> int:
        before = bytes_read()
        load_group(store, "orbit", **kwargs)
        return bytes_read() - before

    whole, part = read(), read(window=window)
    assert ds["ees"].nbytes == 221_184
    assert whole > 200_000
    # The window's 36 records and the record on either side lie in at most four chunks
    # of the eight.
    assert part < whole / 2, (part, whole)


def _red_columns(image: np.ndarray) -> np.ndarray:
    red = (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 2] < 80)
    return np.flatnonzero(red.sum(axis=0) > 40)


def _panel_edges(image: np.ndarray) -> tuple[int, int]:
    """The left and right spines of the main panel: the first two long dark columns."""
    dark = (image.max(axis=-1) < 50).sum(axis=0)  # spines, not viridis purple
    columns = np.flatnonzero(dark > 0.6 * dark.max())
    left = int(columns[0])
    right = int(columns[columns > left + 20][0])
    return left, right


def test_a_windows_file_makes_one_figure_per_interval_with_its_events(tmp_path: Path) -> None:
    folder = archive(tmp_path / "archive", two_days())
    csv = tmp_path / "events.csv"
    csv.write_text(
        "start,end,name,events\n"
        "2015-12-01T02:00,2015-12-01T05:00,substorm_1,2015-12-01T03:00\n"
        "2015-12-01T20:00,2015-12-02T01:00,,2015-12-01T22:00;2015-12-01T22:30\n"
        "2015-12-02T13:00,2015-12-02T16:00,late,2015-12-02T15:00\n"
        "2016-03-01T00:00,2016-03-02T00:00,outside,\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = run_cli("render", folder, "-o", out, "--windows", csv, "--workers", "1")
    assert result.returncode == 0, shows(result)
    found = records(out)
    assert sorted(found) == ["orbit@2015-12-01T20:00", "orbit@late", "orbit@substorm_1"]
    events = {
        "orbit@substorm_1": (DAY0 + 2 * 3600, DAY0 + 5 * 3600, [DAY0 + 3 * 3600]),
        "orbit@2015-12-01T20:00": (
            DAY0 + 20 * 3600,
            DAY0 + 25 * 3600,
            [DAY0 + 22 * 3600, DAY0 + 22.5 * 3600],
        ),
        "orbit@late": (DAY0 + 37 * 3600, DAY0 + 40 * 3600, [DAY0 + 39 * 3600]),
    }
    for key, (start, end, lines) in events.items():
        record = found[key]
        assert (record["start"], record["end"]) == (start, end)
        image = pixels(out / "two_days.zarr" / record["figure"])
        left, right = _panel_edges(image)
        red = _red_columns(image)
        in_main = red[(red > left) & (red < right)]
        for t in lines:
            expected = left + (t - start) / (end - start) * (right - left)
            assert np.abs(in_main - expected).min() <= 2, (key, t, expected, in_main)
        # The zoom column right of the main panel shows the events too.
        assert (red > right + 20).any(), key


def test_window_lengths_and_files_are_checked(tmp_path: Path) -> None:
    origin = Origin.argument("window")
    assert [parse_window(v, origin) for v in ("6h", "1d", "30min", "90s", "1.5h")] == [
        21600.0,
        86400.0,
        1800.0,
        90.0,
        5400.0,
    ]
    with pytest.raises(SettingError) as info:
        parse_window("6 hours", origin)
    assert str(info.value) == (
        "Expected window to be a duration such as '30min', '6h', '1d' or '90s' (a number "
        "and s, min, h or d). Got '6 hours' instead."
    )
    with pytest.raises(SettingError, match="not both"):
        window_plan("6h", tmp_path / "w.csv")
    headless = tmp_path / "headless.csv"
    headless.write_text("2015-12-01T00:00,2015-12-01T01:00\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="Add the header row"):
        window_plan(None, headless)
    backwards = tmp_path / "backwards.csv"
    backwards.write_text("start,end\n2015-12-01T02:00,2015-12-01T01:00\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 2: start '2015-12-01T02:00' is not before"):
        window_plan(None, backwards)


def test_data_going_on_past_a_window_is_drawn_up_to_its_edges(tmp_path: Path) -> None:
    # Records every 10 minutes from 00:05: the window's first record (02:15) is 6 minutes
    # after its start, its last (04:45) 5 minutes before its end. Their own cells stop
    # 5 minutes short; the records just outside reach the edges.
    folder = archive(tmp_path / "archive", two_days())
    csv = tmp_path / "windows.csv"
    csv.write_text("start,end,name\n2015-12-01T02:09,2015-12-01T04:50,w\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli("render", folder, "-o", out, "--windows", csv, "--workers", "1")
    assert result.returncode == 0, shows(result)
    (figure,) = [p for p in (out / "two_days.zarr").glob("*.png")]
    image = pixels(figure)
    left, right = _panel_edges(image)
    middle = image.shape[0] // 3
    rows = image[middle - 40 : middle + 40]
    # Every column of the panel holds data: no blank (white) column at either edge.
    inner = rows[:, left + 2 : right - 1]
    white = (inner.min(axis=-1) > 245).all(axis=0)
    assert not white.any(), np.flatnonzero(white)
