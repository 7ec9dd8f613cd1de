"""NeuroVault's metadata fields, defined once in webapp/metadata.py: accepted, typed, sent back (issues 15, 22)."""

import pytest

from webapp import metadata
from webapp.models import Collection, Image


def test_older_columns_have_the_lengths_of_the_field_table():
    for model, fields in ((Collection, metadata.COLLECTION_FIELDS), (Image, metadata.IMAGE_FIELDS)):
        for field in fields:
            column = model.__table__.c[field.column]
            if field.length and hasattr(column.type, "length") and column.type.length:
                assert column.type.length == field.length, (model.__name__, field.name)


def test_every_field_is_sent_null_when_unknown(owner, client, stored_image):
    made = owner.new_collection("Design")
    image = client.get(f"/api/images/{stored_image(made['id'])}/").get_json()
    for field in metadata.IMAGE_FIELDS:
        assert field.name in image, field.name
    assert image["smoothness_fwhm"] is None and image["surface_left_file"] is None and image["sex"] is None
    for field in metadata.COLLECTION_FIELDS:
        assert field.name in made, field.name
    assert len(metadata.COLLECTION_DESIGN) >= 85 and made["echo_time"] is None and made["communities"] == []


def test_collection_design_fields_round_trip_with_their_types(owner):
    made = owner.new_collection("Typed", echo_time="30", repetition_time=2.0, scanner_make="Siemens",
                                used_smoothing="true", number_of_imaging_runs="4", handedness="right",
                                publication_status="submitted", preprint_DOI="10.1101/2020.01.01.1")
    assert (made["echo_time"], made["repetition_time"], made["number_of_imaging_runs"]) == (30.0, 2.0, 4)
    assert made["used_smoothing"] is True and made["scanner_make"] == "Siemens" and made["handedness"] == "right"
    assert made["publication_status"] == "submitted" and made["preprint_DOI"] == "10.1101/2020.01.01.1"
    assert made["doi_add_date"] is None
    changed = owner.patch(f"/api/collections/{made['id']}/", json={"DOI": "10.5555/typed.1", "echo_time": None})
    assert changed.get_json()["doi_add_date"].endswith("Z") and changed.get_json()["echo_time"] is None


@pytest.mark.parametrize(("field", "value", "message"), [
    ("echo_time", "fast", "A valid number is required."),
    ("echo_time", "NaN", "A valid number is required."),
    ("matrix_size", 2.5, "A valid integer is required."),
    ("handedness", "ambi", '"ambi" is not a valid choice.'),
    ("used_smoothing", "perhaps", "Must be a valid boolean."),
    ("preprint_DOI", "doi:1", "A DOI looks like 10.1234/abcd."),
    ("scanner_make", "x" * 201, "Ensure this field has no more than 200 characters."),
])
def test_bad_values_are_a_400_naming_the_field(owner, field, value, message):
    answer = owner.post("/api/collections/", json={"name": "Bad", field: value})
    assert answer.status_code == 400 and answer.get_json() == {field: [message]}


def test_image_fields_numbers_and_custom_metadata_decoded(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid, extra={"trials": "42", "ratio": "0.5", "flag": "true", "note": "plain words"})
    answer = owner.patch(f"/api/images/{iid}/", json={"name": "Motor", "smoothness_fwhm": "6", "sex": "F",
                                                      "statistic_parameters": 19, "contrast_definition": "L > R"})
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert (body["smoothness_fwhm"], body["statistic_parameters"], body["sex"]) == (6.0, 19.0, "F")
    assert body["contrast_definition"] == "L > R"
    assert (body["trials"], body["ratio"], body["flag"], body["note"]) == (42, 0.5, True, "plain words")
    assert owner.patch(f"/api/images/{iid}/", json={"name": "x", "age": "old"}).get_json() == {
        "age": ["A valid number is required."]}


def test_cognitive_atlas_name_or_id_filled_in_where_known(owner, stored_image):
    cid = owner.new_collection()["id"]
    first, second, third = (stored_image(cid) for _ in range(3))
    task, task_id = "stop signal task", "trm_4a3fd79d0a33b"
    pair = {"cognitive_paradigm_cogatlas": task, "cognitive_paradigm_cogatlas_id": task_id}

    def patch(image_id, **fields):
        return owner.patch(f"/api/images/{image_id}/", json={"name": "m", **fields}).get_json()

    patch(first, **pair)
    by_id = patch(second, cognitive_paradigm_cogatlas=task_id)
    assert {key: by_id[key] for key in pair} == pair, "an id sent as the task: the name comes from the known pair"
    by_name = patch(third, cognitive_paradigm_cogatlas=task)
    assert {key: by_name[key] for key in pair} == pair
    assert patch(third, cognitive_contrast_cogatlas_id="cnt_abcdef123")["cognitive_contrast_cogatlas"] is None
