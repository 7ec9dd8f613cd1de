"""workers.naming: BIDS, SPM and FSL names and JSON sidecars become metadata, each value with its reason."""

import pytest

from workers.naming import bids_entities, from_sidecar, infer_from_path, sidecar_path_for, stem_of, template_for_space


def values(path):
    return {field: entry["value"] for field, entry in infer_from_path(path).items()}


BIDS = "derivatives/sub-01_task-faces_space-MNI152NLin2009cAsym_contrast-facesGtHouses_stat-t_statmap.nii.gz"


def test_a_bids_statmap_sets_type_template_level_contrast_and_name():
    found = values(BIDS)
    assert found["map_type"] == "T"
    assert found["target_template_image"] == "MNI152NLin2009cAsym"
    assert found["analysis_level"] == "S"
    assert found["contrast_definition"] == "facesGtHouses"
    assert found["task"] == "faces"
    assert found["name"] == "sub-01 faces facesGtHouses t"


def test_every_inferred_value_says_why():
    assert infer_from_path(BIDS)["map_type"]["why"] == "BIDS stat-t"


@pytest.mark.parametrize(("stat", "code"), [("t", "T"), ("z", "Z"), ("F", "F"), ("effect", "U"), ("variance", "V"),
                                            ("p", "P")])
def test_bids_stat_values(stat, code):
    assert values(f"task-x_stat-{stat}_statmap.nii.gz")["map_type"] == code


def test_a_group_folder_and_a_desc_entity():
    found = values("group/task-x_space-MNI152NLin6Asym_desc-zstat_statmap.nii")
    assert found["map_type"] == "Z"
    assert found["analysis_level"] == "G"
    assert found["target_template_image"] == "GenericMNI"


def test_a_bids_mask_is_an_roi():
    assert values("sub-02_space-MNI152Lin_desc-brain_mask.nii.gz")["map_type"] == "R"


@pytest.mark.parametrize(("path", "code", "contrast"), [
    ("study/spm/spmT_0001.nii", "T", "contrast 1"),
    ("study/spm/spmF_0003.img", "F", "contrast 3"),
    ("study/spm/con_0002.hdr", "U", "contrast 2"),
    ("study/spm/beta_0004.nii", "U", None),
    ("study/spm/ResMS.nii", "V", None),
    ("study/spm/mask.nii", "R", None),
])
def test_spm_names(path, code, contrast):
    found = values(path)
    assert found["map_type"] == code
    assert found.get("contrast_definition") == contrast


def test_fsl_gfeat_names_take_the_contrast_from_the_cope_folder():
    found = values("model.gfeat/cope2.feat/stats/zstat1.nii.gz")
    assert found["map_type"] == "Z"
    assert found["contrast_definition"] == "cope2"
    assert found["analysis_level"] == "G"
    assert found["name"] == "model.gfeat/cope2.feat/stats/zstat1"


@pytest.mark.parametrize(("stem", "code"), [("tstat3", "T"), ("cope1", "U"), ("varcope1", "V"), ("mask", "R"),
                                            ("thresh_zstat2", "Z")])
def test_fsl_names(stem, code):
    assert values(f"run.feat/stats/{stem}.nii.gz")["map_type"] == code


def test_a_plain_name_gives_only_a_name():
    assert values("maps/my_result.nii.gz") == {"name": "maps/my_result"}


def test_stems_and_entities():
    assert stem_of("a/b/x.img.gz") == "x"
    assert bids_entities("not_a_bids_name") == ({}, None)
    assert template_for_space("fsaverage5") == "fsaverage"
    assert template_for_space("custom") == "other"
    assert sidecar_path_for("d/sub-01_stat-t_statmap.nii.gz") == "d/sub-01_stat-t_statmap.json"


def test_a_sidecar_sets_description_sources_and_df_and_keeps_every_key():
    fields, kept = from_sidecar({"Description": "faces > houses", "Sources": ["bids:raw:sub-01"],
                                 "DegreesOfFreedom": 27, "Other": {"a": 1}})
    assert fields["description"]["value"] == "faces > houses"
    assert fields["sources"]["value"] == ["bids:raw:sub-01"]
    assert fields["degrees_of_freedom"]["value"] == 27
    assert kept["Other"] == {"a": 1}


def test_a_sidecar_value_of_the_wrong_shape_is_ignored():
    fields, _kept = from_sidecar({"df": "many", "Description": 3})
    assert fields == {}
    assert from_sidecar(["not", "an", "object"]) == ({}, {})
