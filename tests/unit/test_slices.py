"""workers.slices: maps over anatomy, thresholded, with a colour bar, L/R marks and coordinates.

The pixel tests read palette indices (the PNGs are palette images), so they
check what was drawn, not how a colour happens to look.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests import niftigen as gen
from workers import canvas, resample, slices, thresholds
from workers import scene as scene_of_map

ROOT = Path(__file__).resolve().parents[2]
BLOB_MM = (-40.0, -20.0, 50.0)  # left, only
WEAK_MM = (40.0, -20.0, 50.0)  # right, below the threshold
PEAK = 8.0


def blob_map(peak_mm=BLOB_MM, weak_mm=WEAK_MM, voxel=2.0):
    """A Z map on the MNI grid: one strong blob, one weak one (peak 2.5 < 3.1), zero elsewhere."""
    affine, shape = gen.mni_affine(voxel), gen.mni_shape(voxel)
    world = np.einsum("ij,j...->i...", affine[:3, :3], np.indices(shape, dtype=np.float64)) \
        + affine[:3, 3].reshape(3, 1, 1, 1)
    data = np.zeros(shape, np.float32)
    for centre, height in ((peak_mm, PEAK), (weak_mm, 2.5)):
        if centre is None:
            continue
        distance2 = sum((world[a] - centre[a]) ** 2 for a in range(3))
        data += (height * np.exp(-distance2 / (2 * 6.0 ** 2))).astype(np.float32)
    return data, affine


def indices(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "P"
    return np.asarray(image)


def pixel_of(s, axis, mm, per_mm):
    """Row and column of a world point in a panel of ``slices.panel``."""
    h_axis, v_axis = (a for a in range(3) if a != axis)
    h0, hstep, _nh = slices._pixel_grid(s.bounds, h_axis, per_mm)
    v0, vstep, nv = slices._pixel_grid(s.bounds, v_axis, per_mm)
    return nv - 1 - round((mm[v_axis] - v0) / vstep), round((mm[h_axis] - h0) / hstep)


@pytest.fixture(scope="module")
def z_scene():
    data, affine = blob_map()
    return slices.scene(data, affine, threshold=thresholds.choose("Z", data), map_type="Z")


def is_grey(index):
    return np.asarray(index) < slices.GREYS


def is_colour(index):
    index = np.asarray(index)
    return (index >= slices.OVERLAY) & (index < slices.OVERLAY + slices.COLOURS)


def test_blob_shows_its_colour_at_its_position_over_grey_anatomy(z_scene):
    per_mm = 2.0
    pixels = slices.panel(z_scene, 2, BLOB_MM[2], per_mm)
    row, column = pixel_of(z_scene, 2, BLOB_MM, per_mm)
    peak_colour = int(slices.colour_index(np.array([PEAK]), z_scene.vmax, z_scene.signed)[0])
    assert abs(int(pixels[row, column]) - peak_colour) <= 2  # the pixel centre is within half a pixel of the peak
    around = pixels[row - 60:row + 60, column + 50:column + 60]  # 25-30 mm to the right: brain, no blob
    assert is_grey(around).all() and len(np.unique(around)) > 5  # anatomy has texture, not a flat fill


def test_below_threshold_shows_anatomy_not_colour(z_scene):
    per_mm = 2.0
    pixels = slices.panel(z_scene, 2, WEAK_MM[2], per_mm)
    row, column = pixel_of(z_scene, 2, WEAK_MM, per_mm)
    assert is_grey(pixels[row - 10:row + 10, column - 10:column + 10]).all()
    assert is_colour(pixels).sum() > 100  # the strong blob in the same slice is coloured


def test_colour_bar_ends_match_the_stated_range(z_scene):
    png = slices.ortho(z_scene)
    stated = Image.open(io.BytesIO(png)).text
    assert stated["range"] == f"0 {PEAK:.6g}" or stated["range"].split()[0] == "0"
    low, high = (float(v) for v in stated["range"].split())
    assert high == pytest.approx(z_scene.vmax) and abs(high - PEAK) < 0.1
    assert stated["threshold"] == "z ≥ 3.1" and stated["space"] == "MNI152"
    pixels = indices(png)
    bar = pixels[:, bar_column(pixels)]
    drawn = np.flatnonzero(bar != 0)
    top, bottom = bar[drawn[0]], bar[drawn[-1]]
    assert top == slices.colour_index(np.array([high]), z_scene.vmax, False)[0] == slices.OVERLAY + slices.COLOURS - 1
    assert bottom == slices.GAP_GREY  # 0 is below the threshold: the bar shows the gap in grey
    assert slices.colour_index(np.array([low]), z_scene.vmax, False)[0] == slices.OVERLAY


def test_signed_maps_centre_the_colour_bar_on_zero():
    data, affine = blob_map()
    data = data - np.roll(data, 40, axis=0)  # a negative copy on the right
    s = slices.scene(data, affine, threshold=thresholds.choose("Z", data), map_type="Z")
    assert s.signed and slices.bar_range(s) == (-s.vmax, s.vmax)
    pixels = indices(slices.ortho(s))
    bar = pixels[:, bar_column(pixels)]
    drawn = bar[bar != 0]
    assert drawn[0] == slices.OVERLAY + slices.COLOURS - 1 and drawn[-1] == slices.OVERLAY
    assert drawn[len(drawn) // 2] == slices.GAP_GREY


def bar_column(pixels):
    """A column through the middle of the colour bar (it starts a gap after the panels)."""
    return pixels.shape[1] - (slices.BAR_SPACE - slices.GAP - slices.BAR_WIDTH // 2) * slices.DENSITY


def glyph(letter, size):
    """The pixels Pillow's font draws for one letter, as the slices draw their marks."""
    picture = Image.new("P", size, 0)
    ImageDraw.Draw(picture).text((2 * slices.DENSITY, slices.DENSITY), letter, fill=1,
                                 font=canvas.font_of_size(slices.FONT_SIZE * slices.DENSITY))
    return np.asarray(picture) == 1


