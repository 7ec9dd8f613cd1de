"""UTCDateTime: no Python call per value where PostgreSQL already answers an aware timestamp; UTC everywhere else."""

from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite

from webapp.models.base import TIMESTAMPTZ_OID, UTCDateTime

TIMESTAMP_OID = 1114  # PostgreSQL's timestamp without time zone


def processor(dialect, coltype):
    return UTCDateTime().dialect_impl(dialect)._cached_result_processor(dialect, coltype)


def test_postgres_timestamptz_results_are_not_processed():
    assert processor(postgresql.psycopg.dialect(), TIMESTAMPTZ_OID) is None


def test_naive_results_still_become_utc():
    naive = datetime(2026, 11, 26, 8, 0)
    for dialect, coltype, raw in ((postgresql.psycopg.dialect(), TIMESTAMP_OID, naive),
                                  (sqlite.dialect(), None, "2026-11-26 08:00:00.000000")):
        process = processor(dialect, coltype)
        assert process(raw) == naive.replace(tzinfo=UTC) and process(None) is None
