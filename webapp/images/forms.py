"""The image's metadata form: every field NeuroVault keeps for a map, made from the field table.

The fields, their kinds and limits come from ``webapp/metadata.py`` and their checks are the API's
(``webapp/fieldforms.py``), so what the form stores is what a PATCH to ``/api/images/<id>/`` would store.
"""

from flask_wtf import FlaskForm
from wtforms import SubmitField
from wtforms.validators import InputRequired

from ..field_rules import text
from ..fieldforms import FollowsRule, form_field, shown_in_form
from ..metadata import IMAGE_DEMOGRAPHICS, IMAGE_FIELDS, by_name

FIELDS = by_name(IMAGE_FIELDS)
#: The form's sections, each a legend and the fields under it (every writable image field is in one).
SECTIONS = (
    ("The map", (
        "name", "description", "map_type", "modality", "analysis_level", "target_template_image",
        "number_of_subjects", "contrast_definition", "statistic_parameters", "smoothness_fwhm", "data_origin",
        "subject_species", "figure",
    )),
    ("Task and contrast (Cognitive Atlas)", (
        "cognitive_paradigm_cogatlas", "cognitive_paradigm_cogatlas_id", "cognitive_contrast_cogatlas",
        "cognitive_contrast_cogatlas_id", "contrast_definition_cogatlas", "cognitive_paradigm_name",
        "cognitive_paradigm_short_description", "cognitive_paradigm_description_url",
    )),
    ("Participants", tuple(spec.name for spec in IMAGE_DEMOGRAPHICS)),
)
HINTS = {
    "map_type": "The pictures, threshold and cluster table follow the map type: changing it redraws them.",
    "cognitive_paradigm_cogatlas": "A task's name or its id (trm_… or tsk_…); the other half is filled in "
                                   "where another map already holds the pair.",
    "statistic_parameters": "Degrees of freedom of a T map, for instance.",
}
#: An image's name may be 255 characters (a collection's 200) and may not be blank once the image exists.
RULES = {"name": FollowsRule(FIELDS["name"], clean=text(255, required=True))}


class ImageForm(FlaskForm):
    submit = SubmitField("Save")

    sections = tuple((legend, tuple(FIELDS[name].column for name in names)) for legend, names in SECTIONS)

    def values(self, submitted):
        """{column: value} of the fields the request sent, cleaned as the API cleans them (a field left out
        of the request, which a browser never does, is left as it is rather than emptied)."""
        return {spec.column: rule_of(spec).value(self[spec.column].data) for spec in FIELDS.values()
                if spec.column in submitted}


def rule_of(spec):
    return RULES.get(spec.name) or FollowsRule(spec)


def shown_values(image):
    """{column: text} the form opens with: the image's values as the fields show them."""
    return {spec.column: shown_in_form(spec, getattr(image, spec.column)) for spec in FIELDS.values()}


for _names in SECTIONS:
    for _name in _names[1]:
        _spec = FIELDS[_name]
        setattr(ImageForm, _spec.column, form_field(
            _spec, validators=[InputRequired()] if _name == "name" else [], rule=rule_of(_spec),
            description=HINTS.get(_name, "")))
