"""Figure 4's seeding by COPY gives every NOT NULL column a value, and its deep page link names the right row."""

from datetime import UTC, datetime

from bench.copyseed import collection_rows, image_rows
from bench.pages import PER_PAGE, addresses, chosen
from webapp.images.views import PER_PAGE as SITE_PER_PAGE
from webapp.models import Collection, Image


def test_copied_rows_fill_every_required_column():
    now = datetime.now(UTC)
    for table, rows in ((Image.__table__, image_rows(Image.__table__, [1, 2], 1, 3, now)),
                        (Collection.__table__, collection_rows(Collection.__table__, 1, 3, now))):
        required = {c.name for c in table.columns if not c.nullable and not c.primary_key and c.computed is None}
        for row in rows:
            assert required <= set(row) and all(row[name] is not None for name in required), table.name


def test_the_deep_page_link_starts_where_that_page_starts():
    assert PER_PAGE == SITE_PER_PAGE
    seeded = {"first_image": 1, "last_image": 1_000_000, "collections": list(range(1, 20_001)), "owner": 1}
    deep = dict((what, path) for what, path, _ in addresses(seeded, 1_000_000))["/images/ page 10,000"]
    # Newest first, 24 a page: pages 1 to 9,999 hold ids 1,000,000 down to 760,025; page 10,000 starts below it.
    assert deep == "/images/?after=760025&page=10000"


def test_only_the_named_rows_are_loaded(monkeypatch):
    seeded = {"first_image": 1, "last_image": 1_000_000, "collections": list(range(1, 20_001)), "owner": 1}
    monkeypatch.setenv("BENCH_PAGES_ONLY", "offset")
    assert [path for _, path, _ in chosen(addresses(seeded, 1_000_000))] == [
        "/api/images/?offset=900000&limit=100", "/api/collections/?offset=19900&limit=100"]
    monkeypatch.delenv("BENCH_PAGES_ONLY")
    assert len(chosen(addresses(seeded, 1_000_000))) == len(addresses(seeded, 1_000_000))
