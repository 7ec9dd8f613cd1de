"""An image's page, its status, its file and thumbnails, and the public image list."""

import functools
from math import ceil

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_security import auth_required, current_user
from flask_wtf import FlaskForm
from markupsafe import Markup
from sqlalchemy.orm import joinedload

from ..access import editable_image_or_404, image_visible_or_404, visible_image_or_404
from ..cards import IMAGE_CARD_COLUMNS, ImageCard
from ..extensions import db, get_storage
from ..files import delete_image, nifti_download_name, nifti_mimetype, send_stored
from ..keyset import capped_count, keyset_page
from ..listing import SORTS, ImageFilters, page_number
from ..metadata import IMAGE_FIELDS, filled_in
from ..models import Collection, Image
from ..pagecache import IMAGES_LIST, collection_scope, depends_on, kept_while_current, shared_with_visitors
from ..pagefragments import Building
from ..pagerows import image_row
from ..pipeline import queue_processing, reset_for_reprocessing
from ..regions import region_options
from ..similarity.search import (
    MAX_RESULTS,
    SimilarAnswer,
    images_by_id,
    no_list_reason,
    similar_by_vector,
    similar_to_image,
)
from ..templating import image_card_html
from ..viewercopies import kept_per_viewer
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES
from . import bp, inflated, ondemand
from .compare import compare_choices

PER_PAGE = 24
#: An image card's columns and its collection's name, read in the list's one query as plain values (``cards``).
CARD_COLUMNS = (*IMAGE_CARD_COLUMNS, Collection.name.label("collection_name"))
SIMILAR_ON_PAGE = 10
#: What the image page reads besides the image, fetched in the same query (five round trips were one per relation).
PAGE_LOADING = (
    joinedload(Image.collection),
    joinedload(Image.uploader),
    joinedload(Image.stats),
    joinedload(Image.artifacts),
)


@bp.route("/")
@shared_with_visitors
@kept_per_viewer
def index():
    """Ready public maps, searched, filtered and sorted; each card's collection comes from the same join."""
    depends_on(IMAGES_LIST)
    filters = ImageFilters.from_request()
    ready = Image.public_query().where(Image.status == Image.READY).with_only_columns(*CARD_COLUMNS)
    query = filters.narrow(ready)
    if filters.narrowed:
        count = functools.partial(capped_count, db.session, query)
    else:
        count = functools.partial(kept_while_current, "public_ready_count", [IMAGES_LIST], Image.public_ready_count)
    page = keyset_page(db.session, query, Image, filters.sort, page_number(), PER_PAGE, count,
                       capped=bool(filters.narrowed), shape=ImageCard, sure=filters.surely_found())
    modalities = [(name, name) for name in MODALITIES]
    return render_template("images/index.html", page=page, filters=filters, sorts=SORTS, modalities=modalities,
                           region_options=region_options(), cards=Markup("".join(map(image_card_html, page.items))))


def status_payload(image):
    """What the status poller needs: where the image is and since when."""
    return {
        "id": image.id,
        "status": image.status,
        "final": image.is_final,
        "since": image.status_changed_at.isoformat() if image.status_changed_at else None,
        "error": image.error,
        "url": url_for("images.detail", image_id=image.id),
    }


def viewer_range(stats):
    """The map's value range for the viewer, over every volume; None where the stats do not cover all of them.

    The stats' own min/max describe the first volume only, and the per-volume list stops at
    MAX_VOLUMES_LISTED: past that the viewer reads the range from the data itself.
    """
    if not stats:
        return {"volumes": 1, "min": None, "max": None, "signed": True}
    listed = stats.get("volumes") or []
    n_volumes = stats.get("n_volumes") or 1
    if n_volumes > 1 and (stats.get("volumes_truncated") or len(listed) < n_volumes):
        return {"volumes": n_volumes, "min": None, "max": None, "signed": True}
    known = [v for v in listed if v.get("min") is not None and v.get("max") is not None]
    if known:
        low, high = min(v["min"] for v in known), max(v["max"] for v in known)
    else:
        low, high = stats.get("min"), stats.get("max")
    return {"volumes": n_volumes, "min": low, "max": high, "signed": low is None or low < 0}


PLOT_WIDTH, PLOT_HEIGHT = 600, 120


