"""The lists' search (decision 0025), the same on SQLite (FTS5) and PostgreSQL (tsvector + pg_trgm):
run this file with DATABASE_URL=postgresql+psycopg://… for the second."""

import pytest
import sqlalchemy as sa

from tests.helpers import sql_statements
from webapp import search
from webapp.extensions import db
from webapp.models import Collection, Image
from webapp.search import terms

from .seed import seed_collections, seed_images, seed_user
from .test_lists import card_ids


@pytest.fixture(autouse=True)
def nothing_learnt(monkeypatch):
    """What a process learnt about terms of other tests' databases (the same address) is not this test's."""
    for kept in ("_statistics", "_estimates", "_found_common"):
        monkeypatch.setattr(search, kept, {})


@pytest.fixture
def studies(app):
    with app.app_context():
        owner = seed_user()
        first, second = seed_collections(owner, 2)
        values = {first: dict(name="Émotion régulation", authors="Jürgen Müller, Ada Lovelace",
                              doi="10.1016/j.neuroimage.2020.117000", description="faces and fear"),
                  second: dict(name="Working memory load", authors="Alan Turing", doi=None,
                               description="a 2-back task versus rest")}
        for collection_id, fields in values.items():
            db.session.execute(sa.update(Collection).where(Collection.id == collection_id).values(**fields))
        ids = seed_images([first, second], 4, owner)
        names = ["amygdala response to fearful faces", "working memory 2-back > 0-back", "insula_pain",
                 "visual cortex"]
        for image_id, name in zip(ids, names, strict=True):
            db.session.execute(sa.update(Image).where(Image.id == image_id).values(name=name))
        db.session.commit()
    return dict(zip(names, ids, strict=True))


def found(client, studies, query, **args):
    """The studies' maps the image list finds (``args``: anything else in the address, which the page cache keys)."""
    html = client.get("/images/", query_string={"q": query, **args}).get_data(as_text=True)
    return {name for name, image_id in studies.items() if image_id in card_ids(html)}


ALL_OF_FIRST = {"amygdala response to fearful faces", "insula_pain"}
ALL_OF_SECOND = {"working memory 2-back > 0-back", "visual cortex"}


@pytest.mark.parametrize(("query", "expected"), [
    ("amygdala", {"amygdala response to fearful faces"}),  # a word of the image's name
    ("AMYGDALA faces", {"amygdala response to fearful faces"}),  # every word, any case
    ("amygdala cortex", set()),  # both words in one row only
    ("fear", ALL_OF_FIRST | {"amygdala response to fearful faces"}),  # a word's start, collection description
    ('"fearful faces"', {"amygdala response to fearful faces"}),  # a phrase
    ('"faces fearful"', set()),  # its words in order
    ("2-back", ALL_OF_SECOND | {"working memory 2-back > 0-back"}),  # punctuation inside: a phrase
    ("lovel", ALL_OF_FIRST),  # the start of an author's name
    ("velac", ALL_OF_FIRST),  # inside an author's name
    ("sula", {"insula_pain"}),  # inside an image's name
    ("pain", {"insula_pain"}),  # _ separates words
    ("10.1016/j.neuroimage.2020.117000", ALL_OF_FIRST),  # a DOI
    ("10.1016/J.NeuroImage.2020", ALL_OF_FIRST),  # the start of a DOI, as a phrase of its parts
    ("muller", ALL_OF_FIRST),  # accents ignored in the query's absence…
    ("Müller", ALL_OF_FIRST),  # …and presence
    ("emotion regulation", ALL_OF_FIRST),  # the collection's accented name
    ("!!! %% __ ... \"\"", set()),  # only punctuation: nothing, never an error
    ('"unclosed phrase', set()),
])
def test_image_search(client, studies, query, expected):
    assert found(client, studies, query, walk=1) == expected


def test_collection_search(client, studies):
    def names(query):
        html = client.get("/collections/", query_string={"q": query}).get_data(as_text=True)
        return {int(x) for x in card_ids(html, "collection")}

    assert len(names("turing")) == 1 and names("turing") == names("WORKING")
    assert names("müll") == names("10.1016/j.neuroimage.2020.117000") == names("emotion")
    assert names("'; DROP TABLE image; --") == set() and names("*") == set()


def test_a_renamed_map_is_found_by_its_new_name_only(app, client, studies):
    """The indexes follow the table (triggers on SQLite, a generated column on PostgreSQL)."""
    with app.app_context():
        image = db.session.get(Image, studies["visual cortex"])
        image.name = "occipital lobe"
        db.session.commit()
    assert found(client, studies, "occipital") == {"visual cortex"}
    assert found(client, studies, "visual") == set()
    with app.app_context():
        db.session.delete(db.session.get(Image, studies["visual cortex"]))
        db.session.commit()
    assert found(client, studies, "occipital") == set()


def test_query_terms():
    assert [t.words for t in terms('a "b c" 10.1/x.2 -- é')] == [("a",), ("b", "c"), ("10", "1", "x", "2"), ("é",)]
    assert len(terms("w " * 50)) == 8


@pytest.fixture
def statements(app):
    """The SQL the site sends while the test runs."""
    with sql_statements(app) as seen:
        yield seen


