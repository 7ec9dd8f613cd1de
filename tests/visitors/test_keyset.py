"""Keyset pages of the public lists: walking Next and Previous never skips nor repeats a row, even while
rows are added between requests; and the pages visitors share are byte for byte the pages built for them."""

import re

import pytest
import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Image

from .seed import seed_collections, seed_images, seed_user
from .test_lists import card_ids


@pytest.fixture
def lists(app):
    with app.app_context():
        owner = seed_user()
        collections = seed_collections(owner, 30)
        seed_images(collections, 60, owner)
        db.session.commit()
    return {"owner": owner, "collections": collections}


def next_link(html, rel="next"):
    found = re.search(rf'<a rel="{rel}" href="([^"]+)"', html)
    return found.group(1).replace("&amp;", "&") if found else None


def walk(client, url, kind, between=lambda: None):
    """Follow the Next links from ``url``, calling ``between`` after each page; the ids seen, page by page."""
    pages = []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(card_ids(html, kind))
        url = next_link(html)
        between()
    return pages


@pytest.mark.parametrize("sort", ["new", "old", "name"])
def test_images_added_while_walking_the_list_are_neither_skipped_nor_repeated(app, client, lists, sort):
    with app.app_context():
        before = set(range(1, 61))

    def upload_more():
        with app.app_context():
            seed_images(lists["collections"], 3, lists["owner"])
            db.session.commit()

    pages = walk(client, f"/images/?sort={sort}", "image", upload_more)
    seen = [image_id for page in pages for image_id in page]
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert before <= set(seen), "a row was skipped"
    assert len(pages) >= 3 and all(0 < len(page) <= 24 for page in pages)


def test_previous_goes_back_to_the_same_rows_and_deep_links_still_work(client, lists):
    first = client.get("/images/?sort=name").get_data(as_text=True)
    second = client.get(next_link(first)).get_data(as_text=True)
    third_url = next_link(second)
    assert "after=" in third_url and "page=3" in third_url
    third = client.get(third_url).get_data(as_text=True)
    back = client.get(next_link(third, "prev")).get_data(as_text=True)
    assert card_ids(back) == card_ids(second) and "Page 2 of 3" in back
    assert card_ids(client.get(next_link(back, "prev")).get_data(as_text=True)) == card_ids(first)
    assert card_ids(client.get("/images/?sort=name&page=2").get_data(as_text=True)) == card_ids(second)
    for nonsense in ("after=x", "after=99999999999", "before=-1", "after=0&page=2", "after=999"):
        assert client.get(f"/images/?{nonsense}").status_code == 200, nonsense


def test_collection_list_walks_by_keyset_with_its_search(client, lists):
    pages = walk(client, "/collections/?sort=name&q=Collection", "collection")
    seen = [collection_id for page in pages for collection_id in page]
    assert sorted(seen) == sorted(lists["collections"]) and len(pages) == 2


def test_a_collections_own_images_walk_by_keyset_while_maps_are_added(app, client, lists):
    """A collection of hundreds of thousands of maps: its last page must cost what its first does (no OFFSET)."""
    collection = lists["collections"][0]
    with app.app_context():
        seed_images([collection], 60, lists["owner"])
        db.session.commit()
        before = set(db.session.scalars(sa.select(Image.id).where(Image.collection_id == collection)))

    def upload_more():
        with app.app_context():
            seed_images([collection], 3, lists["owner"])
            db.session.commit()

    first = client.get(f"/collections/{collection}").get_data(as_text=True)
    assert "after=" in next_link(first) and "page=2" in next_link(first)
    pages = walk(client, f"/collections/{collection}", "image", upload_more)
    seen = [image_id for page in pages for image_id in page]
    assert len(seen) == len(set(seen)) and before <= set(seen)
    assert seen == sorted(seen), "oldest first, as before"
    old_bookmark = client.get(f"/collections/{collection}?page=2").get_data(as_text=True)
    assert card_ids(old_bookmark) == pages[1], "a link with page alone still works (new maps come last)"


@pytest.mark.parametrize("url", ["/images/", "/collections/", "/images/?sort=old&after=10&page=2", "/images/1",
                                 "/collections/1"])
def test_the_page_built_for_a_signed_in_visitor_and_the_shared_copy_show_the_same_content(
        app, client, accounts, lists, url):
    """Fragments kept per generation (the totals, the card link prefixes) give what building everything gives."""
    from webapp.pagecache import HIT_HEADER

    visitor = app.test_client()
    visitor.get(url)
    shared = visitor.get(url)
    assert shared.headers[HIT_HEADER] == "hit"
    accounts.create("reader@example.org")
    accounts.login("reader@example.org")
    built = client.get(url)
    assert HIT_HEADER not in built.headers

    def main_content(response):
        return response.get_data(as_text=True).split('<main id="main" class="container">')[1].split("</main>")[0]

    assert main_content(built) == main_content(shared)


def test_card_links_are_the_routes_links(app, client, lists):
    html = client.get("/images/").get_data(as_text=True)
    image_id = card_ids(html)[0]
    with app.test_request_context():
        from flask import url_for

        from webapp.models import Image

        collection_id = db.session.get(Image, image_id).collection_id
        expected = [url_for("images.detail", image_id=image_id),
                    url_for("images.thumbnail", image_id=image_id, kind="glass_brain"),
                    url_for("collections.detail", collection_id=collection_id)]
    for link in expected:
        assert f'"{link}"' in html, link


def test_a_search_counts_its_matches_up_to_a_cap(client, lists, monkeypatch):
    from webapp import keyset

    monkeypatch.setattr(keyset, "COUNT_CAP", 30)
    html = client.get("/images/?q=map").get_data(as_text=True)
    assert 'data-total="30">30+ maps' in html and "Page 1 of 2+" in html
    assert 'data-total="12">12 maps' in client.get("/images/?q=map&map_type=T").get_data(as_text=True)
    assert 'data-total="60">60 maps<' in client.get("/images/").get_data(as_text=True)  # a stored total: exact


def test_a_deferred_join_gives_the_rows_limit_and_offset_give(app, lists):
    from webapp.keyset import deferred_page
    from webapp.models import Image

    with app.app_context():
        listed = Image.public_query().where(Image.status == Image.READY).order_by(Image.id).with_only_columns(
            Image.id, Image.collection_id)
        for offset in (0, 7, 55, 60, 100):
            expected = db.session.execute(listed.limit(10).offset(offset)).all()
            assert deferred_page(db.session, listed, Image, 10, offset) == expected
