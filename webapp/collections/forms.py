"""The collection form: each field checked by the same rule as the API (``webapp/fieldforms.py``).

The checks come from the field table in ``webapp/metadata.py``: a URL the API
refuses (not http or https) the form refuses too, with the same message, and
the study-design fields shown here are parsed as the API parses them.
"""

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired

from ..fieldforms import FollowsRule, form_field
from ..metadata import COLLECTION_FIELDS, by_name

FIELDS = by_name(COLLECTION_FIELDS)
#: The study-design fields the form offers (the API takes all of NeuroVault's).
DESIGN_FIELDS = (
    "publication_status", "preprint_DOI", "type_of_design", "scanner_make", "field_strength", "repetition_time",
    "echo_time", "software_package", "smoothing_fwhm",
)


def follows(name):
    return FollowsRule(FIELDS[name])


class CollectionForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), follows("name")])
    description = TextAreaField("Description", validators=[follows("description")])
    authors = StringField("Authors", validators=[follows("authors")], description="Comma-separated.")
    doi = StringField("DOI", validators=[follows("DOI")], description="e.g. 10.1016/j.neuroimage.2015.04.016")
    paper_url = StringField("Paper URL", validators=[follows("paper_url")])
    journal_name = StringField("Journal", validators=[follows("journal_name")])
    full_dataset_url = StringField("Full dataset URL", validators=[follows("full_dataset_url")])
    private = BooleanField("Private (only you, and people you give the share link to, can see it)")
    submit = SubmitField("Save")

    design_names = tuple(FIELDS[name].column for name in DESIGN_FIELDS)

    def design_values(self):
        """{column: value} of the study-design fields, cleaned as the API cleans them."""
        return {FIELDS[name].column: follows(name).value(self[FIELDS[name].column].data) for name in DESIGN_FIELDS}


for _name in DESIGN_FIELDS:
    setattr(CollectionForm, FIELDS[_name].column, form_field(FIELDS[_name]))


class ConfirmForm(FlaskForm):
    submit = SubmitField("Delete")
