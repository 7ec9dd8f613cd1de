"""The original ``.hdr``/``.img`` pair a map was converted from: kept downloadable as it was uploaded."""

from flask import abort

from ..access import visible_image_or_404
from ..files import download_name, send_stored
from ..models import pair_keys
from . import bp


@bp.route("/images/<int:image_id>/original/<int:index>")
def original_half(image_id, index):
    image = visible_image_or_404(image_id)
    pair = (image.extra or {}).get("original_pair") or []
    if not 0 <= index < len(pair_keys(image.extra)):
        abort(404)
    part = pair[index]
    name = download_name(part.get("filename"), f"image-{image.id}-{index}.bin")
    return send_stored(part["key"], mimetype="application/octet-stream", name=name, as_attachment=True)
