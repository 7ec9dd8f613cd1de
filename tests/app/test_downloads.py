"""The API's .nii.gz of an uncompressed upload is the worker's stored copy: a length, ranges, resumable."""

import gzip
import hashlib

from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import Collection, Image
from webapp.processing import tasks
from webapp.storage import new_key


def processed(app, accounts, content):
    owner_id = accounts.create("downloads@example.org")
    with app.app_context():
        collection = Collection(owner_id=owner_id, name="Downloads")
        stored = app.extensions["storage"].put_bytes(new_key("originals"), content)
        image = Image(collection=collection, uploader_id=owner_id, name="map", storage_key=stored.key,
                      original_filename="map.nii", file_size=stored.size, sha256=stored.sha256,
                      status=Image.UPLOADED)
        db.session.add(image)
        db.session.commit()
        assert tasks.process_image.delay(image.id).get() == "ready"
        return image.id


def test_an_uncompressed_upload_downloads_as_a_stored_resumable_gzip(app, client, accounts, tmp_path):
    original = mni_like_map(tmp_path / "map.nii", voxel_mm=2).read_bytes()
    image_id = processed(app, accounts, original)
    with app.app_context():
        copy = db.session.get(Image, image_id).artifact("gzip")
        assert copy is not None and copy.content_type == "application/gzip"

    whole = client.get(f"/api/images/{image_id}/file")
    assert whole.status_code == 200 and whole.mimetype == "application/gzip"
    assert int(whole.headers["Content-Length"]) == len(whole.data) == copy.size
    assert "Content-Encoding" not in whole.headers and "map.nii.gz" in whole.headers["Content-Disposition"]
    assert gzip.decompress(whole.data) == original

    cut = whole.data[: len(whole.data) // 2]
    rest = client.get(f"/api/images/{image_id}/file",
                      headers={"Range": f"bytes={len(cut)}-", "If-Range": whole.headers["ETag"]})
    assert rest.status_code == 206
    assert hashlib.sha256(cut + rest.data).hexdigest() == hashlib.sha256(whole.data).hexdigest()
    bad = client.get(f"/api/images/{image_id}/file", headers={"Range": f"bytes={len(whole.data) + 1}-"})
    assert bad.status_code == 416


def test_the_original_resumes_too(app, client, accounts, tmp_path):
    original = mni_like_map(tmp_path / "map.nii", voxel_mm=4).read_bytes()
    image_id = processed(app, accounts, original)
    first = client.get(f"/images/{image_id}/file", headers={"Range": "bytes=0-999"})
    assert first.status_code == 206 and first.headers["Last-Modified"]
    rest = client.get(f"/images/{image_id}/file", headers={"Range": "bytes=1000-"})
    assert first.data + rest.data == original
    assert client.get(f"/images/{image_id}/file", headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
