"""Writing: collections (create, change, delete) and images (upload, change, delete), with NeuroVault's errors."""

import pytest

from tests.niftigen import mni_like_map, small_map
from webapp.extensions import db
from webapp.models import Collection, Image

from .callers import nifti_part

BASE = "http://neurodrop.test"


def test_create_collection_from_json_and_from_form(owner):
    made = owner.post("/api/collections", json={"name": "  JSON  ", "private": True, "custom": {"a": 1}})
    assert made.status_code == 201 and made.headers["Location"] == made.get_json()["api_url"]
    body = made.get_json()
    assert body["name"] == "JSON" and body["private"] is True and body["custom"] == {"a": 1}
    form = owner.post("/api/collections/", data={"name": "Form", "private": "false", "DOI": "10.1234/form"})
    assert form.status_code == 201
    assert form.get_json()["private"] is False and form.get_json()["DOI"] == "10.1234/form"


@pytest.mark.parametrize(("payload", "errors"), [
    ({}, {"name": ["This field is required."]}),
    ({"name": ""}, {"name": ["This field may not be blank."]}),
    ({"name": "   "}, {"name": ["This field may not be blank."]}),
    ({"name": None}, {"name": ["This field may not be null."]}),
    ({"name": ["a"]}, {"name": ["Not a valid string."]}),
    ({"name": "x" * 201}, {"name": ["Ensure this field has no more than 200 characters."]}),
    ({"name": "a\x00b"}, {"name": ["Null characters are not allowed."]}),
    ({"name": "ok", "DOI": "not-a-doi"}, {"DOI": ["A DOI looks like 10.1234/abcd."]}),
    ({"name": "ok", "paper_url": "javascript:alert(1)"}, {"paper_url": ["Enter a valid URL."]}),
    ({"name": "ok", "private": "maybe"}, {"private": ["Must be a valid boolean."]}),
    ({"name": "ok", "extra": {"bad": "\x00"}}, {"extra": ["Null characters are not allowed."]}),
])
def test_bad_collection_fields_are_400_by_field(owner, payload, errors):
    answer = owner.post("/api/collections/", json=payload)
    assert answer.status_code == 400 and answer.get_json() == errors


def test_bad_json_bodies_are_400(owner):
    assert owner.post("/api/collections/", json=["name"]).get_json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}
    broken = owner.post("/api/collections/", data="{nope", content_type="application/json")
    assert broken.status_code == 400
    assert broken.get_json()["detail"].startswith("JSON parse error - Expecting property name"), "DRF's words"
    empty = owner.post("/api/collections/", data="", content_type="application/json")
    assert empty.status_code == 400 and empty.get_json()["detail"] == "JSON parse error - the body is empty."
    assert owner.post("/api/collections/", data="null", content_type="application/json").get_json() == {
        "non_field_errors": ["Invalid data. Expected a dictionary, but got null."]}


def test_duplicate_doi_is_400(owner, stranger):
    owner.new_collection("First", DOI="10.5555/same")
    answer = stranger.post("/api/collections/", json={"name": "Second", "DOI": "10.5555/same"})
    assert answer.status_code == 400 and answer.get_json() == {"DOI": ["collection with this DOI already exists."]}
    other = owner.new_collection("Third")
    taken = owner.patch(f"/api/collections/{other['id']}/", json={"DOI": "10.5555/same"})
    assert taken.status_code == 400


def test_patch_put_and_delete_own_collection(app, owner, stored_image):
    made = owner.new_collection("Before", description="old", DOI="10.1234/keep")
    url = f"/api/collections/{made['id']}/"
    patched = owner.patch(url, json={"description": "new", "journal_name": "Brain", "tag": "x"})
    assert patched.status_code == 200
    body = patched.get_json()
    assert body["name"] == "Before" and body["description"] == "new" and body["journal_name"] == "Brain"
    assert body["tag"] == "x" and body["DOI"] == "10.1234/keep"
    assert owner.put(url, json={"description": "no name"}).get_json() == {"name": ["This field is required."]}
    put = owner.put(url, json={"name": "After", "DOI": ""})
    assert put.status_code == 200 and put.get_json()["name"] == "After" and put.get_json()["DOI"] is None
    assert owner.patch(url.rstrip("/"), json={"private": True}).get_json()["private"] is True

    stored_image(made["id"])
    with app.app_context():
        [key] = [i.storage_key for i in db.session.get(Collection, made["id"]).images]
    deleted = owner.delete(url)
    assert deleted.status_code == 204 and deleted.data == b""
    assert owner.get(url).status_code == 404
    with app.app_context():
        assert not app.extensions["storage"].exists(key)


