"""full-text search: tsvector + GIN and pg_trgm on PostgreSQL, FTS5 tables kept by triggers on SQLite

Revision ID: h19a00000001
Revises: h20a00000001
Create Date: 2026-11-26 01:40:00

Also partial indexes of the listed images' ids (a deep API offset walks the index alone) and of the
unpublished images (the lists' total), and (name, id) indexes for keyset pages sorted by name.
The search statements live in webapp/searchindex.py, which ``create_all`` runs too, so a fresh embedded site
and a migrated one search with the same indexes (decision 0025).
"""
from alembic import op
import sqlalchemy as sa

from webapp.searchindex import SEARCHED, PREFIX, search_index_statements


revision = 'h19a00000001'
down_revision = 'h20a00000001'
branch_labels = None
depends_on = None


LISTED = "status = 'ready' AND unpublished_reason IS NULL"
UNPUBLISHED = "unpublished_reason IS NOT NULL"


def upgrade():
    for statement in search_index_statements(op.get_bind().dialect.name):
        op.execute(sa.text(statement))
    with op.batch_alter_table('image', schema=None, recreate='never') as batch_op:
        batch_op.create_index('ix_image_listed_id', ['id', 'collection_id'], unique=False,
                              postgresql_where=sa.text(LISTED), sqlite_where=sa.text(LISTED))
        batch_op.create_index('ix_image_unpublished', ['collection_id'], unique=False,
                              postgresql_where=sa.text(UNPUBLISHED), sqlite_where=sa.text(UNPUBLISHED))
        batch_op.create_index('ix_image_name_id', ['name', 'id'], unique=False)
    with op.batch_alter_table('collection', schema=None, recreate='never') as batch_op:
        batch_op.create_index('ix_collection_name_id', ['name', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('collection', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_collection_name_id')
    with op.batch_alter_table('image', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_image_name_id')
        batch_op.drop_index('ix_image_unpublished')
        batch_op.drop_index('ix_image_listed_id')
    dialect = op.get_bind().dialect.name
    for table in SEARCHED:
        if dialect == "postgresql":
            op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector"))
            for name in SEARCHED[table][1]:
                op.execute(sa.text(f"DROP INDEX IF EXISTS ix_{PREFIX}{table}_{name}_trgm"))
        elif dialect == "sqlite":
            for suffix in ("words", "names"):
                op.execute(sa.text(f"DROP TABLE IF EXISTS {PREFIX}{table}_{suffix}"))
                for event in ("ai", "ad", "au"):
                    op.execute(sa.text(f"DROP TRIGGER IF EXISTS {PREFIX}{table}_{suffix}_{event}"))