def mean_over_time(stats):
    """The series' plot: each volume's mean as an SVG polyline in a PLOT_WIDTH x PLOT_HEIGHT box.

    Drawn on the server like the histogram (no script, nothing to download);
    None for a single volume or when no volume has a mean.
    """
    volumes = (stats or {}).get("volumes") or []
    if (stats or {}).get("n_volumes", 1) < 2 or len(volumes) < 2:
        return None
    means = [(t, v.get("mean")) for t, v in enumerate(volumes) if v.get("mean") is not None]
    if not means:
        return None
    low, high = min(m for _, m in means), max(m for _, m in means)
    span = (high - low) or 1.0
    step = PLOT_WIDTH / (len(volumes) - 1)
    points = " ".join(f"{t * step:.1f},{PLOT_HEIGHT - (m - low) / span * PLOT_HEIGHT:.1f}" for t, m in means)
    return {"points": points, "low": low, "high": high, "n": len(volumes), "width": PLOT_WIDTH,
            "height": PLOT_HEIGHT}


#: The CSS width each thumbnail is shown at; one drawn at least 1.5 times wider is for high-density screens.
THUMBNAIL_WIDTHS = {"glass_brain": 480, "ortho": 600, "axial_mosaic": 600, "mosaic": 600, "tmean": 600, "tsnr": 600}


def shown_size(artifact):
    """(width, height, density) to show a thumbnail at: retina pictures at half their pixel size, with srcset."""
    css = THUMBNAIL_WIDTHS.get(artifact.kind)
    if css and artifact.width and artifact.height and artifact.width >= 1.5 * css:
        return artifact.width // 2, artifact.height // 2, 2
    return artifact.width, artifact.height, 1


VIEWER_FILES = ("viewer", "tmean_map", "tsnr_map")
INDEX_ENTRY = 8  # bytes per offset in the volume index (little-endian uint64)


def viewer_source(image, stats):
    """What the viewer loads: the worker's copy within the byte budget when there is one, else the file itself;
    ``frames`` volumes of it, and where further volumes are fetched one at a time (None: nowhere)."""
    plan = (stats or {}).get("viewer") or {}
    copy = image.artifact("viewer")
    as_nii = plan.get("by_offset") or plan.get("by_points")
    by_offset = bool(as_nii) and image.artifact("volume_header") is not None
    on_demand = by_offset or bool(plan.get("on_demand")) and image.artifact("volumes") is not None
    endpoint = "images.volume_by_offset" if by_offset else "images.volume"
    volume_url = url_for(endpoint, image_id=image.id, index=0).replace("/0.nii", "/{volume}.nii")
    source = {
        "url": url_for("images.download", image_id=image.id),
        "name": f"{image.id}.nii{'.gz' if image.report and image.report.get('compressed') else ''}",
        "frames": plan.get("frames") or (stats or {}).get("n_volumes") or 1,
        "volume_url": volume_url if on_demand else "",
    }
    if copy is not None:
        source |= {"url": url_for("images.viewer_file", image_id=image.id, kind="viewer"),
                   "name": f"{image.id}-viewer.nii.gz"}
    return source


@bp.route("/<int:image_id>/files/<kind>.nii.gz")
def viewer_file(image_id, kind):
    """The viewer's copy and the temporal maps of a series, as the worker stored them."""
    image = visible_image_or_404(image_id)
    artifact = image.artifact(kind) if kind in VIEWER_FILES else None
    if artifact is None:
        abort(404)
    return send_stored(artifact.storage_key, mimetype="application/gzip", name=f"image-{image.id}-{kind}.nii.gz",
                       max_age=300)


@bp.route("/<int:image_id>/volumes/<int:index>.nii.gz")
def volume(image_id, index):
    """Volume ``index`` of a series as a little .nii.gz of its own: a byte range of the worker's volumes file,
    found in its index, so nothing else of the series is read."""
    image = visible_image_or_404(image_id)
    volumes, offsets = image.artifact("volumes"), image.artifact("volume_index")
    if volumes is None or offsets is None or not 0 <= index < offsets.size // INDEX_ENTRY - 1:
        abort(404)
    start, end = volume_span(offsets.storage_key, index)
    if not 0 <= start < end <= volumes.size:
        abort(404)
    name = f"image-{image.id}-volume-{index}.nii.gz"
    return send_stored(volumes.storage_key, mimetype="application/gzip", name=name, max_age=300,
                       span=(start, end - start))


