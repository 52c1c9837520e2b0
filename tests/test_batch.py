"""generic_batch_plot: statuses, keys, options, resuming, persistence, executors, signals."""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import batch_multi_plot_spectrogram
from batch_multi_plot_spectrogram import (
    ItemPlot,
    ProgressFileError,
    ProgressLockedError,
    SettingError,
)
from batch_multi_plot_spectrogram.batch import item_key, local_process_pool, safe_file_stem
from batch_multi_plot_spectrogram.batch._progress import ProgressLock, progress_validator
from batch_multi_plot_spectrogram.batch.executors import LocalProcessPool
from batch_multi_plot_spectrogram.batch.executors._local import shared_payload
from batch_multi_plot_spectrogram.errors import CallStoppedError, PoolBrokenError
from batch_multi_plot_spectrogram.render import render_png

SRC = str(Path(batch_multi_plot_spectrogram.__file__).parents[1])
X = 1.7e9 + np.arange(60) * 4.0  # UNIX seconds
Y = np.logspace(1, 4, 16)  # energies, log spaced
FAST = {"dpi": 30}  # small figures: items take a few hundredths of a second


def rows_for(item: object, n_rows: int = 1) -> list[dict]:
    rng = np.random.default_rng(abs(hash(str(item))) % 2**32)
    return [
        {"x": X, "y": Y, "data": rng.gamma(2.0, 50.0, size=(60, 16)), "label": f"row{r}"}
        for r in range(n_rows)
    ]


def build_datasets(item_id: object) -> list[dict]:
    return rows_for(item_id, 2)


def load_datasets_for_item(item_id):
    # Return list[dict] each with keys: x, y, data, label (and optional vmin/vmax)
    return build_datasets(item_id)  # user-defined


def read_progress(folder: Path, name: str = "generic_progress.json") -> dict:
    document = json.loads((folder / name).read_text())
    progress_validator().validate(document)
    return document


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        image.load()  # the whole file decodes: it is complete
        assert image.size[0] > 10


def stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


def run(items, folder, fn, **kwargs):
    from batch_multi_plot_spectrogram import generic_batch_plot

    options = {"executor": "serial", **FAST, **kwargs}
    return generic_batch_plot(items, folder, fn, **options)


# -- the spec's examples, as written ----------------------------------------------------------


def test_spec_examples_run_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from batch_multi_plot_spectrogram import generic_batch_plot

    # Suppose we have a pre-built list of items and a loader that yields datasets
    items = ["orbit_001", "orbit_002", "orbit_003"]

    # Minimal Run (on the first two items; the third comes with the resume below)
    result = generic_batch_plot(
        items=items[:2],
        output_dir="plots_generic",
        build_datasets_fn=load_datasets_for_item,
    )
    out = tmp_path / "plots_generic"
    assert result == {"orbit_001": "ok", "orbit_002": "ok"}
    for name in items[:2]:
        assert_png(out / f"{name}.png")
    first = {name: stamp(out / f"{name}.png") for name in items[:2]}
    assert sorted(read_progress(out)["completed_items"]) == items[:2]

    # Custom Batching and Logging
    generic_batch_plot(
        items=items[:2],
        output_dir="plots_generic",
        build_datasets_fn=load_datasets_for_item,
        flush_batch_size=25,
        log_flush_batch_size=50,
    )
    assert {name: stamp(out / f"{name}.png") for name in items[:2]} == first  # skipped

    # Resuming After Interruption
    result = generic_batch_plot(
        items=items,
        output_dir="plots_generic",
        build_datasets_fn=load_datasets_for_item,
        progress_json_path="generic_progress.json",  # default
    )  # picks up where it left off
    assert result == dict.fromkeys(items, "ok")
    assert {name: stamp(out / f"{name}.png") for name in items[:2]} == first
    assert_png(out / "orbit_003.png")
    document = read_progress(out)
    assert sorted(document["completed_items"]) == items and document["last_index"] == 2

    # Force Fresh Processing (ignore prior progress)
    generic_batch_plot(
        items=items,
        output_dir="plots_generic",
        build_datasets_fn=load_datasets_for_item,
        ignore_progress_json=True,
    )
    for name in items[:2]:
        assert stamp(out / f"{name}.png") != first[name]  # rendered again
    assert sorted(read_progress(out)["completed_items"]) == items
    log_text = (out / "generic_progress.json.log").read_text()
    assert log_text.count("batch finished") == 4


