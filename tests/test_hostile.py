"""Hostile names and places: inputs that once made one figure silently overwrite another,
names from the data written verbatim into paths and onto the terminal, and output folders
inside the input stores.

Archives are real Zarr and NetCDF stores in temporary folders; figures are rendered by
the library (in this process, serially) or by the command line (a subprocess, one
worker), and checked on disk.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from batch_multi_plot_spectrogram import generic_batch_plot, render_archive
from batch_multi_plot_spectrogram.archive import ArchiveRun
from batch_multi_plot_spectrogram.batch import safe_file_stem
from cli_runner import Ran, cli, pngs, stamp, summary, unsafe_parts
from store_factories import spectrogram_group, write_store

X = 1.7e9 + np.arange(40) * 4.0
Y = np.logspace(1, 4, 8)


def rows(item: object) -> list[dict[str, Any]]:
    """Rows of an item of :func:`generic_batch_plot`: data seeded by the item's key, so
    that two items never make the same picture."""
    rng = np.random.default_rng(zlib.crc32(str(item).encode()))
    return [{"x": X, "y": Y, "data": rng.gamma(2.0, 50.0, size=(40, 8))}]


def lower_name(key: str) -> str:
    """An ``output_name_fn`` that folds case: ``X`` and ``x`` get the same file."""
    return key.lower() + ".png"


def batch(items: list[str], out: Path, **options: Any) -> dict[str, str]:
    return generic_batch_plot(
        items,
        out,
        rows,
        executor="serial",
        dpi=30,
        progress_bar=False,
        install_signal_handlers=False,
        **options,
    )


def render(archive: Path, out: Path) -> ArchiveRun:
    return render_archive(
        archive, out, executor="serial", progress_bar=False, install_signal_handlers=False
    )


def statuses(run: ArchiveRun) -> dict[tuple[str, str], str]:
    return {(Path(i.store).name, i.group): s for i, s in run.statuses.items()}


def folds_case(folder: Path) -> bool:
    """Whether the file system of ``folder`` ignores case in names."""
    probe = folder / "Case-Probe"
    probe.touch()
    try:
        return (folder / "case-probe").exists()
    finally:
        probe.unlink()


def distinct_ignoring_case(names: list[str]) -> bool:
    return len({name.casefold() for name in names}) == len(names)


# -- 1. no item ever takes another item's file -------------------------------------------


@pytest.mark.parametrize("name", ["root", "Root"])
def test_a_group_named_root_never_takes_the_root_groups_figure(name: str, tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    store = write_store(archive / "s.zarr", "zarr3", {"/": spectrogram_group(seed=1)})
    first = render(archive, out)
    assert statuses(first) == {("s.zarr", "/"): "ok"}
    root_png = out / "s.zarr" / "root.png"
    before = stamp(root_png)

    write_store(store, "zarr3", {name: spectrogram_group(seed=2)}, append=True)
    second = render(archive, out)

    assert statuses(second) == {("s.zarr", "/"): "ok", ("s.zarr", name): "ok"}
    assert stamp(root_png) == before, "the root group's figure was rewritten"
    files = pngs(out)
    assert len(files) == 2 and distinct_ignoring_case(files), files
    (new,) = (out / f for f in files if f != "s.zarr/root.png")
    assert new.read_bytes() != before[0]
    recorded = json.loads((archive / "s.zarr.progress.json").read_text())["outputs"]
    assert recorded == {"/": "root.png", name: new.name}


def test_a_store_linked_from_outside_gets_its_own_output_folder(tmp_path: Path) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    write_store(archive / "s.zarr", "zarr3", {"orbit": spectrogram_group(seed=1)})
    elsewhere = write_store(
        tmp_path / "elsewhere" / "s.zarr", "zarr3", {"orbit": spectrogram_group(seed=2)}
    )
    (archive / "sub").mkdir()
    (archive / "sub" / "s.zarr").symlink_to(elsewhere, target_is_directory=True)

    run = render(archive, out)

    assert sorted(run.statuses.values()) == ["ok", "ok"]
    assert pngs(out) == ["s.zarr/orbit.png", "sub/s.zarr/orbit.png"]
    inside, linked = out / "s.zarr" / "orbit.png", out / "sub" / "s.zarr" / "orbit.png"
    assert inside.read_bytes() != linked.read_bytes()
    # Each store keeps its own progress, beside the name it was found by.
    for progress in (archive / "s.zarr.progress.json", archive / "sub" / "s.zarr.progress.json"):
        assert json.loads(progress.read_text())["completed_items"] == ["orbit"]


def test_an_item_and_the_name_made_for_another_item_never_share_a_file(
    tmp_path: Path,
) -> None:
    made = safe_file_stem("a/b")
    assert made.startswith("a_b-")  # the name of "a/b": unsafe characters and a digest
    out = tmp_path / "plots"

    result = batch(["a/b", made], out)

    assert result == {"a/b": "ok", made: "ok"}
    files = sorted(p.name for p in out.glob("*.png"))
    assert len(files) == 2, files
    outputs = json.loads((out / "generic_progress.json").read_text())["outputs"]
    assert sorted(outputs.values()) == files
    assert (out / outputs["a/b"]).read_bytes() != (out / outputs[made]).read_bytes()


def test_api_items_differing_only_by_case_get_names_that_differ_by_more(
    tmp_path: Path,
) -> None:
    out = tmp_path / "plots"
    result = batch(["Orbit", "orbit"], out)
    assert result == {"Orbit": "ok", "orbit": "ok"}
    files = sorted(p.name for p in out.glob("*.png"))
    assert len(files) == 2 and distinct_ignoring_case(files), files


def test_an_item_differing_by_case_from_one_done_before_gets_its_own_file(
    tmp_path: Path,
) -> None:
    out = tmp_path / "plots"
    assert batch(["orbit"], out) == {"orbit": "ok"}
    done = stamp(out / "orbit.png")

    # The new item comes first: the name of the item done before is not its to take.
    assert batch(["Orbit", "orbit"], out) == {"Orbit": "ok", "orbit": "ok"}

    assert stamp(out / "orbit.png") == done
    files = sorted(p.name for p in out.glob("*.png"))
    assert len(files) == 2 and distinct_ignoring_case(files), files
    stamps = {name: stamp(out / name) for name in files}
    # Resumed in any order, each item keeps its file and nothing is rendered again.
    assert batch(["orbit", "Orbit"], out) == {"orbit": "ok", "Orbit": "ok"}
    assert {name: stamp(out / name) for name in files} == stamps


def test_groups_and_stores_differing_only_by_case_get_names_that_differ_by_more(
    tmp_path: Path,
) -> None:
    archive, out = tmp_path / "archive", tmp_path / "plots"
    archive.mkdir()
    if folds_case(archive):
        pytest.skip("this file system ignores case: 'A.zarr' and 'a.zarr' are one store")
    groups = {"G": spectrogram_group(seed=1), "g": spectrogram_group(seed=2)}
    write_store(archive / "A.zarr", "zarr3", groups)
    write_store(archive / "a.zarr", "zarr3", groups)

    run = render(archive, out)

    assert statuses(run) == {
        (store, group): "ok" for store in ("A.zarr", "a.zarr") for group in ("G", "g")
    }
    files = pngs(out)
    assert len(files) == 4 and distinct_ignoring_case(files), files
    folders = sorted({f.split("/")[0] for f in files})
    assert len(folders) == 2 and distinct_ignoring_case(folders), folders


def test_a_file_recorded_for_one_item_is_never_written_for_another(tmp_path: Path) -> None:
    out = tmp_path / "plots"
    assert batch(["X"], out, output_name_fn=lower_name) == {"X": "ok"}
    png = out / "x.png"
    before = stamp(png)

    result = batch(["x"], out, output_name_fn=lower_name)

    assert result == {"x": "error"}
    assert stamp(png) == before, "the figure of item 'X' was overwritten"
    log = (out / "generic_progress.json.log").read_text(encoding="utf-8")
    reason = next(line for line in log.splitlines() if "error    'x'" in line)
    assert f"item 'x' would write {str(png)!r}" in reason
    assert "figure of item 'X'" in reason
    document = json.loads((out / "generic_progress.json").read_text())
    assert document["completed_items"] == ["X"] and document["errors"] == ["x"]
    assert document["outputs"] == {"X": "x.png"}


# -- 2. names from the data are never written verbatim -----------------------------------

HOSTILE = {
    "backslash": "back\\slash",
    "colon": "co:lon",
    "wildcards": "q?*<>|",
    "newline": "new\nline",
    "title-escape": "\x1b]0;pwned\x07",
    "clear-screen": "\x1b[2J",
    "leading-dash": "-rf",
    "dot-dot": "..",
    "long": "n" * 250,
}
ODD_STORE = "odd\nstore\x1b[2J.zarr"  # a store's name is data too
STORES = {
    ODD_STORE: ("zarr3", ["g"]),
    "names.nc": ("netcdf4", list(HOSTILE.values())),
    # Zarr refuses "..", and writes a backslash as a path separator.
    "names.zarr": (
        "zarr3",
        [name for name in HOSTILE.values() if name not in ("..", "back\\slash")],
    ),
}
RAW = (b"\x1b", b"\x07", b"\r")


def escaped(text: str) -> str:
    """``text`` as the command line prints a name: control characters as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True)
