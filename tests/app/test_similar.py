"""Similar maps through the app: the worker stores a vector, the index finds it, visibility is applied at once."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tests.niftigen import make_nifti, mni_like_data
from webapp.extensions import db
from webapp.models import Artifact, Collection, Image, SimilarityVector
from webapp.processing import tasks, upkeep
from webapp.storage import new_key
from workers import similarity


def smooth_field(seed):
    """A smooth map inside a brain-sized ellipsoid (zero outside), on the 4 mm MNI grid."""
    inside, affine = mni_like_data(4.0)
    field = gaussian_filter(np.random.default_rng(seed).standard_normal(inside.shape), 2.0)
    return np.where(inside != 0, field, 0).astype(np.float32), affine


@pytest.fixture
def maps(app, accounts, tmp_path):
    """A maker of processed images: (name, data, private collection?) -> image id, through the real task."""
    owner = accounts.create("owner@example.org")
    with app.app_context():
        public = Collection(owner_id=owner, name="Public maps")
        private = Collection(owner_id=owner, name="Private maps", private=True)
        db.session.add_all([public, private])
        db.session.commit()
        ids = {"public": public.id, "private": private.id}

    def make(name, data, affine, *, private=False, map_type="Z"):
        path = make_nifti(tmp_path / f"{name}.nii.gz", data, affine)
        with app.app_context():
            stored = app.extensions["storage"].put_bytes(new_key("originals"), path.read_bytes())
            image = Image(collection_id=ids["private" if private else "public"], uploader_id=owner, name=name,
                          storage_key=stored.key, file_size=stored.size, sha256=stored.sha256, map_type=map_type)
            db.session.add(image)
            db.session.commit()
            image_id = image.id
        tasks.process_image.delay(image_id)
        return image_id

    make.owner_email = "owner@example.org"
    make.collections = ids
    return make


@pytest.fixture
def four(maps):
    base, affine = smooth_field(1)
    other, _ = smooth_field(2)
    unrelated, _ = smooth_field(3)
    ids = {
        "base": maps("base", base, affine),
        "copy": maps("noisy copy", np.where(base != 0, base + 0.6 * other, 0), affine),
        "negative": maps("negative", -base, affine),
        "unrelated": maps("unrelated", unrelated, affine),
    }
    return ids


def listed(client, image_id, **args):
    response = client.get(f"/api/images/{image_id}/similar/", query_string=args)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_worker_stores_the_vector_and_records_which_voxels_counted(app, four):
    with app.app_context():
        image = db.session.get(Image, four["base"])
        assert image.status == Image.READY
        assert image.stats.data["similarity"]["n_voxels"] > 20000
        assert image.stats.data["similarity"]["reason"] is None
        artifact = image.artifact("similarity")
        vector = similarity.vector_from_bytes(app.extensions["storage"].open(artifact.storage_key).read())
        assert vector.dtype == np.float16
        assert db.session.query(SimilarityVector).filter_by(image_id=image.id).count() == 1


def test_similar_maps_are_ordered_by_true_r(app, client, four):
    body = listed(client, four["base"])
    order = [row["id"] for row in body["results"]]
    assert order == [four["copy"], four["unrelated"], four["negative"]]
    assert body["count"] == 3 and body["reason"] is None
    with app.app_context():
        storage = app.extensions["storage"]
        keys = {name: db.session.get(Image, i).artifact("similarity").storage_key for name, i in four.items()}
        vectors = {name: similarity.vector_from_bytes(storage.open(key).read()) for name, key in keys.items()}
    for row in body["results"]:
        name = next(n for n, i in four.items() if i == row["id"])
        a, b = vectors["base"].astype(np.float64), vectors[name].astype(np.float64)
        both = ~np.isnan(a) & ~np.isnan(b)
        assert row["r"] == pytest.approx(np.corrcoef(a[both], b[both])[0, 1], abs=1e-3)
    assert body["results"][2]["r"] == pytest.approx(-1.0, abs=1e-3)
    assert set(body["results"][0]) >= {"id", "name", "collection", "r", "url"}


def test_paging_follows_the_api_style(client, four):
    body = listed(client, four["base"], limit=1, offset=1)
    assert [row["id"] for row in body["results"]] == [four["unrelated"]]
    assert body["count"] == 3
    assert "offset=2" in body["next"] and "offset" not in body["previous"]
    response = client.get(f"/api/images/{four['base']}/similar/", query_string={"limit": "x"})
    assert response.status_code == 200, "a bad limit falls back to the default, as on NeuroVault"
    response = client.get(f"/api/images/{four['base']}/similar/", query_string={"map_type": "nope"})
    assert response.status_code == 400 and "map_type" in response.get_json()


def test_private_map_disappears_for_others_at_once_and_stays_for_its_owner(app, client, accounts, maps, four):
    with app.app_context():
        db.session.get(Image, four["copy"]).collection_id = maps.collections["private"]
        db.session.commit()
    assert four["copy"] not in [row["id"] for row in listed(client, four["base"])["results"]]
    accounts.login(maps.owner_email)
    assert listed(client, four["base"])["results"][0]["id"] == four["copy"]


def test_deleted_map_is_gone(app, client, four):
    with app.app_context():
        image = db.session.get(Image, four["copy"])
        db.session.delete(image)
        db.session.commit()
    assert four["copy"] not in [row["id"] for row in listed(client, four["base"])["results"]]


def test_rois_and_constant_maps_get_no_vector_and_the_page_says_why(app, client, maps):
    base, affine = smooth_field(1)
    roi = maps("roi", (base > 0.05).astype(np.float32), affine, map_type="R")
    constant = maps("flat", np.where(base != 0, 2.0, 0).astype(np.float32), affine, map_type="T")
    body = listed(client, roi)
    assert body["results"] == [] and "region of interest" in body["reason"]
    page = client.get(f"/images/{constant}").get_data(as_text=True)
    assert "Similar maps" in page and "constant over the brain mask" in page
    with app.app_context():
        assert db.session.get(Image, constant).artifact("similarity") is None


def test_image_page_shows_the_top_maps_and_the_more_page_filters(app, client, four):
    page = client.get(f"/images/{four['base']}").get_data(as_text=True)
    assert "Similar maps" in page
    assert page.index(f'data-image-id="{four["copy"]}"') < page.index(f'data-image-id="{four["negative"]}"')
    assert f"/images/{four['base']}/similar" in page
    assert f'href="/images/{four["base"]}/compare/{four["copy"]}"' in page
    more = client.get(f"/images/{four['base']}/similar").get_data(as_text=True)
    assert "r = +" in more and "r = -1.00" in more
    none = client.get(f"/images/{four['base']}/similar?map_type=T").get_data(as_text=True)
    assert f'data-image-id="{four["copy"]}"' not in none
    assert client.get(f"/images/{four['base']}/thumbnails/similarity.png").status_code == 404


def test_index_is_rebuilt_from_stored_vectors_when_missing(app, client, four):
    import shutil

    assert listed(client, four["base"])["count"] == 3
    shutil.rmtree(app.config["SIMILARITY_INDEX_DIR"])
    assert [row["id"] for row in listed(client, four["base"])["results"]][0] == four["copy"]


def test_reprocessing_replaces_the_vector(app, client, four):
    with app.app_context():
        image = db.session.get(Image, four["copy"])
        image.set_status(Image.UPLOADED)
        db.session.commit()
    tasks.process_image.delay(four["copy"])
    body = listed(client, four["base"])
    assert [row["id"] for row in body["results"]].count(four["copy"]) == 1
    with app.app_context():
        assert db.session.query(Artifact).filter_by(image_id=four["copy"], kind="similarity").count() == 1


# ---- search by file -------------------------------------------------------------------------------


def stored_keys(app):
    root = app.config["STORAGE_DIR"]
    from pathlib import Path

    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*") if p.is_file())


def search_file(client, path, **kwargs):
    from tests.helpers import csrf_token

    token = csrf_token(client, "/similar/")
    with open(path, "rb") as handle:
        return client.post("/similar/", data={"file": (handle, path.name), "csrf_token": token},
                           content_type="multipart/form-data", follow_redirects=True, **kwargs)


def test_search_by_file_answers_with_public_maps_and_keeps_nothing(app, client, accounts, maps, four, tmp_path):
    from webapp.models import SimilaritySearch

    base, affine = smooth_field(1)
    before = stored_keys(app)
    path = make_nifti(tmp_path / "mine.nii.gz", base * 2 + 1e-3, affine)
    accounts.create("searcher@example.org")
    accounts.login("searcher@example.org")
    page = search_file(client, path)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'data-status="ready"' in text
    assert text.index(f'data-image-id="{four["base"]}"') < text.index(f'data-image-id="{four["copy"]}"')
    assert stored_keys(app) == before
    with app.app_context():
        search = db.session.query(SimilaritySearch).one()
        assert search.storage_key is None and search.results[0][0] == four["base"]
        assert db.session.query(Image).count() == 4


def test_search_by_file_gives_the_upload_reason_for_a_broken_file(app, client, accounts, tmp_path):
    before = stored_keys(app)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"\x1f\x8b not really a gzip file")
    accounts.create("searcher@example.org")
    accounts.login("searcher@example.org")
    text = search_file(client, broken).get_data(as_text=True)
    assert 'data-status="failed"' in text and "could not be compared" in text
    assert stored_keys(app) == before


def test_search_by_file_api_is_for_signed_in_callers_and_pages_its_answer(app, client, accounts, four, tmp_path):
    from webapp.models import ApiToken

    base, affine = smooth_field(1)
    path = make_nifti(tmp_path / "mine.nii", -base, affine)
    with open(path, "rb") as handle:
        assert client.post("/api/similar/", data={"file": (handle, "x.nii")}).status_code == 401
    user_id = accounts.create("api@example.org")
    with app.app_context():
        _, secret = ApiToken.issue(db.session.get(__import__("webapp.models").models.User, user_id))
        db.session.commit()
    headers = {"Authorization": f"Token {secret}"}
    with open(path, "rb") as handle:
        response = client.post("/api/similar/", data={"file": (handle, "x.nii")}, headers=headers)
    body = response.get_json()
    assert response.status_code == 200 and body["status"] == "ready"
    assert body["results"][0]["id"] == four["negative"] and body["results"][0]["r"] > 0.99
    again = client.get(f"/api/similar/{body['id']}/", query_string={"limit": 1}, headers=headers).get_json()
    assert len(again["results"]) == 1 and again["next"]
    other = accounts.create("other@example.org")
    with app.app_context():
        _, other_secret = ApiToken.issue(db.session.get(__import__("webapp.models").models.User, other))
        db.session.commit()
    assert client.get(f"/api/similar/{body['id']}/", headers={"Authorization": f"Token {other_secret}"}
                      ).status_code == 404
    assert client.post("/api/similar/", headers=headers).status_code == 400


@pytest.fixture
def limited(monkeypatch, request):
    """An app with rate limits on (the suite's TestConfig has them off) and a budget of two searches."""
    monkeypatch.setenv("RATELIMIT_ENABLED", "true")
    monkeypatch.setenv("RATELIMIT_SIMILAR_SEARCH", "2/minute")
    return request.getfixturevalue("app")


def test_search_by_file_has_a_size_limit_and_a_rate_limit_per_user(limited, client, accounts, tmp_path):
    app = limited
    base, affine = smooth_field(4)
    path = make_nifti(tmp_path / "mine.nii.gz", base, affine)
    accounts.create("searcher@example.org")
    accounts.login("searcher@example.org")
    statuses = [search_file(client, path).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    accounts.create("second@example.org")
    accounts.logout()
    accounts.login("second@example.org")
    assert search_file(client, path).status_code == 200, "the budget is per user, not per address"
    app.config["SIMILAR_SEARCH_MAX_BYTES"] = 100
    too_large = search_file(client, path)
    assert too_large.status_code == 413 and "100 bytes" in too_large.get_data(as_text=True)


def test_expired_searches_are_deleted(app, client, accounts, tmp_path):
    from datetime import timedelta

    from webapp.models import SimilaritySearch, utcnow

    base, affine = smooth_field(4)
    accounts.create("searcher@example.org")
    accounts.login("searcher@example.org")
    search_file(client, make_nifti(tmp_path / "mine.nii.gz", base, affine))
    with app.app_context():
        db.session.query(SimilaritySearch).update({"created_at": utcnow() - timedelta(hours=2)})
        db.session.commit()
        assert upkeep.expire_similarity_searches() == 1
        assert db.session.query(SimilaritySearch).count() == 0


def test_rebuild_command_drops_deleted_maps_from_the_files(app, client, four):
    listed(client, four["base"])
    with app.app_context():
        db.session.delete(db.session.get(Image, four["copy"]))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["images", "rebuild-similarity-index"])
    assert result.exit_code == 0 and "3 map(s)" in result.output
    assert [row["id"] for row in listed(client, four["base"])["results"]] == [four["unrelated"], four["negative"]]
