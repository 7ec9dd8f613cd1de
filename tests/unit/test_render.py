"""workers.render: every thumbnail as a valid PNG, never blank for a real map, never failing on empty ones."""

import io

import numpy as np
import pytest
from PIL import Image

from tests import niftigen as gen
from workers import render, slices


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def variance(image: Image.Image) -> float:
    return float(np.asarray(image, dtype=np.float64).var())


@pytest.fixture(scope="module")
def mni_map():
    return gen.mni_like_data(4.0)


def test_render_all_gives_glass_brain_ortho_and_axial_mosaic(mni_map):
    pictures = render.render_all(*mni_map)
    assert set(pictures) == {"glass_brain", "ortho", "axial_mosaic"}
    for png in pictures.values():
        assert variance(picture(png)) > 0


def test_flipped_storage_renders_the_same(mni_map):
    data, affine = mni_map
    flipped_affine = affine.copy()
    flipped_affine[:, 0] = -affine[:, 0]
    flipped_affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (data.shape[0] - 1)
    assert render.render_all(data[::-1], flipped_affine) == render.render_all(data, affine)


@pytest.mark.parametrize("data", [
    np.zeros((6, 7, 8), np.float32),
    np.full((6, 7, 8), np.nan, np.float32),
    np.full((1, 1, 1), 5.0, np.float32),
    np.ones((9, 8, 1), np.float32),
    np.array([[[np.inf, -np.inf, 1.0]]], np.float32),
])
def test_odd_maps_still_give_valid_pngs(data):
    for png in render.render_all(data, np.eye(4)).values():
        assert picture(png).width > 0


def test_4d_mosaic():
    data, affine = gen.mni_like_data(8.0)
    series = np.stack([data * (t + 1) for t in range(20)], axis=-1)
    pictures = render.render_all(series, affine)
    assert set(pictures) == {"glass_brain", "ortho", "axial_mosaic", "mosaic"}
    mosaic = picture(pictures["mosaic"])
    assert abs(mosaic.width - render.MOSAIC_WIDTH) <= 4 and variance(mosaic) > 0


def test_values_near_the_float32_limit_keep_their_colours():
    """Values of ±1e38 span more than float32 holds: the scale is applied in float64, without overflow."""
    data, affine = gen.mni_like_data(8.0)
    extreme = (data / np.abs(data).max() * 3e38).astype(np.float32)
    with np.errstate(all="raise"):
        same = np.asarray(picture(render.render_all(extreme, affine)["glass_brain"]))
    usual = np.asarray(picture(render.render_all(data, affine)["glass_brain"]))
    panels = slice(0, usual.shape[1] - slices.BAR_SPACE * slices.DENSITY)  # the colour bar's numbers differ
    assert np.array_equal(same[:, panels], usual[:, panels])
