"""Deep offsets of the public lists start from kept checkpoints and answer exactly what the plain offset does.

The checkpoints are every ``STEP``-th row's id (webapp/api/checkpoints.py, decision 0035); here STEP is 3 so
that a few rows cross several checkpoints. The reference is the same request with checkpoints out of reach
(STEP larger than any offset): the plain ``OFFSET``. Callers send a token, so no page copy answers for them.
"""

import contextlib

import pytest

from tests.helpers import sql_statements
from webapp import pagecache
from webapp.api import checkpoints
from webapp.extensions import db
from webapp.models import Collection, Image

STEP = 3
LIMITS = (1, STEP, STEP + 1)  # one row, a checkpoint apart, across a checkpoint


@pytest.fixture
def small_steps(monkeypatch):
    """Checkpoints every STEP rows, scanned again as soon as the list changes."""
    monkeypatch.setattr(checkpoints, "STEP", STEP)
    monkeypatch.setattr(checkpoints, "RESCAN_PAUSE", 0)


@contextlib.contextmanager
def plain_offsets():
    """Requests made inside answer by the plain OFFSET (no offset reaches a checkpoint)."""
    step = checkpoints.STEP
    checkpoints.STEP = 10**9
    try:
        yield
    finally:
        checkpoints.STEP = step


def answers(caller, path, total):
    """Every (offset, limit) page's bytes, from offset 0 to past the end."""
    return {(offset, limit): caller.get(f"{path}?limit={limit}&offset={offset}").data
            for offset in range(total + 3) for limit in LIMITS}


def assert_same_as_plain(caller, path):
    total = caller.get(path).get_json()["count"]
    from_checkpoints = answers(caller, path, total)
    with plain_offsets():
        plain = answers(caller, path, total)
    for key, body in plain.items():
        assert from_checkpoints[key] == body, f"offset={key[0]} limit={key[1]}"
    return total


def change(app, model, row_id, **values):
    """Change a row through the ORM, as the site's own code does (its commit renews the generations)."""
    with app.app_context():
        row = db.session.get(model, row_id)
        for name, value in values.items():
            setattr(row, name, value)
        db.session.commit()


@pytest.fixture
def mixed_list(owner, stranger, stored_image):
    """Public maps in two collections, interleaved with maps the list never shows (private, not ready)."""
    first, second = owner.new_collection("First")["id"], stranger.new_collection("Second")["id"]
    hidden = owner.new_collection("Hidden", private=True)["id"]
    ids = {"first": first, "second": second, "hidden": hidden, "images": []}
    for n in range(16):
        collection = (first, second, hidden)[n % 3]
        status = Image.PROCESSING if n % 5 == 4 else Image.READY
        ids["images"].append(stored_image(collection, name=f"map {n}", status=status, thumbnail=False))
    return ids


def test_image_list_pages_from_checkpoints_equal_the_plain_offset(app, small_steps, owner, stranger, stored_image,
                                                                   mixed_list):
    path = "/api/images/"
    assert assert_same_as_plain(stranger, path) == 9
    images = mixed_list["images"]

    change(app, Image, images[4], status=Image.READY)  # a low id becomes ready: every later position moves
    assert assert_same_as_plain(stranger, path) == 10
    assert owner.delete(f"/api/images/{images[0]}/").status_code == 204
    assert assert_same_as_plain(stranger, path) == 9
    change(app, Image, images[3], unpublished_reason="taken down")
    assert assert_same_as_plain(stranger, path) == 8
    assert owner.patch(f"/api/collections/{mixed_list['hidden']}/", json={"private": False}).status_code == 200
    assert assert_same_as_plain(stranger, path) == 12
    assert stranger.patch(f"/api/collections/{mixed_list['second']}/", json={"private": True}).status_code == 200
    assert assert_same_as_plain(stranger, path) == 7
    for n in range(4):
        stored_image(mixed_list["first"], name=f"new {n}", thumbnail=False)
    assert assert_same_as_plain(stranger, path) == 11


