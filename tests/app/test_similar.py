"""Similar maps through the app: the worker stores a vector, the index finds it, visibility is applied at once."""

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from tests.niftigen import make_nifti, mni_like_data
from webapp.extensions import db
from webapp.models import Artifact, Collection, Image, SimilarityVector
from webapp.storage import new_key
from workers import similarity, tasks


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
    assert "offset=2" in body["next"] and "offset=0" in body["previous"]
    response = client.get(f"/api/images/{four['base']}/similar/", query_string={"limit": "x"})
    assert response.status_code == 400 and "limit" in response.get_json()
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
