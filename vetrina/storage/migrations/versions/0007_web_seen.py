"""web delivery: messages.seen_at (the customer's screen confirmed it) and
gateway_secrets (server secrets made on first use, e.g. the web session id key)

Written by hand. Existing messages keep ``seen_at`` NULL; the web chat only re-sends
unconfirmed replies of the last day, so old rows are not sent again in bulk.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vetrina.storage.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('seen_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_table('gateway_secrets',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('created_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_gateway_secrets'))
    )


def downgrade() -> None:
    op.drop_table('gateway_secrets')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('seen_at')