def test_collection_list_pages_from_checkpoints_equal_the_plain_offset(app, small_steps, owner, stranger):
    made = [(owner if n % 2 else stranger).new_collection(f"c{n}", private=n % 4 == 3)["id"] for n in range(11)]
    path = "/api/collections/"
    assert assert_same_as_plain(owner, path) == 9, "the public list, the same for the owner of private ones"
    assert stranger.delete(f"/api/collections/{made[0]}/").status_code == 204
    assert assert_same_as_plain(owner, path) == 8
    assert owner.patch(f"/api/collections/{made[3]}/", json={"private": False}).status_code == 200
    change(app, Collection, made[4], unpublished_reason="taken down")
    assert assert_same_as_plain(owner, path) == 8
    owner.new_collection("newest")
    assert assert_same_as_plain(owner, path) == 9


def test_a_collections_image_pages_from_checkpoints_equal_the_plain_offset(app, small_steps, owner, stranger,
                                                                           stored_image, mixed_list):
    """A collection of hundreds of thousands of maps: its deep offsets start from checkpoints too."""
    first, images = mixed_list["first"], mixed_list["images"]
    for n in range(9):
        stored_image(first, name=f"more {n}", status=Image.PROCESSING if n % 4 == 1 else Image.READY,
                     thumbnail=False)
    path = f"/api/collections/{first}/images/"
    with sql_statements(app) as seen:
        assert assert_same_as_plain(stranger, path) == 12
    assert any("row_number()" in s.lower() for s in seen), "the checkpoints were scanned and used"
    change(app, Image, images[9], status=Image.READY)
    assert assert_same_as_plain(stranger, path) == 13
    change(app, Image, images[3], unpublished_reason="taken down")
    assert assert_same_as_plain(stranger, path) == 12
    assert owner.delete(f"/api/images/{images[0]}/").status_code == 204
    assert assert_same_as_plain(stranger, path) == 11
    assert assert_same_as_plain(owner, path) == 14, "the owner's list (every map) walks the plain offset"


def deep_page(app, caller, offset):
    """The page at this offset, and how many checkpoint scans and pages from a checkpoint it took."""
    with sql_statements(app) as seen:
        body = caller.get(f"/api/images/?limit=2&offset={offset}").get_json()
    scans = [s for s in seen if "row_number()" in s.lower()]
    seeks = [s for s in seen if "image.id >=" in s]
    return body, len(scans), len(seeks)


def test_a_deep_offset_starts_at_a_checkpoint_scanned_once_per_change(app, small_steps, owner, stranger,
                                                                       stored_image, mixed_list):
    def deep(offset):
        return deep_page(app, stranger, offset)

    _, scans, seeks = deep(1)
    assert (scans, seeks) == (0, 0), "an offset before the first checkpoint is the plain query"
    first, scans, seeks = deep(7)
    assert (scans, seeks) == (1, 1), "one scan for the checkpoints, then the page from the nearest"
    again, scans, seeks = deep(4)
    assert (scans, seeks) == (0, 1), "the kept checkpoints serve the next deep offset"
    assert owner.delete(f"/api/images/{mixed_list['images'][0]}/").status_code == 204
    _, scans, seeks = deep(7)
    assert (scans, seeks) == (1, 1), "a change to the list scans again"
    _, scans, seeks = deep(6)
    assert (scans, seeks) == (0, 1)


def test_filtered_lists_walk_the_plain_offset(app, small_steps, owner, stranger):
    for n in range(8):
        owner.new_collection(f"c{n}")
    with sql_statements(app) as seen:
        body = stranger.get(f"/api/collections/?owner={owner.id}&limit=2&offset=5").get_json()
    assert [c["name"] for c in body["results"]] == ["c5", "c6"]
    assert not any("row_number()" in s.lower() or "collection.id >=" in s for s in seen)


