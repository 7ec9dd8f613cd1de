"""Palette PNGs written without Pillow's encoder: any decoder reads back the same pixels, colours and words."""

import io

import numpy as np
from PIL import Image

from workers import pngfile


def test_pixels_palette_and_text_read_back_by_pillow():
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (37, 53)).astype(np.uint8)
    pixels[10:20] = 7  # runs, and rows equal to the one above
    colours = rng.integers(0, 256, 768).tolist()
    png = pngfile.palette_png(pixels, colours, {"threshold": "|z| ≥ 3.1", "space": "MNI152"})
    with Image.open(io.BytesIO(png)) as picture:
        picture.load()
        assert picture.mode == "P" and picture.size == (53, 37)
        assert np.array_equal(np.asarray(picture), pixels)
        assert picture.getpalette()[:768] == colours
        assert picture.text == {"threshold": "|z| ≥ 3.1", "space": "MNI152"}


def test_one_pixel_picture():
    png = pngfile.palette_png(np.zeros((1, 1), np.uint8), [0, 0, 0])
    with Image.open(io.BytesIO(png)) as picture:
        assert np.asarray(picture).tolist() == [[0]]


def test_every_chunk_carries_a_valid_crc():
    import struct
    import zlib

    png = pngfile.palette_png(np.arange(64, dtype=np.uint8).reshape(8, 8), list(range(192)), {"a": "b"})
    assert png.startswith(pngfile.SIGNATURE)
    at, kinds = len(pngfile.SIGNATURE), []
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        kinds.append(kind)
        at += 12 + length
    assert kinds == [b"IHDR", b"PLTE", b"iTXt", b"IDAT", b"IEND"]
