"""Hostile stores and disks: a store that cannot be read beside good ones, a corrupt
chunk, a disk that fills up during a run, and a producer writing to a NetCDF file while it
is rendered.

Every command is the real ``batch-spectrograms`` in a subprocess (one worker), on real
stores in temporary folders. Permission bits are made to apply to root with ``setpriv``;
the full disk is a small tmpfs mounted in a private mount namespace, which vanishes with
the command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import h5py
import pytest
from PIL import Image

from cli_runner import (
    CLI,
    bits_apply,
    cli,
    end_group,
    finish,
    pngs,
    run,
    started,
    summary,
    wait_for,
    without_dac_override,
)
from store_factories import spectrogram_group, write_store

# -- 3. one store never stops the others --------------------------------------------------


@dataclass(frozen=True)
class Broken:
    archive: Path
    store: Path  # the bad one
    cause: str  # how the command line words the cause
    list_code: int
    validate_code: int
    render_code: int


def _no_permission(archive: Path) -> tuple[Path, str]:
    store = write_store(archive / "locked.nc", "netcdf4", {"g": spectrogram_group(seed=2)})
    store.chmod(0)
    return store, "PermissionError: Permission denied"


def _group_without_permission(archive: Path) -> tuple[Path, str]:
    groups = {"g": spectrogram_group(seed=3), "h": spectrogram_group(seed=4)}
    store = write_store(archive / "locked_group.zarr", "zarr3", groups)
    (store / "h").chmod(0)
    return store, "PermissionError: Permission denied"


def _corrupt_metadata(archive: Path) -> tuple[Path, str]:
    store = write_store(archive / "corrupt.zarr", "zarr3", {"g": spectrogram_group(seed=5)})
    (store / "g" / "zarr.json").write_text("{not json", encoding="utf-8")
    return store, "JSONDecodeError: Expecting property name"


def _fifo(archive: Path) -> tuple[Path, str]:
    store = archive / "pipe\x1b]0;pwned\x07.nc"  # its name is printed too: escaped
    os.mkfifo(store)
    return store, "named like a store but not a regular file"


# kind -> how to make it, and the exit codes of list, validate and render. A FIFO is
# skipped (a warning), not a failure.
BROKEN = {
    "no-permission": (_no_permission, 1, 2, 1),
    "group-without-permission": (_group_without_permission, 1, 2, 1),
    "corrupt-group-metadata": (_corrupt_metadata, 1, 2, 1),
    "fifo": (_fifo, 0, 0, 0),
}


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Broken]]:
    """One archive per kind of unreadable store, each beside a good store."""
    root = tmp_path_factory.mktemp("broken")
    archives = {}
    for kind, (make, *codes) in BROKEN.items():
        archive = root / kind
        write_store(archive / "good.zarr", "zarr3", {"g": spectrogram_group(seed=1)})
        store, cause = make(archive)
        archives[kind] = Broken(archive, store, cause, *codes)
    try:
        yield archives
    finally:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder, name)
                if not path.is_symlink():
                    path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.mark.parametrize("kind", list(BROKEN))
def test_one_unreadable_store_is_reported_and_the_others_are_rendered(
    kind: str, broken: dict[str, Broken], tmp_path: Path
) -> None:
    case = broken[kind]
    prefix = without_dac_override()
    if kind.endswith("permission"):
        probe = tmp_path / "probe"
        probe.write_text("nobody may read this\n", encoding="utf-8")
        probe.chmod(0)
        if not bits_apply(prefix, probe):
            pytest.skip("permission bits do not apply to the commands run here")
    out = tmp_path / "plots"
    commands = {
        "list": (["list", case.archive], case.list_code),
        "validate": (["validate", case.archive], case.validate_code),
        "render": (["render", case.archive, "-o", out, "--workers", "1"], case.render_code),
    }
    for name, (args, code) in commands.items():
        ran = cli(*args, prefix=prefix)
        assert ran.returncode == code, ran
        assert "Traceback" not in ran.err, ran
        assert b"\x1b" not in ran.stdout + ran.stderr, ran
        quoted = repr(str(case.store))  # as messages name it, control characters escaped
        said = [line for line in (ran.out + ran.err).splitlines() if quoted in line]
        assert said, f"{name} did not name {case.store}:\n{ran}"
        assert any(case.cause in line for line in said), f"{name} gave no cause:\n{ran}"
        if name == "list":
            assert f"{case.archive / 'good.zarr'}\n  pending  g\n" in ran.out, ran
        if name == "render":
            assert pngs(out) == ["good.zarr/g.png"], ran
            assert summary(ran.err)["ok"] == 1, ran


def test_a_corrupt_chunk_costs_its_row_naming_store_group_and_variable(
    tmp_path: Path,
) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    two_rows = spectrogram_group(seed=1, variables=("ees", "ies"))
    store = write_store(
        archive / "s.zarr", "zarr3", {"g": two_rows, "h": spectrogram_group(seed=2)}
    )
    (chunk,) = [p for p in (store / "g" / "ies" / "c").rglob("*") if p.is_file()]
    chunk.write_bytes(os.urandom(300))

    result = cli("render", archive, "-o", out, "--workers", "1")

    # The item is drawn without the unreadable variable, and the run says so.
    assert result.returncode == 1, result
    (line,) = [x for x in result.err.splitlines() if x.startswith("problem: item 'g'")]
    assert f"of store {str(store)!r}" in line, line
    assert f"store {str(store)!r}, group 'g', variable 'ies': its data cannot be read" in line
    counts = summary(result.err)
    assert (counts["ok"], counts["error"], counts["problems"]) == (2, 0, 1), result
    assert pngs(out) == ["s.zarr/g.png", "s.zarr/h.png"]
    assert "Traceback" not in result.err


# -- 4. a full disk stops the run at once, with what was written saved --------------------


def _mount_namespace(folder: Path) -> list[str] | None:
    """How to run a command in a private mount namespace where it may mount a tmpfs:
    ``unshare -m`` as root, ``unshare -rm`` (a user namespace) otherwise; None if
    neither works here."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    target = folder / "probe"
    target.mkdir()
    for prefix in ([unshare, "-m"], [unshare, "-rm"]):
        probe = run(
            [*prefix, "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", target],
            timeout=60,
        )
        if probe.returncode == 0:
            return prefix
    return None


