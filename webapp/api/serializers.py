"""Collections and images as NeuroVault's clients read them, plus neurodrop's own fields.

Links are absolute on ``BASE_URL``. A private collection is addressed by its
share token (as NeuroVault addresses private collections by their private
token), and links to its images carry the token, so whoever may read the JSON
may also follow its links without a cookie (nilearn sends none).
"""

import math

from ..models import Image
from ..urls import absolute_url
from ..vocab import analysis_level_label, map_type_label

IMAGE_TYPE = "statistic_map"


def json_safe(value):
    """The value with every NaN or infinity replaced by None, so the output is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
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


def with_extra(extra, known):
    """The known fields, after the unknown ones kept from the upload (which never override a known field)."""
    merged = {key: value for key, value in (extra or {}).items() if key not in known}
    merged.update(known)
    return json_safe(merged)


def collection_json(collection):
    ref = collection_ref(collection)
    owner = collection.owner
    known = {
        "id": collection.id,
        "url": absolute_url("api.collection_detail", ref=ref),
        "download_url": absolute_url("api.collection_download", ref=ref),
        "html_url": absolute_url("collections.detail", collection_id=collection.id),
        "images_url": absolute_url("api.collection_images", ref=ref),
        "owner": collection.owner_id,
        "owner_name": owner.display_name if owner is not None else None,
        "contributors": [],
        "number_of_images": collection.image_count,
        "name": collection.name,
        "DOI": collection.doi,
        "authors": collection.authors or None,
        "paper_url": collection.paper_url,
        "journal_name": collection.journal_name,
        "description": collection.description or None,
        "full_dataset_url": collection.full_dataset_url,
        "private": collection.private,
        "add_date": timestamp(collection.add_date),
        "modify_date": timestamp(collection.modify_date),
    }
    return with_extra(collection.extra, known)


def thumbnail_url(image):
    """The glass brain's absolute URL once the image is ready, else None."""
    if image.status != Image.READY or image.artifact("glass_brain") is None:
        return None
    return absolute_url("api.image_thumbnail", image_id=image.id, **share_args(image.collection))


def image_json(image):
    collection = image.collection
    links = share_args(collection)
    known = {
        "url": absolute_url("api.image_detail", image_id=image.id, **links),
        "id": image.id,
        "file": absolute_url("api.image_file", image_id=image.id, **links),
        "html_url": absolute_url("images.detail", image_id=image.id),
        "collection": absolute_url("api.collection_detail", ref=collection_ref(collection)),
        "collection_id": image.collection_id,
        "file_size": image.file_size,
        "sha256": image.sha256,
        "name": image.name,
        "description": image.description or None,
        "original_filename": image.original_filename,
        "add_date": timestamp(image.add_date),
        "modify_date": timestamp(image.modify_date),
        "is_valid": image.status == Image.READY,
        "map_type": map_type_label(image.map_type),
        "analysis_level": analysis_level_label(image.analysis_level),
        "modality": image.modality,
        "target_template_image": image.target_template_image,
        "number_of_subjects": image.number_of_subjects,
        "thumbnail": thumbnail_url(image),
        "is_thresholded": bool(image.is_thresholded),
        "perc_bad_voxels": image.perc_bad_voxels,
        "not_mni": bool(image.not_mni),
        "brain_coverage": image.brain_coverage,
        "perc_voxels_outside": image.perc_voxels_outside,
        "is_4d": bool(image.is_4d),
        "image_type": IMAGE_TYPE,
        "status": image.status,
        "error": image.error,
        "stats": image.stats.data if image.stats is not None else None,
        "clusters": clusters_json(image.stats.data if image.stats is not None else None),
        "report": image.report,
    }
    return with_extra(image.extra, known)


def clusters_json(stats):
    """The cluster table with the threshold it was made at; None before processing or for older results."""
    if not stats or "clusters" not in stats:
        return None
    return {"threshold": stats.get("threshold"), **stats["clusters"]}


def user_json(user):
    return {"id": user.id, "username": user.display_name, "email": user.email}
