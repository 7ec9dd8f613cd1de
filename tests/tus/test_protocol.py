"""The tus 1.0 rules, through Flask's test client: every status code a client can meet."""

import hashlib
import io
from datetime import timedelta

import pytest

from tests.niftigen import small_map
from webapp.extensions import db, get_storage
from webapp.models import Image, Upload, utcnow
from webapp.tus import resumable

from ..helpers import csrf_token
from .tusclient import OWNER, TusTestClient, metadata_header


@pytest.fixture
def nifti(tmp_path):
    return small_map(tmp_path / "map.nii").read_bytes()


def upload_row(app, url):
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[-1])
        db.session.expunge_all()
        return row


def test_options_describes_the_server(app, client):
    answer = client.options("/api/uploads/")
    assert answer.status_code == 204
    assert answer.headers["Tus-Version"] == "1.0.0" and answer.headers["Tus-Resumable"] == "1.0.0"
    extensions = set(answer.headers["Tus-Extension"].split(","))
    assert {"creation", "creation-with-upload", "termination", "expiration"} <= extensions
    assert int(answer.headers["Tus-Max-Size"]) == app.config["MAX_UPLOAD_BYTES"]


def test_upload_in_two_patches_becomes_a_processed_image(app, tus, researcher, nifti):
    url = tus.new(len(nifti), researcher.collection_id, filename="motor.nii", name="Motor task", map_type="T")
    assert url.startswith("/api/uploads/")

    head = tus.head(url)
    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == "0" and head.headers["Upload-Length"] == str(len(nifti))
    assert head.headers["Cache-Control"] == "no-store" and head.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in head.headers

    half = len(nifti) // 2
    first = tus.patch(url, 0, nifti[:half])
    assert first.status_code == 204 and first.headers["Upload-Offset"] == str(half)
    assert "X-Image-Id" not in first.headers and "Upload-Expires" in first.headers
    assert upload_row(app, url).offset == half

    last = tus.patch(url, half, nifti[half:])
    assert last.status_code == 204 and last.headers["Upload-Offset"] == str(len(nifti))
    image_id = int(last.headers["X-Image-Id"])
    assert last.headers["X-Image-Url"] == f"http://neurodrop.test/images/{image_id}"

    with app.app_context():
        image = db.session.get(Image, image_id)
        assert image.sha256 == hashlib.sha256(nifti).hexdigest() and image.file_size == len(nifti)
        assert (image.name, image.map_type, image.original_filename) == ("Motor task", "T", "motor.nii")
        assert image.collection_id == researcher.collection_id and image.uploader_id == researcher.user_id
        assert image.status == "ready", image.error
        with get_storage().open(image.storage_key) as handle:
            assert handle.read() == nifti

    done = tus.head(url)
    assert done.headers["Upload-Offset"] == str(len(nifti)) and done.headers["X-Image-Id"] == str(image_id)
    again = tus.patch(url, len(nifti), b"")
    assert again.status_code == 204 and again.headers["X-Image-Id"] == str(image_id)


def test_creation_with_upload_takes_the_first_bytes(app, tus, researcher, nifti):
    answer = tus.create(len(nifti), researcher.collection_id, body=nifti[:1000])
    assert answer.status_code == 201 and answer.headers["Upload-Offset"] == "1000"
    assert tus.head(answer.headers["Location"]).headers["Upload-Offset"] == "1000"

    whole = tus.create(len(nifti), researcher.collection_id, body=nifti)
    assert whole.status_code == 201 and whole.headers["Upload-Offset"] == str(len(nifti))
    assert whole.headers["X-Image-Id"]


def test_a_whole_upload_in_one_body_is_hashed_as_it_arrives(app, tus, researcher, nifti, monkeypatch):
    """Promoting re-reads the partial file only when the upload came in several bodies."""
    from webapp.storage import local as storage

    reads = []
    real_file_sha256 = storage.file_sha256
    monkeypatch.setattr(storage, "file_sha256", lambda path: reads.append(path) or real_file_sha256(path))

    one_body = tus.new(len(nifti), researcher.collection_id, filename="one.nii")
    image_id = int(tus.patch(one_body, 0, nifti).headers["X-Image-Id"])
    assert reads == []
    two_bodies = tus.new(len(nifti), researcher.collection_id, filename="two.nii")
    tus.patch(two_bodies, 0, nifti[:100])
    second_id = int(tus.patch(two_bodies, 100, nifti[100:]).headers["X-Image-Id"])
    assert len(reads) == 1
    with app.app_context():
        for image in (db.session.get(Image, image_id), db.session.get(Image, second_id)):
            assert image.sha256 == hashlib.sha256(nifti).hexdigest() and image.file_size == len(nifti)


def test_wrong_offset_is_409(tus, researcher):
    url = tus.new(100, researcher.collection_id)
    assert tus.patch(url, 10, b"x" * 10).status_code == 409
    assert tus.patch(url, 0, b"x" * 10).status_code == 204
    answer = tus.patch(url, 0, b"x" * 10)
    assert answer.status_code == 409 and "10" in answer.get_json()["detail"]


