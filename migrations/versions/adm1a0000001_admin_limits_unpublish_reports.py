"""per-user limits, unpublished maps and collections, reports

Revision ID: adm1a0000001
Revises: seca00000001
Create Date: 2026-11-25 22:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'adm1a0000001'
down_revision = 'seca00000001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quota_bytes', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('max_pending_images', sa.Integer(), nullable=True))
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unpublished_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unpublished_reason', sa.Text(), nullable=True))
    op.create_table('report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=True),
    sa.Column('collection_id', sa.Integer(), nullable=True),
    sa.Column('image_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['collection_id'], ['collection.id'], name=op.f('fk_report_collection_id_collection'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['image.id'], name=op.f('fk_report_image_id_image'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['user.id'], name=op.f('fk_report_reporter_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['user.id'], name=op.f('fk_report_resolved_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_report'))
    )
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_report_collection_id'), ['collection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_report_reporter_id'), ['reporter_id'], unique=False)


def downgrade():
    with op.batch_alter_table('report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_report_reporter_id'))
        batch_op.drop_index(batch_op.f('ix_report_image_id'))
        batch_op.drop_index(batch_op.f('ix_report_collection_id'))
    op.drop_table('report')
    with op.batch_alter_table('image', schema=None) as batch_op:
        batch_op.drop_column('unpublished_reason')
    with op.batch_alter_table('collection', schema=None) as batch_op:
        batch_op.drop_column('unpublished_reason')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('max_pending_images')
        batch_op.drop_column('quota_bytes')
