"""The viewer's files: a copy within the byte budget, and any volume of a series alone, read by offset."""

import gzip
import io
import re

import nibabel as nib
import numpy as np
import pytest

from tests.niftigen import make_nifti, mni_like_map
from webapp.extensions import db
from webapp.models import Collection, Image
from webapp.processing import tasks
from webapp.storage import new_key

VOLUMES = 12


@pytest.fixture
def upload(app, accounts):
    owner_id = accounts.create("viewer-files@example.org")

    def make(path, budget):
        app.config["VIEWER_BUDGET_BYTES"] = budget
        with app.app_context():
            collection = Collection.query.first() or Collection(owner_id=owner_id, name="Viewer")
            stored = app.extensions["storage"].put_bytes(new_key("originals"), path.read_bytes())
            image = Image(collection=collection, uploader_id=owner_id, name=path.name, storage_key=stored.key,
                          file_size=stored.size, sha256=stored.sha256, status=Image.UPLOADED)
            db.session.add(image)
            db.session.commit()
            assert tasks.process_image.delay(image.id).get() == "ready"
            return image.id

    return make


def series(tmp_path, name):
    rng = np.random.default_rng(3)
    data = (100 + rng.standard_normal((10, 12, 8, VOLUMES)) * np.arange(1, VOLUMES + 1)).astype(np.float32)
    return data, make_nifti(tmp_path / name, data, np.diag([3.0, 3.0, 3.0, 1.0]))


def viewer_attributes(client, image_id):
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    section = re.search(r'<section class="nv-viewer"[^>]*>', html).group(0)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', section))


def load(data):
    return nib.Nifti1Image.from_stream(io.BytesIO(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data))


@pytest.mark.parametrize("name", ["bold.nii.gz", "bold.nii"])
def test_a_series_over_the_budget_loads_its_first_volumes_and_any_other_alone(client, upload, tmp_path, name):
    data, path = series(tmp_path, name)
    volume_bytes = data[..., 0].nbytes
    image_id = upload(path, budget=3 * volume_bytes + 1024)
    attributes = viewer_attributes(client, image_id)
    assert attributes["image-url"] == f"/images/{image_id}/files/viewer.nii.gz"
    assert attributes["frames"] == "3" and attributes["volumes"] == str(VOLUMES)
    extension = ".nii"  # read by offset, or inflated from an access point of the gzip upload: no copy
    volume_url = f"/images/{image_id}/volumes/{{volume}}{extension}"
    assert attributes["volume-url"] == volume_url

    copy = client.get(attributes["image-url"])
    assert copy.status_code == 200 and len(gzip.decompress(copy.data)) <= 3 * volume_bytes + 1024
    np.testing.assert_array_equal(load(copy.data).get_fdata(dtype=np.float32), data[..., :3])

    for k in (0, 7, VOLUMES - 1):
        answer = client.get(volume_url.format(volume=k))
        assert answer.status_code == 200 and int(answer.headers["Content-Length"]) == len(answer.data)
        volume = load(answer.data)
        assert volume.shape == data.shape[:3]
        np.testing.assert_array_equal(volume.get_fdata(dtype=np.float32), data[..., k])
    seventh = client.get(volume_url.format(volume=7))
    for start in (5, 400):  # inside the header, inside the data
        part = client.get(volume_url.format(volume=7),
                          headers={"Range": f"bytes={start}-", "If-Range": seventh.headers["ETag"]})
        assert part.status_code == 206 and part.data == seventh.data[start:]
    assert client.get(volume_url.format(volume=VOLUMES)).status_code == 404
    assert client.get(f"/images/{image_id}/volumes/3.nii.gz").status_code == 404
    for kind in ("tmean_map", "tsnr_map"):
        assert load(client.get(f"/images/{image_id}/files/{kind}.nii.gz").data).shape == data.shape[:3]


def test_a_volume_over_the_budget_gets_a_compact_copy(client, upload, tmp_path):
    path = mni_like_map(tmp_path / "fine.nii.gz", voxel_mm=2)
    image_id = upload(path, budget=200_000)
    attributes = viewer_attributes(client, image_id)
    copy = client.get(attributes["image-url"])
    assert attributes["image-url"].endswith("/files/viewer.nii.gz") and attributes["volume-url"] == ""
    image = load(copy.data)
    assert image.get_data_dtype() == np.int16 and 2 * np.prod(image.shape) + 544 <= 200_000
    original = nib.load(path)
    step = round(original.shape[0] / image.shape[0])
    assert step >= 2 and np.allclose(np.abs(np.diag(image.affine)[:3]), 2.0 * step)


def test_a_small_map_is_loaded_as_it_is(client, upload, tmp_path):
    image_id = upload(mni_like_map(tmp_path / "small.nii.gz"), budget=64 * 2**20)
    attributes = viewer_attributes(client, image_id)
    assert attributes["image-url"] == f"/images/{image_id}/file" and attributes["volume-url"] == ""
    assert client.get(f"/images/{image_id}/files/viewer.nii.gz").status_code == 404
    assert client.get(f"/images/{image_id}/volumes/0.nii.gz").status_code == 404


def test_a_private_series_files_are_invisible_to_others(app, client, upload, tmp_path):
    data, path = series(tmp_path, "secret.nii.gz")
    image_id = upload(path, budget=3 * data[..., 0].nbytes + 1024)
    assert client.get(f"/images/{image_id}/volumes/5.nii").status_code == 200
    with app.app_context():
        db.session.get(Image, image_id).collection.private = True
        db.session.commit()
    for url in (f"/images/{image_id}/volumes/5.nii", f"/images/{image_id}/files/viewer.nii.gz",
                f"/images/{image_id}/files/tmean_map.nii.gz"):
        assert client.get(url).status_code == 404, url
