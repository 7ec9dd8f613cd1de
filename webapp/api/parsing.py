"""Reading collection and image fields from JSON or form bodies, with NeuroVault's (DRF's) error messages.

Every field of the table in ``webapp/metadata.py`` has a cleaner
(``webapp/field_rules.py``) that returns the stored value or raises ``Invalid``
with the message; unknown fields are kept as they came (the JSON column
``extra``) and echoed back. Every bad field is named in one 400.
"""

import json
import math

from flask import request
from werkzeug.exceptions import BadRequest

from .. import cogatlas, metadata
from ..field_rules import MAX_INT, SPECIAL_CLEANERS, Invalid, checked_string, cleaners, text
from .errors import FieldErrors

__all__ = ["MAX_INT", "Invalid", "checked_string", "collection_fields", "image_fields", "body_fields"]

MAX_EXTRA_BYTES = 64 * 1024
MAX_EXTRA_DEPTH = 16
MAX_KEY_LENGTH = 100


COLLECTION_CLEANERS = cleaners(metadata.COLLECTION_FIELDS, SPECIAL_CLEANERS)
COLLECTION_READ_ONLY = {
    "id", "url", "api_url", "download_url", "html_url", "images_url", "owner", "owner_name", "contributors",
    "number_of_images", "add_date", "modify_date", "csrf_token", "communities", "doi_add_date",
}

IMAGE_CLEANERS = cleaners(metadata.IMAGE_FIELDS, {**SPECIAL_CLEANERS, "name": text(255)})
IMAGE_READ_ONLY = {
    "id", "url", "api_url", "file", "html_url", "collection", "collection_api_url", "collection_id", "file_size",
    "sha256", "original_filename", "add_date", "modify_date", "is_valid", "thumbnail", "is_thresholded",
    "perc_bad_voxels", "not_mni", "brain_coverage", "perc_voxels_outside", "is_4d", "image_type", "status",
    "error", "stats", "report", "csrf_token", "clusters", *metadata.IMAGE_ABSENT_FILES,
}
IMAGE_EDIT_CLEANERS = {**IMAGE_CLEANERS, "name": ("name", text(255, required=True))}


def body_fields():
    """The request's fields: a JSON object, or the form (a field sent several times becomes a list)."""
    if request.is_json:
        data = json_body()
        if not isinstance(data, dict):
            raise FieldErrors({"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind(data)}."]})
        return data
    return {key: values[0] if len(values) == 1 else values for key, values in request.form.lists()}


def json_body():
    """The parsed JSON body; a 400 saying where it breaks (DRF's "JSON parse error - …"), not a bare "Bad request"."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadRequest("JSON parse error - the body is empty.")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"JSON parse error - {exc}") from None


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
    return parse_fields(data, COLLECTION_CLEANERS, COLLECTION_READ_ONLY, required=() if partial else ("name",))


def image_fields(data, *, editing=False):
    """Fields of a new image (a blank name means "from the file name") or of an edit (a name is then needed).

    A Cognitive Atlas task or contrast sent by name or by id fills both fields where the pair is known.
    """
    changes, extra = parse_fields(data, IMAGE_EDIT_CLEANERS if editing else IMAGE_CLEANERS, IMAGE_READ_ONLY)
    return cogatlas.reconciled(changes), extra