def test_wrong_content_type_is_415(tus, researcher):
    url = tus.new(100, researcher.collection_id)
    answer = tus.patch(url, 0, b"x" * 10, extra={"Content-Type": "application/octet-stream"})
    assert answer.status_code == 415


@pytest.mark.parametrize("version", [None, "0.2.2", "1.0"])
def test_missing_or_wrong_tus_resumable_is_412(tus, researcher, version):
    url = tus.new(100, researcher.collection_id)
    assert tus.head(url, extra={"Tus-Resumable": version}).status_code == 412
    assert tus.patch(url, 0, b"x", extra={"Tus-Resumable": version}).status_code == 412
    assert tus.create(100, researcher.collection_id, extra={"Tus-Resumable": version}).status_code == 412


def test_missing_or_malformed_headers_are_400(client, tus, researcher):
    headers = tus.headers(
        {"Upload-Metadata": metadata_header(filename="a.nii", collection_id=researcher.collection_id)}
    )
    assert client.post("/api/uploads/", headers=headers).status_code == 400
    assert tus.create(-5, researcher.collection_id).status_code == 400
    assert tus.create("ten", researcher.collection_id).status_code == 400
    assert tus.create(100, researcher.collection_id, extra={"Upload-Defer-Length": "1"}).status_code == 400
    no_name = tus.headers({"Upload-Length": "100", "Upload-Metadata": metadata_header(collection_id=1)})
    assert client.post("/api/uploads/", headers=no_name).status_code == 400
    no_collection = tus.headers({"Upload-Length": "100", "Upload-Metadata": metadata_header(filename="a.nii")})
    assert client.post("/api/uploads/", headers=no_collection).status_code == 400
    bad_base64 = tus.headers({"Upload-Length": "100", "Upload-Metadata": "filename not*base64"})
    assert client.post("/api/uploads/", headers=bad_base64).status_code == 400
    assert tus.create(100, researcher.collection_id, map_type="Q").status_code == 400

    url = tus.new(100, researcher.collection_id)
    no_offset = tus.headers({"Content-Type": "application/offset+octet-stream"})
    assert client.patch(url, headers=no_offset, data=b"x").status_code == 400
    assert tus.patch(url, "-1", b"x").status_code == 400


def test_over_the_size_limit_is_413(app, tus, researcher):
    limit = app.config["MAX_UPLOAD_BYTES"]
    assert tus.create(limit + 1, researcher.collection_id).status_code == 413
    url = tus.new(100, researcher.collection_id)
    assert tus.patch(url, 0, b"x" * 101).status_code == 413
    assert tus.head(url).headers["Upload-Offset"] == "0"
    assert tus.patch(url, 0, b"x" * 100).status_code == 204


def test_quota_counts_images_and_unfinished_uploads(app, tus, researcher):
    app.config["USER_QUOTA_BYTES"] = 1000
    assert tus.create(1001, researcher.collection_id).status_code == 413
    url = tus.new(600, researcher.collection_id)
    answer = tus.create(600, researcher.collection_id)
    assert answer.status_code == 413 and "unfinished" in answer.get_json()["detail"]
    assert tus.patch(url, 0, b"x" * 100).status_code == 204
    app.config["USER_QUOTA_BYTES"] = 500
    assert tus.patch(url, 100, b"x" * 100).status_code == 413


def test_unknown_or_someone_elses_upload_is_404(client, tus, researcher, other):
    assert tus.head("/api/uploads/0123456789abcdef0123456789abcdef").status_code == 404
    assert tus.patch("/api/uploads/nope", 0, b"x").status_code == 404
    url = tus.new(100, researcher.collection_id)
    theirs = TusTestClient(client, other.token)
    assert theirs.head(url).status_code == 404
    assert theirs.patch(url, 0, b"x").status_code == 404
    assert theirs.delete(url).status_code == 404
    assert tus.head(url).status_code == 200


def test_someone_elses_collection_is_refused(client, tus, researcher, other):
    assert tus.create(100, other.collection_id).status_code in (403, 404)
    assert tus.create(100, 999999).status_code == 404


def test_expired_upload_is_410(app, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[-1])
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert tus.head(url).status_code == 410
    assert tus.patch(url, 0, b"x").status_code == 410