def test_spec_per_row_overrides_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from batch_multi_plot_spectrogram import generic_batch_plot

    x1 = x2 = X
    y1, y2 = np.linspace(100, 3900, 16), Y
    rng = np.random.default_rng(1)
    d1, d2 = rng.random((60, 16)) * 10, rng.random((60, 16)) * 10 + 0.1

    def load_datasets_for_item(item_id):
        return [
            {"x": x1, "y": y1, "data": d1, "label": "EES", "y_min": 0, "y_max": 4000},
            {"x": x2, "y": y2, "data": d2, "label": "IES", "z_min": 1e-2, "z_max": 1e2},
        ]

    items = ["orbit_001", "orbit_002"]
    assert generic_batch_plot(items, "plots_generic", load_datasets_for_item) == {
        "orbit_001": "ok",
        "orbit_002": "ok",
    }
    assert_png(tmp_path / "plots_generic" / "orbit_002.png")


# -- statuses ------------------------------------------------------------------------------------


def _varied(item: str):
    if item == "raises":
        raise ValueError("the loader broke on purpose")
    if item == "empty":
        return []
    if item == "none":
        return None
    if item == "missing_data":
        return [{"x": X, "y": Y, "label": "EES"}]
    if item == "transposed":
        return [{"x": X, "y": Y, "data": np.ones((16, 60)), "label": "EES"}]
    if item == "a_dict":
        return {"x": X, "y": Y, "data": np.ones((60, 16))}
    if item == "all_nan":
        return [{"x": X, "y": Y, "data": np.full((60, 16), np.nan), "label": "EES"}]
    return rows_for(item)


EXPECTED = {
    "good": "ok",
    "raises": "error",
    "empty": "no_data",
    "none": "no_data",
    "missing_data": "error",
    "transposed": "error",
    "a_dict": "error",
    "all_nan": "no_data",
}


def _log_entry(log_text: str, key: str) -> str:
    """The log lines of one item's outcome, its traceback included."""
    start = log_text.index(f" {key!r} (#")
    following = log_text[start:].split("\n20")  # the next record starts with a date
    return following[0]


@pytest.mark.parametrize("executor", ["serial", "processes"])
def test_statuses_reasons_and_tracebacks(tmp_path, executor):
    result = run(list(EXPECTED), tmp_path, _varied, executor=executor, max_workers=2)
    assert result == EXPECTED
    document = read_progress(tmp_path)
    assert sorted(document["errors"]) == sorted(k for k, v in EXPECTED.items() if v == "error")
    assert sorted(document["no_data"]) == sorted(k for k, v in EXPECTED.items() if v == "no_data")
    assert document["completed_items"] == ["good"]
    assert "Traceback" not in (tmp_path / "generic_progress.json").read_text()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [
            "good.png",
            "generic_progress.json",
            "generic_progress.json.lock",
            "generic_progress.json.log",
        ]
    )
    log_text = (tmp_path / "generic_progress.json.log").read_text()
    reasons = {
        "raises": "ValueError: the loader broke on purpose",
        "missing_data": "RowError: row 0 ('EES'): missing required key(s) ['data']",
        "transposed": "it looks transposed",
        "a_dict": "datasets must be a list of dicts. Got dict instead.",
    }
    for key, reason in reasons.items():
        entry = _log_entry(log_text, key)
        assert entry.startswith(f" {key!r}") and reason in entry
        assert "Traceback (most recent call last)" in entry
    assert "build_datasets_fn returned no dataset" in _log_entry(log_text, "empty")
    assert "build_datasets_fn returned None" in _log_entry(log_text, "none")
    assert "nothing to plot" in _log_entry(log_text, "all_nan")
    assert "4 item(s) failed" in log_text


def test_keyboard_interrupt_raised_by_worker_code_fails_only_its_item(tmp_path):
    def build(item):
        if item == "b":
            raise KeyboardInterrupt("raised by the loader itself")
        return rows_for(item)

    result = run(["a", "b", "c"], tmp_path, build, executor="processes", max_workers=1)
    assert result == {"a": "ok", "b": "error", "c": "ok"}


