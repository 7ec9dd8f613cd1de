from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, SubmitField, TextAreaField
from wtforms.validators import URL, DataRequired, Length, Optional, Regexp

DOI_PATTERN = r"^10\.\d{4,9}/\S+$"


class CollectionForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=10000)])
    authors = StringField("Authors", validators=[Optional(), Length(max=2000)], description="Comma-separated.")
    doi = StringField(
        "DOI",
        validators=[Optional(), Length(max=200), Regexp(DOI_PATTERN, message="A DOI looks like 10.1234/abcd.")],
        description="e.g. 10.1016/j.neuroimage.2015.04.016",
    )
    paper_url = StringField("Paper URL", validators=[Optional(), URL(), Length(max=500)])
    journal_name = StringField("Journal", validators=[Optional(), Length(max=200)])
    full_dataset_url = StringField("Full dataset URL", validators=[Optional(), URL(), Length(max=500)])
    private = BooleanField("Private (only you, and people you give the share link to, can see it)")
    submit = SubmitField("Save")


class ConfirmForm(FlaskForm):
    submit = SubmitField("Delete")