def test_left_and_right_marks_are_on_their_sides_for_a_left_only_blob():
    data, affine = blob_map(weak_mm=None)
    s = slices.scene(data, affine, threshold=thresholds.choose("Z", data), map_type="Z")
    pixels = indices(slices.single_slice(s, 2, BLOB_MM[2]))
    panel_width = pixels.shape[1] - slices.BAR_SPACE * slices.DENSITY
    panel = pixels[:, :panel_width]
    columns = np.flatnonzero(is_colour(panel).any(axis=0))
    assert columns.size and columns.max() < panel_width / 2  # the left blob is on the picture's left
    top_left = panel[:16 * slices.DENSITY, :11 * slices.DENSITY] == slices.TEXT
    top_right = panel[:16 * slices.DENSITY, panel_width - 11 * slices.DENSITY:] == slices.TEXT
    assert top_left.any() and np.array_equal(top_left, glyph("L", top_left.shape[::-1]))
    assert top_right.any() and np.array_equal(top_right, glyph("R", top_right.shape[::-1]))


def test_cuts_without_a_shown_voxel_skip_the_map_and_draw_the_same(z_scene):
    assert z_scene.may_show(2, BLOB_MM[2]) and not z_scene.may_show(2, -40.0)
    drawn = slices.panel(z_scene, 2, -40.0, 2.0)
    assert is_grey(drawn).all()


def test_ortho_cuts_through_the_peak_and_mosaic_spans_the_map(z_scene):
    assert np.allclose(z_scene.peak_mm, BLOB_MM, atol=2.0)
    cuts = slices.mosaic_cuts(z_scene)
    assert 7 <= len(cuts) <= 12 and cuts == sorted(cuts)
    image = Image.open(io.BytesIO(slices.axial_mosaic(z_scene)))
    assert image.width == slices.MOSAIC_WIDTH * slices.DENSITY - 2 or abs(image.width - 1200) <= 12


def test_not_mni_maps_are_drawn_over_their_own_volume():
    data, affine = blob_map()
    s = slices.scene(data, affine, threshold=thresholds.choose("Z", data), map_type="Z", mni=False)
    assert s.anatomy is s.volume and not s.mni
    png = slices.ortho(s)
    assert Image.open(io.BytesIO(png)).text["space"].startswith("the map's own")
    assert np.allclose(s.bounds, scene_of_map._field_of_view(data.shape, s.affine))


