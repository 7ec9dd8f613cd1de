"""Figure 4's site at scale: collections and images written with PostgreSQL's ``COPY``, no files behind them.

Rows are built from the models' own column defaults, so a new NOT NULL column needs no change
here; the values the pages show (names, authors, DOIs, map types) follow tests/visitors/seed.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import sqlalchemy as sa

MAP_TYPES = ("T", "Z", "F", "P", "Other")
MODALITIES = ("fMRI-BOLD", "PET FDG", "Structural MRI")
WORDS = ("amygdala", "insula", "cortex", "striatum", "hippocampus", "thalamus", "cerebellum", "precuneus")


def column_defaults(table, now):
    """Each NOT NULL column's value when the caller gives none: the model's scalar default (now for times)."""
    values = {}
    for column in table.columns:
        if column.primary_key or column.nullable or column.computed is not None:
            continue
        default = column.default.arg if column.default is not None else None
        if callable(default):
            default = now if column.type.python_type is datetime else default(None)
        values[column.name] = default
    return values


def encoded(value):
    return json.dumps(value) if isinstance(value, dict | list) else value


def copy_rows(connection, table, rows):
    """COPY rows (dicts with the same keys) into a table."""
    rows = iter(rows)
    first = next(rows)
    names = list(first)
    with connection.cursor() as cursor, cursor.copy(f'COPY "{table}" ({", ".join(names)}) FROM STDIN') as copy:
        copy.write_row([encoded(first[name]) for name in names])
        for row in rows:
            copy.write_row([encoded(row[name]) for name in names])


def collection_rows(table, owner_id, n, now):
    base = column_defaults(table, now)
    for i in range(1, n + 1):
        yield base | {"owner_id": owner_id, "name": f"Collection {i:05d} {WORDS[i % len(WORDS)]}",
                      "description": f"study number {i}", "authors": f"Author{i % 7} Smith, Coauthor{i % 3} Lovelace",
                      "doi": f"10.5555/seed.{i}", "private": False, "share_token": f"seed-share-{i}", "extra": {}}


def image_rows(table, collection_ids, uploader_id, n, now):
    base = column_defaults(table, now)
    for i in range(1, n + 1):
        yield base | {"collection_id": collection_ids[i % len(collection_ids)], "uploader_id": uploader_id,
                      "name": f"map {i:07d} {WORDS[(i // 7) % len(WORDS)]}", "description": "",
                      "original_filename": f"map{i}.nii.gz", "map_type": MAP_TYPES[i % len(MAP_TYPES)],
                      "modality": MODALITIES[i % len(MODALITIES)], "storage_key": f"seed/{i}", "file_size": 1000,
                      "sha256": f"{i:064x}", "status": "ready", "is_thresholded": i % 4 == 0, "not_mni": False,
                      "extra": {}}


def copy_seed(app, n_images: int, n_collections: int) -> dict:
    """Seed an empty site; the ids and how long COPY, the counts and ANALYZE/VACUUM took."""
    from tests.visitors.seed import seed_user
    from webapp.extensions import db
    from webapp.models import Collection, Image

    now = datetime.now(UTC)
    started = time.monotonic()
    with app.app_context():
        owner = seed_user("pages@example.org")
        db.session.commit()
        raw = db.engine.raw_connection()
        try:
            copy_rows(raw.driver_connection, "collection", collection_rows(Collection.__table__, owner,
                                                                            n_collections, now))
            raw.commit()
            collections = list(db.session.scalars(sa.select(Collection.id).order_by(Collection.id)))
            copy_rows(raw.driver_connection, "image", image_rows(Image.__table__, collections, owner, n_images, now))
            raw.commit()
        finally:
            raw.close()
        copied = time.monotonic() - started
        # Statistics first: with none, the planner takes the new tables as empty and the page cache's look at
        # the rows the counts' UPDATE touches (webapp/pagecache.py) ran the GROUP BY once per collection.
        db.session.execute(sa.text("ANALYZE image, collection"))
        counts = sa.select(Image.collection_id, sa.func.count().label("n")).group_by(Image.collection_id).subquery()
        db.session.execute(sa.update(Collection).where(Collection.id == counts.c.collection_id)
                           .values(image_count=counts.c.n))
        db.session.commit()
        ids = db.session.execute(sa.select(sa.func.min(Image.id), sa.func.max(Image.id))).one()
        db.session.remove()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("VACUUM ANALYZE"))
    return {"owner": owner, "collections": collections, "first_image": ids[0], "last_image": ids[1],
            "copy_seconds": copied, "seed_seconds": time.monotonic() - started}
