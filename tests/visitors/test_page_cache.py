"""The visitors' page cache: anonymous visitors share stored pages, and never one older than the data."""

import pytest
import sqlalchemy as sa
from flask import render_template_string

from webapp.extensions import db
from webapp.models import ApiToken, Collection, Image, User
from webapp.pagecache import HIT_HEADER, shared_with_visitors

from ..helpers import csrf_token, sql_statements
from .seed import emotion_study

OWNER = "owner@example.org"


@pytest.fixture
def site(app, accounts):
    """A public collection with one ready and one processing image, and the owner's API token."""
    owner_id = accounts.create(OWNER)
    with app.app_context():
        collection, ready, unfinished = emotion_study(owner_id)
        _, secret = ApiToken.issue(db.session.get(User, owner_id), "tests")
        db.session.commit()
        return {"collection": collection.id, "image": ready.id, "unfinished": unfinished.id, "token": secret}


def visitor_pages(site):
    return ["/", "/collections/", "/images/", f"/collections/{site['collection']}", f"/images/{site['image']}",
            "/api/images/", "/api/collections/", f"/api/collections/{site['collection']}/",
            f"/api/collections/{site['collection']}/images/", f"/api/images/{site['image']}/"]


def test_anonymous_visitors_share_one_stored_page_per_address(app, site):
    first_visitor, next_visitor = app.test_client(), app.test_client()
    for url in visitor_pages(site):
        built = first_visitor.get(url)
        assert built.status_code == 200 and built.headers[HIT_HEADER] == "miss", url
        with sql_statements(app) as statements:
            served = next_visitor.get(url)
        assert served.headers[HIT_HEADER] == "hit", url
        assert served.data == built.data and served.content_type == built.content_type, url
        assert statements == [], (url, statements)
        assert served.headers["Content-Security-Policy"] == built.headers["Content-Security-Policy"]


def test_a_collection_made_private_disappears_at_once(app, client, accounts, site):
    visitor = app.test_client()
    page, listed = f"/collections/{site['collection']}", "/collections/"
    for url in (page, listed, f"/images/{site['image']}", f"/api/collections/{site['collection']}/"):
        visitor.get(url)
        assert visitor.get(url).headers[HIT_HEADER] == "hit"

    accounts.login(OWNER)
    answer = client.post(f"{page}/privacy", data={"csrf_token": csrf_token(client, page)})
    assert answer.status_code == 302

    assert visitor.get(page).status_code == 404
    assert visitor.get(f"/images/{site['image']}").status_code == 404
    assert visitor.get(f"/api/collections/{site['collection']}/").status_code == 404
    assert "Emotion" not in visitor.get(listed).get_data(as_text=True)


def test_every_kind_of_write_is_seen_by_the_next_visitor(app, site):
    visitor = app.test_client()
    page = f"/images/{site['image']}"
    visitor.get(page)

    def rename(write):
        with app.app_context():
            write()
            db.session.commit()
        return visitor.get(page)

    by_orm = rename(lambda: setattr(db.session.get(Image, site["image"]), "name", "renamed row"))
    assert by_orm.headers[HIT_HEADER] == "miss" and "renamed row" in by_orm.get_data(as_text=True)
    by_bulk_update = rename(lambda: db.session.execute(
        sa.update(Image).where(Image.id == site["image"]).values(name="renamed in bulk")))
    assert "renamed in bulk" in by_bulk_update.get_data(as_text=True)
    by_table_update = rename(lambda: db.session.execute(
        sa.update(Image.__table__).where(Image.__table__.c.id == site["image"]).values(name="renamed table")))
    assert "renamed table" in by_table_update.get_data(as_text=True)
    owner_renamed = rename(lambda: setattr(db.session.scalar(sa.select(User)), "public_name", "Dr Owner"))
    assert "Dr Owner" in owner_renamed.get_data(as_text=True)

    with app.app_context():
        db.session.get(Image, site["image"]).name = "never committed"
        db.session.flush()
        db.session.rollback()
    assert visitor.get(page).headers[HIT_HEADER] == "hit"


def test_a_processed_image_appears_on_the_cached_lists(app, site):
    """The worker's commit (here in-process, eager) starts a new generation too."""
    visitor = app.test_client()
    listed = f"/api/collections/{site['collection']}/images/"
    assert [row["id"] for row in visitor.get(listed).get_json()["results"]] == [site["image"]]
    with app.app_context():
        image = db.session.get(Image, site["unfinished"])
        image.status = Image.READY
        db.session.commit()
    assert [row["id"] for row in visitor.get(listed).get_json()["results"]] == [site["image"], site["unfinished"]]