@bp.route("/<int:image_id>/volumes/<int:index>.nii")
def volume_by_offset(image_id, index):
    """Volume ``index`` of a series as a .nii: its 3D header (from the worker), then its bytes, read at their
    offset in an uncompressed original or inflated from an access point of a gzip one (``inflated``)."""
    image = visible_image_or_404(image_id)
    header = image.artifact("volume_header")
    report = image.report or {}
    shape = report.get("shape") or []
    if header is None or len(shape) != 4 or not 0 <= index < shape[3]:
        abort(404)
    volume_bytes = report["data_bytes"] // shape[3]
    with get_storage().open(header.storage_key) as handle:
        prefix = handle.read()
    span, name = (report["vox_offset"] + index * volume_bytes, volume_bytes), f"image-{image.id}-volume-{index}.nii"
    if report.get("compressed"):
        return inflated.send_volume(image, span, prefix=prefix, name=name)
    return send_stored(image.storage_key, mimetype="application/octet-stream", max_age=300, name=name,
                       prefix=prefix, span=span)


def volume_span(index_key, index):
    """(start, end) of volume ``index`` in the volumes file: two neighbouring entries of the index."""
    with get_storage().open(index_key) as handle:
        handle.seek(index * INDEX_ENTRY)
        start, end = (int.from_bytes(handle.read(INDEX_ENTRY), "little") for _ in range(2))
    return start, end


@bp.route("/<int:image_id>")
@shared_with_visitors
@kept_per_viewer
def detail(image_id):
    """The image's page: its pieces that show the image alone kept per generation (``pagefragments``), the parts
    that depend on the viewer (actions, similar maps, navigation) written for this request."""
    building = Building("image page", image_id)
    kept = building.kept
    image = (image_visible_or_404(image_row(image_id), current_user) if kept is not None
             else visible_image_or_404(image_id, options=PAGE_LOADING))
    depends_on(collection_scope(image.collection_id), IMAGES_LIST)  # the similar maps come from any collection
    can_edit = image.collection.editable_by(current_user)
    if kept is None:
        kept = image_page_pieces(image)
        building.keep(collection_scope(image.collection_id), kept)
    top, middle, bottoms, reason = kept
    similar = None
    if image.status == Image.READY:
        similar = similar_maps(image, 1, SIMILAR_ON_PAGE, answer=similar_answer(image, reason))
    return render_template("images/detail.html", image=image, parts={"top": top, "middle": middle,
                           "bottom": bottoms[can_edit]}, similar=similar, can_edit=can_edit,
                           form=FlaskForm() if can_edit else None)


def image_page_pieces(image):
    """(top, middle, bottom for a reader and for an editor, why no similar maps are listed): what the image page
    shows of the image, its stats, thumbnails and its collection's maps, whoever looks."""
    stats = image.stats.data if image.stats else None
    thumbnails = {artifact.kind: artifact for artifact in image.artifacts
                  if artifact.kind in THUMBNAIL_WIDTHS} if image.status == Image.READY else {}
    context = dict(
        image=image,
        thumbnails=thumbnails,
        sizes={kind: shown_size(artifact) for kind, artifact in thumbnails.items()},
        stats=stats,
        viewer=viewer_range(stats),
        over_time=mean_over_time(stats),
        source=viewer_source(image, stats),
        clusters=(stats or {}).get("clusters") if image.stats else None,
        threshold=(stats or {}).get("threshold") if image.stats else None,
        metadata=filled_in(image, IMAGE_FIELDS),
        **({"compare_choices": compare_choices(image)} if image.status == Image.READY else {}),
    )
    top, middle = (Markup(render_template(f"images/_page_{part}.html", **context)) for part in ("top", "middle"))
    bottoms = {can_edit: Markup(render_template("images/_page_bottom.html", can_edit=can_edit, **context))
               for can_edit in (False, True)}
    return top, middle, bottoms, no_list_reason(image) if image.status == Image.READY else None


def similar_answer(image, reason):
    """The similar maps this viewer may see, or why there are none (known from the image alone, kept)."""
    return SimilarAnswer(reason=reason) if reason else similar_by_vector(image.id, current_user)


