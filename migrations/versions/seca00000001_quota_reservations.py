"""Quota reservations: bytes held by upload requests in flight (issue 21, item 1).

Revision ID: seca00000001
Revises: secb00000001
Create Date: 2026-11-25 22:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'seca00000001'
down_revision = 'secb00000001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('quota_reservation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_quota_reservation_user_id_user'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quota_reservation'))
    )
    with op.batch_alter_table('quota_reservation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quota_reservation_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('quota_reservation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quota_reservation_user_id'))
    op.drop_table('quota_reservation')