def test_roi_masks_are_outlines_and_parcellations_label_colours():
    data, affine = blob_map(weak_mm=None)
    roi = (data > 3).astype(np.float32)
    s = slices.scene(roi, affine, threshold=None, map_type="R")
    assert np.allclose(s.peak_mm, BLOB_MM, atol=2.0)  # a mask is cut through its centre, not its first voxel
    pixels = slices.panel(s, 2, BLOB_MM[2], 2.0)
    row, column = pixel_of(s, 2, BLOB_MM, 2.0)
    assert (pixels == slices.ROI).sum() > 20 and pixels[row, column] != slices.ROI  # an outline, not a fill
    assert not is_colour(indices(slices.ortho(s))).any()  # no colour bar for a mask
    labels = roi.copy()
    labels[: labels.shape[0] // 2 + 10] *= 2  # two labels
    s = slices.scene(labels, affine, threshold=None, map_type="Pa")
    pixels = slices.panel(s, 2, BLOB_MM[2], 2.0)
    drawn = set(np.unique(pixels[pixels >= slices.LABELS])) & set(range(slices.LABELS, slices.LABELS + 24))
    assert len(drawn) >= 1 and pixels[row, column] >= slices.LABELS


def test_glass_brain_shows_only_suprathreshold_voxels_both_tails():
    data, affine = blob_map()
    noise = np.random.default_rng(0).normal(0, 1, data.shape).astype(np.float32)
    noisy = data - np.roll(data, 40, axis=0) + noise
    s = slices.scene(noisy, affine, threshold=thresholds.choose("Z", noisy), map_type="Z")
    pixels = indices(slices.glass_brain(s))
    panels = pixels[:, : pixels.shape[1] - slices.BAR_SPACE * slices.DENSITY]
    coloured = is_colour(panels)
    assert coloured.mean() < 0.2  # noise (|z| mostly < 3.1) does not tint the brain
    half = slices.OVERLAY + slices.COLOURS // 2
    assert (panels[coloured] >= half).any() and (panels[coloured] < half).any()  # hot and cold tails
    assert (panels == slices.OUTLINE).sum() > 100


def test_threshold_from_the_statistics_wins():
    data, _affine = blob_map()
    stored = {"value": 5.0, "two_sided": False, "rule": "z ≥ 5 (clusters)"}
    chosen = slices.threshold_for("Z", data, {"threshold": stored}, {})
    assert chosen.value == 5.0 and chosen.rule == "z ≥ 5 (clusters)"
    assert slices.threshold_for("Z", data, {}, {}).value == thresholds.Z_LEVEL
    assert slices.threshold_for("R", data, {}, {}) is None
    assert slices.shown_type("Other", {"inferred_map_type": "R"}) == "R"


def test_sample_plane_matches_resample_linear_on_oblique_and_aligned_grids():
    rng = np.random.default_rng(1)
    source = rng.random((20, 24, 18)).astype(np.float32)
    source[3, 4, 5] = np.nan
    aligned = np.array([[-2, 0, 0, 30], [0, 2, 0, -20], [0, 0, 3, -10], [0, 0, 0, 1.0]])
    h, v = (-15.3, 0.7, 40), (-8.1, 0.9, 50)
    target = np.zeros((4, 4))
    target[0, 0], target[2, 1], target[1, 2], target[3, 3] = 0.7, 0.9, 1.0, 1.0
    target[:3, 3] = [-15.3, 3.3, -8.1]
    expected = resample.resample_linear(source, aligned, (40, 50, 1), target)[:, :, 0]
    got = resample.sample_plane(source, aligned, 1, 3.3, h, v)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.nanmax(np.abs(got - expected)) < 1e-5


@pytest.mark.parametrize("nearest", [False, True])
def test_sampling_near_the_shown_voxels_is_the_whole_plane_where_it_can_show(nearest):
    """The window holds every pixel of the whole plane past the threshold, with the same values."""
    rng = np.random.default_rng(2)
    source = rng.random((20, 24, 18)).astype(np.float32)
    source[8:11, 5:7, 4:9] += 2.0
    aligned = np.array([[-2, 0, 0, 30], [0, 2, 0, -20], [0, 0, 3, -10], [0, 0, 0, 1.0]])
    h, v = (-15.3, 0.7, 40), (-8.1, 0.9, 50)
    whole = resample.sample_plane(source, aligned, 1, -9.0, h, v, nearest=nearest)
    near, h_run, v_run = resample.sample_plane_near(source, aligned, 1, -9.0, h, v, nearest=nearest,
                                               wanted=lambda plane: plane >= 2.0)
    assert near.shape != whole.shape and np.array_equal(near, whole[h_run, v_run])
    outside = np.ones(whole.shape, bool)
    outside[h_run, v_run] = False
    assert (whole >= 2.0).any() and not (whole[outside] >= 2.0).any()
    nothing = resample.sample_plane_near(source, aligned, 1, -9.0, h, v, wanted=lambda plane: plane >= 5.0)
    assert nothing[0] is None


def _stored_otherwise(data, affine, axes, reverse):
    """The same map in another voxel order: axes permuted, then those in ``reverse`` stored backwards."""
    data, affine = np.transpose(data, axes).copy(), affine[:, list(axes) + [3]].copy()
    for axis in reverse:
        data = np.flip(data, axis).copy()
        affine[:3, 3] += affine[:3, axis] * (data.shape[axis] - 1)
        affine[:3, axis] *= -1
    return data, affine


@pytest.mark.parametrize("axes, reverse", [((0, 1, 2), (0,)), ((0, 1, 2), (2,)), ((1, 2, 0), ()),
                                           ((2, 0, 1), (0, 1))])
def test_the_voxel_order_a_map_is_stored_in_does_not_change_its_pictures(axes, reverse):
    """The scene reads volumes through their affine and never reverses them: same pixels, same cuts."""
    data, affine = blob_map(voxel=4.0)
    threshold = slices.threshold_for("Z", data, {}, {})
    expected = slices.pictures(data, affine, threshold=threshold, map_type="Z")
    got = slices.pictures(*_stored_otherwise(data, affine, axes, reverse), threshold=threshold, map_type="Z")
    for name, png in expected.items():
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(got[name]))),
                              np.asarray(Image.open(io.BytesIO(png)))), name


