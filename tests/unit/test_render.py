"""workers.render: valid PNGs of the expected size, never blank for a real map, never failing on empty ones."""

import io

import numpy as np
import pytest
from PIL import Image

from tests import niftigen as gen
from workers import render


def picture(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def variance(image: Image.Image) -> float:
    return float(np.asarray(image, dtype=np.float64).var())


@pytest.fixture(scope="module")
def mni_map():
    return gen.mni_like_data(4.0)


def test_render_all_gives_glass_brain_and_ortho(mni_map):
    pictures = render.render_all(*mni_map)
    assert set(pictures) == {"glass_brain", "ortho"}
    ortho, glass = picture(pictures["ortho"]), picture(pictures["glass_brain"])
    assert abs(ortho.width - render.ORTHO_WIDTH) <= 2 and abs(glass.width - render.GLASS_WIDTH) <= 2
    assert 100 < ortho.height < 400 and 80 < glass.height < 300
    assert variance(ortho) > 0 and variance(glass) > 0


def test_signed_maps_use_blue_and_red(mni_map):
    pixels = np.asarray(picture(render.glass_brain(*mni_map))).reshape(-1, 3).astype(int)
    assert np.any(pixels[:, 2] - pixels[:, 0] > 80)
    assert np.any(pixels[:, 0] - pixels[:, 2] > 80)


def test_left_is_on_the_left(mni_map):
    """The positive blob is at x = +40 mm (right): on the right half of the coronal view."""
    data, affine = mni_map
    ortho = np.asarray(picture(render.orthogonal_slices(data, affine))).astype(int)
    sagittal_width = round((render.ORTHO_WIDTH - 2 * render.GAP) * 217 / (217 + 2 * 181))
    coronal = ortho[:, sagittal_width + render.GAP: sagittal_width + render.GAP + 150]
    red = (coronal[..., 0] - coronal[..., 2]) > 100
    columns = np.nonzero(red.any(axis=0))[0]
    assert columns.size and columns.mean() > coronal.shape[1] / 2


def test_flipped_storage_renders_the_same(mni_map):
    data, affine = mni_map
    flipped_affine = affine.copy()
    flipped_affine[:, 0] = -affine[:, 0]
    flipped_affine[:3, 3] = affine[:3, 3] + affine[:3, 0] * (data.shape[0] - 1)
    assert render.orthogonal_slices(data[::-1], flipped_affine) == render.orthogonal_slices(data, affine)


def test_aspect_follows_voxel_sizes():
    data = np.random.default_rng(0).random((10, 10, 10)).astype(np.float32)
    square = picture(render.orthogonal_slices(data, np.eye(4)))
    tall = picture(render.orthogonal_slices(data, np.diag([1.0, 1.0, 3.0, 1.0])))
    assert tall.height > 2 * square.height * tall.width / square.width


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


def test_positive_map_uses_the_sequential_scale():
    data, affine = gen.mni_like_data(8.0, signed=False)
    pixels = np.asarray(picture(render.glass_brain(data, affine))).reshape(-1, 3).astype(int)
    assert not np.any(pixels[:, 2] - pixels[:, 0] > 80)


def test_4d_mosaic():
    data, affine = gen.mni_like_data(8.0)
    series = np.stack([data * (t + 1) for t in range(20)], axis=-1)
    pictures = render.render_all(series, affine)
    assert set(pictures) == {"glass_brain", "ortho", "mosaic"}
    mosaic = picture(pictures["mosaic"])
    assert abs(mosaic.width - render.MOSAIC_WIDTH) <= 4 and variance(mosaic) > 0


def test_values_near_the_float32_limit_keep_their_colours():
    """Values of ±1e38 span more than float32 holds: the scale is applied in float64, without overflow."""
    data, affine = gen.mni_like_data(8.0)
    extreme = (data / np.abs(data).max() * 3e38).astype(np.float32)
    with np.errstate(all="raise"):
        same = np.asarray(picture(render.glass_brain(extreme, affine)))
    assert np.array_equal(same, np.asarray(picture(render.glass_brain(data, affine))))
