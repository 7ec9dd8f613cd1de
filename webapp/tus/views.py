"""tus 1.0 over HTTP: core, creation, creation-with-upload, termination and expiration.

Callers authenticate with an API token or with the browser's session cookie;
a cookie-authenticated request that changes something must also carry the
page's CSRF token in ``X-CSRFToken`` (the blueprint is exempt from the global
check, which would look for it in a form this protocol never sends).
"""

from flask import abort, current_app, request, url_for
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import Conflict, Locked

from .. import batch_tus
from ..access import editable_collection_or_404
from ..callers import session_user, user_from_token_header
from ..extensions import csrf, db
from ..ingest import clean_filename
from ..models import Upload
from ..numbers import ascii_whole_number
from ..storage import TooLarge
from ..urls import absolute_url
from . import bp, protocol, resumable
from .body import PatchBody, idle_timeout, request_body


@bp.after_request
def speak_tus(response):
    """Every tus response says which protocol it speaks."""
    response.headers["Tus-Resumable"] = protocol.TUS_VERSION
    response.headers.setdefault("Cache-Control", "no-store")
    return response


# who is asking ----------------------------------------------------------------------------------


def uploader_or_401(changes_state=True):
    """The calling user: by API token, else by session cookie (then with the CSRF header when it writes)."""
    user = user_from_token_header()
    if user is not None:
        return user
    user = session_user()
    if user is None:
        abort(401, "Log in, or send an API token in the Authorization header (Token <key>).")
    if changes_state:
        csrf.protect()
    return user


def own_upload_or_404(upload_id, user):
    """The caller's upload, with any stale claim settled; 404 if unknown or someone else's, 410 if expired."""
    upload = db.session.get(Upload, upload_id)
    if upload is None or upload.user_id != user.id:
        abort(404, "No such upload: it was never created, was deleted, or belongs to someone else.")
    if resumable.is_expired(upload):
        abort(410, "This upload expired before it was finished; start it again.")
    upload = resumable.settle_stale_claim(upload)
    try:
        return resumable.finish_if_full(upload)
    except (resumable.OffsetMoved, resumable.UploadBusy):
        return resumable.reload(upload_id)


# responses ----------------------------------------------------------------------------------------


def upload_headers(upload):
    """Where an upload stands: its offset and length, its expiry or, once done, its image."""
    headers = {
        "Upload-Offset": str(resumable.acknowledged_offset(upload)),
        "Upload-Length": str(upload.length),
        "Cache-Control": "no-store",
    }
    image_id = resumable.finished_image_id(upload)
    if image_id is not None:
        headers["X-Image-Id"] = str(image_id)
        headers["X-Image-Url"] = absolute_url("images.detail", image_id=image_id)
    else:
        headers["Upload-Expires"] = protocol.expires_header(upload.expires_at)
    headers.update(batch_tus.batch_headers(upload))
    return headers


def empty_response(status, headers):
    response = current_app.response_class(status=status)
    response.headers.update(headers)
    return response


# the body ---------------------------------------------------------------------------------------


def append_body(upload):
    """Append the request body at the upload's offset and return the upload as it then stands.

    The body goes from the socket into the partial object (written once); a dropped or silent
    client keeps what arrived.
    """
    if request.content_length == 0:
        return upload
    body = PatchBody(request_body(), hashed=upload.offset == 0, max_bytes=upload.length - upload.offset)
    try:
        with idle_timeout(current_app.config["TUS_IDLE_SECONDS"]):
            return resumable.append_body(upload, body)
    except TooLarge:
        abort(413, f"The body is longer than the {upload.length - upload.offset:,} bytes that remain of this upload.")
    except resumable.OffsetMoved:
        raise Conflict("The upload moved on while this body arrived; ask for its offset (HEAD) again.") from None
    except resumable.UploadBusy:
        raise Locked("Another request is appending to this upload; retry in a moment.") from None
    except SQLAlchemyError:
        current_app.logger.exception("upload %s: database error while appending", upload.id)
        abort(503, "The database failed while this body was stored; ask for the offset (HEAD) and resume.")
    finally:
        body.close()


# routes -----------------------------------------------------------------------------------------


@bp.route("/", methods=["OPTIONS", "POST"], strict_slashes=False)
def create():
    if request.method == "OPTIONS":
        return empty_response(204, protocol.server_headers(current_app.config["MAX_UPLOAD_BYTES"]))
    protocol.require_tus_resumable()
    user = uploader_or_401()
    if request.headers.get("Upload-Defer-Length"):
        abort(400, "Upload-Defer-Length is not supported: send Upload-Length.")
    length = protocol.non_negative_header("Upload-Length")
    metadata = protocol.parse_metadata(request.headers.get("Upload-Metadata"))
    collection = collection_from_metadata(metadata, user)
    if not metadata.get("filename"):
        abort(400, "Upload-Metadata must name the file: filename <base64 name>.")
    filename = clean_filename(metadata["filename"])
    resumable.checked_map_type(metadata.get("map_type"))
    resumable.check_creation_limits(user, length)
    fields = {**resumable.image_fields(metadata), **batch_tus.group_fields(metadata)}
    upload = resumable.create_upload(user, collection, length, filename, fields)
    if protocol.carries_offset_stream():
        upload = append_body(upload)
    upload = resumable.finish_if_full(upload)
    headers = upload_headers(upload)
    headers["Location"] = url_for("tus.upload", upload_id=upload.id)
    if not protocol.carries_offset_stream():
        headers.pop("Upload-Offset")
    headers.pop("Upload-Length")
    return empty_response(201, headers)


def collection_from_metadata(metadata, user):
    """The collection named by ``collection_id``: 400 when missing, 404/403 when not the caller's to fill."""
    value = (metadata.get("collection_id") or "").strip()
    collection_id = ascii_whole_number(value, max_digits=9)
    if collection_id is None:
        abort(400, f"Upload-Metadata: collection_id={value!r}: expected the id of one of your collections.")
    return editable_collection_or_404(collection_id, user)


@bp.route("/<upload_id>", methods=["HEAD", "PATCH", "DELETE", "OPTIONS"])
def upload(upload_id):
    if request.method == "OPTIONS":
        return empty_response(204, protocol.server_headers(current_app.config["MAX_UPLOAD_BYTES"]))
    protocol.require_tus_resumable()
    user = uploader_or_401(changes_state=request.method != "HEAD")
    found = own_upload_or_404(upload_id, user)
    if request.method == "HEAD":
        headers = upload_headers(found)
        metadata = dict(found.meta or {}, filename=found.filename, collection_id=found.collection_id)
        headers["Upload-Metadata"] = protocol.format_metadata(
            {key: value for key, value in metadata.items() if key in protocol.METADATA_KEYS}
        )
        return empty_response(200, headers)
    if request.method == "DELETE":
        try:
            resumable.terminate(found)
        except resumable.UploadBusy:
            raise Locked("Another request is appending to this upload; retry in a moment.") from None
        return empty_response(204, {})
    return patch(found, user)


def patch(found, user):
    protocol.require_offset_stream()
    offset = protocol.non_negative_header("Upload-Offset")
    if resumable.is_finished(found) and offset == found.length:
        return empty_response(204, upload_headers(found))
    if resumable.is_claimed(found):
        raise Locked("Another request is appending to this upload; retry in a moment.")
    if offset != found.offset:
        raise Conflict(f"Upload-Offset is {offset:,} but the upload is at {found.offset:,}; resume from there.")
    resumable.check_patch_limits(user, found, request.content_length)
    return empty_response(204, upload_headers(append_body(found)))
