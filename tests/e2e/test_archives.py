"""A whole study through the live site: one zip (SPM, FSL and BIDS folders) unpacked by the real worker."""

import time

import pytest

from tests import archives as build
from tests.live import csrf_of, new_collection

pytestmark = pytest.mark.e2e


def wait_for_batch(session, url, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        batch = session.get(url, headers={"Accept": "application/json"}).json()
        if batch["complete"]:
            return batch
        time.sleep(0.3)
    raise AssertionError(f"the batch is not complete after {seconds} s: {batch}")


def test_a_study_zip_becomes_named_images_and_one_email(live_site, tmp_path):
    email = live_site.create_user("e2e-study@example.org")
    session = live_site.login(email)
    collection_id = new_collection(live_site, session, "Study")
    members = {**build.spm_folder(), **build.fsl_gfeat_tree(), **build.bids_tree()}
    data = build.write_zip(tmp_path / "study.zip", members).read_bytes()
    url = f"{live_site.url}/collections/{collection_id}/upload"
    answer = session.post(url, data={"csrf_token": csrf_of(session, url)}, headers={"Accept": "application/json"},
                          files=[("file", ("study.zip", data, "application/zip"))])
    assert answer.status_code == 201, answer.text
    batch = wait_for_batch(session, live_site.url + answer.json()["batches"][0]["url"])
    states = {member["name"]: member for member in batch["members"]}
    assert batch["counts"] == {"ready": 5, "skipped": 3}, batch
    assert states["spm/con_0001.img"]["state"] == "ready"
    assert states["group.gfeat/cope2.feat/stats/zstat1.nii.gz"]["image_name"] == "group.gfeat/cope2.feat/stats/zstat1"
    bids = states[f"derivatives/sub-01/{build.BIDS_NAME}.nii.gz"]
    image = live_site.image(bids["image_id"])
    assert (image.name, image.map_type, image.analysis_level) == ("sub-01 faces facesGtHouses t", "T", "S")
    assert image.description == "Faces greater than houses"
    [message] = live_site.wait_for_email(lambda m: m["X-Neurodrop-Batch"] == str(batch["id"]))
    assert "5 ready" in message["Subject"] and "3 skipped" in message["Subject"]
    singles = [m["Subject"] for m in live_site.outbox() if m["To"] == email and m["X-Neurodrop-Image"]]
    assert not singles
