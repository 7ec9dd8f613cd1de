"""The collection page (metadata, cards, owner actions), the image page's viewer settings, the error pages."""

import re

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.images.views import viewer_range
from webapp.models import Collection, Image, ImageStats

from ..helpers import csrf_token

OWNER = "owner@example.org"
OTHER = "other@example.org"


@pytest.fixture
def collection(app, accounts):
    owner_id = accounts.create(OWNER)
    accounts.create(OTHER)
    with app.app_context():
        collection = Collection(
            owner_id=owner_id,
            name="Emotion",
            description="Faces > shapes\nSecond paragraph",
            authors="Ada Lovelace, Alan Turing",
            doi="10.1234/emo.7",
            paper_url="https://example.org/paper",
        )
        db.session.add(collection)
        db.session.flush()
        for i, status in enumerate(("ready", "processing", "failed")):
            db.session.add(
                Image(
                    collection=collection, uploader_id=owner_id, name=f"map {i}", storage_key=f"k/{i}",
                    sha256="0" * 64, status=status,
                )
            )
        db.session.flush()
        collection.refresh_image_count()
        db.session.commit()
        return collection.id


def test_collection_page_shows_metadata_and_status_badges(client, collection):
    html = client.get(f"/collections/{collection}").get_data(as_text=True)
    assert "Ada Lovelace, Alan Turing" in html
    assert 'href="https://doi.org/10.1234/emo.7"' in html and 'href="https://example.org/paper"' in html
    assert "Faces &gt; shapes\nSecond paragraph" in html
    assert {"ready", "processing", "failed"} <= set(re.findall(r'data-status="(\w+)"', html))
    assert 'alt="Glass brain of map 0"' in html and 'aria-label="No preview yet: processing"' in html
    assert "Make private" not in html and "Upload maps" not in html


def test_owner_makes_the_collection_private_and_public_again(app, client, accounts, collection):
    accounts.login(OWNER)
    page = f"/collections/{collection}"
    html = client.get(page).get_data(as_text=True)
    assert "Upload maps" in html and "Make private" in html and "Delete" in html

    answer = client.post(f"/collections/{collection}/privacy", data={"csrf_token": csrf_token(client, page)})
    assert answer.status_code == 302
    with app.app_context():
        assert db.session.get(Collection, collection).private is True
    assert "Make public" in client.get(page).get_data(as_text=True)

    accounts.logout()
    assert client.get(page).status_code == 404
    assert 'data-total="0"' in client.get("/collections/").get_data(as_text=True)

    accounts.login(OWNER)
    client.post(f"/collections/{collection}/privacy", data={"csrf_token": csrf_token(client, page)})
    with app.app_context():
        assert db.session.get(Collection, collection).private is False


def test_privacy_toggle_needs_the_owner_and_a_csrf_token(app, client, accounts, collection):
    accounts.login(OWNER)
    assert client.post(f"/collections/{collection}/privacy").status_code == 400
    accounts.logout()
    accounts.login(OTHER)
    token = csrf_token(client, f"/collections/{collection}")
    assert client.post(f"/collections/{collection}/privacy", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.get(Collection, collection).private is False


def test_error_pages_use_the_site_layout(client, accounts, collection):
    missing = client.get("/collections/999999")
    html = missing.get_data(as_text=True)
    assert missing.status_code == 404 and 'class="site-header"' in html and "Error 404" in html
    assert "Browse public maps" in html
    accounts.login(OTHER)
    forbidden = client.get(f"/collections/{collection}/edit")
    assert forbidden.status_code == 403 and "Error 403" in forbidden.get_data(as_text=True)
    scripted = client.get("/nowhere", headers={"Accept": "application/json"})
    assert scripted.status_code == 404 and "detail" in scripted.json


def test_no_inline_scripts_or_styles_on_the_pages(app, client, accounts, collection):
    with app.app_context():
        image_id = db.session.scalar(sa.select(Image.id).where(Image.status == "ready"))
        db.session.add(ImageStats(image_id=image_id, data={"min": -2.5, "max": 4.0, "n_volumes": 1}))
        db.session.commit()
    accounts.login(OWNER)
    for url in ("/", "/images/", "/collections/", f"/collections/{collection}", f"/images/{image_id}",
                "/collections/999999"):
        html = client.get(url).get_data(as_text=True)
        assert " style=" not in html, url
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert all(" alt=" in tag for tag in re.findall(r"<img[^>]*>", html)), url


def test_image_page_configures_the_viewer(app, client, collection):
    with app.app_context():
        image_id = db.session.scalar(sa.select(Image.id).where(Image.status == "ready"))
        db.session.add(ImageStats(image_id=image_id, data={"min": -2.5, "max": 4.0, "n_volumes": 1}))
        db.session.commit()
    html = client.get(f"/images/{image_id}").get_data(as_text=True)
    viewer = re.search(r'<section class="nv-viewer"[^>]*>', html).group(0)
    assert f'data-image-url="/images/{image_id}/file"' in viewer
    assert 'data-template-url="/template/mni152.nii.gz"' in viewer
    assert 'data-signed="true"' in viewer and 'data-min="-2.5"' in viewer and 'data-max="4.0"' in viewer
    assert 'data-volumes="1"' in viewer
    assert 'src="/static/js/viewer.js"' in html and 'type="module"' in html


@pytest.mark.parametrize(
    ("stats", "expected"),
    [
        (None, {"volumes": 1, "min": None, "max": None, "signed": True}),
        ({"min": 1.0, "max": 5.0, "n_volumes": 1, "volumes": [{"min": 1.0, "max": 5.0}]},
         {"volumes": 1, "min": 1.0, "max": 5.0, "signed": False}),
        # The headline min/max describe the first volume; the viewer needs all of them.
        ({"min": 1.0, "max": 5.0, "n_volumes": 3,
          "volumes": [{"min": 1.0, "max": 5.0}, {"min": -3.0, "max": 2.0}, {"min": None, "max": None}]},
         {"volumes": 3, "min": -3.0, "max": 5.0, "signed": True}),
        # Too many volumes to list: the viewer reads the range from the data.
        ({"min": 1.0, "max": 5.0, "n_volumes": 900, "volumes": [{"min": 1.0, "max": 5.0}], "volumes_truncated": True},
         {"volumes": 900, "min": None, "max": None, "signed": True}),
        ({"min": None, "max": None, "n_volumes": 1, "volumes": [{"min": None, "max": None}]},
         {"volumes": 1, "min": None, "max": None, "signed": True}),
    ],
)
def test_viewer_range(stats, expected):
    assert viewer_range(stats) == expected
