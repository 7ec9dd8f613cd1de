"""The migrations build the schema the models describe, on whichever database the suite runs on."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import render_migration_type
from webapp.searchindex import not_search_index

from ..helpers import SERVER_DATABASE_URL, USES_POSTGRES, drop_postgres_database, fresh_postgres_database


def test_migrations_and_models_agree(tmp_path, monkeypatch):
    url = fresh_postgres_database(SERVER_DATABASE_URL, "nd_mig") if USES_POSTGRES else f"sqlite:///{tmp_path}/m.db"
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", url)
    try:
        app = create_app(TestConfig())
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "render_item": render_migration_type,
                                      "include_object": not_search_index}
                )
                differences = compare_metadata(context, db.metadata)
                tables = set(sa.inspect(connection).get_table_names())
            db.engine.dispose()
        assert differences == []
        assert {"user", "collection", "image", "image_stats", "artifact", "api_token", "upload"} <= tables
    finally:
        if USES_POSTGRES:
            drop_postgres_database(url)


def test_sqlite_rebuild_keeps_every_row_and_never_reuses_ids(tmp_path, monkeypatch):
    """Issue 21: an existing SQLite site upgrades without losing children to ON DELETE CASCADE,
    and afterwards a deleted image's id is not given to the next one."""
    if USES_POSTGRES:
        return
    from flask_migrate import downgrade

    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/old.db")
    app = create_app(TestConfig())
    with app.app_context():
        upgrade(revision="1156efcfbb5a")
        now = "2026-01-01 00:00:00"
        statements = [
            "INSERT INTO user (id, email, active, fs_uniquifier, created_at) VALUES (1, 'a@x.org', 1, 'u1', :now)",
            "INSERT INTO api_token (id, user_id, name, token_hash, prefix, created_at) "
            "VALUES (1, 1, 't', 'h', 'p', :now)",
            "INSERT INTO collection (id, owner_id, name, description, authors, private, share_token, extra, "
            "image_count, add_date, modify_date) VALUES (1, 1, 'c', '', '', 0, 's', '{}', 2, :now, :now)",
            *(
                "INSERT INTO image (id, collection_id, uploader_id, name, description, original_filename, map_type, "
                "modality, target_template_image, extra, storage_key, file_size, sha256, status, attempts, "
                "uploaded_at, status_changed_at, is_thresholded, not_mni, is_4d, add_date, modify_date) VALUES "
                f"({i}, 1, 1, 'm', '', 'm.nii', 'Other', 'Other', 'GenericMNI', '{{}}', 'k{i}', 1, 's', 'ready', 1, "
                ":now, :now, 0, 0, 0, :now, :now)"
                for i in (1, 2)
            ),
            "INSERT INTO artifact (id, image_id, kind, storage_key, content_type, size, created_at) "
            "VALUES (1, 2, 'glass_brain', 'artifacts/2/glass_brain.png', 'image/png', 1, :now)",
            "INSERT INTO image_stats (image_id, data, computed_at) VALUES (2, '{}', :now)",
        ]
        for statement in statements:
            db.session.execute(sa.text(statement), {"now": now})
        db.session.commit()

        upgrade()
        counts = {t: db.session.scalar(sa.text(f'SELECT count(*) FROM "{t}"'))
                  for t in ("user", "api_token", "collection", "image", "artifact", "image_stats")}
        assert counts == {"user": 1, "api_token": 1, "collection": 1, "image": 2, "artifact": 1, "image_stats": 1}
        schema = dict(db.session.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
        assert all("AUTOINCREMENT" in schema[t] for t in ("user", "api_token", "collection", "image", "artifact"))
        assert db.session.execute(sa.text("PRAGMA foreign_key_check")).all() == []

        db.session.execute(sa.text("DELETE FROM image WHERE id = 2"))
        db.session.execute(sa.text(statements[4].replace("(2, 1, 1", "(NULL, 1, 1").replace("'k2'", "'k3'")),
                           {"now": now})
        assert db.session.scalar(sa.text("SELECT max(id) FROM image")) == 3
        db.session.commit()
        downgrade(revision="1156efcfbb5a")
        assert db.session.scalar(sa.text("SELECT count(*) FROM image")) == 2
        db.engine.dispose()


def test_a_migrated_sqlite_site_keeps_the_search_index_triggers(tmp_path, monkeypatch):
    """A later migration that rebuilds ``image`` or ``collection`` on SQLite (batch mode copies the table)
    drops the FTS5 triggers with the old table; searches would then miss every map added after it."""
    if USES_POSTGRES:
        return
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))

    def search_objects(url, make):
        monkeypatch.setenv("DATABASE_URL", url)
        app = create_app(TestConfig())
        with app.app_context():
            make()
            found = set(db.session.execute(sa.text(
                "SELECT type, name, tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' OR sql LIKE 'CREATE VIRTUAL TABLE%'")).all())
            db.engine.dispose()
        return found

    migrated = search_objects(f"sqlite:///{tmp_path}/migrated.db", upgrade)
    created = search_objects(f"sqlite:///{tmp_path}/created.db", db.create_all)
    assert {kind for kind, _, _ in created} == {"table", "trigger"}
    assert migrated == created
