"""batches of files sent together (archives, pairs, one submission); one email per batch unless per file

Revision ID: h20a00000001
Revises: h22a00000001
Create Date: 2026-11-26 01:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'h20a00000001'
down_revision = 'h22a00000001'
branch_labels = None
depends_on = None

#: SQLite rebuilds ``image`` to add a foreign key; the rebuilt table keeps AUTOINCREMENT (ids never reused).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}


def upgrade():
    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('client_key', sa.String(length=64), nullable=True),
    sa.Column('expected_files', sa.Integer(), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sources', sa.JSON(), nullable=False),
    sa.Column('source_bytes', sa.BigInteger(), nullable=False),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['collection_id'], ['collection.id'], name=op.f('fk_batch_collection_id_collection'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_batch_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch')),
    sa.UniqueConstraint('user_id', 'client_key', name='uq_batch_user_id_client_key'),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_collection_id'), ['collection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('image', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('batch_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_image_batch_id'), ['batch_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_image_batch_id_batch'), 'batch', ['batch_id'], ['id'],
                                    ondelete='SET NULL')

    with op.batch_alter_table('user', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.add_column(sa.Column('email_per_file', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table('user', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_column('email_per_file')
    with op.batch_alter_table('image', schema=None, table_kwargs=NEVER_REUSED_IDS) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_image_batch_id_batch'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_image_batch_id'))
        batch_op.drop_column('batch_id')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_user_id'))
        batch_op.drop_index(batch_op.f('ix_batch_collection_id'))
    op.drop_table('batch')
