"""GET /images/<id>/slices.png: drawn from the stored file, kept per parameters, bounded, private like the map."""

import io

import numpy as np
import pytest
from PIL import Image as Picture

from tests.helpers import collection_id_of
from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import Artifact, Collection, Image

from .test_upload import post_files

OWNER = "owner@example.org"
OTHER = "other@example.org"


@pytest.fixture
def uploaded(app, client, accounts, tmp_path):
    """Two processed maps of the owner: one public, one in a private collection (ids)."""
    owner_id = accounts.create(OWNER)
    accounts.create(OTHER)
    with app.app_context():
        public, private = Collection(owner_id=owner_id, name="Open"), Collection(owner_id=owner_id, name="Hidden",
                                                                                   private=True)
        db.session.add_all([public, private])
        db.session.commit()
        ids = public.id, private.id
    accounts.login(OWNER)
    data = mni_like_map(tmp_path / "map.nii.gz").read_bytes()
    images = []
    for cid in ids:
        answer = post_files(client, cid, [("map.nii.gz", data)])
        assert answer.status_code == 201
        images.append(answer.get_json()["images"][0]["id"])
    accounts.logout()
    return images


def png(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "image/png"
    return Picture.open(io.BytesIO(response.data))


def kept_kinds(app, image_id):
    with app.app_context():
        return {a.kind for a in db.session.query(Artifact).filter_by(image_id=image_id) if a.kind.startswith("slices_")}


@pytest.mark.parametrize("query", ["axis=z&mm=20", "axis=x&mm=-30&threshold=2&cmap=hot", "axis=y",
                                   "axis=z&cut_coords=-20,0,20,40&cmap=viridis", ""])
def test_valid_parameters_give_a_png(client, uploaded, query):
    picture = png(client.get(f"/images/{uploaded[0]}/slices.png?{query}"))
    assert picture.width > 400 and picture.mode == "P"


def test_second_request_is_served_from_the_kept_picture(app, client, uploaded):
    url = f"/images/{uploaded[0]}/slices.png?axis=z&mm=20&threshold=1.5"
    first = client.get(url)
    assert first.headers["X-Slices-Cache"] == "miss"
    assert len(kept_kinds(app, uploaded[0])) == 1
    second = client.get(url.replace("mm=20", "mm=20.0"))  # the same picture, spelled differently
    assert second.headers["X-Slices-Cache"] == "hit" and second.data == first.data
    assert len(kept_kinds(app, uploaded[0])) == 1


@pytest.mark.parametrize("query, reason", [
    ("axis=w", "axis='w' is not one of x, y, z"),
    ("mm=abc", "mm='abc' is not a number"),
    ("mm=nan", "mm='nan' is outside"),
    ("mm=9999", "mm='9999' is outside"),
    ("axis=z&mm=400", "outside the picture's field of view"),
    ("threshold=-1", "threshold='-1' is outside"),
    ("threshold=inf", "threshold='inf' is outside"),
    ("cmap=jet", "cmap='jet' is not one of"),
    ("cut_coords=1,2,x", "cut_coords value 'x' is not a number"),
    ("cut_coords=" + ",".join(["0"] * 13), "at most 12"),
    ("cut_coords=0,300", "outside the picture's field of view"),
    ("mm=0&cut_coords=0,10", "not both"),
    ("size=9000", "Unknown parameter 'size'"),
    ("axis=z&axis=x", "more than once"),
])
def test_every_bad_parameter_is_a_400_with_its_reason(app, client, uploaded, query, reason):
    answer = client.get(f"/images/{uploaded[0]}/slices.png?{query}", headers={"Accept": "application/json"})
    assert answer.status_code == 400
    assert reason in answer.get_json()["detail"]
    assert not kept_kinds(app, uploaded[0])


def test_private_map_is_404_for_others_and_drawn_for_its_owner(client, accounts, uploaded):
    url = f"/images/{uploaded[1]}/slices.png?axis=z&mm=10"
    assert client.get(url).status_code == 404
    accounts.login(OTHER)
    assert client.get(url).status_code == 404
    accounts.logout()
    accounts.login(OWNER)
    png(client.get(url))


def test_not_ready_map_is_404(app, client, uploaded):
    with app.app_context():
        image = db.session.get(Image, uploaded[0])
        image.set_status(Image.PROCESSING)
        db.session.commit()
    assert client.get(f"/images/{uploaded[0]}/slices.png").status_code == 404


def test_image_page_offers_the_retina_thumbnails_and_the_image_link(client, uploaded):
    page = client.get(f"/images/{uploaded[0]}").get_data(as_text=True)
    assert f'srcset="/images/{uploaded[0]}/thumbnails/ortho.png 2x"' in page
    assert "axial_mosaic.png" in page and "copy-slice-link" in page


def test_past_the_cap_pictures_are_drawn_but_not_kept(app, client, uploaded):
    app.config["SLICES_KEPT_PER_IMAGE"] = 1
    png(client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm=0"))
    url = f"/images/{uploaded[0]}/slices.png?axis=z&mm=10"
    for _ in range(2):
        answer = client.get(url)
        png(answer)
        assert answer.headers["X-Slices-Cache"] == "miss"
        assert answer.headers["Cache-Control"].startswith("public")
    assert len(kept_kinds(app, uploaded[0])) == 1


@pytest.fixture
def limited(monkeypatch, request):
    """An app with rate limits on (the suite's TestConfig has them off) and a budget of two drawn slices."""
    monkeypatch.setenv("RATELIMIT_ENABLED", "true")
    monkeypatch.setenv("RATELIMIT_SLICES", "2/minute")
    return request.getfixturevalue("app")


def test_drawing_slices_is_rate_limited_and_kept_pictures_do_not_count(limited, client, uploaded):
    first = f"/images/{uploaded[0]}/slices.png?axis=z&mm=10"
    assert [client.get(first).status_code for _ in range(3)] == [200, 200, 200]
    assert client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm=20").status_code == 200
    answer = client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm=30")
    assert answer.status_code == 429 and answer.headers.get("Retry-After")


def test_the_next_slice_of_a_map_is_drawn_without_reading_the_file_again(app, client, uploaded, monkeypatch):
    from webapp.images import ondemand

    reads = []
    real_open = ondemand.nifti.open_series
    monkeypatch.setattr(ondemand.nifti, "open_series", lambda *a, **k: reads.append(a) or real_open(*a, **k))
    monkeypatch.setattr(ondemand, "LOADED", ondemand.LoadedMaps())
    for mm in (10, 14, 18):
        answer = client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm={mm}")
        assert answer.status_code == 200 and answer.headers["X-Slices-Cache"] == "miss"
    assert len(reads) == 1
    app.config["SLICES_CACHE_BYTES"] = 0
    monkeypatch.setattr(ondemand, "LOADED", ondemand.LoadedMaps())
    client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm=22")
    client.get(f"/images/{uploaded[0]}/slices.png?axis=z&mm=26")
    assert len(reads) == 3


def test_a_series_is_drawn_from_its_first_volume_alone(app, client, accounts, tmp_path, monkeypatch):
    """Volumes after the first are never read: a series larger than the cap can still be sliced."""
    from tests.niftigen import make_nifti, mni_like_data
    from webapp.images import ondemand

    owner_id = accounts.create("series@example.org")
    collection_id = collection_id_of(app, owner_id, "Series")
    base, affine = mni_like_data(4.0)
    series = np.stack([base * (1 + t) for t in range(6)], axis=-1).astype(np.float32)
    accounts.login("series@example.org")
    answer = post_files(client, collection_id, [("series.nii.gz", make_nifti(tmp_path / "s.nii.gz", series,
                                                                               affine).read_bytes())])
    image_id = answer.get_json()["images"][0]["id"]
    app.config["SLICES_MAX_ARRAY_BYTES"] = 3 * base.nbytes  # one volume fits, the series does not
    monkeypatch.setattr(ondemand, "LOADED", ondemand.LoadedMaps())
    png(client.get(f"/images/{image_id}/slices.png?axis=z&mm=10"))
    kept = ondemand.LOADED.get(db_key(app, image_id))
    assert kept.volume.shape == base.shape and np.allclose(kept.volume, base)


def db_key(app, image_id):
    with app.app_context():
        return db.session.get(Image, image_id).storage_key
