"""Thumbnails: a small JPEG of a figure, made from the render that wrote the figure.

A PNG figure was drawn into an Agg canvas's pixel buffer before being encoded: the
thumbnail is that buffer shrunk, which costs no second draw and no decoding
(:func:`thumbnail_from_canvas`; :func:`thumbnail_from_png` decodes PNG bytes instead).
The bytes of a PDF or SVG figure are not pixels, so such a figure is drawn once more, at
the thumbnail's resolution, while its ``Figure`` is still built
(:func:`thumbnail_from_figure`): cheaper than rasterising the file, and the same picture.

JPEG, not PNG: a 400-pixel thumbnail of a spectrogram is about a quarter of the size and
is encoded a hundred times faster, which matters for a run of ten thousand items; at
quality 85 without chroma subsampling, text and colour bars stay sharp.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

__all__ = [
    "THUMBNAIL_WIDTH",
    "Thumbnail",
    "thumbnail_from_canvas",
    "thumbnail_from_figure",
    "thumbnail_from_png",
]

#: Width of a thumbnail, pixels.
THUMBNAIL_WIDTH = 400
_QUALITY = 85


@dataclass(frozen=True)
class Thumbnail:
    """A JPEG thumbnail and its size in pixels."""

    data: bytes
    width: int
    height: int


def _encode(image: Image.Image) -> Thumbnail:
    buf = io.BytesIO()
    # subsampling=0 (4:4:4): thin coloured lines and labels keep their colour.
    image.save(buf, format="JPEG", quality=_QUALITY, subsampling=0, optimize=False)
    return Thumbnail(buf.getvalue(), image.width, image.height)


def _on_white(image: Image.Image) -> Image.Image:
    """``image`` as RGB; see-through pixels are laid on white, as on a page."""
    if image.mode == "RGB":
        return image
    if image.mode not in ("RGBA", "LA", "P", "PA"):
        return image.convert("RGB")
    rgba = image.convert("RGBA")
    alpha = rgba.getchannel("A")
    if alpha.getextrema()[0] == 255:  # opaque, as figures are: just drop the channel
        return rgba.convert("RGB")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=alpha)
    return flat


def _shrink(image: Image.Image, width: int) -> Image.Image:
    """``image`` as RGB on white, ``width`` pixels wide (never enlarged)."""
    # RGB first: shrinking RGBA costs four times more (Pillow premultiplies alpha).
    image = _on_white(image)
    if image.width <= width:
        return image
    height = max(1, round(image.height * width / image.width))
    # A box reduction by an integer factor first (cheap, exact averaging), then a
    # Lanczos step over what is left (a factor below 2).
    factor = image.width // width
    if factor >= 2:
        image = image.reduce(factor)
    return image.resize((width, height), Image.Resampling.LANCZOS)


def thumbnail_from_png(data: bytes, width: int = THUMBNAIL_WIDTH) -> Thumbnail:
    """A thumbnail of a PNG (or any image Pillow reads) given as bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return _encode(_shrink(image, width))


def thumbnail_from_canvas(fig: Figure, width: int = THUMBNAIL_WIDTH) -> Thumbnail | None:
    """A thumbnail of the pixels a figure's Agg canvas holds from its last draw (by
    ``savefig(format="png")`` at the figure's dpi), or None when the canvas holds no such
    picture (another canvas, or a draw at another size)."""
    canvas = fig.canvas
    renderer = getattr(canvas, "renderer", None)
    if not isinstance(canvas, FigureCanvasAgg) or renderer is None:
        return None
    size = (int(renderer.width), int(renderer.height))
    # The canvas sizes itself with int() of inches * dpi, which may land a pixel below.
    expected = fig.get_size_inches() * fig.dpi
    if abs(size[0] - expected[0]) >= 1 or abs(size[1] - expected[1]) >= 1:
        return None
    image = Image.frombuffer("RGBA", size, canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    return _encode(_shrink(image, width))


def thumbnail_from_figure(fig: Figure, width: int = THUMBNAIL_WIDTH) -> Thumbnail:
    """A thumbnail of a built figure, drawn at the resolution that makes it ``width``
    pixels wide."""
    inches_wide, inches_high = (float(v) for v in fig.get_size_inches())
    # Half a pixel more, so that the canvas's int() of inches * dpi is ``width``.
    dpi = (width + 0.5) / inches_wide
    buf = io.BytesIO()
    fig.savefig(buf, format="rgba", dpi=dpi)
    pixels_wide = int(inches_wide * dpi)
    pixels_high = len(buf.getvalue()) // (4 * pixels_wide)
    image = _on_white(
        Image.frombuffer("RGBA", (pixels_wide, pixels_high), buf.getvalue(), "raw", "RGBA", 0, 1)
    )
    size = (width, max(1, round(width * inches_high / inches_wide)))
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return _encode(image)
