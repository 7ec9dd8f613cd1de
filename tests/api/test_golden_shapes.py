"""The key set and value types of an image and a collection equal those of neurovault.org's answers.

The shapes below are written for this test after the JSON that pynv's test cassettes recorded from
neurovault.org (``GET /api/images/<id>/`` and ``GET /api/collections/<id>/``, 2020), brought up to
NeuroVault's current serializers (``sex`` where 2020 sent ``gender``; the cognitive-paradigm text fields).
Each key names the JSON types it may have there: ``None`` is null, ``float`` also takes an integer.
"""

STR, INT, FLOAT, BOOL, NULL, LIST = str, int, float, bool, None, list
TEXT_OR_NULL = (STR, NULL)
NUMBER_OR_NULL = (FLOAT, NULL)

NEUROVAULT_IMAGE = {
    "url": STR, "id": INT, "file": STR, "collection": STR, "collection_id": INT, "file_size": INT,
    "cognitive_paradigm_cogatlas": TEXT_OR_NULL, "cognitive_paradigm_cogatlas_id": TEXT_OR_NULL,
    "cognitive_contrast_cogatlas": TEXT_OR_NULL, "cognitive_contrast_cogatlas_id": TEXT_OR_NULL,
    "map_type": STR, "analysis_level": TEXT_OR_NULL, "name": STR, "description": STR, "add_date": STR,
    "modify_date": STR, "is_valid": BOOL, "surface_left_file": TEXT_OR_NULL, "surface_right_file": TEXT_OR_NULL,
    "data_origin": TEXT_OR_NULL, "target_template_image": STR, "subject_species": TEXT_OR_NULL,
    "figure": TEXT_OR_NULL, "handedness": TEXT_OR_NULL, "age": NUMBER_OR_NULL, "sex": TEXT_OR_NULL,
    "race": TEXT_OR_NULL, "ethnicity": TEXT_OR_NULL, "BMI": NUMBER_OR_NULL, "fat_percentage": NUMBER_OR_NULL,
    "waist_hip_ratio": NUMBER_OR_NULL, "mean_PDS_score": NUMBER_OR_NULL, "tanner_stage": TEXT_OR_NULL,
    "days_since_menstruation": NUMBER_OR_NULL, "hours_since_last_meal": NUMBER_OR_NULL,
    "bis_bas_score": NUMBER_OR_NULL, "spsrq_score": NUMBER_OR_NULL, "bis11_score": NUMBER_OR_NULL,
    "thumbnail": TEXT_OR_NULL, "reduced_representation": TEXT_OR_NULL, "is_thresholded": BOOL,
    "perc_bad_voxels": NUMBER_OR_NULL, "not_mni": BOOL, "brain_coverage": NUMBER_OR_NULL,
    "perc_voxels_outside": NUMBER_OR_NULL, "number_of_subjects": (INT, NULL), "modality": STR,
    "statistic_parameters": NUMBER_OR_NULL, "smoothness_fwhm": NUMBER_OR_NULL, "contrast_definition": TEXT_OR_NULL,
    "contrast_definition_cogatlas": TEXT_OR_NULL, "cognitive_paradigm_description_url": TEXT_OR_NULL,
    "cognitive_paradigm_short_description": TEXT_OR_NULL, "cognitive_paradigm_name": TEXT_OR_NULL,
    "image_type": STR,
}

DESIGN_TEXT = (
    "length_of_trials optimization_method inclusion_exclusion_criteria group_description scanner_make scanner_model "
    "pulse_sequence parallel_imaging acquisition_orientation software_package software_version "
    "order_of_preprocessing_operations quality_control b0_unwarping_software slice_timing_correction_software "
    "motion_correction_software motion_correction_reference motion_correction_metric motion_correction_interpolation "
    "intersubject_registration_software nonlinear_transform_type transform_similarity_metric interpolation_method "
    "object_image_type functional_coregistration_method target_template_image smoothing_type "
    "intrasubject_model_type intrasubject_estimation_type intrasubject_modeling_software "
    "hemodynamic_response_function orthogonalization_description high_pass_filter_method autocorrelation_model "
    "group_model_type group_estimation_type group_modeling_software group_model_multilevel "
    "group_repeated_measures_method nutbrain_food_viewing_conditions nutbrain_food_choice_type "
    "nutbrain_taste_conditions nutbrain_odor_conditions"
).split()
DESIGN_NULL = (
    "type_of_design number_of_imaging_runs number_of_experimental_units length_of_runs length_of_blocks optimization "
    "subject_age_mean subject_age_min subject_age_max handedness proportion_male_subjects "
    "number_of_rejected_subjects group_comparison field_strength field_of_view matrix_size slice_thickness "
    "skip_distance order_of_acquisition repetition_time echo_time flip_angle used_b0_unwarping "
    "used_slice_timing_correction used_motion_correction used_motion_susceptibiity_correction "
    "used_intersubject_registration intersubject_transformation_type functional_coregistered_to_structural "
    "coordinate_space target_resolution used_smoothing smoothing_fwhm resampled_voxel_size "
    "used_temporal_derivatives used_dispersion_derivatives used_motion_regressors used_reaction_time_regressor "
    "used_orthogonalization used_high_pass_filter group_inference_type group_repeated_measures "
    "nutbrain_hunger_state"
).split()

NEUROVAULT_COLLECTION = {
    "id": INT, "url": STR, "download_url": STR, "owner": INT, "contributors": STR, "owner_name": STR,
    "number_of_images": INT, "name": STR, "DOI": TEXT_OR_NULL, "authors": STR, "paper_url": STR,
    "journal_name": TEXT_OR_NULL, "description": STR, "full_dataset_url": STR, "private": BOOL, "add_date": STR,
    "modify_date": STR, "doi_add_date": TEXT_OR_NULL, "communities": LIST,
    **dict.fromkeys(DESIGN_TEXT, STR), **dict.fromkeys(DESIGN_NULL, NULL),
}


def json_type(value):
    return None if value is None else type(value)


def shape_differences(ours, golden):
    """Keys NeuroVault sends that we do not, and keys whose value has a type NeuroVault never sends there."""
    missing = sorted(set(golden) - set(ours))
    wrong = {}
    for key, allowed in golden.items():
        allowed = allowed if isinstance(allowed, tuple) else (allowed,)
        kind = json_type(ours.get(key))
        if key in ours and kind not in allowed and not (kind is int and float in allowed):
            wrong[key] = (kind, allowed)
    return missing, wrong


def test_image_has_neurovaults_keys_and_types(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid, map_type="Z", modality="fMRI-BOLD", perc_bad_voxels=75.0, brain_coverage=82.0,
                       perc_voxels_outside=16.9)
    assert shape_differences(client.get(f"/api/images/{iid}/").get_json(), NEUROVAULT_IMAGE) == ([], {})


def test_collection_has_neurovaults_keys_and_types(owner, client):
    cid = owner.new_collection("Shapes", journal_name="NeuroImage", description="", authors="")["id"]
    assert shape_differences(client.get(f"/api/collections/{cid}/").get_json(), NEUROVAULT_COLLECTION) == ([], {})
    assert len(DESIGN_TEXT) + len(DESIGN_NULL) == 86