# -- item keys and file names --------------------------------------------------------------------


def test_item_keys():
    assert item_key("orbit_1") == "orbit_1"
    assert item_key(5) == item_key(np.int64(5)) == item_key(np.uint8(5)) == "5"
    assert item_key(2.5) == item_key(np.float32(2.5)) == "2.5"
    assert item_key(Path("2000/01/orbit")) == "2000/01/orbit"
    assert item_key(("fast_2000.zarr", "orbit", 3)) == "fast_2000.zarr/orbit/3"


class _NoStr:
    pass


@pytest.mark.parametrize("item", [_NoStr(), True, np.bool_(False)])
def test_items_without_a_stable_key_are_refused(item):
    with pytest.raises(SettingError, match=r"Expected an item|default object repr"):
        item_key(item)


def test_safe_file_names_never_collide():
    assert safe_file_stem("orbit_13312") == "orbit_13312"
    slashed, underscored = safe_file_stem("a/b"), safe_file_stem("a_b")
    assert underscored == "a_b" and slashed.startswith("a_b-") and slashed != underscored
    assert safe_file_stem("a b") != safe_file_stem("a:b")
    assert safe_file_stem("..").startswith("_..-")
    assert safe_file_stem("").startswith("_-")
    long_key = "x" * 400
    # Room for a suffix and the temporary name of an atomic write within 255 bytes.
    assert len(safe_file_stem(long_key)) <= 200
    assert safe_file_stem(long_key) != safe_file_stem(long_key + "y")
    # A key that looks like a name made for another key gets its own.
    assert safe_file_stem(slashed) != slashed
    assert safe_file_stem("-rf").startswith("_-rf-")
    assert safe_file_stem("CON").startswith("CON-") and safe_file_stem("con.x") != "con.x"


def test_int_and_numpy_int_are_one_item(tmp_path):
    calls: list[object] = []

    def build(item):
        calls.append(item)
        return rows_for(item)

    result = run([5, np.int64(5), "5", 6], tmp_path, build)
    assert result == {"5": "ok", "6": "ok"}
    assert calls == [5, 6]
    before = stamp(tmp_path / "5.png")
    assert run([np.int64(5)], tmp_path, build) == {"5": "ok"}
    assert calls == [5, 6] and stamp(tmp_path / "5.png") == before
    assert "the same key came before" in (tmp_path / "generic_progress.json.log").read_text()


def test_bad_item_stops_the_batch_with_a_clear_error_after_saving(tmp_path):
    with pytest.raises(SettingError, match=r"_NoStr.*__str__"):
        run(["a", _NoStr(), "c"], tmp_path, rows_for)
    assert read_progress(tmp_path)["completed_items"] == ["a"]


def test_output_name_fn_folders_and_collisions(tmp_path):
    result = run(
        ["a", "b"], tmp_path, rows_for, output_name_fn=lambda key: f"nested/deeper/{key}.png"
    )
    assert result == {"a": "ok", "b": "ok"}
    assert_png(tmp_path / "nested" / "deeper" / "a.png")
    clash = run(
        ["c", "d", "e"],
        tmp_path / "clash",
        rows_for,
        output_name_fn=lambda key: "../escape.png" if key == "e" else "same.png",
    )
    assert clash == {"c": "ok", "d": "error", "e": "error"}
    log_text = (tmp_path / "clash" / "generic_progress.json.log").read_text()
    assert "which item 'c' already uses" in log_text
    assert "expected a relative file path inside output_dir" in log_text
    assert not (tmp_path / "escape.png").exists()


# -- per-item options ----------------------------------------------------------------------


