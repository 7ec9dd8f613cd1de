"""neurovault metadata fields

Revision ID: h22a00000001
Revises: similar000001
Create Date: 2026-11-26 (issue 22: NeuroVault's collection study-design and image metadata fields)

"""
import math
import re

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'h22a00000001'
down_revision = 'similar000001'
branch_labels = None
depends_on = None


#: The new columns a client could already have sent (then kept in ``extra`` under the same name, any case).
NEW_IMAGE_COLUMNS = (
    "cognitive_paradigm_cogatlas", "cognitive_paradigm_cogatlas_id", "cognitive_contrast_cogatlas",
    "cognitive_contrast_cogatlas_id", "contrast_definition", "contrast_definition_cogatlas",
    "cognitive_paradigm_name", "cognitive_paradigm_short_description", "cognitive_paradigm_description_url",
    "data_origin", "subject_species", "figure", "statistic_parameters", "smoothness_fwhm", "handedness", "age",
    "sex", "race", "ethnicity", "bmi", "fat_percentage", "waist_hip_ratio", "mean_pds_score", "tanner_stage",
    "days_since_menstruation", "hours_since_last_meal", "bis_bas_score", "spsrq_score", "bis11_score",
)
NEW_COLLECTION_COLUMNS = (
    "publication_status", "preprint_doi", "type_of_design", "number_of_imaging_runs", "number_of_experimental_units",
    "length_of_runs", "length_of_blocks", "length_of_trials", "optimization", "optimization_method",
    "subject_age_mean", "subject_age_min", "subject_age_max", "handedness", "proportion_male_subjects",
    "inclusion_exclusion_criteria", "number_of_rejected_subjects", "group_comparison", "group_description",
    "scanner_make", "scanner_model", "field_strength", "pulse_sequence", "parallel_imaging", "field_of_view",
    "matrix_size", "slice_thickness", "skip_distance", "acquisition_orientation", "order_of_acquisition",
    "repetition_time", "echo_time", "flip_angle", "software_package", "software_version",
    "order_of_preprocessing_operations", "quality_control", "used_b0_unwarping", "b0_unwarping_software",
    "used_slice_timing_correction", "slice_timing_correction_software", "used_motion_correction",
    "motion_correction_software", "motion_correction_reference", "motion_correction_metric",
    "motion_correction_interpolation", "used_motion_susceptibiity_correction", "used_intersubject_registration",
    "intersubject_registration_software", "intersubject_transformation_type", "nonlinear_transform_type",
    "transform_similarity_metric", "interpolation_method", "object_image_type",
    "functional_coregistered_to_structural", "functional_coregistration_method", "coordinate_space",
    "target_template_image", "target_resolution", "used_smoothing", "smoothing_type", "smoothing_fwhm",
    "resampled_voxel_size", "intrasubject_model_type", "intrasubject_estimation_type",
    "intrasubject_modeling_software", "hemodynamic_response_function", "used_temporal_derivatives",
    "used_dispersion_derivatives", "used_motion_regressors", "used_reaction_time_regressor",
    "used_orthogonalization", "orthogonalization_description", "used_high_pass_filter", "high_pass_filter_method",
    "autocorrelation_model", "group_model_type", "group_estimation_type", "group_modeling_software",
    "group_inference_type", "group_model_multilevel", "group_repeated_measures", "group_repeated_measures_method",
    "nutbrain_hunger_state", "nutbrain_food_viewing_conditions", "nutbrain_food_choice_type",
    "nutbrain_taste_conditions", "nutbrain_odor_conditions",
)


def converted(value, column_type):
    """An ``extra`` value as the new column's type, or None when it is not one (it then stays in ``extra``)."""
    if isinstance(value, (dict, list)) or value is None:
        return None
    text = str(value).strip()
    if isinstance(column_type, sa.Boolean):
        return value if isinstance(value, bool) else {"true": True, "false": False}.get(text.lower())
    if isinstance(column_type, (sa.Integer, sa.Float)):
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number) or abs(number) > 2**31 - 1:
            return None
        if isinstance(column_type, sa.Integer):
            return int(number) if number.is_integer() else None
        return number
    length = getattr(column_type, "length", None)
    return text[:length] if length else text