def test_a_list_changing_all_the_time_is_scanned_at_most_once_per_pause(app, small_steps, monkeypatch, owner,
                                                                         stranger, mixed_list):
    monkeypatch.setattr(checkpoints, "RESCAN_PAUSE", 10**6)
    assert deep_page(app, stranger, 7)[1:] == (1, 1)
    assert owner.delete(f"/api/images/{mixed_list['images'][0]}/").status_code == 204
    body, scans, seeks = deep_page(app, stranger, 7)
    assert (scans, seeks) == (0, 0), "out-of-date checkpoints are not used; the offset is walked as before"
    with plain_offsets():
        assert body == deep_page(app, stranger, 7)[0]


def test_the_image_list_total_is_counted_once_per_change(app, owner, stranger, stored_image, mixed_list):
    def counted():
        with sql_statements(app) as seen:
            total = stranger.get("/api/images/?limit=1").get_json()["count"]
        return total, sum("sum(collection.image_count)" in s for s in seen)

    assert counted() == (9, 1)
    assert counted() == (9, 0), "kept while the list is unchanged"
    stored_image(mixed_list["first"], name="new")
    assert counted() == (10, 1)
    assert owner.patch(f"/api/collections/{mixed_list['first']}/", json={"private": True}).status_code == 200
    assert counted()[0] == 4


def test_a_collections_image_total_is_counted_once_per_change_of_that_collection(app, owner, stranger,
                                                                                 stored_image, mixed_list):
    """A COUNT over a 200,000-map collection took ~50 ms of every page of its list."""
    first, images = mixed_list["first"], mixed_list["images"]

    def counted(caller=stranger):
        with sql_statements(app) as seen:
            total = caller.get(f"/api/collections/{first}/images/?limit=1").get_json()["count"]
        return total, sum("count(*)" in s for s in seen)

    assert counted() == (5, 1)
    assert counted() == (5, 0), "kept while the collection is unchanged"
    stored_image(mixed_list["second"], name="elsewhere")
    assert counted() == (5, 0), "a map in another collection keeps it"
    change(app, Image, images[9], status=Image.READY)  # map 9 was processing, in the first collection
    assert counted() == (6, 1)
    change(app, Image, images[3], unpublished_reason="taken down")
    assert counted()[0] == 5
    assert owner.delete(f"/api/images/{images[0]}/").status_code == 204
    assert counted()[0] == 4
    assert counted(owner)[0] == 5, "the owner's total is the stored count of every map, as before"


def test_checkpoints_another_thread_scanned_while_this_one_waited_are_used(app, small_steps, monkeypatch, owner,
                                                                             stranger, mixed_list):
    assert deep_page(app, stranger, 7)[1:] == (1, 1)
    assert owner.delete(f"/api/images/{mixed_list['images'][0]}/").status_code == 204

    class ScannedMeanwhile:
        """The lock, taken just after another thread stored checkpoints for the current generations."""

        def acquire(self, blocking):
            kept = app.extensions["api_checkpoints"]["api.images"]
            stamp = checkpoints.current_stamp("list:images")
            third = mixed_list["images"][7]  # public maps now: 1, 3, 6, 7, 10, … (map 0 deleted, 2 and 5 private)
            app.extensions["api_checkpoints"]["api.images"] = kept._replace(stamp=stamp, ids=[third])
            return True

        def release(self):
            pass

    monkeypatch.setattr(checkpoints, "_scanning", ScannedMeanwhile())
    body, scans, seeks = deep_page(app, stranger, 3)
    assert (scans, seeks) == (0, 1), "no second scan"
    with plain_offsets():
        assert body == deep_page(app, stranger, 3)[0]


def test_a_deep_page_reads_the_lists_generations_once(app, small_steps, stranger, mixed_list, monkeypatch):
    """The token's check, the list's total, the checkpoints and the kept items of one request share one read of
    the shared cache: (api-tokens, site, list:images)."""
    path = "/api/images/?limit=2&offset=4"
    first = stranger.get(path).data
    read = []
    generations = pagecache.generations_made_if_missing
    monkeypatch.setattr(pagecache, "generations_made_if_missing", lambda scopes: read.append(scopes) or
                        generations(scopes))
    assert stranger.get(path).data == first
    assert read == [["api-tokens", "site", "list:images"]]
