"""The migrations build the schema the models describe, on whichever database the suite runs on."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db
from webapp.models import render_migration_type

from ..conftest import SERVER_DATABASE_URL, USES_POSTGRES, drop_postgres_database, fresh_postgres_database


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
                    connection, opts={"compare_type": True, "render_item": render_migration_type}
                )
                differences = compare_metadata(context, db.metadata)
                tables = set(sa.inspect(connection).get_table_names())
            db.engine.dispose()
        assert differences == []
        assert {"user", "collection", "image", "image_stats", "artifact", "api_token", "upload"} <= tables
    finally:
        if USES_POSTGRES:
            drop_postgres_database(url)