def test_option_precedence_item_plot_over_callables_over_call(tmp_path):
    lines = {"a": X[10], "b": X[20], "c": X[30]}

    def build(item):
        if item == "c":
            return ItemPlot(
                datasets=rows_for(item),
                options={"figure_title": "from ItemPlot", "vertical_lines": [X[30]]},
            )
        return rows_for(item)

    result = run(
        ["a", "b", "c"],
        tmp_path,
        build,
        vertical_lines=[X[10]],
        vertical_lines_fn=lambda item: [X[20]] if item == "b" else None,
        title_fn=lambda item: None if item == "a" else f"title {item}",
    )
    assert result == dict.fromkeys("abc", "ok")
    expected_titles = {"a": "a", "b": "title b", "c": "from ItemPlot"}
    for key in "abc":
        expected = render_png(
            rows_for(key), figure_title=expected_titles[key], vertical_lines=[lines[key]], **FAST
        )
        assert (tmp_path / f"{key}.png").read_bytes() == expected, key
    # The test can tell: the default title gives another picture.
    assert (
        render_png(rows_for("c"), figure_title="c", vertical_lines=[X[30]], **FAST)
        != (tmp_path / "c.png").read_bytes()
    )


def test_unknown_item_plot_option_is_an_item_error(tmp_path):
    result = run(["a"], tmp_path, lambda item: ItemPlot(rows_for(item), {"colour": "red"}))
    assert result == {"a": "error"}
    assert (
        "ItemPlot.options has unknown key(s) ['colour']"
        in (tmp_path / "generic_progress.json.log").read_text()
    )


# -- persistence ----------------------------------------------------------------------------------


def test_progress_is_saved_every_flush_batch_size_items(tmp_path):
    seen: list[tuple[int, int]] = []
    progress, log = tmp_path / "generic_progress.json", tmp_path / "generic_progress.json.log"

    def build(item):
        recorded = len(read_progress(tmp_path)["completed_items"]) if progress.exists() else 0
        logged = log.read_text().count(" ok ") if log.exists() else 0
        seen.append((recorded, logged))
        return rows_for(item)

    run(range(12), tmp_path, build, flush_batch_size=5, log_flush_batch_size=1000)
    assert [r for r, _ in seen] == [0] * 5 + [5] * 5 + [10] * 2
    assert [g for _, g in seen] == [0] * 5 + [5] * 5 + [10] * 2  # the log goes with it
    assert read_progress(tmp_path)["completed_items"] == [str(i) for i in range(12)]
    assert read_progress(tmp_path)["last_index"] == 11


def test_progress_is_saved_after_flush_interval(tmp_path):
    seen: list[bool] = []
    progress = tmp_path / "generic_progress.json"

    def build(item):
        seen.append(progress.exists())
        time.sleep(0.1)
        return rows_for(item)

    run(range(8), tmp_path, build, flush_batch_size=1000, flush_interval_seconds=0.3)
    assert seen[0] is False and seen[-1] is True


def test_resume_retries_errors_and_a_success_leaves_errors(tmp_path):
    flag = tmp_path / "fixed"
    calls: list[str] = []

    def build(item):
        calls.append(item)
        if item == "b" and not flag.exists():
            raise RuntimeError("not yet")
        if item == "nothing":
            return []
        return rows_for(item)

    items = ["a", "b", "nothing", "d"]
    assert run(items, tmp_path, build) == {
        "a": "ok",
        "b": "error",
        "nothing": "no_data",
        "d": "ok",
    }
    assert read_progress(tmp_path)["errors"] == ["b"]
    flag.touch()
    calls.clear()
    assert run(items, tmp_path, build) == {"a": "ok", "b": "ok", "nothing": "no_data", "d": "ok"}
    assert calls == ["b"]  # only the failed item ran again
    document = read_progress(tmp_path)
    assert document["errors"] == [] and sorted(document["completed_items"]) == ["a", "b", "d"]
    assert document["no_data"] == ["nothing"]
    assert document["last_index"] == 1


def test_resume_renders_again_an_ok_item_whose_png_is_gone(tmp_path):
    calls: list[str] = []

    def build(item):
        calls.append(item)
        return rows_for(item)

    run(["a", "b"], tmp_path, build)
    (tmp_path / "b.png").unlink()
    calls.clear()
    assert run(["a", "b"], tmp_path, build) == {"a": "ok", "b": "ok"}
    assert calls == ["b"]
    assert_png(tmp_path / "b.png")