def ids_where_ids_belong(values):
    """A Cognitive Atlas id sent as the task or contrast goes to its ``_id`` column (as the API now does)."""
    for name in ("cognitive_paradigm_cogatlas", "cognitive_contrast_cogatlas"):
        if re.match(r"^(trm|tsk|cnt)_[0-9a-z]{8,20}$", values.get(name) or "") and not values.get(name + "_id"):
            values[name + "_id"] = values.pop(name)[:32]
    return values


def move_known_extras(table, new_columns):
    """Values sent before these fields existed were kept in ``extra`` under the field's name: move them over,
    so the API does not hide them behind the new (empty) column."""
    bind = op.get_bind()
    types = {c["name"]: c["type"] for c in sa.inspect(bind).get_columns(table) if c["name"] in new_columns}
    rows = sa.table(table, sa.column("id", sa.Integer), sa.column("extra", sa.JSON),
                    *(sa.column(name, kind) for name, kind in types.items()))
    updates = []
    for row_id, extra in bind.execute(sa.select(rows.c.id, rows.c.extra)):
        if not isinstance(extra, dict):
            continue
        moved = {key: converted(value, types[key.lower()]) for key, value in extra.items() if key.lower() in types}
        moved = {key: value for key, value in moved.items() if value is not None}
        if moved:
            rest = {key: value for key, value in extra.items() if key not in moved}
            updates.append((row_id, rest, ids_where_ids_belong({key.lower(): value for key, value in moved.items()})))
    for row_id, rest, values in updates:
        bind.execute(rows.update().where(rows.c.id == row_id).values(extra=rest, **values))


def upgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('publication_status', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('preprint_doi', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('doi_add_date', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('type_of_design', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('number_of_imaging_runs', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('number_of_experimental_units', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('length_of_runs', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('length_of_blocks', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('length_of_trials', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('optimization', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('optimization_method', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('subject_age_mean', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('subject_age_min', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('subject_age_max', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('handedness', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('proportion_male_subjects', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('inclusion_exclusion_criteria', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('number_of_rejected_subjects', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('group_comparison', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('group_description', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('scanner_make', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('scanner_model', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('field_strength', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('pulse_sequence', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('parallel_imaging', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('field_of_view', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('matrix_size', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('slice_thickness', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('skip_distance', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('acquisition_orientation', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('order_of_acquisition', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('repetition_time', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('echo_time', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('flip_angle', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('software_package', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('software_version', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('order_of_preprocessing_operations', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('quality_control', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_b0_unwarping', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('b0_unwarping_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_slice_timing_correction', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('slice_timing_correction_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_motion_correction', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('motion_correction_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('motion_correction_reference', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('motion_correction_metric', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('motion_correction_interpolation', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_motion_susceptibiity_correction', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('used_intersubject_registration', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('intersubject_registration_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('intersubject_transformation_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nonlinear_transform_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('transform_similarity_metric', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('interpolation_method', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('object_image_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('functional_coregistered_to_structural', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('functional_coregistration_method', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('coordinate_space', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('target_template_image', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('target_resolution', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('used_smoothing', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('smoothing_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('smoothing_fwhm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('resampled_voxel_size', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('intrasubject_model_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('intrasubject_estimation_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('intrasubject_modeling_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('hemodynamic_response_function', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_temporal_derivatives', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('used_dispersion_derivatives', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('used_motion_regressors', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('used_reaction_time_regressor', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('used_orthogonalization', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('orthogonalization_description', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('used_high_pass_filter', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('high_pass_filter_method', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('autocorrelation_model', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_model_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_estimation_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_modeling_software', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_inference_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_model_multilevel', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('group_repeated_measures', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('group_repeated_measures_method', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nutbrain_hunger_state', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nutbrain_food_viewing_conditions', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nutbrain_food_choice_type', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nutbrain_taste_conditions', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('nutbrain_odor_conditions', sa.String(length=200), nullable=True))

    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cognitive_paradigm_cogatlas', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('cognitive_paradigm_cogatlas_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('cognitive_contrast_cogatlas', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('cognitive_contrast_cogatlas_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('contrast_definition', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('contrast_definition_cogatlas', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('cognitive_paradigm_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('cognitive_paradigm_short_description', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cognitive_paradigm_description_url', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('data_origin', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('subject_species', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('figure', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('statistic_parameters', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('smoothness_fwhm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('handedness', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('age', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('sex', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('race', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('ethnicity', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('bmi', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('fat_percentage', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('waist_hip_ratio', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('mean_pds_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('tanner_stage', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('days_since_menstruation', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('hours_since_last_meal', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('bis_bas_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('spsrq_score', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('bis11_score', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_image_cognitive_contrast_cogatlas'), ['cognitive_contrast_cogatlas'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_cognitive_contrast_cogatlas_id'), ['cognitive_contrast_cogatlas_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_cognitive_paradigm_cogatlas'), ['cognitive_paradigm_cogatlas'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_cognitive_paradigm_cogatlas_id'), ['cognitive_paradigm_cogatlas_id'], unique=False)

    # ### end Alembic commands ###
    move_known_extras('image', NEW_IMAGE_COLUMNS)
    move_known_extras('collection', NEW_COLLECTION_COLUMNS)


def downgrade():
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_cognitive_paradigm_cogatlas_id'))
        batch_op.drop_index(batch_op.f('ix_image_cognitive_paradigm_cogatlas'))
        batch_op.drop_index(batch_op.f('ix_image_cognitive_contrast_cogatlas_id'))
        batch_op.drop_index(batch_op.f('ix_image_cognitive_contrast_cogatlas'))
        batch_op.drop_column('bis11_score')
        batch_op.drop_column('spsrq_score')
        batch_op.drop_column('bis_bas_score')
        batch_op.drop_column('hours_since_last_meal')
        batch_op.drop_column('days_since_menstruation')
        batch_op.drop_column('tanner_stage')
        batch_op.drop_column('mean_pds_score')
        batch_op.drop_column('waist_hip_ratio')
        batch_op.drop_column('fat_percentage')
        batch_op.drop_column('bmi')
        batch_op.drop_column('ethnicity')
        batch_op.drop_column('race')
        batch_op.drop_column('sex')
        batch_op.drop_column('age')
        batch_op.drop_column('handedness')
        batch_op.drop_column('smoothness_fwhm')
        batch_op.drop_column('statistic_parameters')
        batch_op.drop_column('figure')
        batch_op.drop_column('subject_species')
        batch_op.drop_column('data_origin')
        batch_op.drop_column('cognitive_paradigm_description_url')
        batch_op.drop_column('cognitive_paradigm_short_description')
        batch_op.drop_column('cognitive_paradigm_name')
        batch_op.drop_column('contrast_definition_cogatlas')
        batch_op.drop_column('contrast_definition')
        batch_op.drop_column('cognitive_contrast_cogatlas_id')
        batch_op.drop_column('cognitive_contrast_cogatlas')
        batch_op.drop_column('cognitive_paradigm_cogatlas_id')
        batch_op.drop_column('cognitive_paradigm_cogatlas')

    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.drop_column('nutbrain_odor_conditions')
        batch_op.drop_column('nutbrain_taste_conditions')
        batch_op.drop_column('nutbrain_food_choice_type')
        batch_op.drop_column('nutbrain_food_viewing_conditions')
        batch_op.drop_column('nutbrain_hunger_state')
        batch_op.drop_column('group_repeated_measures_method')
        batch_op.drop_column('group_repeated_measures')
        batch_op.drop_column('group_model_multilevel')
        batch_op.drop_column('group_inference_type')
        batch_op.drop_column('group_modeling_software')
        batch_op.drop_column('group_estimation_type')
        batch_op.drop_column('group_model_type')
        batch_op.drop_column('autocorrelation_model')
        batch_op.drop_column('high_pass_filter_method')
        batch_op.drop_column('used_high_pass_filter')
        batch_op.drop_column('orthogonalization_description')
        batch_op.drop_column('used_orthogonalization')
        batch_op.drop_column('used_reaction_time_regressor')
        batch_op.drop_column('used_motion_regressors')
        batch_op.drop_column('used_dispersion_derivatives')
        batch_op.drop_column('used_temporal_derivatives')
        batch_op.drop_column('hemodynamic_response_function')
        batch_op.drop_column('intrasubject_modeling_software')
        batch_op.drop_column('intrasubject_estimation_type')
        batch_op.drop_column('intrasubject_model_type')
        batch_op.drop_column('resampled_voxel_size')
        batch_op.drop_column('smoothing_fwhm')
        batch_op.drop_column('smoothing_type')
        batch_op.drop_column('used_smoothing')
        batch_op.drop_column('target_resolution')
        batch_op.drop_column('target_template_image')
        batch_op.drop_column('coordinate_space')
        batch_op.drop_column('functional_coregistration_method')
        batch_op.drop_column('functional_coregistered_to_structural')
        batch_op.drop_column('object_image_type')
        batch_op.drop_column('interpolation_method')
        batch_op.drop_column('transform_similarity_metric')
        batch_op.drop_column('nonlinear_transform_type')
        batch_op.drop_column('intersubject_transformation_type')
        batch_op.drop_column('intersubject_registration_software')
        batch_op.drop_column('used_intersubject_registration')
        batch_op.drop_column('used_motion_susceptibiity_correction')
        batch_op.drop_column('motion_correction_interpolation')
        batch_op.drop_column('motion_correction_metric')
        batch_op.drop_column('motion_correction_reference')
        batch_op.drop_column('motion_correction_software')
        batch_op.drop_column('used_motion_correction')
        batch_op.drop_column('slice_timing_correction_software')
        batch_op.drop_column('used_slice_timing_correction')
        batch_op.drop_column('b0_unwarping_software')
        batch_op.drop_column('used_b0_unwarping')
        batch_op.drop_column('quality_control')
        batch_op.drop_column('order_of_preprocessing_operations')
        batch_op.drop_column('software_version')
        batch_op.drop_column('software_package')
        batch_op.drop_column('flip_angle')
        batch_op.drop_column('echo_time')
        batch_op.drop_column('repetition_time')
        batch_op.drop_column('order_of_acquisition')
        batch_op.drop_column('acquisition_orientation')
        batch_op.drop_column('skip_distance')
        batch_op.drop_column('slice_thickness')
        batch_op.drop_column('matrix_size')
        batch_op.drop_column('field_of_view')
        batch_op.drop_column('parallel_imaging')
        batch_op.drop_column('pulse_sequence')
        batch_op.drop_column('field_strength')
        batch_op.drop_column('scanner_model')
        batch_op.drop_column('scanner_make')
        batch_op.drop_column('group_description')
        batch_op.drop_column('group_comparison')
        batch_op.drop_column('number_of_rejected_subjects')
        batch_op.drop_column('inclusion_exclusion_criteria')
        batch_op.drop_column('proportion_male_subjects')
        batch_op.drop_column('handedness')
        batch_op.drop_column('subject_age_max')
        batch_op.drop_column('subject_age_min')
        batch_op.drop_column('subject_age_mean')
        batch_op.drop_column('optimization_method')
        batch_op.drop_column('optimization')
        batch_op.drop_column('length_of_trials')
        batch_op.drop_column('length_of_blocks')
        batch_op.drop_column('length_of_runs')
        batch_op.drop_column('number_of_experimental_units')
        batch_op.drop_column('number_of_imaging_runs')
        batch_op.drop_column('type_of_design')
        batch_op.drop_column('doi_add_date')
        batch_op.drop_column('preprint_doi')
        batch_op.drop_column('publication_status')

    # ### end Alembic commands ###
