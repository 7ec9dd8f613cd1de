"""A PATCH body as gunicorn hands it (``wsgi.input_terminated``): odd-sized pieces, a cut, writes on a thread."""

import hashlib
import io
import itertools
import threading

import pytest

from tests.niftigen import small_map
from webapp import storage
from webapp.extensions import db
from webapp.models import Image, Upload
from webapp.storage import writebehind
from webapp.tus import body

PIECES = (1, 7777, 65537, 3, 131071, 4096, 999_983)


class Pieces:
    """A server's input that hands out odd-sized pieces, then (``cut_after``) breaks off like a dropped client."""

    def __init__(self, data, cut_after=None):
        self.data, self.position, self.cut_after = data, 0, cut_after
        self.sizes = itertools.cycle(PIECES)

    def read(self, size=-1):
        if self.cut_after is not None and self.position >= self.cut_after:
            raise ConnectionResetError("the client went away")
        end = min(len(self.data), self.position + next(self.sizes), self.position + size)
        if self.cut_after is not None:
            end = min(end, self.cut_after)
        piece, self.position = self.data[self.position:end], end
        return piece


@pytest.fixture
def nifti(tmp_path):
    return small_map(tmp_path / "map.nii").read_bytes()


def patch_from_server(tus, url, offset, stream, length=None):
    """A PATCH whose body comes from ``stream`` as gunicorn's input does: read directly, ended by the server.

    Without ``length`` the body is chunked: nothing says its size before it arrives.
    """
    headers = tus.headers({"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"})
    sized = {"CONTENT_LENGTH": str(length)} if length is not None else {"HTTP_TRANSFER_ENCODING": "chunked"}
    return tus.client.patch(url, headers=headers, environ_overrides={
        "wsgi.input": stream, "wsgi.input_terminated": True, **sized})


def partial_bytes(app, url):
    with app.app_context():
        key = db.session.get(Upload, url.rsplit("/", 1)[-1]).storage_key
        with storage.LocalStorage(app.config["STORAGE_DIR"]).open(key) as handle:
            return handle.read()


def test_the_body_is_read_from_the_servers_input_when_the_server_ends_it(app):
    """werkzeug's wrapper copies each chunk twice more; gunicorn's input needs none (it stops at the body's end)."""
    server_input = io.BytesIO(b"abc")
    with app.test_request_context(method="PATCH", environ_overrides={
            "wsgi.input": server_input, "CONTENT_LENGTH": "3", "wsgi.input_terminated": True}):
        assert body.request_body() is server_input
    with app.test_request_context(method="PATCH", data=b"abc"):
        assert body.request_body().read() == b"abc"


def test_a_body_in_odd_sized_pieces_is_stored_whole_and_hashed_as_it_passed(app, tus, researcher, nifti):
    data = nifti * 3
    url = tus.new(len(data), researcher.collection_id, filename="pieces.nii")
    answer = patch_from_server(tus, url, 0, Pieces(data), len(data))
    assert answer.status_code == 204, answer.get_data(as_text=True)
    with app.app_context():
        image = db.session.get(Image, int(answer.headers["X-Image-Id"]))
        assert image.sha256 == hashlib.sha256(data).hexdigest() and image.file_size == len(data)
        with storage.LocalStorage(app.config["STORAGE_DIR"]).open(image.storage_key) as handle:
            assert handle.read() == data


def test_a_body_cut_mid_way_keeps_exactly_what_arrived_and_resumes(app, tus, researcher, nifti):
    data = nifti * 3
    cut = len(data) // 2 + 12345
    url = tus.new(len(data), researcher.collection_id, filename="cut.nii")
    answer = patch_from_server(tus, url, 0, Pieces(data, cut_after=cut), len(data))
    assert answer.status_code == 204 and answer.headers["Upload-Offset"] == str(cut)
    assert tus.head(url).headers["Upload-Offset"] == str(cut)
    assert partial_bytes(app, url) == data[:cut]
    rest = patch_from_server(tus, url, cut, Pieces(data[cut:]), len(data) - cut)
    with app.app_context():
        image = db.session.get(Image, int(rest.headers["X-Image-Id"]))
        assert image.sha256 == hashlib.sha256(data).hexdigest()


def test_a_chunked_body_too_long_keeps_only_the_pieces_before_the_one_that_overflows(app, tus, researcher):
    url = tus.new(100_000, researcher.collection_id, filename="long.nii")
    data = bytes(range(256)) * 800
    answer = patch_from_server(tus, url, 0, Pieces(data))
    assert answer.status_code == 413
    fitted = sum(PIECES[:4])  # the fifth piece (131,071 bytes) would pass the upload's 100,000
    assert tus.head(url).headers["Upload-Offset"] == str(fitted)
    assert partial_bytes(app, url) == data[:fitted]


def test_appended_chunks_are_written_on_a_thread_not_by_the_request(tmp_path, monkeypatch):
    """Copying into the page cache is the PATCH's largest CPU cost; the request thread only reads (0023)."""
    writers = set()

    class Recording(io.FileIO):
        def write(self, chunk):
            writers.add(threading.get_ident())
            return super().write(chunk)

    with Recording(tmp_path / "partial", "ab") as target, writebehind.WriteBehind(target) as behind:
        for piece in (b"a" * 5, b"b" * 70_001, b"c"):
            behind.write(piece)
        behind.wait()
    assert writers and threading.get_ident() not in writers
    assert (tmp_path / "partial").read_bytes() == b"a" * 5 + b"b" * 70_001 + b"c"


def test_after_a_failed_write_no_later_chunk_is_written_and_the_failure_is_raised(tmp_path):
    class FullDisk(io.FileIO):
        def write(self, chunk):
            if chunk.startswith(b"b"):
                raise OSError(28, "No space left on device")
            return super().write(chunk)

    with FullDisk(tmp_path / "partial", "ab") as target, writebehind.WriteBehind(target) as behind:
        behind.write(b"a" * 10)
        behind.write(b"b" * 10)
        behind.write(b"c" * 10)
        with pytest.raises(OSError, match="No space"):
            behind.wait()
    assert (tmp_path / "partial").read_bytes() == b"a" * 10


def test_synced_bytes_leave_the_page_cache_in_order_after_their_fdatasync(tmp_path, monkeypatch):
    """New chunks then reuse the pages just freed instead of reclaiming others from a full cache."""
    events = []
    real_fdatasync = writebehind.os.fdatasync
    monkeypatch.setattr(writebehind.WriteBehind, "EVERY", 1024)
    monkeypatch.setattr(writebehind.os, "fdatasync", lambda fd: events.append("sync") or real_fdatasync(fd))
    monkeypatch.setattr(writebehind, "DROP_FROM_CACHE", lambda fd, start, size, advice: events.append((start, size)))
    (tmp_path / "partial").write_bytes(b"s" * 100)
    with open(tmp_path / "partial", "ab") as target, writebehind.WriteBehind(target) as behind:
        for _ in range(8):
            behind.write(b"z" * 1024)
            behind.wait()
    dropped = [event for event in events if event != "sync"]
    assert events[0] == "sync" and all(events[i - 1] == "sync" for i, e in enumerate(events) if e != "sync")
    assert dropped == [(100, 1024)] + [(100 + 1024 * n, 1024) for n in range(1, 8)]
