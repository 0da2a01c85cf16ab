"""console: private notes on a conversation and canned replies (issue 13, items 4-5)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:45:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vetrina.storage.base

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('conversation_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.String(length=32), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['consultants.id'],
                            name=op.f('fk_conversation_notes_author_id_consultants')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'],
                            name=op.f('fk_conversation_notes_customer_id_customers'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_notes'))
    )
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.create_index(
            'ix_conversation_notes_customer', ['customer_id', 'id'], unique=False
        )
    op.create_table('canned_replies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_code', sa.String(length=32), nullable=True),
    sa.Column('language', sa.String(length=5), nullable=False),
    sa.Column('shortcut', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=80), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_replies'))
    )
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.create_index(
            'ix_canned_replies_scope', ['language', 'store_code', 'shortcut'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('canned_replies', schema=None) as batch_op:
        batch_op.drop_index('ix_canned_replies_scope')
    op.drop_table('canned_replies')
    with op.batch_alter_table('conversation_notes', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_notes_customer')
    op.drop_table('conversation_notes')
