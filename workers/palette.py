"""The slices' palette and layout: grey anatomy, the colour maps, label colours, fixed colours, sizes.

Every picture of ``workers.slices`` and ``workers.glass`` is a palette PNG whose
indices are laid out here: ``GREYS`` grey levels, then ``COLOURS`` entries of the
colour map, then the label colours, then a few fixed colours (text, outlines).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

DENSITY = 2
ORTHO_WIDTH = 600  # CSS pixels; the PNG is DENSITY times larger
MOSAIC_WIDTH = 600
GLASS_WIDTH = 480
SLICE_WIDTH = 400
MOSAIC_CUTS = 10
MOSAIC_COLUMNS = 5
MAX_CUTS = 12
MNI_MARGIN_MM = 4.0
FONT_SIZE = 11
BAR_WIDTH = 12
BAR_SPACE = 52  # the colour bar and its labels, in CSS pixels
GAP = 4


# palette: grey anatomy, the colour map, label colours, then a few fixed colours
GREYS = 64  # 64 grey levels: no visible banding, files ~13 % smaller than with 96
COLOURS = 128
OVERLAY = GREYS
LABELS = GREYS + COLOURS
N_LABEL_COLOURS = 24
WHITE, TEXT, DARK_TEXT, OUTLINE, ROI, GAP_GREY = range(LABELS + N_LABEL_COLOURS, LABELS + N_LABEL_COLOURS + 6)
FIXED_COLOURS = [(255, 255, 255), (255, 255, 255), (60, 60, 60), (160, 160, 160), (60, 255, 60), (110, 110, 110)]
SAMPLE_SIZE = 50_000
THRESHOLD_SAMPLE = 1_000_000
TEMPLATE_PLANES_KEPT = 64  # about 6 MiB of grey levels

ROI_TYPES, PARCELLATION_TYPES, ANATOMY_TYPES = frozenset({"R"}), frozenset({"Pa"}), frozenset({"A"})
AXIS_NAMES = "xyz"
VIEW_OF_AXIS = {0: "sagittal", 1: "coronal", 2: "axial"}


def _ramp(anchors, n: int) -> np.ndarray:
    positions = np.linspace(0, 1, len(anchors))
    steps = np.linspace(0, 1, n)
    return np.stack([np.interp(steps, positions, [a[c] for a in anchors]) for c in range(3)], axis=1)


HOT = ((90, 0, 0), (230, 0, 0), (255, 150, 0), (255, 240, 60), (255, 255, 200))
COLD = ((0, 0, 90), (0, 0, 230), (0, 150, 255), (60, 240, 255), (200, 255, 255))
VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
GREY_RAMP = ((40, 40, 40), (255, 255, 255))


def _colour_map(name: str, signed: bool) -> np.ndarray:
    """COLOURS entries from the low end of the range to the high end."""
    if name == "cold_hot" and signed:
        half = COLOURS // 2
        return np.concatenate([_ramp(COLD[::-1], half), _ramp(HOT, COLOURS - half)])
    anchors = {"cold_hot": HOT, "hot": HOT, "viridis": VIRIDIS, "gray": GREY_RAMP}[name]
    return _ramp(anchors, COLOURS)


COLOUR_MAPS = ("cold_hot", "hot", "viridis", "gray")
LABEL_COLOURS = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128), (255, 99, 71), (46, 139, 87), (65, 105, 225), (218, 165, 32)])


@lru_cache(maxsize=16)
def palette(colour_map: str = "cold_hot", signed: bool = True) -> tuple[int, ...]:
    greys = np.repeat(np.linspace(0, 255, GREYS)[:, None], 3, axis=1)
    entries = np.concatenate([greys, _colour_map(colour_map, signed), LABEL_COLOURS, FIXED_COLOURS])
    entries = np.round(entries).astype(np.uint8)
    return tuple(np.pad(entries, ((0, 256 - len(entries)), (0, 0))).ravel().tolist())


def colour_index(values: np.ndarray, vmax: float, signed: bool) -> np.ndarray:
    """Palette indices of values on the colour map: [-vmax, vmax] for signed maps, [0, vmax] otherwise."""
    low = -vmax if signed else 0.0
    position = (np.asarray(values, np.float64) - low) / (vmax - low)
    return (OVERLAY + np.clip(position * COLOURS, 0, COLOURS - 1)).astype(np.uint8)
