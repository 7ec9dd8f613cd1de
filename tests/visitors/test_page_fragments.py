"""Pieces of pages kept per object and generation (decision 0040): a page assembled from kept pieces is the page
built without them, byte for byte, for every viewer; a change shows on the next request in every process; a piece
never reaches someone the page's own access check refuses."""

import pytest

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import Collection, Image

from ..helpers import csrf_token, freeze_signing_time, share_the_cache_between_processes, sql_statements
from .seed import emotion_study

OWNER, READER, ADMIN = "owner@example.org", "reader@example.org", "admin@example.org"
BUILT = {"Cache-Control": "no-cache"}  # as figure 4's built rows and a browser's reload: no copy kept per viewer
PAGES = ("/images/{image}", "/images/{unfinished}", "/images/{unpublished}", "/images/{private_image}",
         "/collections/{collection}", "/collections/{private}", "/collections/", "/collections/?q=emotion",
         "/collections/?sort=name", "/images/", "/images/?q=faces")


@pytest.fixture(autouse=True)
def cache_shared_by_processes(app, tmp_path):
    share_the_cache_between_processes(app, tmp_path)


@pytest.fixture
def site(app, accounts, monkeypatch):
    """A public collection with a ready, a processing and an unpublished map, a private collection with a map;
    its owner, another researcher and an admin. A signed value made within the test has one timestamp, so two
    builds of an owner's page carry the same CSRF token."""
    from webapp import pagecache

    monkeypatch.setattr(pagecache, "is_shareable_request", lambda: False)
    freeze_signing_time(monkeypatch)
    owner_id = accounts.create(OWNER)
    accounts.create(READER)
    accounts.create(ADMIN, admin=True)
    with app.app_context():
        collection, ready, unfinished = emotion_study(owner_id)
        ready.description = "faces <b>and</b> places"
        ready.extra = {"inferred": {"map_type": "the name"}, "import_notes": {"notes": ["a note"]}}
        unpublished = Image(collection=collection, uploader_id=owner_id, name="taken down", storage_key="k/4",
                            sha256="4" * 64, status="ready", unpublished_reason="copyright")
        private = Collection(owner_id=owner_id, name="Secret study", private=True, share_token="s" * 32)
        private_image = Image(collection=private, uploader_id=owner_id, name="secret map", storage_key="k/5",
                              sha256="5" * 64, status="ready")
        db.session.add_all([unpublished, private, private_image])
        db.session.flush()
        collection.refresh_image_count()
        private.refresh_image_count()
        db.session.commit()
        return {"collection": collection.id, "image": ready.id, "unfinished": unfinished.id,
                "unpublished": unpublished.id, "private": private.id, "private_image": private_image.id,
                "owner": owner_id}


def signed_in(app, accounts, email):
    client = app.test_client()
    if email is not None:
        assert accounts.login(email, client=client).status_code == 302
    return client


def without_date(answer):
    return sorted((name, value) for name, value in answer.headers.items() if name not in ("Date", "X-Request-Id"))


def built_without_pieces(app, client, url):
    app.extensions.get("page_fragments", {}).clear()
    return client.get(url, headers=BUILT)


@pytest.mark.parametrize("email", [None, READER, OWNER, ADMIN], ids=["anonymous", "reader", "owner", "admin"])
def test_a_page_from_kept_pieces_is_the_page_built_without_them(app, accounts, site, email):
    client = signed_in(app, accounts, email)
    for url in (page.format(**site) for page in PAGES):
        built = built_without_pieces(app, client, url)
        kept = app.extensions.get("page_fragments", {})
        if built.status_code == 200 and not url.startswith(("/images/?", "/images/")[url == "/images/"]):
            assert kept, url  # the page kept pieces (the image list's cards are cheap to write: not kept)
        assembled = client.get(url, headers=BUILT)
        assert assembled.status_code == built.status_code, url
        assert assembled.get_data(as_text=True) == built.get_data(as_text=True), url
        assert without_date(assembled) == without_date(built), url


def test_the_image_page_from_kept_pieces_reads_neither_stats_nor_thumbnails(app, client, site):
    url = "/images/{image}".format(**site)
    client.get(url, headers=BUILT)
    with sql_statements(app) as statements:
        assert client.get(url, headers=BUILT).status_code == 200
    assert len(statements) <= 2, statements  # the image and its collection; the similarity index's newest id
    assert not [sql for sql in statements if "image_stats" in sql or "artifact" in sql], statements


def test_no_piece_holds_a_csrf_token_or_the_viewers_name(app, accounts, site):
    owner = signed_in(app, accounts, OWNER)
    for url in (page.format(**site) for page in PAGES):
        owner.get(url, headers=BUILT)
    pieces = app.extensions["page_fragments"]
    assert pieces
    for _, piece in pieces.values():
        for text in (piece if isinstance(piece, tuple) else (piece,)):
            for part in (text.values() if isinstance(text, dict) else (text,)):
                assert "csrf_token" not in str(part) and OWNER not in str(part)


