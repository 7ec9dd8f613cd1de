"""similarity vectors (the index's change feed) and searches by file

Revision ID: similar000001
Revises: clusters0001
Create Date: 2026-11-25 22:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'similar000001'
down_revision = 'clusters0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('similarity_vector',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('n_voxels', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['image.id'], name=op.f('fk_similarity_vector_image_id_image'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_similarity_vector')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('similarity_vector', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similarity_vector_image_id'), ['image_id'], unique=False)

    op.create_table('similarity_search',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=True),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('results', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_similarity_search_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_similarity_search'))
    )
    with op.batch_alter_table('similarity_search', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_similarity_search_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_similarity_search_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('similarity_search', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similarity_search_user_id'))
        batch_op.drop_index(batch_op.f('ix_similarity_search_created_at'))
    op.drop_table('similarity_search')
    with op.batch_alter_table('similarity_vector', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_similarity_vector_image_id'))
    op.drop_table('similarity_vector')
