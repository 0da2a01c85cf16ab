"""link proofs: codes sent *from* the channel being linked, failures per sender (issue 17)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vetrina.storage.base

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('direction', sa.String(length=3), server_default='out', nullable=False)
        )
        batch_op.add_column(sa.Column('client_key', sa.String(length=64), nullable=True))
        batch_op.create_index(
            'ix_link_codes_target_created', ['channel', 'external_id', 'created_at'], unique=False
        )
        batch_op.create_index('ix_link_codes_code_hash', ['code_hash'], unique=False)
        batch_op.create_index(
            'ix_link_codes_client_created', ['client_key', 'created_at'], unique=False
        )
    op.create_table('link_code_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sender_key', sa.String(length=64), nullable=False),
    sa.Column('at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_code_failures'))
    )
    with op.batch_alter_table('link_code_failures', schema=None) as batch_op:
        batch_op.create_index(
            'ix_link_code_failures_sender_at', ['sender_key', 'at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('link_code_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_link_code_failures_sender_at')
    op.drop_table('link_code_failures')
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_link_codes_client_created')
        batch_op.drop_index('ix_link_codes_code_hash')
        batch_op.drop_index('ix_link_codes_target_created')
        batch_op.drop_column('client_key')
        batch_op.drop_column('direction')
