"""Every Collection and Image metadata field, defined once (issue 15 item 1, issue 22).

One ``Field`` per field NeuroVault's API sends: its JSON name, its kind, its
length or choices. From this table come the database columns of the new fields
(``metadata_mixin``), the cleaners of the API and of the web form
(``webapp/field_rules.py``), the serialisation (``webapp/api/serializers.py``)
and the OpenAPI components (``webapp/api/openapi_schemas.py``). The older
fields keep their columns in ``webapp/models/``; a test holds their lengths equal
to this table.

The names, kinds, lengths and choices are NeuroVault's (``statmaps/models.py``):
a client that writes ``echo_time`` or ``smoothness_fwhm`` there writes it here.
"""

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import mapped_column

from .vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES

TEXT_LENGTH = 200


@dataclass(frozen=True)
class Field:
    """One metadata field: ``kind`` is text, longtext, int, float, bool, choice, url, doi or date."""

    name: str
    kind: str = "text"
    max_length: int | None = None
    choices: tuple = ()
    label: str = ""
    #: Declared in webapp/models/ (older fields) rather than generated into the metadata mixin.
    own_column: bool = False
    #: What the API sends when the value is unset: "" for NeuroVault's blank-by-default text, else None.
    blank: str | None = None
    read_only: bool = False
    #: Looked up by value (the Cognitive Atlas pairs, ``webapp/cogatlas.py``), so the column has an index.
    indexed: bool = False

    @property
    def column(self):
        """The attribute and column name: lower case, since PostgreSQL folds unquoted names."""
        return {"DOI": "doi"}.get(self.name, self.name.lower())

    @property
    def length(self):
        if self.kind in ("text", "url", "doi", "choice"):
            return self.max_length or TEXT_LENGTH
        return self.max_length

    @property
    def title(self):
        return self.label or self.name.replace("_", " ").capitalize()


def table(rows, blank_text=None):
    """Fields from a compact text table: ``name kind [choice ...]`` per line (kind defaults to text).

    ``blank_text`` is what the API sends for an empty free-text field of the table.
    """
    fields = []
    for line in rows.strip().splitlines():
        name, *rest = line.split()
        kind = rest[0] if rest else "text"
        choices = tuple(rest[1:]) if kind == "choice" else ()
        fields.append(Field(name, kind, choices=choices, blank=blank_text if kind == "text" else None))
    return tuple(fields)


COLLECTION_BASICS = (
    Field("name", max_length=200, own_column=True),
    Field("description", "longtext", max_length=10000, own_column=True, blank=""),
    Field("authors", max_length=5000, own_column=True, blank=""),
    Field("DOI", "doi", max_length=200, own_column=True),
    Field("paper_url", "url", max_length=500, own_column=True, blank="", label="Paper URL"),
    Field("journal_name", max_length=200, own_column=True, label="Journal"),
    Field("full_dataset_url", "url", max_length=500, own_column=True, blank="", label="Full dataset URL"),
    Field("private", "bool", own_column=True),
    Field("publication_status", "choice", choices=("published", "submitted", "in_preparation", "not_intended")),
    Field("preprint_DOI", "doi", label="Preprint DOI"),
    Field("doi_add_date", "date", read_only=True, label="DOI added"),
)

#: NeuroVault's study-design fields of a collection, in its order; it sends "" for the empty free-text ones.
COLLECTION_DESIGN = table(blank_text="", rows="""
type_of_design choice blocked eventrelated hybridblockevent other
number_of_imaging_runs int
number_of_experimental_units int
length_of_runs float
length_of_blocks float
length_of_trials
optimization bool
optimization_method
subject_age_mean float
subject_age_min float
subject_age_max float
handedness choice right left both
proportion_male_subjects float
inclusion_exclusion_criteria
number_of_rejected_subjects int
group_comparison bool
group_description
scanner_make
scanner_model
field_strength float
pulse_sequence
parallel_imaging
field_of_view float
matrix_size int
slice_thickness float
skip_distance float
acquisition_orientation
order_of_acquisition choice ascending descending interleaved
repetition_time float
echo_time float
flip_angle float
software_package
software_version
order_of_preprocessing_operations
quality_control
used_b0_unwarping bool
b0_unwarping_software
used_slice_timing_correction bool
slice_timing_correction_software
used_motion_correction bool
motion_correction_software
motion_correction_reference
motion_correction_metric
motion_correction_interpolation
used_motion_susceptibiity_correction bool
used_intersubject_registration bool
intersubject_registration_software
intersubject_transformation_type choice linear nonlinear
nonlinear_transform_type
transform_similarity_metric
interpolation_method
object_image_type
functional_coregistered_to_structural bool
functional_coregistration_method
coordinate_space choice mni talairach mni2tal other
target_template_image
target_resolution float
used_smoothing bool
smoothing_type
smoothing_fwhm float
resampled_voxel_size float
intrasubject_model_type
intrasubject_estimation_type
intrasubject_modeling_software
hemodynamic_response_function
used_temporal_derivatives bool
used_dispersion_derivatives bool
used_motion_regressors bool
used_reaction_time_regressor bool
used_orthogonalization bool
orthogonalization_description
used_high_pass_filter bool
high_pass_filter_method
autocorrelation_model
group_model_type
group_estimation_type
group_modeling_software
group_inference_type choice randommixedeffects fixedeffects
group_model_multilevel
group_repeated_measures bool
group_repeated_measures_method
nutbrain_hunger_state choice I II III IV V VI
nutbrain_food_viewing_conditions
nutbrain_food_choice_type
nutbrain_taste_conditions
nutbrain_odor_conditions
""")