def test_changed_settings_refuse_to_skip(tmp_path):
    calls: list[str] = []

    def build(item):
        calls.append(item)
        return rows_for(item)

    run(["a", "b"], tmp_path, build)
    progress = tmp_path / "generic_progress.json"
    before = progress.read_bytes()
    calls.clear()
    with pytest.raises(ProgressFileError) as info:
        run(["a", "b"], tmp_path, build, colormap="plasma")
    message = str(info.value)
    assert 'colormap: recorded "viridis", now "plasma"' in message
    assert "ignore_progress_json=True" in message and "progress_json_path" in message
    with pytest.raises(ProgressFileError, match="build_datasets_fn: recorded"):
        run(["a", "b"], tmp_path, rows_for)
    assert calls == [] and progress.read_bytes() == before
    assert run(["a", "b"], tmp_path, build, colormap="plasma", ignore_progress_json=True) == {
        "a": "ok",
        "b": "ok",
    }
    assert calls == ["a", "b"]
    assert read_progress(tmp_path)["settings"]["colormap"] == "plasma"


def test_another_output_dir_refuses_to_skip(tmp_path):
    shared = tmp_path / "shared.json"
    run(["a"], tmp_path / "one", rows_for, progress_json_path=shared)
    with pytest.raises(ProgressFileError, match="output_dir: recorded"):
        run(["a"], tmp_path / "two", rows_for, progress_json_path=shared)
    assert not (tmp_path / "two" / "a.png").exists()


def test_corrupt_progress_file_stops_before_rendering(tmp_path):
    calls: list[str] = []
    progress = tmp_path / "generic_progress.json"
    progress.write_bytes(b'{"completed_items": ["a", "b"], "err')

    def build(item: str) -> list[dict]:
        calls.append(item)
        return rows_for(item)

    with pytest.raises(ProgressFileError, match="not valid JSON"):
        run(["a", "c"], tmp_path, build)
    assert calls == []
    assert progress.read_bytes() == b'{"completed_items": ["a", "b"], "err'
    assert not list(tmp_path.glob("*.png"))


def test_relative_and_absolute_progress_and_log_paths(tmp_path):
    run(
        ["a"],
        tmp_path / "out",
        rows_for,
        progress_json_path="state/p.json",
        log_path="logs/run.log",
    )
    assert read_progress(tmp_path / "out" / "state", "p.json")["completed_items"] == ["a"]
    assert "batch finished" in (tmp_path / "out" / "logs" / "run.log").read_text()
    elsewhere = tmp_path / "elsewhere" / "p.json"
    run(["a"], tmp_path / "out2", rows_for, progress_json_path=elsewhere)
    assert elsewhere.exists() and Path(f"{elsewhere}.log").exists()


# -- executors, callables and logs ---------------------------------------------------------


def test_lambdas_and_closures_run_in_worker_processes(tmp_path):
    table = {"a": 3.0, "b": 7.0}  # captured by value

    def closure(item):
        logging.getLogger("userlib.loader").warning("loading %s with scale %s", item, table[item])
        return [{"x": X, "y": Y, "data": np.full((60, 16), table[item]), "label": item}]

    result = run(["a", "b"], tmp_path / "c", closure, executor="processes", max_workers=2)
    assert result == {"a": "ok", "b": "ok"}
    log_text = (tmp_path / "c" / "generic_progress.json.log").read_text()
    assert "[batch-worker-" in log_text and "userlib.loader: loading b with scale 7.0" in log_text
    result = run(
        ["a"], tmp_path / "l", lambda item: rows_for(item), executor="processes", max_workers=1
    )
    assert result == {"a": "ok"}


def test_any_executor_works_and_is_not_shut_down(tmp_path):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        result = run(["a", "b", "c"], tmp_path, rows_for, executor=pool)
        assert result == dict.fromkeys("abc", "ok")
        assert pool.submit(lambda: 1).result() == 1


