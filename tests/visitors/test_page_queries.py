"""The pages built for one visitor (a signed-in one, or on a cache miss) send a fixed, small number of queries."""

import pytest

from webapp.extensions import db

from ..helpers import sql_statements
from .seed import seed_collections, seed_images, seed_user


@pytest.fixture
def one_study(app):
    with app.app_context():
        owner = seed_user()
        [collection] = seed_collections(owner, 1)
        ids = seed_images([collection], 40, owner)
        db.session.commit()
    return {"collection": collection, "image": ids[5]}


PAGES = [
    # the image with its collection, uploader, stats and thumbnails; the picker; similar
    ("/images/{image}", 3, 2),  # kept pieces (decision 0040): the image and its collection; similar
    ("/collections/{collection}", 2, 2),  # the collection (with its owner); its page of images
    ("/images/", 2, 2),  # the cards; the total (kept per generation after the first)
    ("/collections/", 3, 1),  # the cards; their owners; the total. Kept cards: the page's ids
]


@pytest.mark.parametrize(("page", "most", "most_from_pieces"), PAGES)
def test_a_built_page_sends_a_few_queries(app, client, one_study, monkeypatch, page, most, most_from_pieces):
    from webapp import pagecache

    monkeypatch.setattr(pagecache, "is_shareable_request", lambda: False)
    url = page.format(**one_study)
    client.get(url)
    app.extensions["viewer_copies"].clear()  # built again, as on the first visit after a change
    app.extensions.get("page_fragments", {}).clear()  # the pieces too (decision 0040)
    with sql_statements(app) as statements:
        assert client.get(url).status_code == 200
    assert len(statements) <= most, statements
    app.extensions["viewer_copies"].clear()  # built again from the pieces the last build kept
    with sql_statements(app) as statements:
        assert client.get(url).status_code == 200
    assert len(statements) <= most_from_pieces, statements


@pytest.mark.parametrize("page", [page for page, *_ in PAGES])
def test_a_page_kept_for_its_viewer_sends_none(app, client, one_study, monkeypatch, page):
    from webapp import pagecache

    monkeypatch.setattr(pagecache, "is_shareable_request", lambda: False)
    url = page.format(**one_study)
    client.get(url)
    with sql_statements(app) as statements:
        assert client.get(url).status_code == 200
    assert statements == []
