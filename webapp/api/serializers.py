"""Collections and images as NeuroVault's clients read them, plus neurodrop's own fields.

Links are absolute on ``BASE_URL``. A private collection is addressed by its
share token (as NeuroVault addresses private collections by their private
token), and links to its images carry the token, so whoever may read the JSON
may also follow its links without a cookie (nilearn sends none).
"""

import json
import math
from operator import attrgetter

from ..metadata import COLLECTION_FIELDS, IMAGE_ABSENT_FILES, IMAGE_FIELDS
from ..models import Image
from ..urls import absolute_url
from ..vocab import analysis_level_label, map_type_label
from .downloads import url_file_name
from .links import request_links

IMAGE_TYPE = "statistic_map"


#: Values json_safe passes through as they are (checked by exact type, so a subclass still goes the long way).
PLAIN = frozenset((str, int, bool, type(None)))


def json_safe(value):
    """The value with every NaN or infinity replaced by None, so the output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key if type(key) is str else str(key): item if type(item) in PLAIN else json_safe(item)
                for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [item if type(item) in PLAIN else json_safe(item) for item in value]
    return value


def timestamp(moment):
    """ISO 8601 in UTC with a ``Z``, as Django REST framework writes it."""
    if moment is None:
        return None
    text = moment.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def collection_ref(collection):
    """What stands for the collection in its URLs: the share token when private, else the id."""
    return collection.share_token if collection.private else collection.id


def share_args(collection):
    """The query argument that lets a link into a private collection work without a login."""
    return {"share_token": collection.share_token} if collection.private else {}


def with_extra(extra, known, decode=False):
    """The known fields, after the unknown ones kept from the upload (which never override a known field).

    With ``decode``, text that is JSON comes back decoded (``"42"`` → ``42``), as NeuroVault sends a
    map's custom metadata: a form field arrives as text whatever it meant.
    """
    merged = {key: decoded(value) if decode else value for key, value in (extra or {}).items() if key not in known}
    merged.update(known)
    return json_safe(merged)


def decoded(value):
    """The value of a JSON text, or the text itself when it is not JSON (NeuroVault's ``value_to_python``)."""
    if not isinstance(value, str) or not value:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


#: Fields sent as a display string rather than the stored code, as NeuroVault sends them.
SHOWN_AS = {"map_type": map_type_label, "analysis_level": analysis_level_label}


def field_json(row, field):
    """One field of the table as NeuroVault sends it: its display string, date format or empty value."""
    value = getattr(row, field.column)
    if field.name in SHOWN_AS:
        return SHOWN_AS[field.name](value)
    if field.kind == "date":
        return timestamp(value)
    return field.blank if value is None else value


#: The plan of each field table, by the table's identity (hashing 36 fields per image cost more than the plan saved).
PLANS = {}


def metadata_plan(fields):
    """(reader of every column, then (name, display function, is a date, blank) per field): ``field_json``'s work."""
    known = PLANS.get(id(fields))
    if known is None or known[0] is not fields:
        plan = (attrgetter(*(field.column for field in fields)),
                tuple((field.name, SHOWN_AS.get(field.name), field.kind == "date", field.blank) for field in fields))
        known = PLANS[id(fields)] = (fields, plan)
    return known[1]


def metadata_json(row, fields):
    """Every field of the table in ``webapp/metadata.py`` for this row (as ``field_json`` for each)."""
    read, plan = metadata_plan(fields)
    values = {}
    for (name, shown, is_date, blank), value in zip(plan, read(row), strict=True):
        if shown is not None:
            value = shown(value)
        elif is_date:
            value = timestamp(value)
        elif value is None:
            value = blank
        values[name] = value
    return values


def collection_page_url(collection, links=None):
    """The collection's HTML page, as NeuroVault's ``url``: a private one's share link, which opens it."""
    if collection.private:
        return (links or request_links()).fixed_link("collections.shared", token=collection.share_token)
    return (links or request_links()).id_link("collections.detail", "collection_id", collection.id)


def collection_api_url(collection, links):
    if collection.private:
        return links.fixed_link("api.collection_detail", ref=collection.share_token)
    return links.id_link("api.collection_detail", "ref", collection.id)


def collection_json(collection):
    ref = collection_ref(collection)
    owner = collection.owner
    known = {
        "id": collection.id,
        "url": collection_page_url(collection),
        "api_url": absolute_url("api.collection_detail", ref=ref),
        "download_url": absolute_url("api.collection_download", ref=ref),
        "html_url": absolute_url("collections.detail", collection_id=collection.id),
        "images_url": absolute_url("api.collection_images", ref=ref),
        "owner": collection.owner_id,
        "owner_name": owner.display_name if owner is not None else None,
        "contributors": "",
        "number_of_images": collection.image_count,
        "add_date": timestamp(collection.add_date),
        "modify_date": timestamp(collection.modify_date),
        "communities": [],
        **metadata_json(collection, COLLECTION_FIELDS),
    }
    return with_extra(collection.extra, known)


def thumbnail_url(image, links=None):
    """The glass brain's absolute URL once the image is ready, else None."""
    if image.status != Image.READY or image.artifact("glass_brain") is None:
        return None
    return (links or request_links()).image_link("api.image_thumbnail", image.id, **share_args(image.collection))


def file_url(image, links=None):
    """The absolute URL of the map's bytes, ending in its file name; a private map's carries the share token."""
    collection = image.collection
    token = {"share_token": collection.share_token} if collection.private else {}
    return (links or request_links()).image_link("api.image_named_file", image.id, file_name=url_file_name(image),
                                                 **token)


def metadata_complete(image):
    """NeuroVault's ``is_valid``: the essential metadata is filled in (and here, the map is processed too).

    NeuroVault's form asks for the map type, modality, analysis level and number of subjects; a
    single-subject map needs no count. Until it is ``ready`` a map is never valid (nilearn's filters).
    """
    if image.status != Image.READY or image.map_type == "Other" or image.modality == "Other":
        return False
    return image.analysis_level == "S" or (bool(image.analysis_level) and image.number_of_subjects is not None)


def image_json(image):
    collection = image.collection
    share = share_args(collection)
    links = request_links()
    known = {
        "url": links.image_link("images.detail", image.id),
        "api_url": links.image_link("api.image_detail", image.id, **share),
        "id": image.id,
        "file": file_url(image, links),
        "html_url": links.image_link("images.detail", image.id),
        "collection": collection_page_url(collection, links),
        "collection_api_url": collection_api_url(collection, links),
        "collection_id": image.collection_id,
        "file_size": image.file_size,
        "sha256": image.sha256,
        "original_filename": image.original_filename,
        "add_date": timestamp(image.add_date),
        "modify_date": timestamp(image.modify_date),
        "is_valid": metadata_complete(image),
        "thumbnail": thumbnail_url(image, links),
        "is_thresholded": bool(image.is_thresholded),
        "perc_bad_voxels": image.perc_bad_voxels,
        "not_mni": bool(image.not_mni),
        "brain_coverage": image.brain_coverage,
        "perc_voxels_outside": image.perc_voxels_outside,
        "is_4d": bool(image.is_4d),
        "image_type": IMAGE_TYPE,
        "status": image.status,
        "error": image.error,
        "stats": stats_json(image.stats.data if image.stats is not None else None),
        "clusters": clusters_json(image.stats.data if image.stats is not None else None),
        "report": image.report,
        **metadata_json(image, IMAGE_FIELDS),
        **dict.fromkeys(IMAGE_ABSENT_FILES),
    }
    return with_extra(image.extra, known, decode=True)


def stats_json(stats):
    """The numbers without the cluster table, which ``clusters`` carries (once, not twice per image)."""
    if not stats or "clusters" not in stats:
        return stats
    return {key: value for key, value in stats.items() if key != "clusters"}


def clusters_json(stats):
    """The cluster table with the threshold it was made at; None before processing or for older results."""
    if not stats or "clusters" not in stats:
        return None
    return {"threshold": stats.get("threshold"), **stats["clusters"]}


def user_json(user):
    return {"id": user.id, "username": user.display_name, "email": user.email}
