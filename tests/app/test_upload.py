"""The upload form: streamed to storage, hashed, queued after commit; limits, quota, CSRF, hostile names."""

import hashlib
import io
import re

import pytest

from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import Collection, Image

from ..helpers import collection_id_of, csrf_token

OWNER = "owner@example.org"


@pytest.fixture
def collection_id(app, client, accounts):
    owner_id = accounts.create(OWNER)
    accounts.create("other@example.org")
    cid = collection_id_of(app, owner_id, "Uploads")
    accounts.login(OWNER)
    return cid


@pytest.fixture
def nifti_bytes(tmp_path):
    return mni_like_map(tmp_path / "map.nii.gz").read_bytes()


def post_files(client, cid, files, token=True, json=True):
    data = {"file": [(io.BytesIO(content), name) for name, content in files]}
    if token:
        data["csrf_token"] = csrf_token(client, f"/collections/{cid}/upload")
    headers = {"Accept": "application/json"} if json else {}
    return client.post(f"/collections/{cid}/upload", data=data, headers=headers, content_type="multipart/form-data")


def test_upload_page_has_the_form(client, collection_id):
    page = client.get(f"/collections/{collection_id}/upload")
    assert page.status_code == 200
    assert b'type="file"' in page.data and b"multiple" in page.data and b"dropzone" in page.data


