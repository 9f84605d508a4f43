"""Abuse notification: the RDAP contact cache, operator overrides, the durable outbox.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _range() -> list[sa.Column]:
    return [sa.Column('family', sa.SmallInteger(), nullable=False),
            sa.Column('start_key', sa.String(32), nullable=False),
            sa.Column('end_key', sa.String(32), nullable=False)]


def upgrade() -> None:
    op.create_table(
        'abuse_contacts',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        *_range(),
        sa.Column('network', sa.Text(), nullable=False),
        sa.Column('name', sa.String(200), server_default='', nullable=False),
        sa.Column('handle', sa.String(200), server_default='', nullable=False),
        sa.Column('registry', sa.String(64), server_default='', nullable=False),
        sa.Column('server', sa.Text(), server_default='', nullable=False),
        sa.Column('emails', sa.JSON(), nullable=False),
        sa.Column('fetched_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_contacts')),
        sa.UniqueConstraint('family', 'start_key', 'end_key',
                            name=op.f('uq_abuse_contacts_family_start_key_end_key')),
    )
    op.create_table(
        'abuse_overrides',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('network', sa.String(64), nullable=False),
        *_range(),
        sa.Column('emails', sa.JSON(), nullable=False),
        sa.Column('mode', sa.String(8), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("mode IN ('full', 'digest', 'none')", name=op.f('ck_abuse_overrides_mode')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_abuse_overrides')),
        sa.UniqueConstraint('network', name=op.f('uq_abuse_overrides_network')),
    )
    op.create_index('ix_abuse_overrides_family_start_key_end_key', 'abuse_overrides',
                    ['family', 'start_key', 'end_key'], unique=False)
    op.create_table(
        'notify_outbox',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('report_id', ID, nullable=False),
        sa.Column('source_ip', sa.String(45), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('state', sa.String(16), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_at', sa.DateTime(), nullable=False),
        sa.Column('network', sa.Text(), nullable=True),
        sa.Column('recipients', sa.JSON(), nullable=True),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'digest', 'sent', 'bounced', 'failed', 'skipped')",
                           name=op.f('ck_notify_outbox_state')),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_notify_outbox_report_id_reports')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notify_outbox')),
        sa.UniqueConstraint('report_id', name=op.f('uq_notify_outbox_report_id')),
    )
    op.create_index('ix_notify_outbox_state_next_at', 'notify_outbox', ['state', 'next_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notify_outbox_state_next_at', table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index('ix_abuse_overrides_family_start_key_end_key', table_name='abuse_overrides')
    op.drop_table('abuse_overrides')
    op.drop_table('abuse_contacts')
