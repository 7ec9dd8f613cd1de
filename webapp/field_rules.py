"""The rules of each kind of field, with NeuroVault's (DRF's) messages: one set for the API and the web forms.

A cleaner takes what a client sent and returns the value to store, or raises
``Invalid`` with the message for the client. ``cleaner_for`` gives the cleaner
of a field of the table in ``webapp/metadata.py``. Text that a database would
refuse (NUL characters, lone surrogates) is refused here, never a 500 there.
"""

import math
import re

from .numbers import ascii_integer
from .text import multi_line, one_line
from .vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES, code_for

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")
DOI_MESSAGE = "A DOI looks like 10.1234/abcd."
URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
URL_MESSAGE = "Enter a valid URL."
MAX_INT = 2**31 - 1


class Invalid(Exception):
    """A field's value cannot be used; the message is for the client."""


def checked_string(value):
    """The value as text (numbers become text, as in DRF), or ``Invalid``."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Invalid("Not a valid string.")
    text = str(value)
    if "\x00" in text:
        raise Invalid("Null characters are not allowed.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("Not a valid string.") from None
    return text


def text(max_length, *, required=False, empty="", multiline=False):
    """A cleaner for a text field: control characters removed (line breaks kept when ``multiline``),
    trimmed, bounded, blank becomes ``empty`` (or an error when required)."""
    strip_controls = multi_line if multiline else one_line

    def clean(value):
        if value is None:
            if required:
                raise Invalid("This field may not be null.")
            return empty
        cleaned = strip_controls(checked_string(value))
        if not cleaned:
            if required:
                raise Invalid("This field may not be blank.")
            return empty
        if len(cleaned) > max_length:
            raise Invalid(f"Ensure this field has no more than {max_length} characters.")
        return cleaned

    return clean


def matching(pattern, max_length, message):
    """A cleaner for an optional text field that must match a pattern (blank or null means none)."""
    base = text(max_length, empty=None)

    def clean(value):
        cleaned = base(value)
        if cleaned is not None and not pattern.match(cleaned):
            raise Invalid(message)
        return cleaned

    return clean


def boolean(value):
    """DRF's boolean parsing: JSON booleans, 0/1, and the usual words."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | str) and str(value).strip().lower() in {"1", "true", "t", "yes", "y", "on"}:
        return True
    if isinstance(value, int | str) and str(value).strip().lower() in {"0", "false", "f", "no", "n", "off", ""}:
        return False
    raise Invalid("Must be a valid boolean.")


def choice(vocabulary, *, empty):
    """A cleaner for a coded field: the code or its display string (any case) gives the code."""

    def clean(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return empty
        code = code_for(vocabulary, checked_string(value))
        if code is None:
            raise Invalid(f'"{value}" is not a valid choice.')
        return code

    return clean


def one_of(values, *, empty):
    """A cleaner for a field whose stored value is one of a fixed list (matched without regard to case)."""
    return choice({value: value for value in values}, empty=empty)


def whole_number(minimum):
    """A cleaner for an optional integer field of at least ``minimum`` (DRF's messages)."""

    def clean(value):
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise Invalid("A valid integer is required.")
        try:
            number = ascii_integer(checked_string(value), max_digits=100) if isinstance(value, str) else int(value)
        except (ValueError, OverflowError):
            raise Invalid("A valid integer is required.") from None
        if number is None:
            raise Invalid("A valid integer is required.")
        if number < minimum:
            raise Invalid(f"Ensure this value is greater than or equal to {minimum}.")
        if number > MAX_INT:
            raise Invalid(f"Ensure this value is less than or equal to {MAX_INT}.")
        return number

    return clean


positive_int = whole_number(1)


def real_number(value):
    """A cleaner for an optional float field: a finite number, or text that is one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise Invalid("A valid number is required.")
    try:
        number = float(checked_string(value).strip())
    except ValueError:
        raise Invalid("A valid number is required.") from None
    if not math.isfinite(number):
        raise Invalid("A valid number is required.")
    return number


def optional_boolean(value):
    """A cleaner for a yes/no field that may be unknown (null or blank)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return boolean(value)


#: Fields whose rules are more than their kind: required names, NeuroVault's coded vocabularies and defaults.
SPECIAL_CLEANERS = {
    "name": text(200, required=True),
    "private": boolean,
    "map_type": choice(MAP_TYPES, empty="Other"),
    "modality": one_of(MODALITIES, empty="Other"),
    "analysis_level": choice(ANALYSIS_LEVELS, empty=None),
    "target_template_image": one_of(TEMPLATES, empty="GenericMNI"),
    "number_of_subjects": positive_int,
}


def cleaner_for(field):
    """The cleaner of a field of the table in ``webapp/metadata.py``, from its kind, length and choices."""
    kinds = {
        "text": lambda: text(field.length, empty=field.blank),
        "longtext": lambda: text(field.length, multiline=True, empty=field.blank),
        "url": lambda: matching(URL_PATTERN, field.length, URL_MESSAGE),
        "doi": lambda: matching(DOI_PATTERN, field.length, DOI_MESSAGE),
        "int": lambda: whole_number(-MAX_INT),
        "float": lambda: real_number,
        "bool": lambda: optional_boolean,
        "choice": lambda: one_of(field.choices, empty=None),
    }
    return kinds[field.kind]()


def cleaners(fields, special):
    """{JSON name: (column, cleaner)} for every writable field."""
    return {
        field.name: (field.column, (special.get(field.name) if field.own_column else None) or cleaner_for(field))
        for field in fields
        if not field.read_only
    }
