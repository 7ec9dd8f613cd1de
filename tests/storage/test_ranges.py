"""Every stored file answers byte ranges and conditional requests, on every backend: a cut download resumes."""

import hashlib
import os

import pytest
from werkzeug.exceptions import HTTPException

from webapp.files import send_stored
from webapp.storage import artifact_key

PAYLOAD = os.urandom(2 * 1024 * 1024 + 33)


def answer(app, key, headers=None):
    """``send_stored`` for one request: (status, headers, body)."""
    with app.test_request_context(headers=headers or {}):
        try:
            response = send_stored(key, mimetype="application/gzip", name="map.nii.gz", as_attachment=True)
        except HTTPException as exc:
            response = exc.get_response()
        response.direct_passthrough = False
        body = response.get_data()
        response.close()
        return response.status_code, response.headers, body


@pytest.fixture
def served(app, storage):
    app.extensions["storage"] = storage
    key = artifact_key(5, "gzip", "nii.gz")
    storage.put_bytes(key, PAYLOAD)
    return key


def test_a_download_cut_half_way_resumes_with_range(app, served):
    status, headers, whole = answer(app, served)
    assert status == 200 and whole == PAYLOAD and int(headers["Content-Length"]) == len(PAYLOAD)
    assert headers["Accept-Ranges"] == "bytes" and headers["ETag"] and headers["Last-Modified"]
    cut = whole[: len(PAYLOAD) // 2]
    status, rest_headers, rest = answer(app, served, {"Range": f"bytes={len(cut)}-", "If-Range": headers["ETag"]})
    assert status == 206 and rest_headers["Content-Range"] == f"bytes {len(cut)}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
    assert hashlib.sha256(cut + rest).hexdigest() == hashlib.sha256(PAYLOAD).hexdigest()


def test_bad_ranges_are_416_and_conditions_are_honoured(app, served):
    _, headers, _ = answer(app, served)
    status, bad_headers, _ = answer(app, served, {"Range": f"bytes={len(PAYLOAD) + 10}-"})
    assert status == 416 and bad_headers["Content-Range"] == f"bytes */{len(PAYLOAD)}"
    assert answer(app, served, {"If-None-Match": headers["ETag"]})[0] == 304
    assert answer(app, served, {"If-Modified-Since": headers["Last-Modified"]})[0] == 304
    stale = answer(app, served, {"Range": "bytes=10-", "If-Range": '"an-older-version"'})
    assert stale[0] == 200 and stale[2] == PAYLOAD  # the object changed: the whole of it, never a stitched file


def test_a_slice_with_a_header_is_a_file_of_its_own(app, served):
    """One volume of an uncompressed series: its header, then its bytes read at their offset, ranges too."""
    header, start, length = b"HEADER" * 10, 1_000_000, 300_000
    expected = header + PAYLOAD[start:start + length]
    with app.test_request_context():
        response = send_stored(served, mimetype="application/octet-stream", span=(start, length), prefix=header)
        response.direct_passthrough = False
        assert response.get_data() == expected and response.content_length == len(expected)
        response.close()
    for first in (7, len(header), 200_000):
        with app.test_request_context(headers={"Range": f"bytes={first}-"}):
            response = send_stored(served, mimetype="application/octet-stream", span=(start, length), prefix=header)
            response.direct_passthrough = False
            assert response.status_code == 206 and response.get_data() == expected[first:]
            response.close()
