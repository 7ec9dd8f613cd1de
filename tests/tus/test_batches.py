"""tus and the API with archives, pairs and groups: the web tier stores the bytes, a worker makes the images."""

import io

import pytest

from tests import archives as build
from webapp.extensions import db
from webapp.models import Batch, Image


def sent(tus, data, collection_id, **metadata):
    url = tus.new(len(data), collection_id, **metadata)
    return tus.patch(url, 0, data), url


def batch_at(client, answer, token):
    headers = {"Accept": "application/json", "Authorization": f"Token {token}"}
    return client.get(answer.headers["X-Batch-Url"], headers=headers).get_json()


def test_a_zip_sent_by_tus_is_unpacked_into_images(app, client, tus, researcher, tmp_path):
    data = build.write_zip(tmp_path / "fsl.zip", build.fsl_gfeat_tree()).read_bytes()
    answer, url = sent(tus, data, researcher.collection_id, filename="fsl.zip")
    assert answer.status_code == 204 and "X-Image-Url" not in answer.headers
    batch = batch_at(client, answer, researcher.token)
    states = {member["name"]: member["state"] for member in batch["members"]}
    assert states["group.gfeat/cope1.feat/stats/zstat1.nii.gz"] == "ready"
    assert states["group.gfeat/report.html"] == "skipped"
    assert tus.head(url).headers["X-Batch-Url"] == answer.headers["X-Batch-Url"]
    with app.app_context():
        contrasts = sorted(image.contrast_definition for image in db.session.scalars(db.select(Image)))
        assert contrasts == ["cope1", "cope2"]
        assert db.session.scalar(db.select(Batch)).sources == []


def test_a_group_of_two_halves_becomes_one_image(app, client, tus, researcher):
    hdr, img = build.pair_bytes(build.small_map(2))
    group = {"batch": "page-group-1", "batch_size": 2}
    sent(tus, hdr, researcher.collection_id, filename="con_0003.hdr", **group)
    answer, _url = sent(tus, img, researcher.collection_id, filename="con_0003.img", **group)
    batch = batch_at(client, answer, researcher.token)
    assert [(m["name"], m["state"]) for m in batch["members"]] == [("con_0003.img", "ready")]
    with app.app_context():
        assert db.session.scalar(db.select(Image)).extra["import_notes"]["format"] == "analyze-7.5"


def test_a_group_of_maps_sends_one_email(app, tus, researcher, outbox):
    group = {"batch": "g2", "batch_size": 2}
    for seed, name in ((1, "a.nii.gz"), (2, "b.nii.gz")):
        sent(tus, build.nifti_bytes(build.small_map(seed)), researcher.collection_id, filename=name, **group)
    [message] = outbox()
    assert message["X-Neurodrop-Batch"] and "2 ready" in message["Subject"]


@pytest.mark.parametrize(("metadata", "message"), [
    ({"batch": "no spaces!", "batch_size": 2}, "batch='no spaces!'"),
    ({"batch": "ok", "batch_size": 0}, "batch_size='0'"),
])
def test_a_bad_group_is_named(tus, researcher, metadata, message):
    answer = tus.create(10, researcher.collection_id, **metadata)
    assert answer.status_code == 400 and message in answer.get_json()["detail"]


def test_someone_elses_token_cannot_follow_the_batch(app, client, tus, researcher, other, tmp_path):
    data = build.write_zip(tmp_path / "a.zip", {"x.txt": b"x"}).read_bytes()
    answer, _ = sent(tus, data, researcher.collection_id, filename="a.zip")
    assert batch_at(client, answer, researcher.token)["complete"]
    stranger = client.get(answer.headers["X-Batch-Url"], headers={"Authorization": f"Token {other.token}"})
    assert stranger.status_code == 404


def test_an_archive_posted_to_the_api_answers_with_its_batch(app, client, researcher, tmp_path):
    data = build.write_zip(tmp_path / "spm.zip", build.spm_folder()).read_bytes()
    answer = client.post(f"/api/collections/{researcher.collection_id}/images/",
                         headers={"Authorization": f"Token {researcher.token}"},
                         data={"file": (io.BytesIO(data), "spm.zip")}, content_type="multipart/form-data")
    assert answer.status_code == 202, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["kind"] == "archive" and body["complete"]
    assert {m["name"]: m["state"] for m in body["members"]}["spm/spmT_0001.nii"] == "ready"