def test_a_shared_pool_serves_several_batches_and_survives_a_stop(tmp_path):
    pool = local_process_pool(max_workers=1)
    try:
        assert run(["a", "b"], tmp_path / "one", rows_for, executor=pool) == {"a": "ok", "b": "ok"}
        assert run(["c"], tmp_path / "two", rows_for, executor=pool) == {"c": "ok"}
        assert (
            "1 local worker process(es), shared"
            in (tmp_path / "two" / "generic_progress.json.log").read_text()
        )
        slow = pool.submit(time.sleep, 60)
        deadline = time.monotonic() + 30
        while not slow.running():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        pool.stop([slow])
        assert time.monotonic() - started < 30  # not the 60 s of the task
        with pytest.raises(CallStoppedError):
            slow.result(timeout=1)
        assert pool.submit(pow, 2, 5).result(timeout=30) == 32  # a new worker took over
        pool.share("key", b"sent once per worker")
        assert pool.submit(shared_payload, "key").result(timeout=30) == b"sent once per worker"
        pool.unshare("key")
    finally:
        pool.shutdown()


@pytest.mark.parametrize(
    ("initializer", "initargs", "expected"),
    [
        (
            os._exit,
            (3,),
            r"end before they are ready: the last worker process \(pid \d+\) "
            r"exited with code 3",
        ),
        (divmod, (1, 0), r"initializer failed(.|\n)*ZeroDivisionError"),
    ],
)
def test_a_pool_whose_workers_cannot_start_fails_clearly(initializer, initargs, expected):
    pool = LocalProcessPool(1, initializer=initializer, initargs=initargs)
    try:
        future = pool.submit(pow, 2, 3)
        with pytest.raises(PoolBrokenError, match=expected):
            future.result(timeout=60)
        with pytest.raises(PoolBrokenError):
            pool.submit(pow, 2, 3)
    finally:
        pool.shutdown()