def test_a_private_maps_pieces_never_reach_anyone_else(app, accounts, site):
    owner = signed_in(app, accounts, OWNER)
    pages = ["/images/{private_image}".format(**site), "/collections/{private}".format(**site)]
    for url in pages:
        assert "secret map" in owner.get(url, headers=BUILT).get_data(as_text=True)
    for email in (None, READER):
        other = signed_in(app, accounts, email)
        for url in pages:
            assert other.get(url, headers=BUILT).status_code == 404, url
        for url in ("/collections/", "/images/"):
            shown = other.get(url, headers=BUILT).get_data(as_text=True)
            assert "Secret study" not in shown and "secret map" not in shown
    holder = signed_in(app, accounts, READER)
    assert holder.get("/collections/share/" + "s" * 32).status_code == 302
    assert "secret map" in holder.get(pages[0], headers=BUILT).get_data(as_text=True)


@pytest.fixture
def other_process(app):
    """A second app on the same database and shared cache, with its own kept pieces, as another process has."""
    config = TestConfig()
    for name in ("CACHE_TYPE", "CACHE_DIR", "CACHE_REDIS_URL", "CACHE_KEY_PREFIX"):
        if name in app.config:
            setattr(config, name, app.config[name])
    other = create_app(config)
    yield other
    with other.app_context():
        db.engine.dispose()


def changed(app, change):
    with app.app_context():
        change()
        db.session.commit()


def test_an_edited_image_shows_on_the_next_request_in_every_process(app, site, other_process):
    urls = ["/images/{image}".format(**site), "/collections/{collection}".format(**site)]
    clients = [app.test_client(), other_process.test_client()]
    for client in clients:
        for url in urls:
            assert "faces map" in client.get(url, headers=BUILT).get_data(as_text=True)

    def rename():
        db.session.get(Image, site["image"]).name = "renamed map"

    changed(app, rename)
    for client in clients:
        shown = client.get(urls[0], headers=BUILT).get_data(as_text=True)
        assert "renamed map" in shown and "faces map" not in shown
        assert "renamed map" in client.get(urls[1], headers=BUILT).get_data(as_text=True)


def test_a_collection_edited_or_made_private_shows_in_every_process(app, accounts, site, other_process):
    page, image = "/collections/{collection}".format(**site), "/images/{image}".format(**site)
    reader = signed_in(other_process, accounts, READER)
    for url in (page, image, "/collections/"):
        assert "Emotion" in reader.get(url, headers=BUILT).get_data(as_text=True)

    def rename():
        db.session.get(Collection, site["collection"]).name = "Feelings"

    changed(app, rename)
    for url in (page, image, "/collections/"):
        shown = reader.get(url, headers=BUILT).get_data(as_text=True)
        assert "Feelings" in shown and "Emotion" not in shown, url
    owner = signed_in(app, accounts, OWNER)
    assert owner.post(f"{page}/privacy", data={"csrf_token": csrf_token(owner, page)}).status_code == 302
    for url in (page, image):
        assert reader.get(url, headers=BUILT).status_code == 404, url
    assert "Feelings" not in reader.get("/collections/", headers=BUILT).get_data(as_text=True)


def test_a_new_and_a_deleted_map_show_in_every_process(app, site, other_process):
    page = "/collections/{collection}".format(**site)
    reader = other_process.test_client()
    assert "faces map" in reader.get(page, headers=BUILT).get_data(as_text=True)

    def add():
        collection = db.session.get(Collection, site["collection"])
        db.session.add(Image(collection=collection, uploader_id=site["owner"], name="new upload",
                             storage_key="k/9", sha256="9" * 64, status="uploaded"))
        db.session.flush()
        collection.refresh_image_count()

    changed(app, add)
    shown = reader.get(page, headers=BUILT).get_data(as_text=True)
    assert "new upload" in shown and "Images (4)" in shown
    assert "4 images" in reader.get("/collections/", headers=BUILT).get_data(as_text=True)

    def delete():
        collection = db.session.get(Collection, site["collection"])
        db.session.delete(db.session.get(Image, site["image"]))
        db.session.flush()
        collection.refresh_image_count()

    changed(app, delete)
    assert reader.get("/images/{image}".format(**site), headers=BUILT).status_code == 404
    shown = reader.get(page, headers=BUILT).get_data(as_text=True)
    assert "faces map" not in shown and "Images (3)" in shown


def test_without_a_shared_cache_every_piece_is_built(app, client, site):
    app.config["CACHE_TYPE"] = "NullCache"
    url = "/images/{image}".format(**site)
    first = client.get(url, headers=BUILT).get_data()
    assert app.extensions.get("page_fragments", {}) == {}
    assert client.get(url, headers=BUILT).get_data() == first


def test_pieces_and_the_layouts_links_are_kept_per_mount_point(app, site):
    url = "/images/{image}".format(**site)
    client = app.test_client()
    for root in ("/one", "/two", "/one"):
        shown = client.get(url, headers=BUILT, base_url=f"http://localhost{root}/").get_data(as_text=True)
        other = "/two" if root == "/one" else "/one"
        assert f'href="{root}/collections/{site["collection"]}"' in shown  # a kept piece's link
        assert f'href="{root}/collections/"' in shown and f'href="{other}/' not in shown  # the layout's


def test_the_layouts_links_are_url_fors(app):
    from flask import url_for
    from flask_security import url_for_security

    from webapp.templating import LAYOUT_LINKS, layout_links

    with app.test_request_context("/", base_url="http://localhost/mounted/"):
        for name, (endpoint, values, security) in LAYOUT_LINKS.items():
            expected = (url_for_security if security else url_for)(endpoint, **values)
            assert layout_links()[name] == expected and expected.startswith("/mounted/")
