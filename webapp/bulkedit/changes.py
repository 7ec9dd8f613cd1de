"""The fields the bulk edit page sets, checked one by one: a clear sentence naming the field and the value.

Blank means "leave as it is"; a value is checked against NeuroVault's vocabulary (``webapp/vocab.py``).
"""

from ..metadata import IMAGE_FIELDS, by_name
from ..numbers import ascii_whole_number
from ..text import one_line
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES

CHOICES = {
    "map_type": tuple(MAP_TYPES),
    "modality": MODALITIES,
    "analysis_level": tuple(ANALYSIS_LEVELS),
    "target_template_image": TEMPLATES,
}
LABELS = {"map_type": "map type", "modality": "modality", "analysis_level": "analysis level",
          "number_of_subjects": "number of subjects", "target_template_image": "template",
          "contrast_definition": "contrast"}
MAX_SUBJECTS = 1_000_000
MAX_CONTRAST = by_name(IMAGE_FIELDS)["contrast_definition"].length


def checked_changes(form):
    """({field: value} to set, [errors]) from the submitted form; blank fields are left out."""
    changes, errors = {}, []
    for field, allowed in CHOICES.items():
        value = (form.get(field) or "").strip()
        if not value:
            continue
        if value not in allowed:
            errors.append(f"{field}={value[:60]!r}: expected one of {', '.join(allowed)}.")
        else:
            changes[field] = value
    subjects = (form.get("number_of_subjects") or "").strip()
    if subjects:
        number = ascii_whole_number(subjects, max_digits=7)
        if number is None or not 1 <= number <= MAX_SUBJECTS:
            errors.append(f"number_of_subjects={subjects[:20]!r}: expected a whole number from 1 to {MAX_SUBJECTS:,}.")
        else:
            changes["number_of_subjects"] = number
    contrast = one_line(form.get("contrast_definition") or "")
    if contrast:
        if len(contrast) > MAX_CONTRAST:
            errors.append(f"contrast_definition: {len(contrast)} characters; at most {MAX_CONTRAST}.")
        else:
            changes["contrast_definition"] = contrast
    return changes, errors


def apply_changes(image, changes):
    """Set the fields on one image; they are the person's from now on, no longer marked inferred."""
    from ..inferred import forget_inferred

    for field, value in changes.items():
        setattr(image, field, value)
    forget_inferred(image, changes)


def described(changes):
    return ", ".join(f"{LABELS[field]} to {value}" for field, value in changes.items())
