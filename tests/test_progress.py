"""The progress file: schema, reading, checking, atomic writing, and the one-writer lock."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest

import batch_multi_plot_spectrogram
from batch_multi_plot_spectrogram import ProgressFileError, ProgressLockedError
from batch_multi_plot_spectrogram._atomic import write_bytes_atomic, write_text_atomic
from batch_multi_plot_spectrogram._schemas import load_schema, schema_path
from batch_multi_plot_spectrogram.batch._progress import (
    SCHEMA_NAME,
    Progress,
    ProgressLock,
    compare_settings,
    progress_validator,
    read_statuses,
)

SETTINGS = {"colormap": "viridis", "dpi": 30.0, "build_datasets_fn": "m.build"}
SRC = str(Path(batch_multi_plot_spectrogram.__file__).parents[1])


def _progress(tmp_path: Path, settings: dict | None = None) -> Progress:
    return Progress(tmp_path / "p.json", str(tmp_path), SETTINGS if settings is None else settings)


def _load(tmp_path: Path, settings: dict | None = None) -> tuple[Progress, list[str]]:
    return Progress.load(
        tmp_path / "p.json", str(tmp_path), SETTINGS if settings is None else settings
    )


# -- the schema ------------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12_and_found_from_the_source_tree():
    schema = load_schema(SCHEMA_NAME)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["required"]) == {
        "completed_items",
        "errors",
        "no_data",
        "last_index",
        "schema_version",
    }
    assert schema_path(SCHEMA_NAME).is_file()


def test_spec_example_document_is_valid():
    # The illustrative document of the spec, with its "..." removed.
    document = {
        "completed_items": ["itemA", "itemB"],
        "errors": ["itemC"],
        "no_data": ["itemD"],
        "last_index": 42,
        "schema_version": 1,
    }
    progress_validator().validate(document)


def test_written_file_validates_in_full_and_round_trips(tmp_path):
    p = _progress(tmp_path)
    p.record("a", "ok", 0)
    p.record("b", "no_data", 1)
    p.record("c", "error", 2)
    p.save()
    document = json.loads((tmp_path / "p.json").read_text())
    progress_validator().validate(document)  # every key, not only the new ones
    assert document["completed_items"] == ["a"]
    assert document["errors"] == ["c"]
    assert document["no_data"] == ["b"]
    assert document["last_index"] == 2
    assert document["schema_version"] == 1
    assert document["output_dir"] == str(tmp_path)
    assert document["settings"] == SETTINGS
    loaded, notes = _load(tmp_path)
    assert notes == []
    assert list(loaded.ok) == ["a"] and list(loaded.errors) == ["c"]
    assert list(loaded.no_data) == ["b"] and loaded.last_index == 2


def test_empty_state_has_null_last_index(tmp_path):
    p = _progress(tmp_path)
    p.save()
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["last_index"] is None
    assert document["completed_items"] == document["errors"] == document["no_data"] == []


def test_an_item_is_in_one_list_and_a_later_success_leaves_errors(tmp_path):
    p = _progress(tmp_path)
    p.record("x", "error", 0)
    p.record("x", "error", 3)
    assert list(p.errors) == ["x"]
    p.record("x", "ok", 5)
    p.save()
    document = json.loads((tmp_path / "p.json").read_text())
    assert document["errors"] == [] and document["completed_items"] == ["x"]
    assert document["last_index"] == 5


def test_extra_keys_of_later_versions_are_kept(tmp_path):
    p = _progress(tmp_path)
    p.save()
    document = json.loads((tmp_path / "p.json").read_text())
    document["future_key"] = {"a": 1}
    (tmp_path / "p.json").write_text(json.dumps(document))
    loaded, _ = _load(tmp_path)
    loaded.record("z", "ok", 0)
    loaded.save()
    assert json.loads((tmp_path / "p.json").read_text())["future_key"] == {"a": 1}


def test_read_statuses_lists_every_recorded_item(tmp_path):
    assert read_statuses(tmp_path / "p.json") == {}
    p = _progress(tmp_path)
    p.record("a", "ok", 0)
    p.record("b", "no_data", 1)
    p.record("c", "error", 2)
    p.save()
    assert read_statuses(tmp_path / "p.json") == {"a": "ok", "b": "no_data", "c": "error"}
    (tmp_path / "p.json").write_text("{")
    with pytest.raises(ProgressFileError, match="not valid JSON"):
        read_statuses(tmp_path / "p.json")


def test_missing_file_gives_a_fresh_state(tmp_path):
    p, notes = _load(tmp_path)
    assert p.counts() == {"ok": 0, "no_data": 0, "error": 0}
    assert notes == []
    assert not (tmp_path / "p.json").exists()


# -- refusing bad files, leaving them untouched ---------------------------------------------


def _valid_text(tmp_path: Path) -> str:
    p = _progress(tmp_path)
    for i in range(20):
        p.record(f"orbit_{i:03d}", "ok", i)
    p.save()
    return (tmp_path / "p.json").read_text()


def _refused(tmp_path: Path, content: bytes, *expected: str) -> str:
    path = tmp_path / "p.json"
    path.write_bytes(content)
    with pytest.raises(ProgressFileError) as info:
        _load(tmp_path)
    message = str(info.value)
    assert str(path) in message
    for text in expected:
        assert text in message
    assert "ignore_progress_json=True" in message
    assert path.read_bytes() == content  # byte for byte
    return message


def test_truncated_file_is_refused_and_left_untouched(tmp_path):
    text = _valid_text(tmp_path)
    _refused(tmp_path, text[: len(text) // 2].encode(), "not valid JSON", "truncated")


def test_empty_file_is_refused(tmp_path):
    _refused(tmp_path, b"", "not valid JSON", "empty")


def test_binary_garbage_is_refused(tmp_path):
    _refused(tmp_path, b"\x89PNG\r\n\x1a\n\x00\xff", "not UTF-8")


def test_non_object_is_refused(tmp_path):
    _refused(tmp_path, b'["a", "b"]', "holds a JSON list")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"errors": [5]}, "$.errors[0]: 5 is not of type 'string'"),
        ({"completed_items": "a,b"}, "$.completed_items: 'a,b' is not of type 'array'"),
        ({"last_index": "7"}, "$.last_index: '7' is not of type 'integer', 'null'"),
        ({"last_index": -1}, "$.last_index: -1 is less than the minimum of 0"),
        ({"no_data": ["a", "a"]}, "has non-unique elements"),
    ],
)
def test_wrong_types_are_refused(tmp_path, change, expected):
    document = json.loads(_valid_text(tmp_path))
    document.update(change)
    _refused(
        tmp_path, json.dumps(document).encode(), "does not match the progress schema", expected
    )


def test_missing_key_is_refused(tmp_path):
    document = json.loads(_valid_text(tmp_path))
    del document["no_data"]
    _refused(tmp_path, json.dumps(document).encode(), "'no_data' is a required property")


@pytest.mark.parametrize("version", [2, 0, "1"])
def test_unknown_schema_version_is_refused(tmp_path, version):
    document = json.loads(_valid_text(tmp_path))
    document["schema_version"] = version
    _refused(
        tmp_path,
        json.dumps(document).encode(),
        f"schema_version {version!r}",
        "reads schema_version 1 only",
    )


def test_item_in_two_lists_is_refused(tmp_path):
    document = json.loads(_valid_text(tmp_path))
    document["errors"] = ["orbit_003"]
    _refused(
        tmp_path,
        json.dumps(document).encode(),
        "lists item 'orbit_003' in both completed_items and errors",
    )


def test_other_settings_are_refused_with_the_differences(tmp_path):
    text = _valid_text(tmp_path)
    with pytest.raises(ProgressFileError) as info:
        _load(tmp_path, {**SETTINGS, "colormap": "plasma"})
    message = str(info.value)
    assert 'colormap: recorded "viridis", now "plasma"' in message
    assert "ignore_progress_json=True" in message and "progress_json_path" in message
    assert (tmp_path / "p.json").read_text() == text


def test_other_output_dir_is_refused(tmp_path):
    text = _valid_text(tmp_path)
    with pytest.raises(ProgressFileError, match="output_dir: recorded"):
        Progress.load(tmp_path / "p.json", str(tmp_path / "elsewhere"), SETTINGS)
    assert (tmp_path / "p.json").read_text() == text


def test_spec_minimal_file_is_accepted_with_a_note(tmp_path):
    (tmp_path / "p.json").write_text(
        json.dumps(
            {
                "completed_items": ["itemA"],
                "errors": ["itemC"],
                "no_data": ["itemD"],
                "last_index": 42,
                "schema_version": 1,
            }
        )
    )
    p, notes = _load(tmp_path)
    assert p.status_of("itemA") == "ok" and p.status_of("itemC") == "error"
    assert p.status_of("itemD") == "no_data" and p.status_of("other") is None
    assert len(notes) == 2
    assert any("does not record the plot settings" in n for n in notes)


def test_compare_settings_normalises_tuples():
    assert compare_settings({"z_percentiles": [1.0, 99.0]}, {"z_percentiles": (1.0, 99.0)}) == []
    assert compare_settings({"a": 1}, {"b": 1}) == [
        "a: recorded 1, now (not set)",
        "b: recorded (not recorded), now 1",
    ]


def test_save_refuses_a_state_that_breaks_the_schema(tmp_path):
    text = _valid_text(tmp_path)
    p, _ = _load(tmp_path)
    p.record("new", "ok", 0)
    p.last_index = -3
    with pytest.raises(ProgressFileError, match="Refusing to write"):
        p.save()
    assert (tmp_path / "p.json").read_text() == text


def test_save_checks_new_keys_against_the_schema(tmp_path):
    p = _progress(tmp_path)
    p.record(123, "ok", 0)  # type: ignore[arg-type]  # a bug upstream would look like this
    with pytest.raises(ProgressFileError, match=r"\$.completed_items\[0\]"):
        p.save()
    assert not (tmp_path / "p.json").exists()


# -- atomic writes ---------------------------------------------------------------------------


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new content")
    assert target.read_bytes() == b"new content"
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    with pytest.raises(TypeError):
        write_bytes_atomic(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["f.txt"]


def test_atomic_write_follows_the_umask_and_makes_parents(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_text_atomic(tmp_path / "a" / "b" / "f.txt", "x", make_parents=True)
    finally:
        os.umask(old)
    assert path.read_text() == "x"
    assert path.stat().st_mode & 0o777 == 0o644


# -- the lock ----------------------------------------------------------------------------------


def test_second_lock_is_refused_naming_pid_host_and_command(tmp_path):
    first = ProgressLock(tmp_path / "p.json")
    with first:
        owner = json.loads((tmp_path / "p.json.lock.owner").read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(ProgressLockedError) as info:
            ProgressLock(tmp_path / "p.json").acquire()
        message = str(info.value)
        assert f"pid {os.getpid()}" in message
        assert socket.gethostname() in message
        assert "another progress_json_path" in message
        assert isinstance(info.value, RuntimeError)
    assert not (tmp_path / "p.json.lock.owner").exists()
    with ProgressLock(tmp_path / "p.json"):  # free again
        pass


def test_lock_of_a_killed_holder_is_free(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from batch_multi_plot_spectrogram.batch._progress import ProgressLock
        lock = ProgressLock({str(tmp_path / "p.json")!r})
        lock.acquire()
        print("locked", flush=True)
        time.sleep(60)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ProgressLockedError, match=f"pid {holder.pid} "):
            ProgressLock(tmp_path / "p.json").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    deadline = time.monotonic() + 5
    while True:  # the OS releases the lock with the process
        try:
            with ProgressLock(tmp_path / "p.json"):
                break
        except ProgressLockedError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
