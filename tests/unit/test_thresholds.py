"""One threshold rule per map type, shared by slices, glass brain and cluster tables."""

import numpy as np
import pytest

from workers import thresholds


def signed_values():
    return np.concatenate([np.linspace(-5, -0.1, 50), np.linspace(0.1, 5, 50)])


def test_z_maps_are_cut_at_3_1_on_both_tails():
    chosen = thresholds.choose("Z", signed_values())
    assert chosen.value == 3.1 and chosen.two_sided and chosen.rule == "|z| ≥ 3.1"
    assert chosen.mask(np.array([-3.2, -3.0, 0.0, 3.0, 3.1, np.nan])).tolist() == [True, False, False, False,
                                                                                   True, False]


def test_positive_z_map_is_one_tailed():
    chosen = thresholds.choose("Z", np.linspace(0.1, 5, 20))
    assert not chosen.two_sided and chosen.rule == "z ≥ 3.1"
    assert not chosen.mask(np.array([-4.0]))[0]


def test_t_with_dof_matches_the_z_tail_probability():
    from scipy import stats

    chosen = thresholds.choose("T", signed_values(), dof=20)
    assert stats.t.sf(chosen.value, 20) == pytest.approx(stats.norm.sf(3.1))
    assert "20 degrees of freedom" in chosen.rule


def test_t_without_dof_uses_the_stated_percentile():
    values = signed_values()
    chosen = thresholds.choose("T", values)
    assert chosen.value == pytest.approx(np.percentile(np.abs(values), 95))
    assert "95th percentile" in chosen.rule


@pytest.mark.parametrize("bad", [0, -3, "many", float("nan"), (5,), None])
def test_nonsense_dof_falls_back_to_the_percentile(bad):
    assert "percentile" in thresholds.choose("T", signed_values(), dof=bad).rule


def test_f_needs_two_dof():
    assert "degrees of freedom" in thresholds.choose("F", np.linspace(0.1, 9, 30), dof=(2, 30)).rule


def test_p_maps_keep_small_values():
    chosen = thresholds.choose("P", np.array([0.5, 0.0005]))
    assert chosen.mask(np.array([0.0, 0.0005, 0.001, 0.01])).tolist() == [False, True, True, False]


def test_thresholded_maps_keep_every_nonzero_voxel():
    chosen = thresholds.choose("Z", signed_values(), is_thresholded=True)
    assert chosen.mask(np.array([0.0, 0.2, -0.1, np.nan])).tolist() == [False, True, True, False]


@pytest.mark.parametrize("map_type", ["R", "Pa", "A"])
def test_masks_parcellations_and_anatomy_have_no_threshold(map_type):
    assert thresholds.choose(map_type, np.arange(1, 5)) is None


def test_an_empty_map_thresholds_nothing():
    chosen = thresholds.choose("Other", np.zeros(10))
    assert not chosen.mask(np.zeros(10)).any()


@pytest.mark.parametrize("code, params, descrip, expected", [
    (3, (20.0, 0, 0), "", 20.0),
    (4, (2.0, 30.0, 0), "", (2.0, 30.0)),
    (6, (3.0, 0, 0), "", 3.0),
    (5, (0, 0, 0), "", None),
    (0, (0, 0, 0), "SPM{T_[24.0]} - contrast 1: faces", 24.0),
    (0, (0, 0, 0), "SPM{F_[1.0,61.0]} - contrast 2", (1.0, 61.0)),
    (3, (0, 0, 0), "FSL5.0", None),
    (3, (float("nan"), 0, 0), "", None),
])
def test_degrees_of_freedom_from_the_header(code, params, descrip, expected):
    assert thresholds.dof_from_header(code, params, descrip) == expected


@pytest.mark.parametrize("code, descrip, expected", [
    (3, "", "T"),
    (4, "", "F"),
    (5, "FSL5.0", "Z"),
    (6, "", "X2"),
    (22, "", "P"),
    (1002, "", "Pa"),
    (0, "SPM{T_[24.0]} - contrast 1: faces", "T"),
    (0, "SPM{F_[1.0,61.0]} - contrast 2", "F"),
    (0, "SPM contrast - 1: faces", None),
    (1001, "", None),
])
def test_the_map_type_a_header_states(code, descrip, expected):
    found = thresholds.map_type_from_header({"intent_code": code, "descrip": descrip})
    assert (found[0] if found else None) == expected
    assert found is None or ("intent" in found[1] or "description" in found[1])
