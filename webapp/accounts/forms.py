from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)], description="e.g. laptop scripts")
    submit = SubmitField("Create token")


class RevokeForm(FlaskForm):
    submit = SubmitField("Revoke")