_PRELOAD_PROBE = """
import sys
from batch_multi_plot_spectrogram.batch.executors import LocalProcessPool

def loaded(name):
    return name in sys.modules

if __name__ == "__main__":
    preload = ("colorsys",) if sys.argv[1] == "preload" else ()
    pool = LocalProcessPool(1, preload=preload)
    try:
        print(pool.submit(loaded, "colorsys").result(timeout=60))
    finally:
        pool.shutdown()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="no forkserver")
@pytest.mark.parametrize(("mode", "expected"), [("preload", "True"), ("none", "False")])
def test_a_forkserver_pool_forks_workers_with_the_preloaded_modules(tmp_path, mode, expected):
    # In a process of its own: a process has one forkserver, started with the first pool.
    script = tmp_path / "probe.py"
    script.write_text(_PRELOAD_PROBE, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_a_worker_is_warmed_up_by_one_figure_it_frees(caplog):
    from batch_multi_plot_spectrogram.batch._tasks import init_worker

    caplog.set_level(logging.DEBUG, logger="batch_multi_plot_spectrogram.batch._tasks")
    try:
        init_worker({}, warm_up=True)
    finally:
        logging.captureWarnings(False)
    assert "matplotlib.backends.backend_agg" in sys.modules
    assert "warm-up figure failed" not in caplog.text
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []


def test_large_closures_are_flagged_when_sent_with_every_item(tmp_path):
    big = np.zeros(1_500_000)  # 12 MB captured by the closure

    def build(item):
        return rows_for(item) if big.size else []

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert run(["a"], tmp_path, build, executor=pool) == {"a": "ok"}
    assert (
        "pickles to 12 MB, sent with every item"
        in (tmp_path / "generic_progress.json.log").read_text()
    )


def test_a_dask_cluster_executor_runs_a_batch(tmp_path):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        result = run(
            ["good", "raises", "empty"], tmp_path, _varied, executor=client.get_executor()
        )
    assert result == {"good": "ok", "raises": "error", "empty": "no_data"}
    assert (
        "ValueError: the loader broke on purpose"
        in (tmp_path / "generic_progress.json.log").read_text()
    )


# Module-level: functions sent to an executor are copies (cloudpickle), but names of an
# importable module stay shared with this process.
_PRODUCED = [0]
_STARTED: list[tuple[int, int]] = []


def _build_and_note(item: int) -> list[dict]:
    _STARTED.append((item, _PRODUCED[0]))
    return rows_for(item)


def test_items_are_read_lazily_and_in_flight_items_are_bounded(tmp_path):
    _PRODUCED[0] = 0
    _STARTED.clear()

    def items():
        for i in range(30):
            _PRODUCED[0] += 1
            yield i
        raise OSError("the item listing broke")

    with (
        concurrent.futures.ThreadPoolExecutor(1) as pool,
        pytest.raises(OSError, match="the item listing broke"),
    ):
        run(
            items(),
            tmp_path,
            _build_and_note,
            executor=pool,
            max_in_flight=3,
            flush_batch_size=1000,
        )
    assert len(_STARTED) >= 27  # the items still queued when the listing broke are dropped
    assert all(made - item <= 3 for item, made in _STARTED)  # never more than 3 ahead
    completed = read_progress(tmp_path)["completed_items"]  # saved on the way out
    assert len(completed) >= 27
    # A thread cannot be stopped: the item it was running may finish unrecorded.
    assert 0 <= len(list(tmp_path.glob("*.png"))) - len(completed) <= 1
    assert all((tmp_path / f"{key}.png").exists() for key in completed)


#: Holds the "slow" item of the thread-pool timeout test until the batch gave up on it.
_RELEASE_SLOW = threading.Event()


def _held_build(item):
    if item == "slow":
        _RELEASE_SLOW.wait(120)
    return rows_for(item)


def test_item_timeout_with_an_executor_that_cannot_stop_tasks(tmp_path):
    # The others have ten times the time a figure takes, even on a busy machine.
    _RELEASE_SLOW.clear()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            result = run(["slow", "a", "b"], tmp_path, _held_build, executor=pool, item_timeout=10)
        finally:
            _RELEASE_SLOW.set()
    assert result == {"slow": "error", "a": "ok", "b": "ok"}
    assert "its late result is ignored" in (tmp_path / "generic_progress.json.log").read_text()
    assert read_progress(tmp_path)["errors"] == ["slow"]


def test_unpicklable_function_is_refused_up_front(tmp_path):
    lock = threading.Lock()

    def build(item):
        with lock:
            return rows_for(item)

    with pytest.raises(SettingError, match=r"cannot be sent to worker processes.*serial"):
        run(["a"], tmp_path / "out", build, executor="processes")
    assert not (tmp_path / "out").exists()
    assert run(["a"], tmp_path / "out", build, executor="serial") == {"a": "ok"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"flush_batch_size": 0}, "Expected flush_batch_size to be an integer >= 1. Got 0"),
        ({"log_flush_batch_size": 2.5}, "Expected log_flush_batch_size to be an integer"),
        ({"executor": "threads"}, "Expected executor to be 'processes', 'serial', a"),
        ({"item_timeout": 5}, "cannot be enforced with executor='serial'"),
        ({"item_timeout": -1, "executor": "processes"}, "Expected item_timeout to be a number"),
        ({"colormap": "no_such_map"}, "Expected colormap to be the name of a Matplotlib"),
        ({"y_scale": "cubic"}, "Expected y_scale to be 'linear' or 'log'. Got 'cubic'"),
        ({"dpi": 0}, "Expected dpi to be a number greater than 0. Got 0 instead."),
        ({"z_percentiles": (99, 1)}, "with 0 <= low < high <= 100. Got (99, 1) instead."),
        ({"vertical_lines": ["noon"]}, "Expected vertical_lines to be ISO-8601 times"),
        ({"output_format": "jpg"}, "Expected output_format to be one of 'png', 'pdf'"),
        ({"collapse": "median"}, "Expected collapse to be one of"),
        ({"title_fn": "title"}, "Expected title_fn to be a callable or None. Got 'title'"),
        ({"max_in_flight": 0, "executor": "processes"}, "Expected max_in_flight"),
    ],
)
def test_bad_options_are_refused_before_anything_happens(tmp_path, options, expected):
    with pytest.raises(SettingError) as info:
        run(["a"], tmp_path / "out", rows_for, **options)
    assert expected in str(info.value)
    assert not (tmp_path / "out").exists()


def test_build_datasets_fn_must_be_callable(tmp_path):
    with pytest.raises(SettingError, match="Expected build_datasets_fn to be a callable"):
        run(["a"], tmp_path, "load_datasets_for_item")


# -- one writer ----------------------------------------------------------------------------------


def test_a_second_concurrent_run_is_refused_naming_the_holder(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        import numpy as np
        sys.path.insert(0, {SRC!r})
        from batch_multi_plot_spectrogram import generic_batch_plot
        def slow(item):
            time.sleep(0.5)
            return [dict(x=1.7e9 + np.arange(60) * 4.0, y=np.logspace(1, 4, 16),
                         data=np.ones((60, 16)))]
        if __name__ == "__main__":
            generic_batch_plot(range(100), {str(tmp_path)!r}, slow, executor="serial", dpi=30)
    """)
    (tmp_path / "holder.py").write_text(script)
    holder = subprocess.Popen([sys.executable, str(tmp_path / "holder.py")])
    try:
        owner = tmp_path / "generic_progress.json.lock.owner"
        deadline = time.monotonic() + 30
        while not owner.exists():
            assert time.monotonic() < deadline and holder.poll() is None
            time.sleep(0.05)
        with pytest.raises(ProgressLockedError) as info:
            run(["x"], tmp_path, rows_for)
        message = str(info.value)
        assert f"pid {holder.pid} on host" in message and "holder.py" in message
        assert not (tmp_path / "x.png").exists()
    finally:
        holder.terminate()
        holder.wait(timeout=10)
    assert holder.returncode == -signal.SIGTERM  # SIGTERM re-delivered after saving
    read_progress(tmp_path)  # saved on SIGTERM (no item had reached flush_batch_size)
    # The lock went with the process.
    assert run(["x"], tmp_path, rows_for, ignore_progress_json=True) == {"x": "ok"}


