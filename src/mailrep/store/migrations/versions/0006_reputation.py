"""Reputation: DNS query counts per IP and day, daily rows per entity, current scores, runs.

DNS query counts used to be stored as `volume` rows without a feed account (one row per IP
per flush, mixed with the mail telemetry); they move to `dns_queries` (one row per IP per
day). The blocklist policy still counts them as volume (store.evidence adds both).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
KINDS = "kind IN ('ip', 'net', 'domain', 'all')"


def upgrade() -> None:
    op.create_table(
        'dns_queries',
        sa.Column('ip', sa.String(45), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('ip', 'day', name=op.f('pk_dns_queries')),
    )
    op.create_index('ix_dns_queries_day', 'dns_queries', ['day'])
    op.create_table(
        'rep_daily',
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('key', sa.String(255), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('volume', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('dns_queries', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('complaints', sa.Integer(), server_default='0', nullable=False),
        sa.Column('fbl', sa.Integer(), server_default='0', nullable=False),
        sa.Column('trap_hits', sa.Integer(), server_default='0', nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.CheckConstraint(KINDS, name=op.f('ck_rep_daily_kind')),
        sa.PrimaryKeyConstraint('kind', 'key', 'day', name=op.f('pk_rep_daily')),
    )
    op.create_index('ix_rep_daily_day', 'rep_daily', ['day'])
    op.create_table(
        'rep_current',
        sa.Column('kind', sa.String(8), nullable=False),
        sa.Column('key', sa.String(255), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('confidence', sa.String(8), nullable=False),
        sa.Column('mag_day', sa.Float(), nullable=True),
        sa.Column('mag_month', sa.Float(), nullable=True),
        sa.Column('volume_day', sa.BigInteger(), nullable=False),
        sa.Column('complaints_day', sa.Integer(), nullable=False),
        sa.Column('trap_hits_day', sa.Integer(), nullable=False),
        sa.Column('dns_queries_day', sa.BigInteger(), nullable=False),
        sa.Column('first_seen', sa.Date(), nullable=True),
        sa.Column('listed', sa.Boolean(), nullable=False),
        sa.Column('formula', sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(KINDS, name=op.f('ck_rep_current_kind')),
        sa.PrimaryKeyConstraint('kind', 'key', name=op.f('pk_rep_current')),
    )
    op.create_table(
        'rep_runs',
        sa.Column('id', ID, autoincrement=True, nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=False),
        sa.Column('last_day', sa.Date(), nullable=False),
        sa.Column('scored', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_rep_runs')),
    )
    # the query counts stored so far as feed-less volume rows: one row per IP and day
    op.execute(
        "INSERT INTO dns_queries (ip, day, count) SELECT ip, CAST(period_end AS DATE), SUM(count) "
        "FROM volume WHERE feed_account_id IS NULL GROUP BY ip, CAST(period_end AS DATE)"
        if op.get_bind().dialect.name == "postgresql" else
        "INSERT INTO dns_queries (ip, day, count) SELECT ip, substr(period_end, 1, 10), SUM(count) "
        "FROM volume WHERE feed_account_id IS NULL GROUP BY ip, substr(period_end, 1, 10)")
    op.execute("DELETE FROM volume WHERE feed_account_id IS NULL")


def downgrade() -> None:
    op.execute("INSERT INTO volume (ip, count, period_start, period_end, received_at) "
               "SELECT ip, count, day, day, day FROM dns_queries")
    op.drop_table('rep_runs')
    op.drop_table('rep_current')
    op.drop_index('ix_rep_daily_day', table_name='rep_daily')
    op.drop_table('rep_daily')
    op.drop_index('ix_dns_queries_day', table_name='dns_queries')
    op.drop_table('dns_queries')