# Mount a tmpfs of 400 kB on $1 for the figures, render into it until it is full, keep a
# copy of what is there, give it room and run the same command again. $2: the command
# line, $3: the archive (its progress files go beside its stores, on another disk), $4:
# where the copies (figures, progress file) and the commands' stderr go.
FULL_DISK = textwrap.dedent("""\
    set -u
    mount -t tmpfs -o size=400k tmpfs "$1" || exit 97
    render() {
        "$2" render "$3" -o "$1" --workers 1 2>"$4/$5.err"
        echo $? >"$4/$5.code"
        mkdir -p "$4/$5/figures" && cp -a "$1/." "$4/$5/figures/"
        cp "$3/many.zarr.progress.json" "$4/$5/"
    }
    render "$@" full
    mount -o remount,size=16m "$1" || exit 98
    render "$@" room
""")


def test_a_full_disk_stops_the_run_with_one_message_and_the_same_command_continues(
    tmp_path: Path,
) -> None:
    prefix = _mount_namespace(tmp_path)
    if prefix is None:
        pytest.skip("cannot mount a tmpfs in a private mount namespace here (unshare -m/-rm)")
    n_items = 12  # about 57 kB each: 400 kB holds 6
    archive = tmp_path / "archive"
    groups = {f"orbit_{i:02d}": spectrogram_group(n_time=16, seed=i) for i in range(n_items)}
    write_store(archive / "many.zarr", "zarr3", groups)
    disk, seen = tmp_path / "disk", tmp_path / "seen"
    disk.mkdir()
    seen.mkdir()

    ran = run([*prefix, "sh", "-c", FULL_DISK, "sh", disk, CLI, archive, seen], timeout=600)

    assert ran.returncode == 0, ran
    assert not any(disk.iterdir()), "the tmpfs leaked out of its mount namespace"
    full_err = (seen / "full.err").read_text(encoding="utf-8")
    assert (seen / "full.code").read_text().strip() == "3", full_err
    assert full_err.count("The disk is full") == 1, full_err
    assert "Traceback" not in full_err
    written = pngs(seen / "full" / "figures")
    for name in written:
        with Image.open(seen / "full" / "figures" / name) as image:
            image.load()  # complete
    assert 0 < len(written) < n_items, written
    assert summary(full_err)["ok"] == len(written), full_err
    progress = json.loads((seen / "full" / "many.zarr.progress.json").read_text())
    # Saved after the stop: the items written; the one that did not fit is an error.
    assert sorted(f"many.zarr/{key}.png" for key in progress["completed_items"]) == written
    assert len(progress["errors"]) == 1

    room_err = (seen / "room.err").read_text(encoding="utf-8")
    assert (seen / "room.code").read_text().strip() == "0", room_err
    assert pngs(seen / "room" / "figures") == sorted(f"many.zarr/{g}.png" for g in groups)
    again = summary(room_err)
    assert (again["ok"], again["already done"]) == (n_items - len(written), len(written))


# -- 7. a producer may append to a NetCDF file while it is rendered -----------------------

# Appends a group to the file, again and again, until told to stop; exits 1 at the first
# failure to open the file for writing.
PRODUCER = textwrap.dedent("""\
    import os, sys, time
    import h5py, numpy as np
    path, stop = sys.argv[1], sys.argv[2]
    count = 0
    while True:
        with h5py.File(path, "a") as fh:
            fh.create_group(f"appended_{count}").create_dataset("extra", data=np.arange(8.0))
        count += 1
        if os.path.exists(stop):
            break
        time.sleep(0.02)
    print(count)
""")


def test_a_producer_appends_to_a_netcdf_file_while_it_is_rendered(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    groups = {f"orbit_{i:02d}": spectrogram_group(n_time=16, seed=i) for i in range(20)}
    store = write_store(archive / "live.nc", "netcdf4", groups)
    first = out / "live.nc" / "orbit_00.png"
    stop = tmp_path / "stop"
    producer: subprocess.Popen[bytes] | None = None
    try:
        with started(
            "render", archive, "-o", out, "--workers", "1", stderr=tmp_path / "render.err"
        ) as render:
            wait_for(render, first.exists, "the first figure was written")
            with (tmp_path / "producer.out").open("wb") as output:
                producer = subprocess.Popen(
                    [sys.executable, "-c", PRODUCER, str(store), str(stop)],
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            render_code = finish(render, progress=lambda: len(pngs(out)))
        stop.touch()
        producer_code = producer.wait(timeout=120)
    finally:
        stop.touch()
        if producer is not None:
            end_group(producer)
    said = (tmp_path / "producer.out").read_text(encoding="utf-8", errors="replace")
    assert producer_code == 0, f"the producer failed while the file was rendered:\n{said}"
    with h5py.File(store, "r") as fh:
        assert f"appended_{int(said) - 1}" in fh
    rendered = (tmp_path / "render.err").read_text(encoding="utf-8")
    counts = summary(rendered)
    assert counts["ok"] + counts["error"] == len(groups), rendered
    assert render_code == (1 if counts["error"] else 0), rendered
    assert "Traceback" not in rendered
