"""The cluster table: blobs at known MNI places come back with their peaks and region names, as nilearn finds them."""

import warnings

import nibabel as nib
import numpy as np
import pytest

from tests.niftigen import mni_blobs_data
from workers import clusters, thresholds

LEFT_AMYGDALA = (-24, -2, -14)
RIGHT_PRECENTRAL = (40, -18, 56)
LEFT_MID_CINGULATE = (-6, -20, 40)


def blob_map(blobs, *, noise=0.0, seed=0):
    return mni_blobs_data(blobs, noise=noise, seed=seed)


THREE_BLOBS = [(LEFT_AMYGDALA, 6.0), (RIGHT_PRECENTRAL, 5.0), (LEFT_MID_CINGULATE, -5.5)]


def table_of(data, affine, map_type="Z", **kwargs):
    threshold = thresholds.choose(map_type, data[np.isfinite(data) & (data != 0)], **kwargs)
    return clusters.cluster_table(data, affine, threshold)


def test_blobs_are_listed_with_their_peaks_and_regions():
    data, affine = blob_map(THREE_BLOBS)
    table = table_of(data, affine)
    assert table["threshold"]["rule"] == "|z| ≥ 3.1" and table["threshold"]["value"] == 3.1
    assert [row["sign"] for row in table["clusters"]] == ["+", "+", "-"]
    amygdala, precentral, cingulate = table["clusters"]
    for row, centre in ((amygdala, LEFT_AMYGDALA), (precentral, RIGHT_PRECENTRAL), (cingulate, LEFT_MID_CINGULATE)):
        assert np.abs(np.array(row["peak"]["mm"]) - centre).max() <= 2.0
        assert row["size_mm3"] == row["size_voxels"] * 8
    assert amygdala["peak"]["value"] == pytest.approx(6.0, abs=0.01)
    assert cingulate["peak"]["value"] == pytest.approx(-5.5, abs=0.01)
    assert amygdala["peak"]["regions"] == {"aal": "Amygdala L", "aicha": "N Amygdala-1-L"}
    assert precentral["peak"]["regions"]["aal"] == "Precentral R"
    assert cingulate["peak"]["regions"]["aal"] == "Cingulate Mid L"
    assert "Cingulum" in cingulate["peak"]["regions"]["aicha"]
    shares = {region["name"]: region["share"] for region in amygdala["regions"]["aal"]}
    assert max(shares, key=shares.get) == "Amygdala L" and sum(shares.values()) <= 1.0
    assert [atlas["key"] for atlas in table["atlases"]] == ["aal", "aicha"]
    assert table["message"] is None and table["labels_note"] is None


def nilearn_rows(data, affine, value, two_sided):
    from nilearn.reporting import get_clusters_table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = get_clusters_table(nib.Nifti1Image(data, affine), value, two_sided=two_sided)
    return [(str(row["Cluster ID"]), (row["X"], row["Y"], row["Z"]), row["Peak Stat"]) for _, row in frame.iterrows()]


def test_peaks_and_subpeaks_equal_nilearns():
    data, affine = blob_map(THREE_BLOBS + [((30, -60, 40), 4.5), ((36, -56, 46), 4.4), ((20, -66, 36), 4.2)],
                            noise=0.6)
    table = table_of(data, affine)
    theirs = nilearn_rows(data, affine, 3.1, True)
    ours = [(row["sign"], tuple(point["mm"]), point["value"])
            for row in table["clusters"] for point in (row["peak"], *row["subpeaks"])]
    assert len(ours) == len(theirs)
    for (sign, mm, value), (_, their_mm, their_value) in zip(ours, theirs, strict=True):
        assert mm == pytest.approx(their_mm)
        assert value == pytest.approx(their_value, rel=1e-5)
        assert (value > 0) == (sign == "+")


def test_noisy_map_at_its_percentile_equals_nilearn_cluster_for_cluster():
    """Many small clusters touching diagonally, plateaus of equal values: nilearn searches each cluster alone."""
    from scipy import ndimage

    noise = np.random.default_rng(3).normal(0, 1, (30, 34, 28))
    data = np.round(ndimage.gaussian_filter(noise, 0.7) * 4, 1).astype(np.float32)  # equal neighbours: plateaus
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])
    threshold = thresholds.choose("Other", data)
    table = clusters.cluster_table(data, affine, threshold, max_clusters=10_000, not_mni=True)
    assert table["n_found"] > 100 and not table["truncated"]
    theirs = nilearn_rows(data, affine, threshold.value - 1e-6, True)
    theirs = [row for row in theirs if np.isfinite(row[2])]
    ours = [(tuple(point["mm"]), point["value"])
            for row in table["clusters"] for point in (row["peak"], *row["subpeaks"])]
    assert len(ours) == len(theirs)
    assert sorted(ours) == sorted((mm, pytest.approx(value)) for _, mm, value in theirs)


def test_nothing_above_threshold_gives_an_empty_table_that_says_so():
    data, affine = blob_map([(LEFT_AMYGDALA, 2.0)])
    table = table_of(data, affine)
    assert table["clusters"] == [] and table["n_found"] == 0
    assert "No voxel is above the threshold" in table["message"]


