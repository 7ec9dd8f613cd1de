"""ids are never reused (SQLite AUTOINCREMENT); one outcome-email task per image; users' public names

Revision ID: secb00000001
Revises: 1156efcfbb5a
Create Date: 2026-11-25 22:20:00

PostgreSQL's sequences never hand out an id twice, so only SQLite changes. Without
AUTOINCREMENT SQLite gives a new row the highest id in use plus one, which brings back
the id of the newest deleted row (issue 21: a deleted image's worker wrote onto the
next upload). ``migrations/env.py`` turns SQLite's foreign keys off around the
migrations, so rebuilding a parent table does not cascade into its children.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'secb00000001'
down_revision = '1156efcfbb5a'
branch_labels = None
depends_on = None

#: parents before children, as they were created
PUBLIC_ID_TABLES = ("user", "api_token", "collection", "image", "artifact")


def rebuild(autoincrement):
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in PUBLIC_ID_TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade():
    rebuild(True)
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notify_queued_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_name', sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('public_name')
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.drop_column('notify_queued_at')
    rebuild(False)
