"""The public lists: search, filters, sort, paging, and a bounded number of SQL queries with 10,000 images."""

import re

import pytest
import sqlalchemy as sa

from tests.helpers import sql_statements
from webapp.extensions import db
from webapp.models import Collection

from .seed import seed_collections, seed_images, seed_user

# Per page: the session's user (when logged in), COUNT, the rows, one selectinload; a little slack.
MAX_QUERIES = 8


def card_ids(html, kind="image"):
    return [int(x) for x in re.findall(rf'data-{kind}-id="(\d+)"', html)]


@pytest.fixture
def big_site(app):
    """10,000 ready public images in 200 collections (every 10th private), plus some not ready."""
    with app.app_context():
        owner = seed_user()
        collections = seed_collections(owner, 200, private_every=10)
        seed_images(collections, 10_000, owner)
        seed_images(collections[:5], 30, owner, status="processing")
        db.session.commit()
        private = db.session.scalar(sa.select(Collection.id).where(Collection.private.is_(True)).limit(1))
        public = db.session.scalar(
            sa.select(Collection.id).where(Collection.private.is_(False)).order_by(Collection.id).limit(1)
        )
    return {"owner": owner, "collections": collections, "private": private, "public": public}


LIST_PAGES = [
    "/",
    "/images/",
    "/images/?page=2",
    "/images/?page=300",
    "/images/?q=map%2001",
    "/images/?q=Author3",
    "/images/?map_type=T&modality=PET+FDG&analysis_level=G",
    "/images/?thresholded=yes&not_mni=no&sort=name",
    "/images/?sort=old&page=5",
    "/collections/",
    "/collections/?page=3",
    "/collections/?q=Smith&sort=name",
]


def test_list_pages_answer_within_a_bounded_number_of_queries(app, client, accounts, big_site):
    pages = [*LIST_PAGES, f"/collections/{big_site['public']}", f"/collections/{big_site['public']}?page=2"]
    for url in pages:
        with sql_statements(app) as statements:
            response = client.get(url)
        assert response.status_code == 200, url
        assert len(statements) <= MAX_QUERIES, (url, len(statements), statements)

    visitor_id = accounts.create("visitor@example.org")
    accounts.login("visitor@example.org")
    for url in ("/", "/images/", "/collections/"):
        with sql_statements(app) as statements:
            response = client.get(url)
        assert response.status_code == 200 and f"user {visitor_id}".encode() in response.data
        assert len(statements) <= MAX_QUERIES, (url, len(statements), statements)


def test_query_count_does_not_grow_with_the_page_size(app, client, big_site, monkeypatch):
    """A page of 40 cards costs the same number of queries as a page of 5: nothing is loaded per card."""
    from webapp import pagecache
    from webapp.collections import views as collection_views
    from webapp.images import views as image_views

    monkeypatch.setattr(pagecache, "is_shareable_request", lambda: False)  # build every page, as on a miss

    counts = {}
    for per_page in (5, 40):
        monkeypatch.setattr(image_views, "PER_PAGE", per_page)
        monkeypatch.setattr(collection_views, "PER_PAGE", per_page)
        for url in ("/images/", "/collections/", f"/collections/{big_site['public']}"):
            client.get(url)  # numbers kept per generation (the image list's total) are computed once
            app.extensions["viewer_copies"].clear()  # the page itself built again (decision 0036)
            with sql_statements(app) as statements:
                html = client.get(url).get_data(as_text=True)
            assert len(card_ids(html, "image") + card_ids(html, "collection")) == per_page, url
            counts[(url, per_page)] = len(statements)
    for url in ("/images/", "/collections/", f"/collections/{big_site['public']}"):
        assert counts[(url, 5)] == counts[(url, 40)], counts


def test_image_list_pages_filters_and_counts(app, client, big_site):
    html = client.get("/images/").get_data(as_text=True)
    # 10,000 ready images, a tenth of the collections private: 9,000 public and ready.
    assert 'data-total="9000"' in html
    first = card_ids(html)
    assert len(first) == 24 and first == sorted(first, reverse=True)
    second = card_ids(client.get("/images/?page=2").get_data(as_text=True))
    assert second and max(second) < min(first)

    html = client.get("/images/?map_type=Z&thresholded=yes").get_data(as_text=True)
    total = int(re.search(r'data-total="(\d+)"', html).group(1))
    assert 0 < total < 9000
    assert "card-meta\">Z map" in html and "card-meta\">F map" not in html
    pager = re.search(r'<a rel="next" href="([^"]+)"', html).group(1)
    assert "map_type=Z" in pager and "thresholded=yes" in pager and "page=2" in pager

    by_name = card_ids(client.get("/images/?sort=name").get_data(as_text=True))
    oldest = card_ids(client.get("/images/?sort=old").get_data(as_text=True))
    assert oldest == sorted(oldest) and by_name == sorted(by_name)

    assert client.get("/images/?page=99999").status_code == 200
    assert client.get("/images/?map_type=nonsense&sort=nonsense&page=x").status_code == 200


