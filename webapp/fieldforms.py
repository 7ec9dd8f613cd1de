"""Web form fields made from the field table (``webapp/metadata.py``), checked by the API's own cleaners.

The collection form and the image form both take their fields from here, so a
form refuses what the API refuses, with the same message, and stores what the
API would store (``FollowsRule.value``).
"""

from wtforms import SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from .field_rules import SPECIAL_CLEANERS, Invalid, cleaner_for
from .vocab import ANALYSIS_LEVELS, MAP_TYPES

#: How a coded value reads in a select; other codes read as themselves.
CHOICE_LABELS = {"map_type": MAP_TYPES, "analysis_level": ANALYSIS_LEVELS}


class FollowsRule:
    """A WTForms check running the field's cleaner, so the form refuses what the API refuses, in its words."""

    def __init__(self, spec, clean=None):
        special = SPECIAL_CLEANERS.get(spec.name) if spec.own_column else None
        self.clean = clean or special or cleaner_for(spec)

    def __call__(self, form, field):
        try:
            self.value(field.data)
        except Invalid as problem:
            raise ValidationError(str(problem)) from None

    def value(self, data):
        """The value to store, cleaned by the API's rule; NUL characters (which no browser means) are dropped
        first, as the form always did, where the API answers 400."""
        return self.clean(data.replace("\x00", "") if isinstance(data, str) else data)


def choices_of(spec, blank="—"):
    """The options of a coded field: its codes with their readable names, after a blank one."""
    labels = CHOICE_LABELS.get(spec.name, {})
    return [SelectChoice("", blank), *(SelectChoice(code, labels.get(code, code.replace("_", " ")))
                                       for code in spec.choices)]


def form_field(spec, validators=(), rule=None, **options):
    """The form field of one table field: a select for choices and yes/no, a text area for long text, else a box."""
    checks = [*validators, rule or FollowsRule(spec)]
    if spec.kind == "choice":
        return SelectField(spec.title, choices=choices_of(spec), validate_choice=False, validators=checks, **options)
    if spec.kind == "bool":
        yes_no = [SelectChoice("", "—"), SelectChoice("true", "yes"), SelectChoice("false", "no")]
        return SelectField(spec.title, choices=yes_no, validate_choice=False, validators=checks, **options)
    if spec.kind == "longtext":
        return TextAreaField(spec.title, validators=checks, **options)
    return StringField(spec.title, validators=checks, **options)


def shown_in_form(spec, value):
    """A stored value as its form field shows it: numbers without a trailing ``.0``, yes/no as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value) if isinstance(value, float | int) else value
