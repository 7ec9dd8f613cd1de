"""Pages kept per viewer (decision 0036): the kept page is the built page, byte for byte, for the viewer it was
built for only, and never older than the data."""

import pytest

from webapp.extensions import db
from webapp.models import Collection, Image

from ..helpers import csrf_token, freeze_signing_time, sql_statements
from .seed import emotion_study

OWNER, READER, ADMIN = "owner@example.org", "reader@example.org", "admin@example.org"
PAGES = ("/images/{image}", "/collections/{collection}", "/images/", "/images/?q=faces", "/collections/",
         "/collections/?q=emotion", "/images/?sort=name")


@pytest.fixture
def site(app, accounts, monkeypatch):
    """A public collection with a ready and a processing map; its owner, another researcher and an admin.
    The page cache's shared copies are off (every caller is as a signed-in one), and a signed value made
    within the test has one timestamp, so that two builds of an owner's page carry the same CSRF token."""
    from webapp import pagecache

    monkeypatch.setattr(pagecache, "is_shareable_request", lambda: False)
    freeze_signing_time(monkeypatch)
    owner_id = accounts.create(OWNER)
    accounts.create(READER)
    accounts.create(ADMIN, admin=True)
    with app.app_context():
        collection, ready, unfinished = emotion_study(owner_id)
        db.session.commit()
        return {"collection": collection.id, "image": ready.id, "owner": owner_id}


def signed_in(app, accounts, email):
    client = app.test_client()
    if email is not None:
        assert accounts.login(email, client=client).status_code == 302
    return client


def built_from_scratch(app, client, url):
    app.extensions["viewer_copies"].clear()
    return client.get(url)


def kept(app, client, url):
    """The page as the kept copy answers it: no SQL but a signed-in session's loading of its user."""
    with sql_statements(app) as statements:
        answer = client.get(url)
    assert [sql for sql in statements if "WHERE user.fs_uniquifier = " not in sql.replace('"', "")] == [], url
    return answer


def without_date(answer):
    return sorted((name, value) for name, value in answer.headers.items() if name not in ("Date", "X-Request-Id"))


@pytest.mark.parametrize("email", [None, READER, OWNER, ADMIN], ids=["anonymous", "reader", "owner", "admin"])
def test_the_kept_page_is_the_built_page_byte_for_byte(app, accounts, site, email):
    client = signed_in(app, accounts, email)
    for url in (page.format(**site) for page in PAGES):
        built = built_from_scratch(app, client, url)
        assert built.status_code == 200, url
        again = kept(app, client, url)
        assert again.status_code == 200, url
        assert again.get_data(as_text=True) == built.get_data(as_text=True), url
        assert without_date(again) == without_date(built), url


def test_the_owners_page_is_kept_for_the_owner_alone(app, accounts, site):
    page = "/collections/{collection}".format(**site)
    owner = signed_in(app, accounts, OWNER)
    assert "Owner actions" in owner.get(page).get_data(as_text=True)
    assert "Owner actions" in kept(app, owner, page).get_data(as_text=True)
    for email in (None, READER):
        visitor = signed_in(app, accounts, email)
        shown = visitor.get(page).get_data(as_text=True)
        assert "Owner actions" not in shown and "Report this collection" in shown


def test_the_kept_owners_page_carries_the_token_of_the_session_it_is_sent_to(app, accounts, site):
    page = "/collections/{collection}".format(**site)
    on_laptop, on_desktop = signed_in(app, accounts, OWNER), signed_in(app, accounts, OWNER)
    on_laptop.get(page)
    token = csrf_token(on_desktop, page)
    assert token not in on_laptop.get(page).get_data(as_text=True)
    assert on_desktop.post(f"{page}/privacy", data={"csrf_token": token}).status_code == 302


def rename_image(app, image_id, name):
    with app.app_context():
        db.session.get(Image, image_id).name = name
        db.session.commit()