def test_private_and_unfinished_images_stay_out_of_the_lists(app, client, big_site):
    with app.app_context():
        private_name = db.session.scalar(sa.select(Collection.name).where(Collection.id == big_site["private"]))
    html = client.get("/collections/?q=" + private_name).get_data(as_text=True)
    assert 'data-total="0"' in html
    html = client.get("/images/?q=" + private_name).get_data(as_text=True)
    assert 'data-total="0"' in html
    assert client.get(f"/collections/{big_site['private']}").status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert 'data-count="images">9000<' in home and 'data-count="collections">180<' in home


@pytest.fixture
def small_site(app):
    """A few hand-made images whose fields each search and filter can tell apart."""
    with app.app_context():
        owner = seed_user()
        [a, b, hidden] = seed_collections(owner, 3)
        db.session.execute(
            sa.update(Collection)
            .where(Collection.id == a)
            .values(name="Working memory", authors="Ada Lovelace", doi="10.1234/wm.1", description="n-back task")
        )
        db.session.execute(
            sa.update(Collection).where(Collection.id == b).values(name="Pain", authors="Alan Turing", doi=None)
        )
        db.session.execute(sa.update(Collection).where(Collection.id == hidden).values(private=True))
        ids = seed_images([a, b, hidden], 6, owner)
        names = ["2-back > 0-back", "heat_pain", "secret map", "100% sure", "faces", "hidden_pain"]
        for image_id, name in zip(ids, names, strict=True):
            db.session.execute(
                sa.text("UPDATE image SET name = :name WHERE id = :id"), {"name": name, "id": image_id}
            )
        db.session.commit()
    return dict(zip(names, ids, strict=True))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2-back", {"2-back > 0-back"}),
        ("PAIN", {"heat_pain", "faces"}),  # an image's name, and collection "Pain" holds "faces"
        ("lovelace", {"2-back > 0-back", "100% sure"}),  # author of the collection
        ("10.1234/wm.1", {"2-back > 0-back", "100% sure"}),  # DOI of the collection
        ("n-back", {"2-back > 0-back", "100% sure"}),  # description of the collection
        ("100%", {"100% sure"}),  # % is taken literally
        ("_", set()),  # only punctuation: no term, nothing found (decision 0025)
        ("secret", set()),  # private collection
    ],
)
def test_image_search(client, small_site, query, expected):
    html = client.get("/images/", query_string={"q": query}).get_data(as_text=True)
    names = {name for name, image_id in small_site.items() if image_id in card_ids(html)}
    assert names == expected


def test_collection_search_and_sort(client, small_site):
    def names(query_string):
        html = client.get("/collections/", query_string=query_string).get_data(as_text=True)
        return re.findall(r'class="card-title">([^<]+)<', html)

    assert names({"q": "turing"}) == ["Pain"]
    assert names({"q": "10.1234/WM"}) == ["Working memory"]
    assert names({"q": "n-back"}) == ["Working memory"]
    assert names({"sort": "name"}) == ["Pain", "Working memory"]
    assert names({"sort": "old"}) == ["Working memory", "Pain"]
    assert names({}) == ["Pain", "Working memory"]


def test_image_filters(client, small_site):
    def found(**args):
        html = client.get("/images/", query_string=args).get_data(as_text=True)
        return {name for name, image_id in small_site.items() if image_id in card_ids(html)}

    public = set(small_site) - {"secret map", "hidden_pain"}
    assert found() == public
    by_type = found(map_type="Z")
    assert by_type and by_type < public
    assert found(map_type="Z") | found(map_type="T") | found(map_type="F") | found(map_type="P") | found(
        map_type="Other"
    ) == public
    assert found(thresholded="yes") | found(thresholded="no") == public
    assert found(thresholded="yes").isdisjoint(found(thresholded="no"))
    assert found(not_mni="yes") | found(not_mni="no") == public
    assert found(modality="PET FDG") | found(modality="fMRI-BOLD") | found(modality="Structural MRI") == public
    assert found(analysis_level="S") == {"2-back > 0-back", "100% sure"}
    assert found(map_type="bogus") == public


def test_cards_show_thumbnail_alt_collection_and_owner(client, small_site):
    html = client.get("/images/").get_data(as_text=True)
    assert 'alt="Glass brain of heat_pain"' in html and ">Pain</a>" in html
    html = client.get("/collections/").get_data(as_text=True)
    assert "by seeder" in html and "Ada Lovelace" in html
    html = client.get("/").get_data(as_text=True)
    assert "Recent maps" in html and 'alt="Glass brain of faces"' in html
    assert all(" alt=" in tag for tag in re.findall(r"<img[^>]*>", html))
