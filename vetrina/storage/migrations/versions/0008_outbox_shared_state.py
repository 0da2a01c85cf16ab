"""outbox: oldest-pending index; sending state shared by instances (provider_pauses,
outbound_parts)

- ``ix_messages_outbox_customer`` (``customer_id, id``), partial, on the pending
  outbound rows only: the outbox's scan reads due rows through ``ix_messages_work``
  (``direction, status, next_attempt_at``: a range that skips not-yet-due retries) and
  checks each is its customer's oldest pending message with one seek in this index.
  (A covering partial index on ``next_attempt_at`` was tried: SQLite and PostgreSQL
  both preferred ``ix_messages_work`` for the range, so it would only cost writes.)
- ``provider_pauses``: a provider's rate-limit pause per account (Instagram), seen by
  every gateway instance.
- ``outbound_parts``: the parts of a split message a provider already accepted, so a
  retry on any instance sends only the rest.

Written by hand from vetrina/conversations/models.py (autogenerate's output reviewed
against a database at 0006).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-02 06:40:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vetrina.storage.base

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING_OUTBOUND = "direction = 'out' AND status = 'pending'"


def upgrade() -> None:
    op.create_table(
        'provider_pauses',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('until', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.String(length=300), nullable=True),
        sa.Column('updated_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_provider_pauses')),
    )
    op.create_table(
        'outbound_parts',
        sa.Column('message_id', sa.Integer(), nullable=False),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('provider_message_id', sa.String(length=200), nullable=False),
        sa.Column('sent_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['message_id'], ['messages.id'],
            name=op.f('fk_outbound_parts_message_id_messages'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('message_id', 'part', name=op.f('pk_outbound_parts')),
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index(
            'ix_messages_outbox_customer', ['customer_id', 'id'], unique=False,
            sqlite_where=sa.text(PENDING_OUTBOUND), postgresql_where=sa.text(PENDING_OUTBOUND),
        )


def downgrade() -> None:
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index(
            'ix_messages_outbox_customer',
            sqlite_where=sa.text(PENDING_OUTBOUND), postgresql_where=sa.text(PENDING_OUTBOUND),
        )
    op.drop_table('outbound_parts')
    op.drop_table('provider_pauses')