def test_thresholded_map_clusters_its_nonzero_voxels():
    data, affine = blob_map(THREE_BLOBS)
    data[np.abs(data) < 4.0] = 0
    table = table_of(data, affine, is_thresholded=True)
    assert table["threshold"]["nonzero"] and "already thresholded" in table["threshold"]["rule"]
    assert [row["sign"] for row in table["clusters"]] == ["+", "+", "-"]
    assert sum(row["size_voxels"] for row in table["clusters"]) == np.count_nonzero(data)


def test_4d_series_uses_its_first_volume():
    first, affine = blob_map([(LEFT_AMYGDALA, 6.0)])
    second, _ = blob_map([(RIGHT_PRECENTRAL, 6.0)])
    table = table_of(np.stack([first, second], axis=-1), affine)
    assert len(table["clusters"]) == 1
    assert table["clusters"][0]["peak"]["regions"]["aal"] == "Amygdala L"


def test_map_outside_mni_gets_no_labels_and_says_why():
    data, affine = blob_map([(LEFT_AMYGDALA, 6.0)])
    threshold = thresholds.choose("Z", data)
    table = clusters.cluster_table(data, affine, threshold, not_mni=True)
    assert len(table["clusters"]) == 1 and "regions" not in table["clusters"][0]
    assert "regions" not in table["clusters"][0]["peak"]
    assert "MNI" in table["labels_note"] and table["atlases"] == []


def test_masks_are_not_clustered():
    table = clusters.cluster_table(np.ones((4, 4, 4)), np.eye(4), None)
    assert table["clusters"] == [] and "not clustered" in table["message"]


def test_listed_clusters_are_capped_and_the_table_says_how_many_there_were():
    data = np.zeros((20, 20, 20), dtype=np.float32)
    data[::3, ::3, ::3] = np.arange(1, 7**3 + 1).reshape(7, 7, 7) / 10 + 4
    table = clusters.cluster_table(data, np.eye(4), thresholds.choose("Z", data), max_clusters=5, not_mni=True)
    assert len(table["clusters"]) == 5 and table["n_found"] == 7**3 and table["truncated"]
    assert table["clusters"][0]["peak"]["value"] == pytest.approx(data.max())
    assert "5 strongest of 343" in table["message"]


def test_time_budget_stops_the_table_and_says_so():
    data, affine = blob_map(THREE_BLOBS)
    ticks = iter(range(100))
    table = clusters.cluster_table(data, affine, thresholds.choose("Z", data), time_budget=1.5,
                                   clock=lambda: next(ticks))
    assert 0 < len(table["clusters"]) < 3 and table["truncated"]
    assert "took too long" in table["message"]


def test_p_maps_cluster_their_small_values():
    data, affine = blob_map([(LEFT_AMYGDALA, 6.0)])
    from scipy import stats

    p = np.where(data > 0.01, stats.norm.sf(data), 1.0).astype(np.float32)
    table = table_of(p, affine, map_type="P")
    assert len(table["clusters"]) == 1
    assert table["clusters"][0]["peak"]["value"] == pytest.approx(float(p.min()))
    assert np.abs(np.array(table["clusters"][0]["peak"]["mm"]) - LEFT_AMYGDALA).max() <= 2.0


@pytest.mark.parametrize("map_type, kwargs", [("Z", {}), ("T", {"dof": 20}), ("T", {}), ("Other", {}),
                                              ("P", {}), ("Z", {"is_thresholded": True}), ("R", {})])
def test_threshold_from_the_extremes_equals_the_one_from_every_value(map_type, kwargs):
    data, _ = blob_map(THREE_BLOBS, noise=0.5)
    values = data[data != 0]
    extremes = (float(values.min()), float(values.max()))
    assert clusters.chosen_threshold(map_type, data, extremes, **kwargs) == thresholds.choose(map_type, data,
                                                                                              **kwargs)


def test_paring_equals_nilearns_quirky_rule():
    """nilearn: each kept peak re-decides every weaker one, so a dropped peak can come back."""
    xyz = np.array([[0, 0, 0], [6, 0, 0], [12, 0, 0], [13, 0, 0], [30, 0, 0], [31, 0, 0], [50, 0, 0]], float)
    keep = np.ones(len(xyz), dtype=bool)
    for i in range(len(xyz)):
        for j in range(i + 1, len(xyz)):
            if keep[i]:
                keep[j] = np.sqrt(((xyz[i] - xyz[j]) ** 2).sum()) > 8.0
    assert clusters.pare(xyz, wanted=len(xyz)).tolist() == keep.tolist()
    assert clusters.pare(xyz).sum() == 4


@pytest.mark.parametrize("threshold", [thresholds.Threshold(1.0, True, "|z| ≥ 1"), thresholds.Threshold(0.2, False, "p",
                                                                                                       below=True)])
def test_tail_scores_of_a_volume_known_finite_are_the_same_without_the_copy(threshold):
    volume = np.random.default_rng(9).normal(size=(6, 7, 8)).astype(np.float32)
    suprathreshold = threshold.mask(volume)
    known = list(clusters.tail_scores(volume, suprathreshold, threshold, all_finite=True))
    checked = list(clusters.tail_scores(volume, suprathreshold, threshold))
    assert [sign for sign, _ in known] == [sign for sign, _ in checked]
    for (_, a), (_, b) in zip(known, checked, strict=True):
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)
