"""Metadata inferred from file names and sidecars, applied to an image without overwriting what a person typed.

Each inferred value is recorded in ``extra["inferred"]`` with the reason (``"BIDS stat-t"``), so the image page
can show it as inferred; editing the field (the bulk edit page, the API) removes the mark. The contrast is
NeuroVault's ``contrast_definition`` column, so the API sends it; values that are not image columns (the BIDS
task, the sidecar's sources and degrees of freedom) live in the extra fields.
"""

from workers.naming import COLUMN_FIELDS

from .metadata import IMAGE_FIELDS, by_name
from .vocab import ANALYSIS_LEVELS, MAP_TYPES, TEMPLATES

VOCABULARIES = {"map_type": MAP_TYPES, "analysis_level": ANALYSIS_LEVELS, "target_template_image": TEMPLATES}
FIELDS = by_name(IMAGE_FIELDS)


def fits_column(field, value):
    """Whether an inferred value is one the column accepts (a known code, a text within the field's length)."""
    vocabulary = VOCABULARIES.get(field)
    if vocabulary is not None:
        return value in vocabulary
    if FIELDS[field].kind in ("text", "longtext"):
        return isinstance(value, str) and 0 < len(value) <= FIELDS[field].length
    return True


def apply_inferred(image, fields, typed=(), sidecar=None):
    """Set each inferred field the uploader did not type (``typed``); returns the fields set.

    ``fields`` is ``{field: {"value": …, "why": …}}`` (``workers/naming.py``); a sidecar's keys are kept whole
    under ``extra["sidecar"]``.
    """
    extra = dict(image.extra or {})
    marks = dict(extra.get("inferred") or {})
    for field, entry in fields.items():
        if field in typed or (field in extra and field not in marks):
            continue
        if field in COLUMN_FIELDS:
            if not fits_column(field, entry["value"]):
                continue
            setattr(image, field, entry["value"])
        else:
            extra[field] = entry["value"]
        marks[field] = entry["why"]
    if sidecar:
        extra["sidecar"] = sidecar
    if marks:
        extra["inferred"] = marks
    image.extra = extra
    return marks


def forget_inferred(image, fields):
    """The person set these fields: they are no longer shown as inferred."""
    extra = dict(image.extra or {})
    marks = {field: why for field, why in (extra.get("inferred") or {}).items() if field not in fields}
    if marks:
        extra["inferred"] = marks
    else:
        extra.pop("inferred", None)
    image.extra = extra
