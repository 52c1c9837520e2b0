"""Thumbnails: made from the render that wrote the figure, and the same picture, small."""

from __future__ import annotations

import io
import logging
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from batch_multi_plot_spectrogram.options import FigureOptions
from batch_multi_plot_spectrogram.render import THUMBNAIL_WIDTH, render_figure
from batch_multi_plot_spectrogram.render import _figure as figure_module
from batch_multi_plot_spectrogram.render._thumbnail import (
    thumbnail_from_canvas,
    thumbnail_from_png,
)

T0 = 946684800.0  # 2000-01-01T00:00:00Z


def rows(seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    x = T0 + 60.0 * np.arange(40)
    y = np.geomspace(10.0, 1e4, 12)
    return [
        {"x": x, "y": y, "data": rng.lognormal(1.0, 1.0, (40, 12)), "label": "EES"},
        {"x": x, "y": y, "data": rng.lognormal(2.0, 1.0, (40, 12)), "label": "IES"},
    ]


def rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB")).astype(np.int16)


@pytest.mark.parametrize(
    ("n_rows", "extra"),
    [(2, {}), (4, {"vertical_lines": [T0 + 600.0], "zoom_duration_minutes": 10})],
    ids=["two-rows", "four-rows-and-zoom"],
)
def test_png_thumbnail_is_the_figure_shrunk_without_a_second_draw(
    monkeypatch, n_rows: int, extra: dict[str, Any]
) -> None:
    options = FigureOptions.parse({"output_format": "png", **extra})
    datasets = (rows() + rows(seed=2))[:n_rows]
    render_figure(datasets, options)  # the reusable figure exists: the next call refills it

    def no_second_draw(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a PNG's thumbnail must neither draw nor decode the figure")

    monkeypatch.setattr(figure_module, "thumbnail_from_figure", no_second_draw)
    monkeypatch.setattr(figure_module, "thumbnail_from_png", no_second_draw)
    figure = render_figure(datasets, options, thumbnail_width=THUMBNAIL_WIDTH)
    thumbnail = figure.thumbnail
    assert thumbnail is not None
    with Image.open(io.BytesIO(figure.data)) as full:
        full_size = full.size
    assert (thumbnail.width, thumbnail.height) == (
        THUMBNAIL_WIDTH,
        round(full_size[1] * THUMBNAIL_WIDTH / full_size[0]),
    )
    # Taken from the canvas's pixels, it is exactly the thumbnail of the PNG file.
    assert np.array_equal(rgb(thumbnail.data), rgb(thumbnail_from_png(figure.data).data))
    assert len(thumbnail.data) < len(figure.data) / 2


def test_the_canvas_is_used_when_its_size_was_rounded_down() -> None:
    # 11.999... inches at 150 dpi: the canvas is int(1799.99...) = 1799 pixels high.
    fig = Figure(figsize=(12.0, 12.0 - 2e-15), dpi=150)
    FigureCanvasAgg(fig)
    fig.add_subplot().plot([0, 1], [0, 1])
    data = io.BytesIO()
    fig.savefig(data, format="png", dpi=fig.dpi)
    thumbnail = thumbnail_from_canvas(fig, width=120)
    assert thumbnail is not None
    assert np.array_equal(rgb(thumbnail.data), rgb(thumbnail_from_png(data.getvalue(), 120).data))


@pytest.mark.parametrize("output_format", ["pdf", "svg"])
def test_vector_figures_get_a_thumbnail_of_the_same_picture(output_format: str) -> None:
    png = render_figure(rows(), FigureOptions.parse({}), thumbnail_width=200)
    vector = render_figure(
        rows(), FigureOptions.parse({"output_format": output_format}), thumbnail_width=200
    )
    assert png.thumbnail is not None and vector.thumbnail is not None
    assert vector.data.startswith(b"%PDF" if output_format == "pdf" else b"<?xml")
    assert vector.thumbnail.width == png.thumbnail.width == 200
    assert abs(vector.thumbnail.height - png.thumbnail.height) <= 1  # rounded either way
    # Drawn small rather than shrunk, so not equal pixel for pixel: the same picture all
    # the same (colour cells where the PNG's thumbnail has them).
    small, shrunk = rgb(vector.thumbnail.data), rgb(png.thumbnail.data)
    rows_ = min(len(small), len(shrunk))
    difference = np.abs(small[:rows_] - shrunk[:rows_]).mean()
    assert difference < 12, difference


def test_no_thumbnail_unless_asked_and_a_failed_one_keeps_the_figure(monkeypatch, caplog) -> None:
    options = FigureOptions.parse({})
    assert render_figure(rows(), options).thumbnail is None

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("no space left on device")

    monkeypatch.setattr(figure_module, "thumbnail_from_canvas", broken)
    with caplog.at_level(logging.WARNING):
        figure = render_figure(rows(), options, thumbnail_width=100)
    assert figure.thumbnail is None
    assert figure.data.startswith(b"\x89PNG")
    assert "no thumbnail: OSError: no space left on device" in caplog.text


def test_see_through_pixels_are_laid_on_white() -> None:
    image = Image.new("RGBA", (800, 400), (0, 0, 255, 255))
    image.paste((0, 0, 0, 0), (0, 0, 400, 400))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    thumbnail = thumbnail_from_png(buffer.getvalue(), width=100)
    pixels = rgb(thumbnail.data)
    assert pixels.shape == (50, 100, 3)
    assert (pixels[:, :40] > 245).all()  # transparent -> white
    assert (pixels[:, 60:, 2] > 230).all() and (pixels[:, 60:, :2] < 25).all()
