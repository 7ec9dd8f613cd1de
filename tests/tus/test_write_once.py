"""A PATCH body written once, under a claim that is a lease; what happens around the last byte."""

import socket
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from tests import archives as build
from tests.niftigen import small_map
from webapp import batches, storage
from webapp.extensions import db
from webapp.models import Batch, Image, Upload
from webapp.storage import base as storage_base
from webapp.storage import writebehind
from webapp.tus import body, resumable


@pytest.fixture
def nifti(tmp_path):
    return small_map(tmp_path / "map.nii").read_bytes()


def upload_id(url):
    return url.rsplit("/", 1)[-1]


def originals(app):
    return sorted(path.name for path in (Path(app.config["STORAGE_DIR"]) / "originals").rglob("*") if path.is_file())


def test_a_patch_body_goes_straight_into_the_partial_object(app, tus, researcher, monkeypatch):
    """No staging copy: each byte of a PATCH is written once (decision 0023)."""

    def no_staging(*args, **kwargs):
        raise AssertionError("a PATCH body was staged")

    monkeypatch.setattr(storage.LocalStorage, "staging_file", no_staging)
    url = tus.new(100, researcher.collection_id)
    assert tus.patch(url, 0, b"a" * 60).status_code == 204
    assert tus.patch(url, 60, b"b" * 30).headers["Upload-Offset"] == "90"
    with app.app_context():
        key = db.session.get(Upload, upload_id(url)).storage_key
        with storage.LocalStorage(app.config["STORAGE_DIR"]).open(key) as handle:
            assert handle.read() == b"a" * 60 + b"b" * 30


def test_the_claim_is_renewed_while_bytes_arrive(app, tus, researcher, monkeypatch):
    renewals = []
    real_renew = resumable.renew_claim
    monkeypatch.setattr(body, "RENEW_EVERY", 0.0)
    monkeypatch.setattr(resumable, "renew_claim", lambda *args: renewals.append(args) or real_renew(*args))
    url = tus.new(100, researcher.collection_id)
    assert tus.patch(url, 0, b"x" * 50).headers["Upload-Offset"] == "50"
    assert renewals


def test_a_body_whose_claim_was_settled_meanwhile_stops_before_writing(app, tus, researcher, monkeypatch):
    """A writer that stalled past the lease finds its claim gone and writes nothing more."""
    monkeypatch.setattr(body, "RENEW_EVERY", 0.0)
    monkeypatch.setattr(resumable, "renew_claim", lambda *args: False)
    url = tus.new(100, researcher.collection_id)
    assert tus.patch(url, 0, b"x" * 50).status_code == 409
    monkeypatch.undo()
    assert tus.head(url).headers["Upload-Offset"] == "0"


def test_a_silent_client_is_cut_off_by_the_sockets_idle_timeout(app):
    app.config["TUS_IDLE_SECONDS"] = 7
    left, right = socket.socketpair()
    try:
        with app.test_request_context(environ_base={"gunicorn.socket": left}):
            with body.idle_timeout(app.config["TUS_IDLE_SECONDS"]):
                assert left.gettimeout() == 7
            assert left.gettimeout() is None
    finally:
        left.close()
        right.close()


def test_a_body_that_breaks_off_keeps_what_arrived(app):
    class Breaking:
        def __init__(self):
            self.calls = 0

        def read(self, size):
            self.calls += 1
            if self.calls > 1:
                raise TimeoutError("timed out")
            return b"y" * 10

    with app.test_request_context():
        stream = body.PatchBody(Breaking(), hashed=True, max_bytes=100)
        assert stream.read(100) == b"y" * 10 and stream.read(100) == b""
        assert stream.client_left and stream.size == 10
        stream.close()


def test_deleting_the_image_of_a_tus_upload_frees_its_quota_and_forgets_the_upload(app, client, tus, researcher, nifti):
    app.config["USER_QUOTA_BYTES"] = len(nifti) + 100
    url = tus.new(len(nifti), researcher.collection_id)
    image_id = tus.patch(url, 0, nifti).headers["X-Image-Id"]
    gone = client.delete(f"/api/images/{image_id}/", headers={"Authorization": f"Token {researcher.token}"})
    assert gone.status_code == 204
    head = tus.head(url)
    assert head.status_code == 404 and "X-Image-Url" not in head.headers
    assert tus.create(len(nifti), researcher.collection_id).status_code == 201


