"""Reading collection and image fields from JSON or form bodies, with NeuroVault's (DRF's) error messages.

Every known field has a cleaner that returns the stored value or raises
``Invalid`` with the message; unknown fields are kept as they came (the JSON
column ``extra``) and echoed back. Text that a database would refuse (NUL
characters, lone surrogates) is a 400 here, never a 500 there.
"""

import json
import math
import re

from flask import request

from ..numbers import ascii_integer
from ..text import multi_line, one_line
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES, code_for
from .errors import FieldErrors

DOI_PATTERN = re.compile(r"^10\.\d{4,9}/\S+$")
URL_PATTERN = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)
MAX_INT = 2**31 - 1
MAX_EXTRA_BYTES = 64 * 1024
MAX_EXTRA_DEPTH = 16
MAX_KEY_LENGTH = 100


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


def positive_int(value):
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
    if number < 1:
        raise Invalid("Ensure this value is greater than or equal to 1.")
    if number > MAX_INT:
        raise Invalid(f"Ensure this value is less than or equal to {MAX_INT}.")
    return number


COLLECTION_FIELDS = {
    "name": ("name", text(200, required=True)),
    "description": ("description", text(10000, multiline=True)),
    "authors": ("authors", text(2000)),
    "DOI": ("doi", matching(DOI_PATTERN, 200, "A DOI looks like 10.1234/abcd.")),
    "paper_url": ("paper_url", matching(URL_PATTERN, 500, "Enter a valid URL.")),
    "journal_name": ("journal_name", text(200, empty=None)),
    "full_dataset_url": ("full_dataset_url", matching(URL_PATTERN, 500, "Enter a valid URL.")),
    "private": ("private", boolean),
}
COLLECTION_READ_ONLY = {
    "id", "url", "download_url", "html_url", "images_url", "owner", "owner_name", "contributors",
    "number_of_images", "add_date", "modify_date", "csrf_token",
}

IMAGE_FIELDS = {
    "name": ("name", text(255)),
    "description": ("description", text(10000, multiline=True)),
    "map_type": ("map_type", choice(MAP_TYPES, empty="Other")),
    "modality": ("modality", one_of(MODALITIES, empty="Other")),
    "analysis_level": ("analysis_level", choice(ANALYSIS_LEVELS, empty=None)),
    "target_template_image": ("target_template_image", one_of(TEMPLATES, empty="GenericMNI")),
    "number_of_subjects": ("number_of_subjects", positive_int),
}
IMAGE_READ_ONLY = {
    "id", "url", "file", "html_url", "collection", "collection_id", "file_size", "sha256", "original_filename",
    "add_date", "modify_date", "is_valid", "thumbnail", "is_thresholded", "perc_bad_voxels", "not_mni",
    "brain_coverage", "perc_voxels_outside", "is_4d", "image_type", "status", "error", "stats", "report",
    "csrf_token",
}
IMAGE_EDIT_FIELDS = {**IMAGE_FIELDS, "name": ("name", text(255, required=True))}


def body_fields():
    """The request's fields: a JSON object, or the form (a field sent several times becomes a list)."""
    if request.is_json:
        data = request.get_json()
        if not isinstance(data, dict):
            raise FieldErrors({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind(data)}."]})
        return data
    return {key: values[0] if len(values) == 1 else values for key, values in request.form.lists()}


def kind(value):
    return {list: "list", str: "str", int: "int", float: "float", bool: "bool"}.get(type(value), "null")


def checked_extra(value, depth=0):
    """An unknown field's value, if it is plain JSON the database will take (no NaN, no NUL, not too deep)."""
    if depth > MAX_EXTRA_DEPTH:
        raise Invalid("Nested too deeply.")
    if isinstance(value, dict):
        return {checked_string(key): checked_extra(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [checked_extra(item, depth + 1) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        raise Invalid("NaN and infinities are not allowed.")
    if isinstance(value, str):
        return checked_string(value)
    return value


def parse_fields(data, fields, read_only, *, required=()):
    """(column changes, unknown fields) from the body; a 400 naming every bad field."""
    errors, changes, extra = {}, {}, {}
    for name in required:
        if name not in data:
            errors[name] = ["This field is required."]
    for name, value in data.items():
        if name in read_only:
            continue
        try:
            if name in fields:
                column, clean = fields[name]
                changes[column] = clean(value)
            else:
                if len(name) > MAX_KEY_LENGTH or not name.strip():
                    raise Invalid("Field names are at most 100 characters.")
                extra[checked_string(name)] = checked_extra(value)
        except Invalid as problem:
            errors[name if len(name) <= MAX_KEY_LENGTH else name[:MAX_KEY_LENGTH]] = [str(problem)]
    if not errors and len(json.dumps(extra)) > MAX_EXTRA_BYTES:
        errors["non_field_errors"] = [f"Extra fields take at most {MAX_EXTRA_BYTES} bytes of JSON."]
    if errors:
        raise FieldErrors(errors)
    return changes, extra


def collection_fields(data, *, partial):
    return parse_fields(data, COLLECTION_FIELDS, COLLECTION_READ_ONLY, required=() if partial else ("name",))


def image_fields(data, *, editing=False):
    """Fields of a new image (a blank name means "from the file name") or of an edit (a name is then needed)."""
    return parse_fields(data, IMAGE_EDIT_FIELDS if editing else IMAGE_FIELDS, IMAGE_READ_ONLY)