COLLECTION_FIELDS = COLLECTION_BASICS + COLLECTION_DESIGN

IMAGE_BASICS = (
    Field("name", max_length=255, own_column=True),
    Field("description", "longtext", max_length=10000, own_column=True, blank=""),
    Field("map_type", "choice", max_length=16, choices=tuple(MAP_TYPES), own_column=True),
    Field("modality", "choice", max_length=64, choices=MODALITIES, own_column=True),
    Field("analysis_level", "choice", max_length=16, choices=tuple(ANALYSIS_LEVELS), own_column=True),
    Field("target_template_image", "choice", max_length=64, choices=TEMPLATES, own_column=True),
    Field("number_of_subjects", "int", own_column=True),
    Field("cognitive_paradigm_cogatlas", indexed=True, label="Cognitive paradigm (Cognitive Atlas task)"),
    Field("cognitive_paradigm_cogatlas_id", max_length=32, indexed=True, label="Cognitive Atlas task id"),
    Field("cognitive_contrast_cogatlas", indexed=True, label="Cognitive Atlas contrast"),
    Field("cognitive_contrast_cogatlas_id", max_length=32, indexed=True, label="Cognitive Atlas contrast id"),
    Field("contrast_definition"),
    Field("contrast_definition_cogatlas", label="Contrast definition (Cognitive Atlas)"),
    Field("cognitive_paradigm_name"),
    Field("cognitive_paradigm_short_description", "longtext", max_length=10000),
    Field("cognitive_paradigm_description_url", "url", label="Cognitive paradigm description URL"),
    Field("data_origin", "choice", choices=("volume", "surface")),
    Field("subject_species"),
    Field("figure"),
    Field("statistic_parameters", "float"),
    Field("smoothness_fwhm", "float", label="Smoothness FWHM (mm)"),
)

#: NeuroVault's demographic and nutrition fields of an image.
IMAGE_DEMOGRAPHICS = table("""
handedness choice L R
age float
sex choice M F O
race choice W B I A H
ethnicity choice H NH
BMI float
fat_percentage float
waist_hip_ratio float
mean_PDS_score float
tanner_stage choice I II III IV V
days_since_menstruation float
hours_since_last_meal float
bis_bas_score float
spsrq_score float
bis11_score float
""")

IMAGE_FIELDS = IMAGE_BASICS + IMAGE_DEMOGRAPHICS

#: Files NeuroVault may hold for a map that neurodrop never makes: always null.
IMAGE_ABSENT_FILES = ("surface_left_file", "surface_right_file", "reduced_representation")


def column_type(field, date_type):
    """The database type of a field's column."""
    if field.kind in ("text", "url", "doi", "choice"):
        return sa.String(field.length)
    return {"longtext": sa.Text, "int": sa.Integer, "float": sa.Float, "bool": sa.Boolean, "date": date_type}[
        field.kind
    ]()


def metadata_mixin(name, fields, date_type):
    """A declarative mixin holding a nullable column for each field not declared in webapp/models/."""
    columns = {
        field.column: mapped_column(column_type(field, date_type), nullable=True, index=field.indexed or None)
        for field in fields
        if not field.own_column
    }
    return type(name, (), columns)


def by_name(fields):
    return {field.name: field for field in fields}


def shown(value):
    """A metadata value as a page shows it: yes/no, numbers without trailing zeros, text as it is."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return value


def filled_in(row, fields):
    """(title, shown value) of each generated field the row has a value for, for a page's definition list."""
    items = []
    for field in fields:
        value = None if field.own_column or field.kind == "date" else getattr(row, field.column)
        if value is not None and value != "":
            items.append((field.title, shown(value)))
    return items