class ListPage:
    """One page of an already ranked list, with what the ``pager`` macro reads."""

    def __init__(self, items, page, per_page, total):
        self.items, self.page, self.per_page, self.total = items, page, per_page, total
        self.pages = max(ceil(total / per_page), 1)
        self.has_prev, self.has_next = page > 1, page < self.pages
        self.prev_num, self.next_num = page - 1, page + 1


def similar_maps(image, page, per_page, map_type=None, analysis_level=None, answer=None):
    """A page of the maps most similar to this one that the visitor may see: (image, r) pairs, or a reason."""
    if answer is None:
        answer = similar_to_image(image, current_user, map_type=map_type or None,
                                  analysis_level=analysis_level or None)
    shown = answer.matches[(page - 1) * per_page: page * per_page]
    rows = images_by_id([image_id for image_id, _ in shown], joinedload(Image.collection),
                        joinedload(Image.artifacts))
    items = [(rows[image_id], r) for image_id, r in shown if image_id in rows]
    return {"reason": answer.reason, "undefined": answer.undefined,
            "page": ListPage(items, page, per_page, len(answer.matches))}


@bp.route("/<int:image_id>/similar")
@shared_with_visitors
def similar(image_id):
    """More maps like this one, filterable by map type and analysis level."""
    image = visible_image_or_404(image_id, options=PAGE_LOADING)
    depends_on(collection_scope(image.collection_id), IMAGES_LIST)
    map_type = request.args.get("map_type", "") if request.args.get("map_type") in MAP_TYPES else ""
    level = request.args.get("analysis_level", "") if request.args.get("analysis_level") in ANALYSIS_LEVELS else ""
    listing = similar_maps(image, page_number(), PER_PAGE, map_type, level)
    return render_template("images/similar.html", image=image, similar=listing, max_results=MAX_RESULTS,
                           filters={"map_type": map_type, "analysis_level": level})


@bp.route("/<int:image_id>/status")
def status(image_id):
    image = visible_image_or_404(image_id)
    response = status_payload(image)
    return response, 200, {"Cache-Control": "no-store"}


@bp.route("/<int:image_id>/file")
def download(image_id):
    image = visible_image_or_404(image_id)
    name = nifti_download_name(image)
    return send_stored(image.storage_key, mimetype=nifti_mimetype(name), name=name, as_attachment=True)


@bp.route("/<int:image_id>/thumbnails/<kind>.png")
def thumbnail(image_id, kind):
    image = visible_image_or_404(image_id)
    artifact = image.artifact(kind)
    if artifact is None or artifact.content_type != "image/png":
        abort(404)
    return send_stored(artifact.storage_key, mimetype="image/png", max_age=300)


@bp.route("/<int:image_id>/slices.png")
def slices_png(image_id):
    """A slice or a mosaic drawn for the URL's parameters (see ``ondemand``), kept for the next request."""
    image = visible_image_or_404(image_id, options=(joinedload(Image.stats),))
    if image.status != Image.READY:
        abort(404)
    kept_or_png, hit = ondemand.picture(image, ondemand.parse(request.args))
    if isinstance(kept_or_png, bytes):
        scope = "private" if image.collection.private else "public"
        response = Response(kept_or_png, mimetype="image/png", headers={"Cache-Control": f"{scope}, max-age=300"})
    else:
        response = send_stored(kept_or_png, mimetype="image/png", max_age=300)
    response.headers["X-Slices-Cache"] = "hit" if hit else "miss"
    return response


@bp.route("/<int:image_id>/reprocess", methods=["POST"])
@auth_required("session")
def reprocess(image_id):
    image = editable_image_or_404(image_id)
    if not image.is_final:
        flash("This image is still being processed.", "info")
    else:
        reset_for_reprocessing(image)
        db.session.commit()
        queue_processing([image.id])
        flash("The image was sent for processing again.", "success")
    return redirect(url_for("images.detail", image_id=image.id))


@bp.route("/<int:image_id>/delete", methods=["POST"])
@auth_required("session")
def delete(image_id):
    image = editable_image_or_404(image_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400, "The form expired; please try again.")
    collection = image.collection
    delete_image(image)
    flash(f"Image “{image.name}” deleted.", "success")
    return redirect(url_for("collections.detail", collection_id=collection.id))