class Hostile:
    root: Path
    archive: Path
    out: Path
    listed_before: Ran
    rendered: Ran
    dry_run: Ran
    listed_after: Ran


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    """An archive whose groups have hostile names, listed, rendered with ``-v`` after the
    subcommand, planned with ``--dry-run`` and listed again."""
    root = tmp_path_factory.mktemp("hostile")
    archive, out = root / "archive", root / "out"
    for name, (fmt, groups) in STORES.items():
        write_store(
            archive / name,
            fmt,
            {g: spectrogram_group(seed=n) for n, g in enumerate(groups)},
        )
    before = cli("list", archive)
    rendered = cli("render", "-v", archive, "-o", out, "--workers", "1")
    dry_run = cli("render", archive, "-o", root / "planned", "--dry-run")
    after = cli("list", archive)
    return Hostile(root, archive, out, before, rendered, dry_run, after)


def test_hostile_group_names_render_into_safe_files_inside_the_output_folder(
    hostile: Hostile,
) -> None:
    rendered = hostile.rendered
    assert rendered.returncode == 0, rendered
    total = sum(len(groups) for _, groups in STORES.values())
    assert summary(rendered.err)["ok"] == total, rendered
    for name, (_, groups) in STORES.items():
        document = json.loads((hostile.archive / f"{name}.progress.json").read_text())
        assert sorted(document["completed_items"]) == sorted(groups), name
        assert document["errors"] == []
    # One figure per item; besides them only the gallery (its page and each figure's
    # thumbnail and record in a hidden folder beside it).
    gallery = {"index.html", "gallery.js", "gallery.json"}
    files = [p for p in hostile.out.rglob("*") if p.is_file()]
    figures = [p for p in files if p.parent.name != ".thumbs" and p.name not in gallery]
    assert len(figures) == total
    assert all(p.suffix == ".png" for p in figures)
    out = hostile.out.resolve()
    for path in hostile.out.rglob("*"):
        assert path.resolve().is_relative_to(out), path
        ours = Path(*(part for part in path.relative_to(hostile.out).parts if part != ".thumbs"))
        assert unsafe_parts(ours, path.suffix or ".png") == [], path
    # Nothing written anywhere else: the archive holds its stores and their records only.
    assert sorted(p.name for p in hostile.root.iterdir()) == ["archive", "out"]
    records = (".progress.json", ".progress.json.log", ".progress.json.lock")
    expected = {f"{store}{suffix}" for store in STORES for suffix in ("", *records)}
    assert {p.name for p in hostile.archive.iterdir()} <= expected


