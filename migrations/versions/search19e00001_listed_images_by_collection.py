"""the listed images by collection: a search's count read from an index (decision 0041)

Revision ID: search19e00001
Revises: h19a00000001
Create Date: 2026-11-26 19:00:00

A partial index of the ready, published images' (collection_id, id): the images of the collections that hold
every word of a search are counted from it without reading a row (``ImageFilters.surely_found``).
"""
from alembic import op
import sqlalchemy as sa


revision = 'search19e00001'
down_revision = 'h19a00000001'
branch_labels = None
depends_on = None


LISTED = "status = 'ready' AND unpublished_reason IS NULL"


def upgrade():
    with op.batch_alter_table('image', schema=None, recreate='never') as batch_op:
        batch_op.create_index('ix_image_listed_collection_id', ['collection_id', 'id'], unique=False,
                              postgresql_where=sa.text(LISTED), sqlite_where=sa.text(LISTED))


def downgrade():
    with op.batch_alter_table('image', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('ix_image_listed_collection_id')
