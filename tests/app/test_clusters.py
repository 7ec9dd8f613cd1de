"""Cluster tables end to end in the app: the worker stores them, the image page and the API show them,
and the lists filter by region without showing private maps."""

import re

import pytest

from tests.niftigen import make_nifti, mni_blobs_data
from webapp.extensions import db
from webapp.models import Collection, Image, ImageRegion
from webapp.processing import tasks
from webapp.storage import new_key

AMYGDALA_MAP = [((-24, -2, -14), 6.0), ((40, -18, 56), 5.0), ((-6, -20, 40), -5.5)]
PRECENTRAL_MAP = [((40, -18, 56), 5.0)]


@pytest.fixture
def processed(app, accounts, tmp_path):
    """A maker of processed Z maps: (blobs or (data, affine), private collection?, name) -> image id."""
    owner_id = accounts.create("clusters@example.org")
    collections = {}

    def make(blobs, private=False, name="map", map_type="Z"):
        data, affine = blobs if isinstance(blobs, tuple) else mni_blobs_data(blobs, brain=0.05)
        content = make_nifti(tmp_path / f"{name}.nii.gz", data, affine).read_bytes()
        with app.app_context():
            if private not in collections:
                collection = Collection(owner_id=owner_id, name=f"private {private}", private=private)
                db.session.add(collection)
                db.session.commit()
                collections[private] = collection.id
            stored = app.extensions["storage"].put_bytes(new_key("originals"), content)
            image = Image(collection_id=collections[private], uploader_id=owner_id, name=name, map_type=map_type,
                          storage_key=stored.key, file_size=stored.size, sha256=stored.sha256)
            db.session.add(image)
            db.session.commit()
            assert tasks.process_image.delay(image.id).get() == "ready"
            db.session.get(Collection, collections[private]).refresh_image_count()
            db.session.commit()
            return image.id

    return make


def test_worker_stores_the_threshold_the_table_and_its_regions(app, processed):
    image_id = processed(AMYGDALA_MAP)
    with app.app_context():
        stats = db.session.get(Image, image_id).stats.data
        assert stats["threshold"]["rule"] == "|z| ≥ 3.1" and stats["threshold"]["value"] == 3.1
        table = stats["clusters"]
        assert [c["peak"]["regions"]["aal"] for c in table["clusters"]] == ["Amygdala L", "Precentral R",
                                                                           "Cingulate Mid L"]
        regions = {(r.atlas, r.name): r for r in ImageRegion.query.filter_by(image_id=image_id)}
        assert regions[("aal", "Amygdala L")].at_peak and regions[("aal", "Amygdala L")].share > 0.25
        # Reprocessing replaces the rows instead of adding to them.
        image = db.session.get(Image, image_id)
        image.set_status(Image.UPLOADED)
        db.session.commit()
        assert tasks.process_image.delay(image_id).get() == "ready"
        assert ImageRegion.query.filter_by(image_id=image_id).count() == len(regions)


def test_image_page_shows_the_table_under_the_viewer_with_the_atlas_cited(app, client, processed):
    image_id = processed(AMYGDALA_MAP)
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert page.index('class="nv-viewer"') < page.index('class="cluster-table"') < page.index("<h2>Slices</h2>")
    assert "Threshold: <strong>|z| ≥ 3.1</strong>" in page
    rows = re.findall(r'<tr class="cluster-row[^"]*" data-mm="([^"]+)"', page)
    assert rows[0] == "-24.0,-2.0,-14.0"
    assert "Amygdala L" in page and "Joliot M et al. (2015)" in page and "<cite>AAL2</cite>" in page


def test_empty_table_says_so_on_the_page(app, client, processed):
    image_id = processed([((-24, -2, -14), 2.0)])
    page = client.get(f"/images/{image_id}").get_data(as_text=True)
    assert "No voxel is above the threshold" in page and 'class="cluster-table"' not in page


def test_api_image_has_clusters(app, client, processed):
    image_id = processed(AMYGDALA_MAP)
    body = client.get(f"/api/images/{image_id}/").get_json()
    assert body["clusters"]["threshold"]["rule"] == "|z| ≥ 3.1"
    first = body["clusters"]["clusters"][0]
    assert first["sign"] == "+" and first["peak"]["mm"] == [-24.0, -2.0, -14.0]
    assert first["regions"]["aal"][0]["name"] == "Amygdala L"
    assert "clusters" not in body["stats"] and body["stats"]["threshold"] == body["clusters"]["threshold"]


def listed_ids(html):
    return [int(x) for x in re.findall(r'data-image-id="(\d+)"', html)]


def test_region_filter_on_the_page_and_the_api_honours_privacy(app, client, accounts, processed):
    amygdala = processed(AMYGDALA_MAP, name="amygdala")
    precentral = processed(PRECENTRAL_MAP, name="precentral")
    hidden = processed(AMYGDALA_MAP, private=True, name="hidden")

    assert listed_ids(client.get("/images/?region=amygdala").get_data(as_text=True)) == [amygdala]
    assert sorted(listed_ids(client.get("/images/?region=Precentral").get_data(as_text=True))) == [amygdala,
                                                                                                    precentral]
    assert listed_ids(client.get("/images/?region=hippocampus").get_data(as_text=True)) == []
    page = client.get("/images/?region=amyg%25").get_data(as_text=True)
    assert listed_ids(page) == []

    body = client.get("/api/images/?region=amygdala").get_json()
    assert body["count"] == 1 and [r["id"] for r in body["results"]] == [amygdala]
    assert client.get("/api/images/?region=precentral&limit=1").get_json()["next"].count("region=precentral") == 1

    # The owner, logged in, still sees only public maps in the public lists; the private one stays on its page.
    accounts.login("clusters@example.org")
    assert hidden not in listed_ids(client.get("/images/?region=amygdala").get_data(as_text=True))
    assert hidden not in [r["id"] for r in client.get("/api/images/?region=amygdala").get_json()["results"]]


def test_search_form_offers_region_names(client):
    page = client.get("/images/").get_data(as_text=True)
    assert 'name="region"' in page and '<option value="Amygdala L">' in page
