"""Each image's JSON is kept between list requests while nothing it shows changed (webapp/api/fragments.py).

Kept per image, stamped with its collection's generation of the page cache: a change to an image, its
stats, its artifacts or its collection is in the next answer; other collections' images are not built again.
"""

import pytest

from webapp.api import image_routes
from webapp.extensions import db
from webapp.models import Artifact, Image, ImageStats


@pytest.fixture
def built(monkeypatch):
    """The ids of the images the lists serialised (not taken from the kept JSON)."""
    ids = []
    serialise = image_routes.image_json
    monkeypatch.setattr(image_routes, "image_json", lambda image: ids.append(image.id) or serialise(image))
    return ids


def listed(caller):
    """The list as a token caller reads it: built for them (a visitor's copy would hide the building)."""
    answer = caller.get("/api/images/")
    assert answer.status_code == 200
    return answer


def test_an_unchanged_list_builds_no_image_again(owner, stored_image, built):
    first, second = (owner.new_collection(name)["id"] for name in ("First", "Second"))
    ids = [stored_image(first, name="a"), stored_image(first, name="b"), stored_image(second, name="c")]
    before = listed(owner).data
    assert sorted(built) == ids
    built.clear()
    assert listed(owner).data == before
    assert built == []


def test_a_change_is_in_the_next_answer_and_other_collections_stay_kept(app, owner, stored_image, built):
    first, second = (owner.new_collection(name)["id"] for name in ("First", "Second"))
    renamed, sibling = stored_image(first, name="old name"), stored_image(first, name="b")
    other = stored_image(second, name="c", stats={"max": 1.0})
    listed(owner)
    with app.app_context():
        db.session.get(Image, renamed).name = "new name"
        db.session.commit()
    built.clear()
    results = {item["id"]: item for item in listed(owner).get_json()["results"]}
    assert results[renamed]["name"] == "new name"
    assert sorted(built) == [renamed, sibling], "only the changed collection's images are built again"
    with app.app_context():
        db.session.get(ImageStats, other).data = {"max": 2.0}
        db.session.execute(db.delete(Artifact).where(Artifact.image_id == other))
        db.session.commit()
    built.clear()
    results = {item["id"]: item for item in listed(owner).get_json()["results"]}
    assert results[other]["stats"] == {"max": 2.0} and results[other]["thumbnail"] is None
    assert built == [other]


def test_without_a_shared_cache_every_image_is_built(app, owner, stored_image, built, monkeypatch):
    monkeypatch.setattr("webapp.api.fragments.generations_made_if_missing",
                        lambda scopes: (_ for _ in ()).throw(ConnectionError("cache down")))
    collection = owner.new_collection("Only")["id"]
    image = stored_image(collection)
    listed(owner)
    listed(owner)
    assert built == [image, image]


def test_with_the_page_cache_off_nothing_is_kept(app, owner, stored_image, built, monkeypatch):
    monkeypatch.setitem(app.config, "CACHE_TYPE", "NullCache")
    image = stored_image(owner.new_collection("Only")["id"])
    listed(owner)
    listed(owner)
    assert built == [image, image]
    assert app.extensions.get("api_image_json", {}) == {}