def test_others_get_403_on_public_and_404_on_private(owner, stranger, client):
    public = owner.new_collection("Public")
    private = owner.new_collection("Private", private=True)
    for method in ("patch", "put", "delete"):
        call = getattr(stranger, method)
        assert call(f"/api/collections/{public['id']}/", json={"name": "mine"}).status_code == 403
        assert call(f"/api/collections/{private['id']}/", json={"name": "mine"}).status_code == 404
        assert getattr(client, method)(f"/api/collections/{public['id']}/", json={"name": "x"}).status_code == 401
    refused = stranger.post(f"/api/collections/{public['id']}/images/", data={"file": (b"x", "a.nii")})
    assert refused.status_code == 403 and refused.get_json() == {
        "detail": "You do not have permission to perform this action."}


def test_upload_goes_through_the_pipeline_and_answers_201(app, owner, tmp_path):
    cid = owner.new_collection()["id"]
    path = mni_like_map(tmp_path / "motor.nii.gz")
    answer = owner.post(f"/api/collections/{cid}/images/", data={
        "file": nifti_part(path), "name": "Motor", "map_type": "T", "modality": "fMRI-BOLD",
        "analysis_level": "group", "number_of_subjects": "20", "target_template_image": "MNI152NLin2009cAsym",
        "description": "left hand", "cognitive_paradigm_cogatlas": "trm_4f23fc8c42d28", "tags": ["a", "b"],
    })
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    assert answer.headers["Location"] == body["api_url"] == f"{BASE}/api/images/{body['id']}/"
    assert body["status"] == "ready", "tasks run eagerly in app tests"
    assert (body["name"], body["map_type"], body["modality"], body["analysis_level"]) == (
        "Motor", "T map", "fMRI-BOLD", "group")
    assert body["number_of_subjects"] == 20 and body["target_template_image"] == "MNI152NLin2009cAsym"
    assert body["cognitive_paradigm_cogatlas_id"] == "trm_4f23fc8c42d28" and body["tags"] == ["a", "b"]
    assert body["file_size"] == path.stat().st_size and body["original_filename"] == "motor.nii.gz"
    assert owner.get(body["file"].removeprefix(BASE)).data == path.read_bytes()
    assert body["stats"]["max"] > 0 and body["thumbnail"].endswith("/thumbnail.png")
    assert owner.get(f"/api/collections/{cid}/").get_json()["number_of_images"] == 1


def test_upload_without_slash_defaults_and_queues(app, owner, tmp_path, no_worker):
    cid = owner.new_collection()["id"]
    answer = owner.post(f"/api/collections/{cid}/images", data={"file": nifti_part(small_map(tmp_path / "s.nii"))})
    assert answer.status_code == 201
    body = answer.get_json()
    assert body["name"] == "s" and body["map_type"] == "other" and body["modality"] == "Other"
    assert body["is_valid"] is False and body["thumbnail"] is None and no_worker == [body["id"]]