def test_lock_held_in_this_process_is_refused(tmp_path):
    with (
        ProgressLock(tmp_path / "generic_progress.json"),
        pytest.raises(ProgressLockedError, match=f"pid {os.getpid()} "),
    ):
        run(["a"], tmp_path, rows_for)


# -- signal handlers and the progress bar ---------------------------------------------------------


def test_signal_handlers_untouched_when_not_installing(tmp_path):
    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    during: list[tuple] = []

    def build(item):
        during.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
        return rows_for(item)

    run(["a", "b"], tmp_path, build, install_signal_handlers=False)
    assert during == [before, before]


def test_signal_handlers_installed_then_restored(tmp_path):
    def previous(signum, frame):
        pass

    old_int = signal.signal(signal.SIGINT, previous)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    during: list[tuple] = []

    def build(item):
        during.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
        return rows_for(item)

    try:
        run(["a"], tmp_path, build)
        after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    assert during[0][0] is not previous and callable(during[0][0])
    assert during[0][1] is signal.SIG_IGN  # an ignored signal stays ignored
    assert after == (previous, signal.SIG_IGN)


def test_runs_outside_the_main_thread_without_touching_handlers(tmp_path):
    before = signal.getsignal(signal.SIGINT)
    outcome: dict = {}

    def target():
        try:
            outcome["result"] = run(["a"], tmp_path, rows_for)
        except BaseException as exc:  # reported below
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert outcome == {"result": {"a": "ok"}}
    assert signal.getsignal(signal.SIGINT) is before


def test_progress_bar_on_request_and_quiet_when_not_a_terminal(tmp_path, capsys):
    run(["a", "b", "c"], tmp_path / "on", rows_for, progress_bar=True)
    assert "3/3" in capsys.readouterr().err
    run(["a", "b", "c"], tmp_path / "off", rows_for)  # stderr is captured: not a terminal
    assert capsys.readouterr().err == ""


def test_vertical_lines_take_the_same_values_as_the_renderer(tmp_path: Path) -> None:
    # Naive datetimes are UTC, as in generic_plot_spectrogram_set; a 2-D list is refused.
    import datetime as dt

    from batch_multi_plot_spectrogram.options import FigureOptions

    base = FigureOptions.parse({"vertical_lines": None})
    assert base.vertical_lines == ()
    naive = base.updated({"vertical_lines": [dt.datetime(2000, 1, 1, 0, 10)]})
    assert naive.vertical_lines == (946685400.0,)
    with pytest.raises(SettingError, match="Expected vertical_lines to be ISO-8601 times"):
        base.updated({"vertical_lines": [[1.0, 2.0]]})
    with pytest.raises(SettingError, match="Expected vertical_lines to be ISO-8601 times"):
        run(["a"], tmp_path, rows_for, vertical_lines=[[1.0, 2.0]])