def test_a_renamed_image_shows_on_the_next_request(app, accounts, site):
    urls = [page.format(**site) for page in PAGES[:3]]
    clients = [signed_in(app, accounts, email) for email in (None, READER, OWNER)]
    for client in clients:
        for url in urls:
            client.get(url)
    rename_image(app, site["image"], "renamed map")
    for client in clients:
        for url in urls:
            shown = client.get(url).get_data(as_text=True)
            assert "renamed map" in shown and "faces map" not in shown, url


def test_a_new_map_in_the_collection_shows_on_the_next_request(app, accounts, site):
    page = "/collections/{collection}".format(**site)
    reader = signed_in(app, accounts, READER)
    reader.get(page)
    with app.app_context():
        collection = db.session.get(Collection, site["collection"])
        db.session.add(Image(collection=collection, uploader_id=site["owner"], name="new upload",
                             storage_key="k/3", sha256="2" * 64, status="uploaded"))
        db.session.flush()
        collection.refresh_image_count()
        db.session.commit()
    assert "new upload" in reader.get(page).get_data(as_text=True)


def test_a_collection_made_private_disappears_for_others_at_once(app, accounts, site):
    pages = ["/collections/{collection}".format(**site), "/images/{image}".format(**site)]
    owner, reader, visitor = (signed_in(app, accounts, email) for email in (OWNER, READER, None))
    for client in (owner, reader, visitor):
        for url in (*pages, "/collections/"):
            assert client.get(url).status_code == 200
    assert owner.post(f"{pages[0]}/privacy", data={"csrf_token": csrf_token(owner, pages[0])}).status_code == 302
    for client in (reader, visitor):
        for url in pages:
            assert client.get(url).status_code == 404, url
        assert "Emotion" not in client.get("/collections/").get_data(as_text=True)
    assert 'badge-private">private' in owner.get(pages[0]).get_data(as_text=True)


def test_a_flash_message_is_shown_once_on_a_built_page(app, accounts, site):
    page = "/collections/{collection}".format(**site)
    owner = signed_in(app, accounts, OWNER)
    owner.get(page)
    with owner.session_transaction() as session:
        session["_flashes"] = [("success", "Saved, thank you.")]
    assert "Saved, thank you." in owner.get(page).get_data(as_text=True)
    assert "Saved, thank you." not in kept(app, owner, page).get_data(as_text=True)


def test_no_shared_cache_means_every_page_is_built(app, accounts, site):
    app.config["CACHE_TYPE"] = "NullCache"
    page = "/images/{image}".format(**site)
    client = signed_in(app, accounts, READER)
    client.get(page)
    with sql_statements(app) as statements:
        assert client.get(page).status_code == 200
    assert statements


def test_a_caller_asking_for_a_fresh_page_gets_it_built(app, accounts, site):
    """``Cache-Control: no-cache`` (a browser's reload; figure 4's built rows) skips the kept copy."""
    page = "/images/{image}".format(**site)
    client = signed_in(app, accounts, READER)
    kept_page = client.get(page).get_data(as_text=True)
    with sql_statements(app) as statements:
        fresh = client.get(page, headers={"Cache-Control": "no-cache"})
    assert fresh.status_code == 200 and fresh.get_data(as_text=True) == kept_page
    assert any("FROM image" in sql.replace('"', "") for sql in statements)


def test_a_page_opened_by_a_share_link_is_kept_for_that_session_alone(app, accounts, site):
    with app.app_context():
        collection = db.session.get(Collection, site["collection"])
        collection.private = True
        db.session.commit()
        share = collection.share_token
    pages = ["/collections/{collection}".format(**site), "/images/{image}".format(**site)]
    holder, reader, visitor = (signed_in(app, accounts, email) for email in (None, READER, None))
    assert holder.get(f"/collections/share/{share}").status_code == 302
    for url in pages:
        assert holder.get(url).status_code == 200
        assert kept(app, holder, url).status_code == 200
        assert reader.get(url).status_code == 404 and visitor.get(url).status_code == 404, url