@pytest.mark.parametrize(("fields", "errors"), [
    ({}, {"file": ["No file was submitted."]}),
    ({"file": (b"", "")}, {"file": ["No file was submitted."]}),
    ({"file": "file", "map_type": "Q"}, {"map_type": ['"Q" is not a valid choice.']}),
    ({"file": "file", "modality": "fMRI"}, {"modality": ['"fMRI" is not a valid choice.']}),
    ({"file": "file", "analysis_level": "X"}, {"analysis_level": ['"X" is not a valid choice.']}),
    ({"file": "file", "number_of_subjects": "many"}, {"number_of_subjects": ["A valid integer is required."]}),
    ({"file": "file", "number_of_subjects": "0"},
     {"number_of_subjects": ["Ensure this value is greater than or equal to 1."]}),
    ({"file": "file", "target_template_image": "Talairach"},
     {"target_template_image": ['"Talairach" is not a valid choice.']}),
])
def test_bad_upload_fields_are_400_and_store_nothing(app, owner, tmp_path, no_worker, fields, errors):
    cid = owner.new_collection()["id"]
    if fields.get("file") == "file":
        fields["file"] = nifti_part(small_map(tmp_path / "s.nii.gz"))
    answer = owner.post(f"/api/collections/{cid}/images/", data=fields)
    assert answer.status_code == 400 and answer.get_json() == errors
    with app.app_context():
        assert db.session.query(Image).count() == 0


def test_map_type_accepts_codes_and_labels(owner, tmp_path, no_worker):
    cid = owner.new_collection()["id"]
    for given, shown in (("Z", "Z map"), ("ROI/mask", "ROI/mask"), ("p", "P map (given null hypothesis)")):
        answer = owner.post(f"/api/collections/{cid}/images/",
                            data={"file": nifti_part(small_map(tmp_path / "s.nii.gz")), "map_type": given})
        assert answer.get_json()["map_type"] == shown


def test_upload_over_the_limit_is_a_json_413(app, owner, tmp_path, no_worker):
    app.config["MAX_UPLOAD_BYTES"] = 1000
    cid = owner.new_collection()["id"]
    answer = owner.post(f"/api/collections/{cid}/images/", data={"file": nifti_part(small_map(tmp_path / "s.nii"))})
    assert answer.status_code == 413 and "1,000 bytes" in answer.get_json()["detail"]


def test_upload_over_the_quota_is_a_json_413(app, owner, tmp_path, no_worker):
    app.config["USER_QUOTA_BYTES"] = 1000
    cid = owner.new_collection()["id"]
    answer = owner.post(f"/api/collections/{cid}/images/", data={"file": nifti_part(small_map(tmp_path / "s.nii"))})
    assert answer.status_code == 413 and "1,000 bytes" in answer.get_json()["detail"]


def test_patch_and_delete_own_image(app, owner, stranger, stored_image):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid)
    url = f"/api/images/{iid}/"
    patched = owner.patch(url, json={"name": "Renamed", "map_type": "Z", "number_of_subjects": 12, "note": "x"})
    assert patched.status_code == 200
    body = patched.get_json()
    assert (body["name"], body["map_type"], body["number_of_subjects"], body["note"]) == ("Renamed", "Z map", 12, "x")
    assert owner.patch(url, json={"name": ""}).get_json() == {"name": ["This field may not be blank."]}
    assert owner.patch(url, json={"map_type": "nope"}).status_code == 400
    assert stranger.patch(url, json={"name": "mine"}).status_code == 403
    assert stranger.delete(url).status_code == 403
    assert owner.delete(url.rstrip("/")).status_code == 204
    assert owner.get(url).status_code == 404
    assert owner.get(f"/api/collections/{cid}/").get_json()["number_of_images"] == 0


@pytest.mark.parametrize(("body", "reason"), [
    (b'--B\r\nContent-Disposition: form-data; name="file"; filename="caf\xe9.nii"\r\n\r\nxx\r\n--B--\r\n',
     "are not UTF-8 text"),
    (b"--B\r\n", "the multipart body is malformed"),
])
def test_a_multipart_body_that_cannot_be_read_says_why_no_file_arrived(owner, no_worker, body, reason):
    cid = owner.new_collection()["id"]
    answer = owner.post(f"/api/collections/{cid}/images/", data=body, content_type="multipart/form-data; boundary=B")
    assert answer.status_code == 400
    [message] = answer.get_json()["file"]
    assert message.startswith("No file was submitted: ") and reason in message
