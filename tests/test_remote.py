"""Archives named by URL: S3 (a moto server) and plain HTTP servers on 127.0.0.1, started
here; the figures are the local archive's, pixel for pixel; credentials are never written;
transient failures are retried; a server that goes away fails the items naming the URL."""

from __future__ import annotations

import contextlib
import http.server
import json
import logging
import os
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from batch_multi_plot_spectrogram.stores._remote import HTTP_RETRIES
from cli_runner import cli, pngs, started, summary, wait_for

moto_server = pytest.importorskip("moto.server")
pytest.importorskip("s3fs")
pytest.importorskip("aiohttp")

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "archive"
KEY, SECRET = "AKIDNEVERWRITTEN0001", "never-written-secret-0001"
pytestmark = pytest.mark.timeout(600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def aws_env() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("AWS_DEFAULT_REGION", "AWS_EC2_METADATA_DISABLED")}
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """A moto S3 server holding the sample archive under s3://bucket/archive."""
    import s3fs

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        with aws_env():
            fs = s3fs.S3FileSystem(endpoint_url=endpoint, key=KEY, secret=SECRET)
            fs.mkdir("bucket")
            fs.put(str(SAMPLE), "bucket/archive", recursive=True)
            yield endpoint
    finally:
        server.stop()


def s3_config(folder: Path, endpoint: str) -> Path:
    config = folder / "remote.toml"
    config.write_text(
        f'[storage]\nendpoint_url = "{endpoint}"\nkey = "{KEY}"\nsecret = "{SECRET}"\n'
    )
    return config


@pytest.fixture(scope="module")
def local_figures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample archive rendered from disk."""
    out = tmp_path_factory.mktemp("local") / "plots"
    ran = cli("render", SAMPLE, "-o", out, "--progress-dir", out.parent / "progress")
    assert ran.returncode == 0, ran
    return out


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGBA"))


def assert_same_figures(local: Path, remote: Path, only: str | None = None) -> None:
    expected = [p for p in pngs(local) if only is None or p.startswith(only)]
    expected = [p for p in expected if "/.thumbs/" not in p and not p.startswith(".")]
    got = [p for p in pngs(remote) if "/.thumbs/" not in p and not p.startswith(".")]
    assert got == expected
    assert expected
    for name in expected:
        assert np.array_equal(pixels(local / name), pixels(remote / name)), name


def never_written(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert KEY.encode() not in data and SECRET.encode() not in data, path


# -- S3 ------------------------------------------------------------------------------------


def test_render_s3_archive_matches_local_pixels(
    s3: str, local_figures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plots"
    ran = cli("render", "s3://bucket/archive", "-o", out, "--config", s3_config(tmp_path, s3))
    assert ran.returncode == 0, ran
    assert summary(ran.err)["error"] == 0
    assert_same_figures(local_figures, out)
    # Progress and logs go under OUT, named for the archive; never into the bucket.
    progress = sorted((out / ".progress").rglob("*.progress.json"))
    assert len(progress) == 3, progress
    never_written(out)
    assert KEY not in ran.out + ran.err and SECRET not in ran.out + ran.err
    # A rerun finds everything done, from the same progress files.
    again = cli("render", "s3://bucket/archive", "-o", out, "--config", s3_config(tmp_path, s3))
    assert again.returncode == 0, again
    assert (
        summary(again.err)["already done"] == summary(ran.err)["ok"] + summary(ran.err)["no_data"]
    )


def test_list_and_validate_s3_archive(s3: str, tmp_path: Path) -> None:
    config = s3_config(tmp_path, s3)
    listed = cli("list", "s3://bucket/archive", "--config", config)
    assert listed.returncode == 0, listed
    assert "orbit_13312" in listed.out and "mms1_fpi" in listed.out
    checked = cli("validate", "s3://bucket/archive", "--config", config)
    assert checked.returncode == 0, checked


def test_missing_bucket_or_prefix_is_refused_before_any_work(s3: str, tmp_path: Path) -> None:
    config = s3_config(tmp_path, s3)
    for url in ("s3://no-such-bucket/archive", "s3://bucket/no-such-prefix"):
        ran = cli("render", url, "-o", tmp_path / "plots", "--config", config)
        assert ran.returncode != 0, ran
        assert url in ran.err, ran
        assert not (tmp_path / "plots").exists()


@pytest.mark.slow
def test_render_s3_on_a_local_dask_cluster(s3: str, local_figures: Path, tmp_path: Path) -> None:
    out = tmp_path / "plots"
    ran = cli(
        "render",
        "s3://bucket/archive/fast_sample.zarr",
        "-o",
        out,
        "--config",
        s3_config(tmp_path, s3),
        "--cluster",
        "local",
        "--workers",
        "2",
    )
    assert ran.returncode == 0, ran
    assert_same_figures(local_figures, out, only="fast_sample.zarr/")
    never_written(out)


# -- HTTP ----------------------------------------------------------------------------------


class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; fails a share of requests with 503 and counts them."""

    fail_rate = 0.0
    delay = 0.0
    requests = 0
    failed = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _maybe_fail(self) -> bool:
        cls = type(self)
        with cls.lock:
            cls.requests += 1
            fail = random.random() < cls.fail_rate
            cls.failed += fail
        if cls.delay:
            time.sleep(cls.delay)
        if fail:
            self.send_error(503, "SlowDown")
        return fail

    def do_GET(self) -> None:
        if not self._maybe_fail():
            super().do_GET()

    def do_HEAD(self) -> None:
        if not self._maybe_fail():
            super().do_HEAD()


