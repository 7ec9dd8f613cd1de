"""Compare two maps: /images/<a>/compare/<b>, its two pictures, and the "compare with…" picker's target.

The numbers and pictures (``workers.compare``) are made on the first visit and kept as artifacts of
map a, named after map b (``compare_<b>``: the numbers as JSON, ``compare_<b>_scatter`` and
``compare_<b>_slices`` as PNG). They are made again when either map was processed after them:
reprocessing map a deletes its artifacts, and a newer ``ready_at`` of map b makes them stale.
Both maps must be visible to the visitor, else 404, as everywhere.
"""

import json

import numpy as np
import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from ..access import visible_image_or_404
from ..extensions import db, get_storage
from ..files import send_stored
from ..models import Artifact, Image, utcnow
from ..pagecache import shared_with_visitors
from ..storage import artifact_key
from . import bp

PICTURES = ("scatter", "slices")
LOADING = (joinedload(Image.collection), joinedload(Image.stats), joinedload(Image.artifacts))


def ready_pair_or_404(image_id, other_id):
    """Both maps, when the visitor may see both and both are ready; 404 otherwise."""
    pair = [visible_image_or_404(i, options=LOADING) for i in (image_id, other_id)]
    if any(image.status != Image.READY for image in pair):
        abort(404, "Only maps that are processed can be compared.")
    return pair


def kinds(other_id):
    return {"numbers": (f"compare_{other_id}", "json"),
            **{name: (f"compare_{other_id}_{name}", "png") for name in PICTURES}}


def kept_comparison(image, other):
    """The artifacts of this pair, by name, when all exist and are newer than both maps' results; else None."""
    wanted = kinds(other.id)
    found = {name: image.artifact(kind) for name, (kind, _) in wanted.items()}
    newest = max((moment for moment in (image.ready_at, other.ready_at) if moment is not None), default=None)
    if any(artifact is None or (newest and artifact.created_at < newest) for artifact in found.values()):
        return None
    return found


def stats_of(image):
    return image.stats.data if image.stats is not None else {}


def where_to_slice(image):
    """The MNI point the slices go through: map a's strongest cluster peak, else its peak, else the origin."""
    stats = stats_of(image)
    table = (stats.get("clusters") or {}).get("clusters") or []
    if table:
        return table[0]["peak"]["mm"]
    return (stats.get("peak") or {}).get("mm") or [0.0, 0.0, 0.0]


def loaded_on_mni_grid(image):
    """The map's first volume on the MNI 2 mm grid, read from storage within the web process's size limit."""
    from workers import compare, nifti

    config = current_app.config
    with get_storage().local_path(image.storage_key) as path:
        report, data = nifti.inspect_and_load(path, max_decompressed_bytes=config["COMPARE_MAX_BYTES"],
                                              max_array_bytes=config["COMPARE_MAX_BYTES"])
    return compare.on_mni_grid(data, np.asarray(report.affine, dtype=np.float64))


def made_comparison(image, other):
    """Compute the pair's numbers and pictures: (numbers, {picture name: PNG bytes})."""
    from workers import compare

    a, b = loaded_on_mni_grid(image), loaded_on_mni_grid(other)
    thresholds = [compare.threshold_from_record(stats_of(i).get("threshold")) for i in (image, other)]
    numbers = compare.compare(a, b, *thresholds)
    numbers["slice_mm"] = [float(c) for c in where_to_slice(image)]
    pictures = {
        "scatter": compare.scatter_png(a, b, (f"#{image.id} {image.name}", f"#{other.id} {other.name}")),
        "slices": compare.slices_png(a, b, numbers["slice_mm"], thresholds),
    }
    return numbers, pictures


def keep_comparison(image, other, numbers, pictures):
    """Store the pair's files under deterministic keys and (re)write their artifact rows."""
    storage = get_storage()
    contents = {"numbers": json.dumps(numbers).encode(), **pictures}
    for name, (kind, extension) in kinds(other.id).items():
        stored = storage.put_bytes(artifact_key(image.id, kind, extension), contents[name])
        artifact = image.artifact(kind)
        if artifact is None:
            artifact = Artifact(image_id=image.id, kind=kind)
            image.artifacts.append(artifact)
        artifact.storage_key = stored.key
        artifact.size = stored.size
        artifact.content_type = "application/json" if extension == "json" else "image/png"
        artifact.created_at = utcnow()
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # another request kept the same pair at the same moment: its files are as good


def comparison_numbers(image, other):
    """The pair's numbers, made and kept on first use; or {"error": ...} when a map cannot be read here."""
    from workers.nifti import InvalidNifti

    kept = kept_comparison(image, other)
    if kept is not None:
        with get_storage().open(kept["numbers"].storage_key) as handle:
            return json.loads(handle.read())
    try:
        numbers, pictures = made_comparison(image, other)
    except (InvalidNifti, MemoryError) as exc:
        return {"error": f"These maps cannot be compared here: {exc}"}
    keep_comparison(image, other, numbers, pictures)
    return numbers


@bp.route("/<int:image_id>/compare/<int:other_id>")
@shared_with_visitors
def compare(image_id, other_id):
    image, other = ready_pair_or_404(image_id, other_id)
    numbers = comparison_numbers(image, other)
    return render_template("images/compare.html", image=image, other=other, numbers=numbers,
                           thresholds=[stats_of(i).get("threshold") for i in (image, other)])


@bp.route("/<int:image_id>/compare/<int:other_id>/<any(scatter, slices):picture>.png")
def compare_picture(image_id, other_id, picture):
    image, other = ready_pair_or_404(image_id, other_id)
    kept = kept_comparison(image, other)
    if kept is None:
        if "error" in comparison_numbers(image, other):
            abort(404)
        kept = kept_comparison(image, other)
    return send_stored(kept[picture].storage_key, mimetype="image/png", max_age=300)


@bp.route("/<int:image_id>/compare")
def compare_picker(image_id):
    """Where the image page's "compare with…" form goes: on to the pair's page."""
    image = visible_image_or_404(image_id)
    other_id = request.args.get("with", type=int)
    if not other_id or other_id == image.id:
        return redirect(url_for("images.detail", image_id=image.id))
    return redirect(url_for("images.compare", image_id=image.id, other_id=other_id))


def compare_choices(image, limit=50):
    """Other ready maps of the same collection, for the picker (the visitor sees them with this one):
    (id, name) rows only, since whole images cost a third of the image page."""
    query = sa.select(Image.id, Image.name).where(
        Image.collection_id == image.collection_id, Image.status == Image.READY, Image.id != image.id)
    return db.session.execute(query.order_by(Image.id).limit(limit)).all()
