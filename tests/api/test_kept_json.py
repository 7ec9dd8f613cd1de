"""Each image's and collection's JSON is kept between list requests while nothing it shows changed.

Kept per item (webapp/api/fragments.py), stamped with its collection's generation of the page cache: a
change to an image, its stats, its artifacts or its collection (or to a user, for the collections' owners)
is in the next answer; other collections' items are not built again.
"""

import pytest

from webapp import pagecache
from webapp.api import collection_routes, fragments, image_routes
from webapp.extensions import db
from webapp.models import Artifact, Image, ImageStats, User


def builds(monkeypatch, module, name):
    """The ids of the rows ``module.name`` serialises from now on (not taken from the kept JSON)."""
    ids = []
    serialise = getattr(module, name)
    monkeypatch.setattr(module, name, lambda row: ids.append(row.id) or serialise(row))
    return ids


@pytest.fixture
def built(monkeypatch):
    return builds(monkeypatch, image_routes, "image_json")


@pytest.fixture
def collections_built(monkeypatch):
    return builds(monkeypatch, collection_routes, "collection_json")


def listed(caller, path="/api/images/"):
    """The list as a token caller reads it: built for them (a visitor's copy would hide the building)."""
    answer = caller.get(path)
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


def listed_collections(caller):
    page = listed(caller, "/api/collections/").get_json()
    return {item["id"]: item for item in page["results"]}, page["count"]


def test_collections_are_kept_until_they_or_their_owner_change(app, owner, stranger, collections_built):
    mine, other = owner.new_collection("Mine")["id"], stranger.new_collection("Other")["id"]
    listed_collections(owner)
    collections_built.clear()
    assert listed_collections(stranger) == listed_collections(owner)
    assert collections_built == [], "the second and third lists reuse the kept bytes"
    assert owner.patch(f"/api/collections/{mine}/", json={"description": "new words"}).status_code == 200
    collections_built.clear()
    results, count = listed_collections(stranger)
    assert results[mine]["description"] == "new words" and count == 2
    assert collections_built == [mine], "the other collection stays kept"
    with app.app_context():
        db.session.get(User, owner.id).public_name = "Dr Renamed"
        db.session.commit()
    collections_built.clear()
    results, _ = listed_collections(stranger)
    assert results[mine]["owner_name"] == "Dr Renamed"
    assert sorted(collections_built) == sorted([mine, other]), "a user's change may show on every collection"


def test_a_collection_made_private_leaves_the_list_and_the_count(app, owner, stranger, client, collections_built):
    mine, other = owner.new_collection("Mine")["id"], stranger.new_collection("Other")["id"]
    assert set(listed_collections(stranger)[0]) == {mine, other}
    assert owner.patch(f"/api/collections/{mine}/", json={"private": True}).status_code == 200
    for caller in (stranger, client):
        results, count = listed_collections(caller)
        assert set(results) == {other} and count == 1
    third = owner.new_collection("Third")["id"]
    assert listed_collections(stranger)[1] == 2 and set(listed_collections(stranger)[0]) == {other, third}


def test_an_unchanged_public_list_reads_two_generations_not_one_per_collection(app, owner, stored_image, built,
                                                                                 monkeypatch):
    collections = [owner.new_collection(f"c{n}")["id"] for n in range(3)]
    ids = [stored_image(collection, name=f"map {n}") for n, collection in enumerate(collections)]
    read = []
    generations = fragments.generations_made_if_missing
    for module in (fragments, pagecache):
        monkeypatch.setattr(module, "generations_made_if_missing", lambda scopes: read.append(scopes) or
                            generations(scopes))
    listed(owner)
    listed(owner)
    read.clear()
    built.clear()
    assert [item["id"] for item in listed(owner).get_json()["results"]] == ids
    assert read == [["api-tokens", "site", "list:images"]] and built == [], "the token's, total's and items' in one"
    with app.app_context():
        db.session.get(Image, ids[1]).name = "renamed"
        db.session.commit()
    read.clear()
    assert listed(owner).get_json()["results"][1]["name"] == "renamed"
    assert len(read) == 2 and f"collection:{collections[0]}" in read[1], "a new list generation: each collection's"
    assert built == [ids[1]]
