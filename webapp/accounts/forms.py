from flask_security import RegisterFormV2
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length

from ..text import one_line

PUBLIC_NAME_HINT = "Shown on your collections and maps instead of your email; leave empty for “user <number>”."


def public_name_field():
    """The name others see; control characters removed, blank means the neutral default."""
    return StringField(
        "Display name",
        validators=[Length(max=80)],
        filters=[lambda value: one_line(value) or None],
        description=PUBLIC_NAME_HINT,
    )


class NewTokenForm(FlaskForm):
    name = StringField("Token name", validators=[DataRequired(), Length(max=100)], description="e.g. laptop scripts")
    submit = SubmitField("Create token")


class RevokeForm(FlaskForm):
    submit = SubmitField("Revoke")


class PublicNameForm(FlaskForm):
    public_name = public_name_field()
    submit = SubmitField("Save name")


class RegisterForm(RegisterFormV2):
    """Flask-Security's registration form with the display name (stored as ``User.public_name``)."""

    public_name = public_name_field()