def test_one_file_is_stored_hashed_processed_and_emailed(app, client, collection_id, nifti_bytes, outbox):
    answer = post_files(client, collection_id, [("map.nii.gz", nifti_bytes)])
    assert answer.status_code == 201
    [entry] = answer.get_json()["images"]
    assert entry["name"] == "map" and entry["url"] == f"/images/{entry['id']}"
    with app.app_context():
        image = db.session.get(Image, entry["id"])
        assert image.sha256 == hashlib.sha256(nifti_bytes).hexdigest()
        assert image.file_size == len(nifti_bytes)
        assert image.status == "ready", image.error
        assert {a.kind for a in image.artifacts} == {"glass_brain", "ortho", "axial_mosaic", "similarity"}
        assert image.stats.data["n_voxels"] > 0
        with app.extensions["storage"].open(image.storage_key) as stored:
            assert stored.read() == nifti_bytes
        assert "map.nii.gz" not in image.storage_key
    [message] = outbox()
    assert "is ready" in message["Subject"] and f"/images/{entry['id']}" in message.get_body(("plain",)).get_content()

    page = client.get(f"/images/{entry['id']}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Statistics" in text and "Validation report" in text and "nv-viewer" in text
    assert client.get(f"/images/{entry['id']}/thumbnails/glass_brain.png").data[:4] == b"\x89PNG"
    download = client.get(f"/images/{entry['id']}/file")
    assert download.data == nifti_bytes
    assert "Content-Encoding" not in download.headers
    assert download.headers["Content-Type"] == "application/gzip"
    assert 'filename=map.nii.gz' in download.headers["Content-Disposition"]


def test_several_files_in_one_post(app, client, collection_id, nifti_bytes):
    answer = post_files(client, collection_id, [("a.nii.gz", nifti_bytes), ("b.nii", b"not a nifti at all")])
    assert answer.status_code == 201
    names = [entry["name"] for entry in answer.get_json()["images"]]
    assert names == ["a", "b"]
    with app.app_context():
        statuses = {image.name: image.status for image in Image.query.all()}
        failed = Image.query.filter_by(name="b").one()
        assert statuses == {"a": "ready", "b": "failed"}
        assert failed.error and "NIfTI" in failed.error
        assert db.session.get(Collection, collection_id).image_count == 2


def test_form_post_without_js_redirects_to_the_image(client, collection_id, nifti_bytes):
    answer = post_files(client, collection_id, [("map.nii.gz", nifti_bytes)], json=False)
    assert answer.status_code == 302 and re.search(r"/images/\d+$", answer.headers["Location"])


def test_no_file_rerenders_the_form_with_a_message(client, collection_id):
    answer = client.post(
        f"/collections/{collection_id}/upload",
        data={"csrf_token": csrf_token(client, f"/collections/{collection_id}/upload")},
    )
    assert answer.status_code == 400 and b"Choose at least one" in answer.data and b"dropzone" in answer.data


def test_csrf_token_is_required(app, client, collection_id, nifti_bytes):
    answer = post_files(client, collection_id, [("map.nii.gz", nifti_bytes)], token=False)
    assert answer.status_code == 400
    with app.app_context():
        assert Image.query.count() == 0


def test_over_the_size_limit_is_413_and_leaves_nothing(app, client, collection_id, nifti_bytes):
    app.config["MAX_UPLOAD_BYTES"] = 1000
    answer = post_files(client, collection_id, [("map.nii.gz", nifti_bytes)])
    assert answer.status_code == 413 and "1,000 bytes" in answer.get_json()["detail"]
    with app.app_context():
        assert Image.query.count() == 0
    leftovers = [p for p in (app.extensions["storage"].root).rglob("*") if p.is_file()]
    assert leftovers == []


def test_limit_is_enforced_while_bytes_arrive_without_content_length(app, collection_id, nifti_bytes):
    """A body whose Content-Length understates it is still cut at the limit by the staging file."""
    from webapp.storage import LocalStorage
    from webapp.streaming_request import UploadTooLarge

    storage = LocalStorage(app.config["STORAGE_DIR"])
    staged = storage.staging_file(max_bytes=10)
    from webapp.streaming_request import LimitedStagingFile

    guarded = LimitedStagingFile(staged)
    guarded.write(b"12345")
    with pytest.raises(UploadTooLarge):
        guarded.write(b"6789012345")
    assert staged.closed


def test_quota_is_enforced(app, client, collection_id, nifti_bytes):
    app.config["USER_QUOTA_BYTES"] = len(nifti_bytes) + 10
    assert post_files(client, collection_id, [("one.nii.gz", nifti_bytes)]).status_code == 201
    second = post_files(client, collection_id, [("two.nii.gz", nifti_bytes)])
    assert second.status_code == 413 and "quota" in second.get_json()["detail"]


def test_pending_images_per_user_are_limited(app, client, collection_id, nifti_bytes):
    app.config["MAX_PENDING_IMAGES_PER_USER"] = 1
    answer = post_files(client, collection_id, [("a.nii.gz", nifti_bytes), ("b.nii.gz", nifti_bytes)])
    assert answer.status_code == 429


def test_others_cannot_upload(app, client, accounts, collection_id, nifti_bytes):
    accounts.logout()
    assert client.get(f"/collections/{collection_id}/upload").status_code in (302, 401)
    accounts.login("other@example.org")
    assert client.get(f"/collections/{collection_id}/upload").status_code == 403
    with app.app_context():
        db.session.get(Collection, collection_id).private = True
        db.session.commit()
    assert client.get(f"/collections/{collection_id}/upload").status_code == 404


def test_hostile_file_names_are_escaped_and_never_paths(app, client, collection_id, nifti_bytes):
    html_name = "<img src=x onerror=alert(1)>\u202eevil\x00.nii.gz"
    path_name = "../../etc/passwd.nii.gz"
    answer = post_files(client, collection_id, [(html_name, nifti_bytes), (path_name, nifti_bytes)])
    assert answer.status_code == 201
    html_id, path_id = (entry["id"] for entry in answer.get_json()["images"])
    page = client.get(f"/images/{html_id}").get_data(as_text=True)
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;evil" in page
    with app.app_context():
        for image in Image.query.all():
            assert "/" not in image.original_filename and "\u202e" not in image.original_filename
            assert "\x00" not in image.original_filename
            assert image.storage_key.startswith("originals/") and "passwd" not in image.storage_key
        assert db.session.get(Image, path_id).original_filename == "passwd.nii.gz"
    for image_id in (html_id, path_id):
        disposition = client.get(f"/images/{image_id}/file").headers["Content-Disposition"]
        assert "/" not in disposition and "<" not in disposition and "\x00" not in disposition


def test_failed_image_shows_reason_and_owner_can_reprocess(app, client, collection_id, outbox):
    answer = post_files(client, collection_id, [("empty.nii", b"")])
    image_id = answer.get_json()["images"][0]["id"]
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "Processing failed" in page and "empty" in page.lower() and "Reprocess" in page
    assert "could not be processed" in outbox()[-1]["Subject"]
    token = csrf_token(client, f"/images/{image_id}")
    reprocess = client.post(f"/images/{image_id}/reprocess", data={"csrf_token": token})
    assert reprocess.status_code == 302
    with app.app_context():
        image = db.session.get(Image, image_id)
        assert image.status == "failed" and image.attempts == 1
    assert len(outbox()) == 2


def test_status_json_for_polling(client, collection_id, nifti_bytes):
    image_id = post_files(client, collection_id, [("map.nii.gz", nifti_bytes)]).get_json()["images"][0]["id"]
    status = client.get(f"/images/{image_id}/status").get_json()
    assert status["status"] == "ready" and status["final"] is True and status["url"] == f"/images/{image_id}"