@contextlib.contextmanager
def http_server(folder: Path, port: int = 0, **settings: Any) -> Iterator[tuple[str, Any]]:
    handler = type("Served", (Handler,), {"lock": threading.Lock(), **settings})

    def make(*args: Any, **kwargs: Any) -> Handler:
        return handler(*args, directory=str(folder), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), make)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the sample Zarr store with consolidated metadata."""
    import zarr

    folder = tmp_path_factory.mktemp("served")
    shutil.copytree(SAMPLE / "fast_sample.zarr", folder / "fast_sample.zarr")
    with pytest.warns(UserWarning, match="[Cc]onsolidated metadata"):
        zarr.consolidate_metadata(str(folder / "fast_sample.zarr"))
    root = json.loads((folder / "fast_sample.zarr" / "zarr.json").read_text())
    assert root.get("consolidated_metadata")
    return folder


def test_render_http_zarr_matches_local_pixels(
    served: Path, local_figures: Path, tmp_path: Path
) -> None:
    with http_server(served) as (url, _):
        out = tmp_path / "plots"
        ran = cli("render", f"{url}/fast_sample.zarr", "-o", out)
    assert ran.returncode == 0, ran
    assert_same_figures(local_figures, out, only="fast_sample.zarr/")


def test_transient_503s_are_retried(served: Path, local_figures: Path, tmp_path: Path) -> None:
    random.seed(1234)
    out = tmp_path / "plots"
    with http_server(served, fail_rate=0.3) as (url, handler):
        ran = cli("render", f"{url}/fast_sample.zarr", "-o", out)
    assert ran.returncode == 0, ran
    counts = summary(ran.err)
    assert counts["error"] == 0 and counts["ok"] > 0
    assert handler.failed > 0
    logs = "".join(p.read_text() for p in (out / ".progress").rglob("*.log"))
    assert f"retry 1/{HTTP_RETRIES}" in logs and "HTTP 503" in logs
    assert_same_figures(local_figures, out, only="fast_sample.zarr/")


def done_items(folder: Path) -> int:
    for path in folder.rglob("*.progress.json"):
        with contextlib.suppress(ValueError, OSError):
            record = json.loads(path.read_text())
            return len(record.get("completed_items", [])) + len(record.get("no_data", []))
    return 0


def test_server_gone_mid_run_fails_items_naming_the_url_and_resumes(
    served: Path, local_figures: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plots"
    port = free_port()
    url = f"http://127.0.0.1:{port}/fast_sample.zarr"
    args = ("render", url, "-o", out, "--workers", "1", "--flush-batch-size", "1")
    with started(*args, stderr=tmp_path / "err") as proc:
        with http_server(served, port=port, delay=0.15):
            wait_for(proc, lambda: done_items(out) >= 1, "the first item is done")
        # The server is gone: what is left fails, naming the URL.
        proc.wait(300)
    err = (tmp_path / "err").read_text()
    assert proc.returncode == 1, err
    assert url in err
    assert done_items(out) >= 1
    with http_server(served, port=port):
        ran = cli(*args)
    assert ran.returncode == 0, ran
    assert summary(ran.err)["error"] == 0
    assert_same_figures(local_figures, out, only="fast_sample.zarr/")


# -- without servers --------------------------------------------------------------------


def test_urls_keep_their_name_and_file_urls_are_paths(tmp_path: Path) -> None:
    from batch_multi_plot_spectrogram.archive import remote_progress_dir, store_label
    from batch_multi_plot_spectrogram.stores import location
    from batch_multi_plot_spectrogram.stores._remote import is_url

    assert location("s3://bucket/archive/") == "s3://bucket/archive"
    assert location(f"file://{tmp_path}") == str(tmp_path)
    assert is_url("https://host/a.zarr") and not is_url("file:///x") and not is_url("a/b")
    label = store_label("s3://bucket/archive/sub/day.zarr", "s3://bucket/archive")
    assert label == "sub/day.zarr"
    folder = remote_progress_dir("s3://bucket/archive", tmp_path)
    assert folder.parent == tmp_path / ".progress"
    assert "/" not in folder.name and folder.name.startswith("s3")


def test_storage_table_is_never_shown_nor_described(tmp_path: Path) -> None:
    from batch_multi_plot_spectrogram.metadata import load_config

    config = tmp_path / "c.toml"
    config.write_text(f'colormap = "plasma"\n[storage]\nkey = "{KEY}"\nsecret = "{SECRET}"\n')
    loaded = load_config(config)
    assert dict(loaded.storage) == {"key": KEY, "secret": SECRET}
    assert KEY not in repr(loaded) and SECRET not in repr(loaded)
    assert KEY not in json.dumps(loaded.describe())
    assert dict(loaded.with_top({"colormap": "viridis"}).storage) == dict(loaded.storage)
