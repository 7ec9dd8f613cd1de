"""The tus 1.0 wire format: the headers a client sends and the ones we answer with.

Only parsing and formatting live here; what an upload *is* lives in
``resumable.py``. Every malformed header ends in a 4xx that names the header
and the value, never in a 500.
"""

import base64
import binascii

from flask import abort, request
from werkzeug.http import http_date

from ..numbers import ascii_whole_number

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration")
OFFSET_STREAM = "application/offset+octet-stream"
METADATA_KEYS = ("filename", "collection_id", "name", "map_type", "batch", "batch_size")


def require_tus_resumable():
    """Refuse (412) a request that does not speak tus 1.0.0; every request but OPTIONS must say so."""
    version = request.headers.get("Tus-Resumable")
    if version != TUS_VERSION:
        shown = "missing" if version is None else repr(version)
        abort(412, f"Tus-Resumable is {shown}; this server speaks tus {TUS_VERSION}.")


def non_negative_header(name):
    """The header as a whole number >= 0; 400 when it is missing or is not one."""
    value = request.headers.get(name)
    if value is None:
        abort(400, f"The {name} header is required.")
    number = ascii_whole_number(value.strip(), max_digits=18)
    if number is None:
        abort(400, f"{name}={value.strip()!r}: expected a whole number of bytes (ASCII digits 0-9).")
    return number


def require_offset_stream():
    """Refuse (415) a body that is not ``application/offset+octet-stream``."""
    if request.mimetype != OFFSET_STREAM:
        shown = request.mimetype or "missing"
        abort(415, f"Content-Type is {shown}; a tus PATCH sends {OFFSET_STREAM}.")


def carries_offset_stream():
    """Whether a creation request also carries the first bytes (creation-with-upload)."""
    return request.mimetype == OFFSET_STREAM


def parse_metadata(header):
    """``Upload-Metadata`` as a dict: comma-separated ``key base64(value)`` pairs, a key alone meaning ''."""
    metadata = {}
    for pair in (header or "").split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if not key or " " in encoded.strip():
            abort(400, f"Upload-Metadata: {pair[:80]!r} is not 'key base64value'.")
        try:
            value = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            abort(400, f"Upload-Metadata: the value of {key!r} is not base64-encoded UTF-8.")
        if key in metadata:
            abort(400, f"Upload-Metadata: {key!r} is given twice.")
        metadata[key] = value
    return metadata


def format_metadata(metadata):
    """The ``Upload-Metadata`` header for a dict, keys in a stable order."""
    return ",".join(
        f"{key} {base64.b64encode(str(value).encode()).decode()}" for key, value in sorted(metadata.items())
    )


def server_headers(max_size):
    """What ``OPTIONS`` tells a client about this server."""
    return {
        "Tus-Resumable": TUS_VERSION,
        "Tus-Version": TUS_VERSION,
        "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Max-Size": str(max_size),
    }


def expires_header(moment):
    """The ``Upload-Expires`` value: an HTTP date."""
    return http_date(moment)
