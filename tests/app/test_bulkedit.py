"""The bulk edit page: set metadata on a selection of a collection's images; inferred marks give way to what is set."""

import pytest

from webapp.extensions import db, get_storage
from webapp.models import Collection, Image
from webapp.storage import new_key

from ..helpers import csrf_token

OWNER = "owner@example.org"


def stored_image(collection, name, **fields):
    stored = get_storage().put_bytes(new_key("originals"), b"x")
    image = Image(collection=collection, uploader_id=collection.owner_id, name=name, original_filename=f"{name}.nii",
                  storage_key=stored.key, file_size=1, sha256=stored.sha256, status=Image.READY, **fields)
    db.session.add(image)
    db.session.flush()
    return image.id


@pytest.fixture
def world(app, client, accounts):
    owner_id = accounts.create(OWNER)
    with app.app_context():
        mine, theirs = Collection(owner_id=owner_id, name="Mine"), Collection(owner_id=owner_id, name="Other")
        db.session.add_all([mine, theirs])
        db.session.flush()
        ids = {
            "collection": mine.id,
            "a": stored_image(mine, "a", map_type="Z", contrast_definition="cope1",
                              extra={"inferred": {"map_type": "FSL output name zstat1"}}),
            "b": stored_image(mine, "b"),
            "elsewhere": stored_image(theirs, "c"),
        }
        db.session.commit()
    accounts.login(OWNER)
    return ids


def submit(client, world, **form):
    path = f"/collections/{world['collection']}/bulk-edit"
    return client.post(path, data={"csrf_token": csrf_token(client, path), **form})


def test_the_page_lists_the_images_and_marks_inferred_values(client, world):
    page = client.get(f"/collections/{world['collection']}/bulk-edit").get_data(as_text=True)
    assert 'name="image"' in page and "inferred" in page and "FSL output name zstat1" in page


def test_fields_are_set_on_the_ticked_images_only_and_no_longer_marked_inferred(app, client, world):
    answer = submit(client, world, image=[str(world["a"]), str(world["b"]), str(world["elsewhere"])], map_type="T",
                    modality="fMRI-BOLD", analysis_level="G", number_of_subjects="24",
                    target_template_image="MNI152NLin2009cAsym", contrast_definition="faces > houses")
    assert answer.status_code == 302
    with app.app_context():
        for key in ("a", "b"):
            image = db.session.get(Image, world[key])
            assert (image.map_type, image.modality, image.analysis_level, image.number_of_subjects,
                    image.target_template_image) == ("T", "fMRI-BOLD", "G", 24, "MNI152NLin2009cAsym")
            assert image.contrast_definition == "faces > houses"
            assert "inferred" not in image.extra
        assert db.session.get(Image, world["elsewhere"]).map_type == "Other"


def test_blank_fields_are_left_alone(app, client, world):
    submit(client, world, image=[str(world["a"])], modality="MEG")
    with app.app_context():
        image = db.session.get(Image, world["a"])
        assert (image.map_type, image.modality) == ("Z", "MEG")
        assert image.extra["inferred"] == {"map_type": "FSL output name zstat1"}


@pytest.mark.parametrize(("form", "message"), [
    ({"map_type": "tmap"}, "map_type=&#39;tmap&#39;: expected one of T, Z"),
    ({"number_of_subjects": "-3"}, "number_of_subjects=&#39;-3&#39;: expected a whole number"),
    ({"analysis_level": "X"}, "analysis_level=&#39;X&#39;"),
    ({}, "Choose at least one field"),
])
def test_bad_values_are_named(client, world, form, message):
    answer = submit(client, world, image=[str(world["a"])], **form)
    assert answer.status_code == 400 and message in answer.get_data(as_text=True)


def test_no_ticked_image_is_named(client, world):
    answer = submit(client, world, map_type="T")
    assert answer.status_code == 400 and "tick at least one image" in answer.get_data(as_text=True)


def test_a_post_without_the_csrf_token_is_refused(app, client, world):
    answer = client.post(f"/collections/{world['collection']}/bulk-edit", data={"image": str(world["a"]),
                                                                                "map_type": "T"})
    assert answer.status_code == 400
    with app.app_context():
        assert db.session.get(Image, world["a"]).map_type == "Z"