def test_each_patch_pushes_the_expiry_back(app, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    before = upload_row(app, url).expires_at
    with app.app_context():
        row = db.session.get(Upload, url.rsplit("/", 1)[-1])
        row.expires_at = utcnow() + timedelta(minutes=5)
        db.session.commit()
    tus.patch(url, 0, b"x")
    assert upload_row(app, url).expires_at >= before


def test_delete_terminates_the_upload_and_its_bytes(app, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    tus.patch(url, 0, b"x" * 40)
    key = upload_row(app, url).storage_key
    answer = tus.delete(url)
    assert answer.status_code == 204 and answer.headers["Tus-Resumable"] == "1.0.0"
    assert tus.head(url).status_code == 404
    with app.app_context():
        assert not get_storage().exists(key)


def test_deleting_the_collection_removes_its_unfinished_uploads_bytes(app, client, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    tus.patch(url, 0, b"x" * 40)
    key = upload_row(app, url).storage_key
    answer = client.delete(f"/api/collections/{researcher.collection_id}/",
                           headers={"Authorization": f"Token {researcher.token}"})
    assert answer.status_code == 204
    assert tus.head(url).status_code == 404
    with app.app_context():
        assert not get_storage().exists(key)


def test_no_credentials_or_a_bad_token_is_401(client, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    anonymous = TusTestClient(client, None)
    assert anonymous.head(url).status_code == 401
    assert anonymous.create(100, researcher.collection_id).status_code == 401
    forged = TusTestClient(client, "0" * 40)
    assert forged.patch(url, 0, b"x").status_code == 401
    bearer = tus.headers({"Authorization": f"Bearer {researcher.token}"})
    assert client.head(url, headers=bearer).status_code == 200


def test_session_cookie_needs_the_csrf_header_to_write(client, accounts, researcher):
    accounts.login(OWNER)
    browser = TusTestClient(client, None)
    token = csrf_token(client, f"/collections/{researcher.collection_id}/upload")
    assert browser.create(100, researcher.collection_id).status_code == 400
    url = browser.new(100, researcher.collection_id, extra={"X-CSRFToken": token})
    assert browser.head(url).status_code == 200
    assert browser.patch(url, 0, b"x" * 10).status_code == 400
    assert browser.patch(url, 0, b"x" * 10, extra={"X-CSRFToken": token}).status_code == 204
    assert browser.delete(url).status_code == 400
    assert browser.delete(url, extra={"X-CSRFToken": token}).status_code == 204


def test_a_second_append_waits_for_the_first(app, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    upload_id = url.rsplit("/", 1)[-1]
    with app.test_request_context():
        row = db.session.get(Upload, upload_id)
        resumable.claim(row, 0)
        with pytest.raises(resumable.UploadBusy):
            resumable.claim(db.session.get(Upload, upload_id), 0)
    busy = tus.patch(url, 0, b"x" * 10)
    assert busy.status_code == 423
    assert tus.head(url).headers["Upload-Offset"] == "0"
    assert tus.delete(url).status_code == 423


def test_a_stale_claim_is_settled_from_the_bytes_on_disk(app, tus, researcher):
    """A process that died between appending and updating the row loses nothing that reached the disk."""
    url = tus.new(100, researcher.collection_id)
    tus.patch(url, 0, b"a" * 30)
    upload_id = url.rsplit("/", 1)[-1]
    with app.test_request_context():
        row = db.session.get(Upload, upload_id)
        resumable.claim(row, 30)
        row = db.session.get(Upload, upload_id)
        get_storage().append(row.storage_key, io.BytesIO(b"b" * 20))
        row.meta = dict(row.meta, claimed_at=(utcnow() - resumable.CLAIM_STALE_AFTER).isoformat())
        db.session.commit()
    assert tus.head(url).headers["Upload-Offset"] == "50"
    assert tus.patch(url, 50, b"c" * 50).status_code == 204


def test_row_and_disk_disagreeing_is_a_409_then_the_disk_wins(app, tus, researcher):
    url = tus.new(100, researcher.collection_id)
    tus.patch(url, 0, b"a" * 30)
    with app.app_context():
        key = db.session.get(Upload, url.rsplit("/", 1)[-1]).storage_key
        get_storage().append(key, io.BytesIO(b"b" * 5))
    assert tus.patch(url, 30, b"c" * 10).status_code == 409
    assert tus.head(url).headers["Upload-Offset"] == "35"


def test_an_empty_upload_finishes_at_creation(app, tus, researcher):
    answer = tus.create(0, researcher.collection_id, filename="empty.nii")
    assert answer.status_code == 201 and answer.headers["X-Image-Id"]
    with app.app_context():
        image = db.session.get(Image, int(answer.headers["X-Image-Id"]))
        assert image.file_size == 0 and image.status == "failed"


def test_the_sweep_forgets_expired_uploads_and_their_bytes(app, tus, researcher):
    from webapp.processing.upkeep import expire_partial_uploads

    stale_url = tus.new(100, researcher.collection_id)
    live_url = tus.new(100, researcher.collection_id)
    tus.patch(stale_url, 0, b"x" * 10)
    with app.app_context():
        stale = db.session.get(Upload, stale_url.rsplit("/", 1)[-1])
        stale.expires_at = utcnow() - timedelta(minutes=1)
        stale_key = stale.storage_key
        db.session.commit()
        assert get_storage().exists(stale_key)
        assert expire_partial_uploads.delay().get() == {"expired": 1, "stale_staging_files": 0,
                                                        "stale_reservations": 0}
        assert not get_storage().exists(stale_key)
    assert tus.head(stale_url).status_code == 404
    assert tus.head(live_url).status_code == 200
    assert "expire-partial-uploads" in app.config["CELERY"]["beat_schedule"]
