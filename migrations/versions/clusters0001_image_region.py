"""image_region: the regions each map's cluster table names, for the region filter

Revision ID: clusters0001
Revises: adm1a0000001
Create Date: 2026-11-25 22:15:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'clusters0001'
down_revision = 'adm1a0000001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('image_region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('atlas', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('share', sa.Float(), nullable=False),
    sa.Column('at_peak', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['image.id'], name=op.f('fk_image_region_image_id_image'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_image_region'))
    )
    with op.batch_alter_table('image_region', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_image_region_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_image_region_name'), ['name'], unique=False)


def downgrade():
    with op.batch_alter_table('image_region', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_image_region_name'))
        batch_op.drop_index(batch_op.f('ix_image_region_image_id'))
    op.drop_table('image_region')