def test_signed_in_people_and_share_links_get_pages_of_their_own(app, client, accounts, site):
    page = f"/collections/{site['collection']}"
    visitor = app.test_client()
    visitor.get(page)

    accounts.login(OWNER)
    owners = client.get(page)
    assert HIT_HEADER not in owners.headers and "Upload maps" in owners.get_data(as_text=True)
    assert "Upload maps" not in visitor.get(page).get_data(as_text=True)

    scripted = visitor.get(f"/api/collections/{site['collection']}/images/",
                           headers={"Authorization": f"Token {site['token']}"})
    assert HIT_HEADER not in scripted.headers and len(scripted.get_json()["results"]) == 2

    client.post(f"{page}/privacy", data={"csrf_token": csrf_token(client, page)})
    with app.app_context():
        share_token = db.session.get(Collection, site["collection"]).share_token
    holder = app.test_client()
    assert holder.get(f"/collections/share/{share_token}").status_code in (200, 302)
    shared = holder.get(page)
    assert shared.status_code == 200 and HIT_HEADER not in shared.headers
    assert app.test_client().get(page).status_code == 404


def test_pages_carrying_a_csrf_token_are_never_stored(app):
    form_page = shared_with_visitors(lambda: render_template_string("{{ csrf_token() }}"))
    app.add_url_rule("/form-page", "form_page", form_page)
    first, second = app.test_client().get("/form-page"), app.test_client().get("/form-page")
    assert HIT_HEADER not in first.headers and HIT_HEADER not in second.headers
    assert first.data != second.data


def test_post_to_a_cached_address_is_never_answered_from_the_cache(app, site):
    visitor = app.test_client()
    visitor.get("/api/collections/")
    answer = visitor.post("/api/collections/", json={"name": "x"})
    assert answer.status_code == 401 and HIT_HEADER not in answer.headers


def test_a_cache_outage_costs_speed_never_a_page_or_a_commit(app, site, monkeypatch):
    from webapp import pagecache

    def unreachable(*args):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(pagecache.cache, "get", unreachable)
    monkeypatch.setattr(pagecache.cache, "set", unreachable)
    monkeypatch.setattr(pagecache.cache, "get_many", unreachable)
    monkeypatch.setattr(pagecache.cache, "set_many", unreachable)
    visitor = app.test_client()
    for url in visitor_pages(site):
        answer = visitor.get(url)
        assert answer.status_code == 200 and HIT_HEADER not in answer.headers, url
    with app.app_context():
        db.session.get(Image, site["image"]).name = "renamed while the cache is down"
        db.session.commit()
    assert "renamed while the cache is down" in visitor.get(f"/images/{site['image']}").get_data(as_text=True)


def test_an_upload_to_one_collection_leaves_the_other_collections_pages_in_place(app, site):
    """Generations per collection and per list: a new map (ORM insert, then the bulk UPDATE that queues it)
    in another collection rebuilds that collection's page only; this collection's pages stay served."""
    from webapp.pipeline import mark_queued

    with app.app_context():
        other = Collection(owner_id=db.session.scalar(sa.select(User.id)), name="Other study")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    visitor = app.test_client()
    ours = [f"/collections/{site['collection']}", f"/images/{site['image']}", "/images/"]
    for url in [*ours, f"/collections/{other_id}"]:
        visitor.get(url)

    with app.app_context():
        upload = Image(collection_id=other_id, uploader_id=db.session.scalar(sa.select(User.id)), name="new upload",
                       storage_key="k/3", sha256="3" * 64, status="uploaded")
        db.session.add(upload)
        db.session.flush()
        db.session.get(Collection, other_id).refresh_image_count()
        db.session.commit()
        mark_queued(upload.id)

    for url in ours:
        assert visitor.get(url).headers[HIT_HEADER] == "hit", url
    rebuilt = visitor.get(f"/collections/{other_id}")
    assert rebuilt.headers[HIT_HEADER] == "miss" and "new upload" in rebuilt.get_data(as_text=True)
    assert visitor.get("/api/images/").headers[HIT_HEADER] == "miss"  # pages naming no scope: any commit
