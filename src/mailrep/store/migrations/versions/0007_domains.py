"""The domain blocklist: report_domains, domain_scan, domain_listings, domain_events.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
STATES = "state IN ('listed', 'unlisted', 'delisted', 'exempt')"


def upgrade() -> None:
    op.create_table(
        'report_domains',
        sa.Column('report_id', ID, autoincrement=False, nullable=False),
        sa.Column('domain', sa.String(253), nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_domains_report_id_reports')),
        sa.PrimaryKeyConstraint('report_id', 'domain', name=op.f('pk_report_domains')),
    )
    op.create_index('ix_report_domains_domain', 'report_domains', ['domain'], unique=False)
    op.create_table(
        'domain_scan',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('last_report_id', ID, nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_scan')),
    )
    op.create_table(
        'domain_listings',
        sa.Column('domain', sa.String(253), nullable=False),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column('score', sa.Float(), server_default='0', nullable=False),
        sa.Column('reporters', sa.Integer(), server_default='0', nullable=False),
        sa.Column('first_evidence', sa.DateTime(), nullable=True),
        sa.Column('last_evidence', sa.DateTime(), nullable=True),
        sa.Column('listed_since', sa.DateTime(), nullable=True),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.Column('reason', sa.Text(), server_default='', nullable=False),
        sa.CheckConstraint(STATES, name=op.f('ck_domain_listings_state')),
        sa.PrimaryKeyConstraint('domain', name=op.f('pk_domain_listings')),
    )
    op.create_index('ix_domain_listings_state_expires_at', 'domain_listings', ['state', 'expires_at'],
                    unique=False)
    op.create_table(
        'domain_events',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('domain', sa.String(253), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('old_state', sa.String(16), nullable=False),
        sa.Column('new_state', sa.String(16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor_role', sa.String(16), nullable=False),
        sa.Column('score', sa.Float(), server_default='0', nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_events')),
    )
    op.create_index('ix_domain_events_domain_id', 'domain_events', ['domain', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_domain_events_domain_id', table_name='domain_events')
    op.drop_table('domain_events')
    op.drop_index('ix_domain_listings_state_expires_at', table_name='domain_listings')
    op.drop_table('domain_listings')
    op.drop_table('domain_scan')
    op.drop_index('ix_report_domains_domain', table_name='report_domains')
    op.drop_table('report_domains')