def _lines(output: bytes) -> list[str]:
    return output.decode("utf-8").split("\n")[:-1]


def test_hostile_group_names_reach_the_terminal_escaped(hostile: Hostile) -> None:
    outputs = {
        "list before": hostile.listed_before,
        "render -v": hostile.rendered,
        "dry run": hostile.dry_run,
        "list after": hostile.listed_after,
    }
    for what, ran in outputs.items():
        assert ran.returncode == 0, ran
        for raw in RAW:
            assert raw not in ran.stdout + ran.stderr, f"{what} printed {raw!r}:\n{ran}"
    # One line per item: a line break in a name never starts a line of its own.
    stores = {str(hostile.archive / name): groups for name, (_, groups) in STORES.items()}
    n_items = sum(len(groups) for groups in stores.values())
    for what in ("list before", "list after"):
        status = "pending" if what == "list before" else "ok"
        lines = _lines(outputs[what].stdout)
        assert sorted(x for x in lines if not x.startswith("  ")) == sorted(map(escaped, stores))
        for line in lines:
            if line.startswith("  "):
                assert re.fullmatch(rf"  {status} +\S.*", line), line
        assert len(lines) == len(stores) + n_items
        assert r"  \x1b]0;pwned\x07" in outputs[what].out
        assert r"new\nline" in outputs[what].out
        assert outputs[what].stderr == b"", outputs[what]
    rendered = _lines(hostile.rendered.stderr)
    item_lines = [line for line in rendered if re.match("ok +'", line)]
    assert len(item_lines) == n_items, hostile.rendered
    for line in item_lines:
        assert re.fullmatch(r"ok +'.*' \(#\d+\) -> /\S+\.png in \d+\.\d\d s \[/.*\]", line), line
        assert line[line.rindex(" [") + 2 : -1] in map(escaped, stores), line
    logs = sorted(line for line in rendered if line.startswith("log: "))
    assert logs == sorted(f"log: {escaped(store)}.progress.json.log" for store in stores)
    for line in rendered:
        assert re.match(r"(rendering |ok |log: |gallery: )", line), line
    planned = _lines(hostile.dry_run.stdout)
    assert len(planned) == len(stores) + n_items
    headers = sorted(
        f"{escaped(store)}: {len(groups)} item(s)" for store, groups in stores.items()
    )
    assert sorted(line for line in planned if not line.startswith("  ")) == headers
    for line in planned:
        if line.startswith("  "):
            assert re.fullmatch(r"  \S.* -> /\S+\.png", line), line


# -- 5. never write inside an input store ------------------------------------------------


@pytest.mark.parametrize("flag", ["-o", "--progress-dir"])
def test_writing_inside_an_input_store_is_refused(flag: str, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    store = write_store(archive / "s.zarr", "zarr3", {"orbit": spectrogram_group(seed=1)})
    before = {p: p.stat().st_mtime_ns for p in store.rglob("*")}
    inside = store / "plots"
    outside = tmp_path / "plots"
    args = ["-o", inside] if flag == "-o" else ["-o", outside, "--progress-dir", inside]

    result = cli("render", archive, *args, "--workers", "1")

    assert result.returncode == 2, result
    flag_name = "-o/--output" if flag == "-o" else "--progress-dir"
    assert (
        f"error: {flag_name} {str(inside)!r} is inside the input store {str(store)!r}"
        in result.err
    ), result
    assert "Traceback" not in result.err
    assert {p: p.stat().st_mtime_ns for p in store.rglob("*")} == before
    assert sorted(p.name for p in archive.iterdir()) == ["s.zarr"]
    assert not (tmp_path / "plots").exists()