def test_odd_maps_still_give_pictures():
    for data in (np.zeros((6, 7, 8), np.float32), np.full((6, 7, 8), np.nan, np.float32),
                 np.array([[[np.inf, -np.inf, 1.0]]], np.float32), np.ones((9, 8, 1), np.float32)):
        for mni_space in (True, False):
            for png in slices.pictures(data, np.eye(4), threshold=None, mni=mni_space).values():
                assert Image.open(io.BytesIO(png)).width > 0


@pytest.mark.parametrize("shape", [(1, 1000, 1), (1, 1, 1000), (1, 600, 600), (600, 1, 600)])
def test_a_map_one_voxel_thick_gives_pictures_of_bounded_size(shape):
    """The scale is set by the width a map spans: a line or a single plane of voxels once made a mosaic 228,000
    pixels tall (20 s of CPU for a 1,000-voxel file). Each picture now stays within a few megapixels."""
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 3
    for mni_space in (True, False):
        s = slices.scene(data, np.eye(4), threshold=thresholds.choose("Z", data), map_type="Z", mni=mni_space)
        for png in (slices.ortho(s), slices.axial_mosaic(s), slices.glass_brain(s), slices.single_slice(s, 2, 0.0)):
            width, height = Image.open(io.BytesIO(png)).size
            assert height <= 5_000 and width * height <= 4_000_000


def test_side_by_side_with_nilearn_is_saved(tmp_path):
    """Ours next to nilearn's plot_stat_map (same map, same cut), under test-artifacts/ for a reader to compare."""
    pytest.importorskip("nilearn")
    import matplotlib

    matplotlib.use("Agg")
    import nibabel as nib
    from nilearn import plotting

    data, affine = gen.mni_like_data(2.0)
    threshold = thresholds.choose("Z", data)
    s = slices.scene(data, affine, threshold=threshold, map_type="Z")
    ours = Image.open(io.BytesIO(slices.ortho(s))).convert("RGB")
    display = plotting.plot_stat_map(nib.Nifti1Image(data, affine), threshold=threshold.value,
                                     cut_coords=tuple(s.peak_mm), draw_cross=False)
    display.savefig(tmp_path / "nilearn.png", dpi=200)
    display.close()
    theirs = Image.open(tmp_path / "nilearn.png").convert("RGB")
    theirs = theirs.resize((ours.width, round(theirs.height * ours.width / theirs.width)))
    both = Image.new("RGB", (ours.width, ours.height + theirs.height + 8), (255, 255, 255))
    both.paste(ours, (0, 0))
    both.paste(theirs, (0, ours.height + 8))
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    both.save(folder / "slices-vs-nilearn.png")
    assert both.width == ours.width


def test_p_maps_give_the_most_significant_voxels_the_strongest_colour():
    data, affine = blob_map()
    p = np.power(10.0, -data).astype(np.float32)  # the peak: p = 1e-8; the weak blob: p > 0.001; elsewhere 1
    s = slices.scene(p, affine, threshold=thresholds.choose("P", p), map_type="P")
    assert np.allclose(s.peak_mm, BLOB_MM, atol=2.0)
    per_mm = 2.0
    pixels = slices.panel(s, 2, BLOB_MM[2], per_mm)
    row, column = pixel_of(s, 2, BLOB_MM, per_mm)
    top = slices.OVERLAY + slices.COLOURS - 1
    assert int(pixels[row, column]) >= top - 2
    edge = pixels[row, column - 12]  # 6 mm from the peak: still p < 0.001, but less significant
    assert is_colour(edge) and edge < pixels[row, column]
    weak_row, weak_column = pixel_of(s, 2, WEAK_MM, per_mm)
    assert is_grey(pixels[weak_row, weak_column])



@pytest.mark.parametrize("order", ["C", "F"])
def test_glass_projections_are_the_same_whatever_the_memory_order(order):
    from workers import glass

    volume = np.asarray(np.random.default_rng(8).normal(size=(7, 6, 5)).astype(np.float32), order=order)
    for axis in range(3):
        highest, lowest = volume.max(axis=axis), volume.min(axis=axis)
        assert np.array_equal(glass._projection(volume, axis, signed=False), highest)
        assert np.array_equal(glass._projection(volume, axis, signed=True),
                              np.where(highest >= -lowest, highest, lowest))