def test_a_rare_word_is_searched_as_its_set_of_ids(app, client, studies, statements, monkeypatch):
    """PostgreSQL: a term held by few rows becomes ``id = ANY(ids)``, not an OR across the join walked along the
    id index row by row (seconds for a word one map holds at a million maps); a common one keeps the walk."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the shape of PostgreSQL's query")

    def page_query():
        return next(s for s in reversed(statements) if "ORDER BY image.id DESC" in s)

    assert found(client, studies, "amygdala fear") == {"amygdala response to fearful faces"}
    assert "= ANY (" in page_query() and " OR " not in page_query().split("= ANY (")[0]
    monkeypatch.setattr(search, "FEW", 1)  # every term that is in some row counts as common: the walk
    assert found(client, studies, "amygdala fear", walk=1) == {"amygdala response to fearful faces"}
    assert "= ANY (" not in page_query() and "search_vector @@" in page_query()


@pytest.mark.parametrize("query", ["fear", "lovel", "2-back", "10.1016/j.neuroimage.2020.117000", "sula pain"])
def test_the_walk_and_the_set_find_the_same_maps(client, studies, monkeypatch, query):
    expected = found(client, studies, query)
    monkeypatch.setattr(search, "FEW", 1)
    assert found(client, studies, query, walk=1) == expected


def test_only_a_word_the_statistics_know_to_be_common_skips_the_probe(monkeypatch):
    monkeypatch.setattr(search, "common_words", lambda table: ({"map": 1.0, "amygdala": 0.125}, 1_000_000))
    monkeypatch.setattr(search, "estimated_rows", lambda table, column, pattern: 50_000 if "ppoc" in pattern else 5)
    table = Image.__table__
    assert search.surely_common(search.Term(("amy",), loose=True), table)
    assert not search.surely_common(search.Term(("zygomorphic",), loose=True), table)
    assert not search.surely_common(search.Term(("map", "amygdala"), loose=False), table)  # a phrase may be rare
    assert search.surely_common(search.Term(("ippoc",), loose=True), table)  # letters inside many names


def postgresql_only(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's count of a common search")


def test_a_common_search_counts_the_maps_of_collections_holding_it_first(app, client, studies, statements,
                                                                           monkeypatch):
    """When the listed maps of collections that hold every term already pass the cap, they are all the count
    reads (an index range per collection); the search's own matches are counted only when they do not."""
    from webapp import keyset

    postgresql_only(app)
    monkeypatch.setattr(search, "FEW", 1)  # every term in some row is common: the walk
    monkeypatch.setattr(keyset, "COUNT_CAP", 1)
    html = client.get("/images/", query_string={"q": "lovel"}).get_data(as_text=True)
    page_query = next(s for s in statements if "ORDER BY image.id DESC" in s)
    assert 'data-total="1">1+ map' in html
    assert "JOIN LATERAL" in page_query  # the sure count rides along with the page's rows
    assert not [s for s in statements if s.startswith("SELECT count(*)")]
    statements.clear()
    monkeypatch.setattr(keyset, "COUNT_CAP", 2)  # the first collection's two maps do not pass it: counted again
    html = client.get("/images/", query_string={"q": "lovel", "walk": 1}).get_data(as_text=True)
    assert 'data-total="2">2 maps' in html
    assert len([s for s in statements if s.startswith("SELECT count(*)")]) == 1


def test_the_sure_part_of_a_count_leaves_out_what_the_list_leaves_out(app, studies, monkeypatch):
    """Only ready, published maps of public collections, with the page's other filters, and only of collections
    that hold every term by themselves."""
    from webapp.keyset import count_up_to_cap
    from webapp.listing import ImageFilters

    postgresql_only(app)
    monkeypatch.setattr(search, "FEW", 1)

    def sure(query, **filters):
        return db.session.scalar(count_up_to_cap(ImageFilters(q=query, **filters).surely_found()))

    with app.app_context():
        assert sure("lovel") == 2 and sure("lovelace émotion") == 2 and sure('"jürgen müller" ada') == 2
        assert sure("lovel turing") == 0  # no collection holds both
        assert sure("amygdala") == 0  # a map's own words: not the shortcut's
        map_type = db.session.get(Image, studies["insula_pain"]).map_type
        assert sure("lovel", map_type=map_type) == 1
        db.session.execute(sa.update(Image).where(Image.id == studies["insula_pain"]).values(status="processing"))
        assert sure("lovel") == 1
        db.session.execute(sa.update(Image).where(Image.id == studies["amygdala response to fearful faces"])
                           .values(unpublished_reason="spam"))
        assert sure("lovel") == 0
        db.session.rollback()
        collection_id = db.session.get(Image, studies["insula_pain"]).collection_id
        db.session.execute(sa.update(Collection).where(Collection.id == collection_id).values(private=True))
        assert sure("lovel") == 0
        db.session.rollback()
        monkeypatch.setattr(search, "FEW", 2_000)  # a rare term: its ids, counted as they are
        monkeypatch.setattr(search, "_found_common", {})
        assert ImageFilters(q="lovel").surely_found() is None


def test_a_term_found_common_is_not_probed_again_nor_its_estimate_asked_again(app, client, studies, statements,
                                                                             monkeypatch):
    """What a search learnt about a term (common, the planner's estimate) is kept a while per process; a rare
    term's ids are probed on every search (they are the answer)."""
    postgresql_only(app)

    def asked(query, n):
        statements.clear()
        client.get("/images/", query_string={"q": query, "n": n})
        return (len([s for s in statements if "UNION ALL" in s and "LIMIT" in s]),
                len([s for s in statements if s.startswith("EXPLAIN")]))

    assert asked("lovel", 1) == (1, 1)  # the probe found it in 2 rows: its ids
    assert asked("lovel", 2) == (1, 0)
    monkeypatch.setattr(search, "FEW", 2)  # now common
    assert asked("lovel", 3) == (1, 0)
    assert asked("lovel", 4) == (0, 0)