def test_a_database_error_after_the_last_byte_leaves_the_upload_complete_and_resumable(
    app, tus, researcher, nifti, monkeypatch
):
    real_add_image = resumable.add_image

    def failing_add_image(*args, **kwargs):
        raise OperationalError("INSERT INTO image", {}, Exception("database went away"))

    monkeypatch.setattr(resumable, "add_image", failing_add_image)
    url = tus.new(len(nifti), researcher.collection_id, filename="late.nii")
    answer = tus.patch(url, 0, nifti)
    assert answer.status_code == 503 and "resume" in answer.get_json()["detail"]
    assert originals(app) == []

    monkeypatch.setattr(resumable, "add_image", real_add_image)
    head = tus.head(url)
    assert head.headers["Upload-Offset"] == str(len(nifti)) and head.headers["X-Image-Id"]
    with app.app_context():
        image = db.session.get(Image, int(head.headers["X-Image-Id"]))
        assert originals(app) == [Path(image.storage_key).name] and image.file_size == len(nifti)


def test_a_long_append_starts_its_disk_writes_while_bytes_arrive(tmp_path, monkeypatch):
    """Write-behind: the final fsync finds little left to write (fdatasync on a thread every EVERY bytes)."""
    import io
    import os

    flushed = []
    real_fdatasync = os.fdatasync
    monkeypatch.setattr(writebehind.WriteBehind, "EVERY", 1024)
    monkeypatch.setattr(writebehind.os, "fdatasync", lambda fd: flushed.append(fd) or real_fdatasync(fd))
    monkeypatch.setattr(storage_base, "CHUNK_SIZE", 1024)
    local = storage.LocalStorage(tmp_path)
    assert local.append("partials/ab/c", io.BytesIO(b"z" * 8192)) == 8192
    assert flushed and local.size("partials/ab/c") == 8192


@pytest.mark.parametrize(("filename", "make"), [
    ("study.zip", lambda tmp_path: build.write_zip(tmp_path / "s.zip", {"x.txt": b"x"}).read_bytes()),
    ("con_0001.hdr", lambda tmp_path: build.pair_bytes(build.small_map(1))[0]),
])
def test_a_database_error_after_the_last_byte_of_a_batch_source_moves_it_back(
    app, tus, researcher, tmp_path, monkeypatch, filename, make
):
    data = make(tmp_path)
    real_add_source = batches.add_source

    def failing_add_source(*args, **kwargs):
        raise OperationalError("UPDATE batch", {}, Exception("database went away"))

    monkeypatch.setattr(batches, "add_source", failing_add_source)
    url = tus.new(len(data), researcher.collection_id, filename=filename)
    answer = tus.patch(url, 0, data)
    assert answer.status_code == 503 and "resume" in answer.get_json()["detail"]
    assert originals(app) == []
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 0

    monkeypatch.setattr(batches, "add_source", real_add_source)
    head = tus.head(url)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(len(data))
    assert head.headers["X-Batch-Id"]
    with app.app_context():
        batch = db.session.get(Batch, int(head.headers["X-Batch-Id"]))
        assert batch is not None and batch.filename == filename
        assert len(originals(app)) <= 1


def test_an_archive_deleted_while_its_last_bytes_arrived_leaves_nothing_behind(app, tus, researcher, tmp_path,
                                                                               monkeypatch):
    data = build.write_zip(tmp_path / "gone.zip", {"x.txt": b"x"}).read_bytes()
    url = tus.new(len(data), researcher.collection_id, filename="gone.zip")
    real_release = resumable.release
    monkeypatch.setattr(resumable, "release", lambda upload, at, new_offset, **values: new_offset != len(data)
                        and real_release(upload, at, new_offset, **values))
    answer = tus.patch(url, 0, data)
    assert answer.status_code == 410 and "deleted" in answer.get_json()["detail"]
    assert originals(app) == []
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Batch.id))) == 0
