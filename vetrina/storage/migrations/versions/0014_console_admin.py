"""console administration: audit log, password resets, consultants' language, stores'
temporary closure, consultant hours per store (issue 13, items 2 and 8)

``stores.temporarily_closed`` gets a server default (false) so existing stores stay open.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import vetrina.storage.base

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('admin_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=300), nullable=False),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_audit'))
    )
    with op.batch_alter_table('admin_audit', schema=None) as batch_op:
        batch_op.create_index('ix_admin_audit_target', ['target', 'id'], unique=False)
    op.create_table('password_resets',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('consultant_id', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=300), nullable=False),
    sa.Column('created_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['consultant_id'], ['consultants.id'],
                            name=op.f('fk_password_resets_consultant_id_consultants'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_password_resets'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_password_resets_consultant_id'), ['consultant_id'],
                              unique=False)
    op.create_table('store_consultant_hours',
    sa.Column('store_code', sa.String(length=32), nullable=False),
    sa.Column('hours', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=40), nullable=False),
    sa.Column('updated_at', vetrina.storage.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('store_code', name=op.f('pk_store_consultant_hours'))
    )
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=5), nullable=True))
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('temporarily_closed', sa.Boolean(),
                                      server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('stores', schema=None) as batch_op:
        batch_op.drop_column('temporarily_closed')
    with op.batch_alter_table('consultants', schema=None) as batch_op:
        batch_op.drop_column('language')
    op.drop_table('store_consultant_hours')
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_password_resets_consultant_id'))
    op.drop_table('password_resets')
    with op.batch_alter_table('admin_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_admin_audit_target')
    op.drop_table('admin_audit')
