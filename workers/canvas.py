"""Laying panels out on a palette canvas: coordinates, L/R marks, the colour bar, the words kept in the PNG.

Shared by ``workers.slices`` (on black) and ``workers.glass`` (on white).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workers.palette import (
    AXIS_NAMES,
    BAR_SPACE,
    BAR_WIDTH,
    DENSITY,
    FONT_SIZE,
    GAP,
    GAP_GREY,
    TEXT,
    colour_index,
)
from workers.pngfile import palette_png
from workers.scene import Scene

#: A picture's panels are at most this many times as tall as the picture is wide: a map one voxel thick along
#: the axis that sets the scale (a single slice, a line of voxels) would otherwise be drawn millions of pixels tall.
MAX_HEIGHT_PER_WIDTH = 2.0


def fitted_per_mm(width_px: float, across_mm: float, tallest_mm: float) -> float:
    """Pixels per mm that fit ``across_mm`` into ``width_px``, lowered so the tallest panel stays within bounds."""
    per_mm = width_px / across_mm
    return min(per_mm, MAX_HEIGHT_PER_WIDTH * width_px / tallest_mm)


def bar_space(s: Scene) -> int:
    return BAR_SPACE if s.style == "map" else 0


def compose(s: Scene, rows: list[list[tuple[int, float, np.ndarray]]], *, label_margin: bool) -> bytes:
    """Panels in rows on black, each with its coordinate and L/R marks, the colour bar on the right."""
    gap = GAP * DENSITY
    text_h = (FONT_SIZE + 4) * DENSITY if label_margin else 0
    row_heights = [max(p.shape[0] for _a, _c, p in row) + text_h for row in rows]
    row_widths = [sum(p.shape[1] for _a, _c, p in row) + gap * (len(row) - 1) for row in rows]
    bar = bar_space(s) * DENSITY
    canvas = np.zeros((sum(row_heights) + gap * (len(rows) - 1), max(row_widths) + bar), np.uint8)
    top = 0
    for row, row_height in zip(rows, row_heights, strict=True):
        x = 0
        for axis, position, pixels in row:
            y = top + (row_height - text_h - pixels.shape[0]) // 2
            canvas[y:y + pixels.shape[0], x:x + pixels.shape[1]] = pixels
            write_text(canvas, x + 2 * DENSITY, top + row_height - text_h + DENSITY,
                   f"{AXIS_NAMES[axis]} = {position:.0f}", TEXT)
            if axis != 0:
                mark_sides(canvas, x, y, pixels.shape[1], TEXT)
            x += pixels.shape[1] + gap
        top += row_height + gap
    if bar:
        colour_bar(canvas, s, max(row_widths) + gap, TEXT)
    return png_bytes(canvas, s.palette, picture_metadata(s))


def mark_sides(canvas: np.ndarray, x: int, y: int, width: int, colour: int) -> None:
    """"L" at the panel's top left, "R" at its top right (neurological convention)."""
    write_text(canvas, x + 2 * DENSITY, y + DENSITY, "L", colour)
    write_text(canvas, x + width - 9 * DENSITY, y + DENSITY, "R", colour)


def write_text(canvas: np.ndarray, x: int, y: int, text: str, colour: int) -> None:
    """Text in one palette colour, clipped to the canvas; each string is rendered once per process."""
    stamp = text_stamp(text)
    height = max(0, min(stamp.shape[0], canvas.shape[0] - y))
    width = max(0, min(stamp.shape[1], canvas.shape[1] - x))
    if x < 0 or y < 0 or not height or not width:
        return
    region = canvas[y:y + height, x:x + width]
    region[stamp[:height, :width]] = colour


@lru_cache(maxsize=512)
def text_stamp(text: str) -> np.ndarray:
    """The pixels of a label, as Pillow's font draws it on a palette image (labels repeat: coordinates, L, R)."""
    font = font_of_size(FONT_SIZE * DENSITY)
    left, top, right, bottom = font.getbbox(text)
    picture = Image.new("P", (max(1, right), max(1, bottom)), 0)
    ImageDraw.Draw(picture).text((0, 0), text, fill=1, font=font)
    stamp = np.asarray(picture) == 1
    stamp.setflags(write=False)
    return stamp


def bar_range(s: Scene) -> tuple[float, float]:
    """The colour bar's ends: [-vmax, vmax] for signed maps, [0, vmax] otherwise."""
    return (-s.vmax if s.signed else 0.0), s.vmax


def colour_bar(canvas: np.ndarray, s: Scene, x: int, text_colour: int) -> None:
    """A vertical bar from the range's low end (bottom) to its high end (top); the values not shown in grey."""
    margin = (FONT_SIZE // 2 + 2) * DENSITY
    height = canvas.shape[0] - 2 * margin
    if height < 4:
        return
    low, high = bar_range(s)
    values = high - (np.arange(height) + 0.5) / height * (high - low)
    index = colour_index(values, s.vmax, s.signed)
    if s.threshold is not None and not s.threshold.nonzero:
        index[~s.threshold.mask(values)] = GAP_GREY
    canvas[margin:margin + height, x:x + BAR_WIDTH * DENSITY] = index[:, None]
    text_x = x + (BAR_WIDTH + 3) * DENSITY
    ticks = [(high, margin), (low, margin + height)]
    if s.threshold is not None and not s.threshold.nonzero and not s.threshold.below and 0 < s.threshold.value < high:
        ticks.append((s.threshold.value, margin + height * (high - s.threshold.value) / (high - low)))
        if s.signed:
            ticks.append((-s.threshold.value, margin + height * (high + s.threshold.value) / (high - low)))
    for value, y in ticks:
        write_text(canvas, text_x, int(y) - FONT_SIZE * DENSITY // 2, bar_number(value), text_colour)


def bar_number(value: float) -> str:
    return f"{value:.3g}"


def picture_metadata(s: Scene) -> dict[str, str]:
    """What the picture shows, in words, kept in the PNG (tests and curious readers can read it back)."""
    low, high = bar_range(s)
    info = {"space": "MNI152" if s.mni else "the map's own (not MNI)", "style": s.style}
    if s.style == "map":
        info["range"] = f"{low:.6g} {high:.6g}"
        info["threshold"] = s.threshold.rule if s.threshold is not None else "every non-zero voxel"
    return info


@lru_cache(maxsize=4)
def font_of_size(size: int) -> ImageFont.ImageFont:
    """Pillow's own scalable font, loaded once per size."""
    return ImageFont.load_default(size=size)


def png_bytes(pixels: np.ndarray, colours: tuple[int, ...], info: dict[str, str]) -> bytes:
    return palette_png(pixels, colours, info)


def eroded(inside: np.ndarray) -> np.ndarray:
    core = inside.copy()
    core[1:, :] &= inside[:-1, :]
    core[:-1, :] &= inside[1:, :]
    core[:, 1:] &= inside[:, :-1]
    core[:, :-1] &= inside[:, 1:]
    return core
