"""The image's metadata form: every NeuroVault field of a map, checked by the API's rules, only for its editors."""

import io

import pytest

from tests import archives as build
from webapp.extensions import db
from webapp.models import Image

from ..helpers import collection_id_of, csrf_token

OWNER, OTHER = "owner@example.org", "other@example.org"


@pytest.fixture
def image_id(app, client, accounts, outbox):
    """A map uploaded through the form and processed (tasks run inline in app tests); its owner is logged in."""
    owner_id = accounts.create(OWNER)
    accounts.create(OTHER)
    cid = collection_id_of(app, owner_id, "Study")
    accounts.login(OWNER)
    upload = f"/collections/{cid}/upload"
    answer = client.post(upload, data={"file": [(io.BytesIO(build.nifti_bytes(build.small_map(3))), "zstat1.nii.gz")],
                                       "csrf_token": csrf_token(client, upload)},
                         headers={"Accept": "application/json"}, content_type="multipart/form-data")
    [image] = answer.get_json()["images"]
    assert len(outbox()) == 1
    return image["id"]


def save(client, image_id, **fields):
    page = f"/images/{image_id}/edit"
    form = {"csrf_token": csrf_token(client, page), "name": "Faces", "map_type": "Z", **fields}
    return client.post(page, data=form)


def test_the_form_shows_every_section_with_the_current_values(client, image_id):
    page = client.get(f"/images/{image_id}/edit")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    for expected in ("The map", "Task and contrast (Cognitive Atlas)", "Participants", 'name="smoothness_fwhm"',
                     'name="cognitive_paradigm_cogatlas_id"', 'name="tanner_stage"', 'value="zstat1"'):
        assert expected in text
    assert f'href="/images/{image_id}/edit"' in client.get(f"/images/{image_id}").get_data(as_text=True)


def test_saved_fields_come_back_through_the_api_typed_and_inferred_marks_give_way(app, client, image_id, outbox):
    with app.app_context():
        assert "map_type" in db.session.get(Image, image_id).extra["inferred"]
    answer = save(client, image_id, description="Faces > houses, group.", contrast_definition="faces > houses",
                  smoothness_fwhm="6", number_of_subjects="24", cognitive_paradigm_cogatlas="trm_4f23fc8c42d28",
                  handedness="R", age="31.5")
    assert answer.status_code == 302 and answer.location.endswith(f"/images/{image_id}")
    body = client.get(f"/api/images/{image_id}/").get_json()
    assert (body["name"], body["description"], body["contrast_definition"]) == (
        "Faces", "Faces > houses, group.", "faces > houses")
    numbers = body["smoothness_fwhm"], body["number_of_subjects"], body["age"], body["handedness"]
    assert numbers == (6.0, 24, 31.5, "R")
    assert (body["cognitive_paradigm_cogatlas"], body["cognitive_paradigm_cogatlas_id"]) == (None, "trm_4f23fc8c42d28")
    with app.app_context():
        image = db.session.get(Image, image_id)
        assert image.status == Image.READY and "name" not in (image.extra.get("inferred") or {})
        assert "map_type" in image.extra["inferred"], "an unchanged field stays marked as inferred"
    assert len(outbox()) == 1


def test_bad_values_rerender_the_form_with_the_apis_messages_and_nothing_is_saved(app, client, image_id):
    answer = save(client, image_id, name="", smoothness_fwhm="six", cognitive_paradigm_description_url="ftp://x",
                  number_of_subjects="0", description="kept?")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 400
    for message in ("A valid number is required.", "Enter a valid URL.",
                    "Ensure this value is greater than or equal to 1.", "This field is required."):
        assert message in text
    assert 'value="six"' in text, "what was typed is shown again"
    with app.app_context():
        image = db.session.get(Image, image_id)
        assert (image.name, image.description, image.smoothness_fwhm) == ("zstat1", "", None)


def test_a_field_the_request_leaves_out_is_left_as_it_is(app, client, image_id):
    page = f"/images/{image_id}/edit"
    save(client, image_id, description="Kept.")
    answer = client.post(page, data={"csrf_token": csrf_token(client, page), "name": "Renamed"})
    assert answer.status_code == 302
    with app.app_context():
        image = db.session.get(Image, image_id)
        assert (image.name, image.description, image.map_type) == ("Renamed", "Kept.", "Z")


def test_a_new_map_type_redraws_the_pictures_without_a_second_email(app, client, image_id, outbox):
    with app.app_context():
        before = db.session.get(Image, image_id).stats.data["threshold"]
    answer = save(client, image_id, map_type="Other")
    assert answer.status_code == 302
    with app.app_context():
        image = db.session.get(Image, image_id)
        assert image.map_type == "Other" and image.status == Image.READY
        assert image.stats.data["threshold"] != before, "the threshold follows the new map type"
    assert len(outbox()) == 1


def test_only_editors_reach_the_form(app, client, accounts, image_id):
    assert client.post(f"/images/{image_id}/edit", data={"name": "x"}).status_code == 400, "no CSRF token"
    accounts.logout()
    accounts.login(OTHER)
    assert client.get(f"/images/{image_id}/edit").status_code in (403, 404)
    accounts.logout()
    anonymous = client.get(f"/images/{image_id}/edit")
    assert anonymous.status_code in (302, 401)
    with app.app_context():
        assert db.session.get(Image, image_id).name == "zstat1"
