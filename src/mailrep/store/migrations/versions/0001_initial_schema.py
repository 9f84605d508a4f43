"""Initial schema: accounts, tokens, reporters, reports, trap hits, volume, listings, history,
delisting requests, audit log.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("role IN ('admin', 'deputy', 'reporter', 'feed')", name=op.f('ck_accounts_role')),
    sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f('ck_accounts_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts')),
    sa.UniqueConstraint('name', name=op.f('uq_accounts_name'))
    )
    op.create_table('listing_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('old_state', sa.String(length=16), nullable=False),
    sa.Column('new_state', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), server_default='0', nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listing_events'))
    )
    with op.batch_alter_table('listing_events', schema=None) as batch_op:
        batch_op.create_index('ix_listing_events_key_id', ['key', 'id'], unique=False)

    op.create_table('listings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('family', sa.SmallInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('manual', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('score', sa.Float(), server_default='0', nullable=False),
    sa.Column('first_evidence', sa.DateTime(), nullable=True),
    sa.Column('last_evidence', sa.DateTime(), nullable=True),
    sa.Column('listed_since', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('delisted_at', sa.DateTime(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.CheckConstraint("state IN ('listed', 'unlisted', 'delisted', 'exempt')", name=op.f('ck_listings_state')),
    sa.CheckConstraint('family IN (4, 6)', name=op.f('ck_listings_family')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listings')),
    sa.UniqueConstraint('key', name=op.f('uq_listings_key'))
    )
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.create_index('ix_listings_state_expires_at', ['state', 'expires_at'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=200), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_api_tokens_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_account_id'), ['account_id'], unique=False)

    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=200), server_default='', nullable=False),
    sa.Column('reason', sa.Text(), server_default='', nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_account_id'], ['accounts.id'], name=op.f('fk_audit_log_actor_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_actor_account_id'), ['actor_account_id'], unique=False)
        batch_op.create_index('ix_audit_log_target', ['target'], unique=False)

    op.create_table('delisting_requests',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('contact_email', sa.String(length=320), nullable=False),
    sa.Column('explanation', sa.Text(), nullable=False),
    sa.Column('client_addr', sa.String(length=45), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied')", name=op.f('ck_delisting_requests_status')),
    sa.ForeignKeyConstraint(['decided_by'], ['accounts.id'], name=op.f('fk_delisting_requests_decided_by_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delisting_requests')),
    sa.UniqueConstraint('public_id', name=op.f('uq_delisting_requests_public_id'))
    )
    with op.batch_alter_table('delisting_requests', schema=None) as batch_op:
        batch_op.create_index('ix_delisting_requests_client_addr_created_at', ['client_addr', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_delisting_requests_ip'), ['ip'], unique=False)
        batch_op.create_index('ix_delisting_requests_status_created_at', ['status', 'created_at'], unique=False)

    op.create_table('reporters',
    sa.Column('account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('mailhosts', sa.Text(), server_default='', nullable=False),
    sa.Column('trust_weight', sa.Float(), server_default='1.0', nullable=False),
    sa.Column('daily_quota', sa.Integer(), server_default='5000', nullable=False),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('kind', sa.String(length=8), server_default='user', nullable=False),
    sa.Column('submit_code', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('user', 'mole', 'simp')", name=op.f('ck_reporters_kind')),
    sa.CheckConstraint("status IN ('active', 'suspended')", name=op.f('ck_reporters_status')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_reporters_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_reporters')),
    sa.UniqueConstraint('submit_code', name=op.f('uq_reporters_submit_code'))
    )
    op.create_table('reports',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('reporter_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('raw_z', sa.LargeBinary(), nullable=False),
    sa.Column('raw_size', sa.Integer(), nullable=False),
    sa.Column('stored_size', sa.Integer(), nullable=False),
    sa.Column('truncated', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('trace_json', sa.JSON(), nullable=True),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('counted', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=True),
    sa.Column('state', sa.String(length=16), server_default='accepted', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.CheckConstraint("channel IN ('http', 'smtp', 'fbl', 'import')", name=op.f('ck_reports_channel')),
    sa.CheckConstraint("state IN ('accepted', 'processed', 'parked')", name=op.f('ck_reports_state')),
    sa.ForeignKeyConstraint(['reporter_id'], ['accounts.id'], name=op.f('fk_reports_reporter_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reports')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_reports_dedupe_key'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reports_reporter_id'), ['reporter_id'], unique=False)
        batch_op.create_index('ix_reports_source_ip_received_at', ['source_ip', 'received_at'], unique=False)
        batch_op.create_index('ix_reports_state', ['state'], unique=False)

    op.create_table('trap_hits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('feed_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('raw_z', sa.LargeBinary(), nullable=False),
    sa.Column('raw_size', sa.Integer(), server_default='0', nullable=False),
    sa.Column('source_ip', sa.String(length=45), nullable=True),
    sa.Column('trace_json', sa.JSON(), nullable=True),
    sa.Column('trap_address', sa.String(length=320), nullable=True),
    sa.Column('counted', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=160), nullable=False),
    sa.ForeignKeyConstraint(['feed_account_id'], ['accounts.id'], name=op.f('fk_trap_hits_feed_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trap_hits')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_trap_hits_dedupe_key'))
    )
    with op.batch_alter_table('trap_hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trap_hits_feed_account_id'), ['feed_account_id'], unique=False)
        batch_op.create_index('ix_trap_hits_source_ip_received_at', ['source_ip', 'received_at'], unique=False)

    op.create_table('volume',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('period_start', sa.DateTime(), nullable=False),
    sa.Column('period_end', sa.DateTime(), nullable=False),
    sa.Column('feed_account_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('count >= 0', name=op.f('ck_volume_count_nonnegative')),
    sa.ForeignKeyConstraint(['feed_account_id'], ['accounts.id'], name=op.f('fk_volume_feed_account_id_accounts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_volume'))
    )
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_volume_ip'), ['ip'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('volume', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_volume_ip'))

    op.drop_table('volume')
    with op.batch_alter_table('trap_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_trap_hits_source_ip_received_at')
        batch_op.drop_index(batch_op.f('ix_trap_hits_feed_account_id'))

    op.drop_table('trap_hits')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_state')
        batch_op.drop_index('ix_reports_source_ip_received_at')
        batch_op.drop_index(batch_op.f('ix_reports_reporter_id'))

    op.drop_table('reports')
    op.drop_table('reporters')
    with op.batch_alter_table('delisting_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_delisting_requests_status_created_at')
        batch_op.drop_index(batch_op.f('ix_delisting_requests_ip'))
        batch_op.drop_index('ix_delisting_requests_client_addr_created_at')

    op.drop_table('delisting_requests')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_target')
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_account_id'))

    op.drop_table('audit_log')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_account_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index('ix_listings_state_expires_at')

    op.drop_table('listings')
    with op.batch_alter_table('listing_events', schema=None) as batch_op:
        batch_op.drop_index('ix_listing_events_key_id')

    op.drop_table('listing_events')
    op.drop_table('accounts')
