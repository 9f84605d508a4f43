"""Bonded senders: the sender role, senders with their networks, domains and status history,
the append-only hash-chained ledger (transactions and entries), debit disputes.

The role CHECK of `accounts` gains `sender`: SQLite rebuilds the table (batch mode), which
env.py runs with foreign-key enforcement off and checked afterwards.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ROLES_BEFORE = "role IN ('admin', 'deputy', 'reporter', 'feed')"
ROLES_AFTER = "role IN ('admin', 'deputy', 'reporter', 'feed', 'sender')"


def _roles(check: str) -> None:
    with op.batch_alter_table('accounts', recreate='always' if op.get_bind().dialect.name == 'sqlite' else 'never') as batch_op:
        batch_op.drop_constraint(op.f('ck_accounts_role'), type_='check')
        batch_op.create_check_constraint('role', sa.text(check))


def upgrade() -> None:
    _roles(ROLES_AFTER)
    op.create_table('senders',
    sa.Column('account_id', ID, autoincrement=False, nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('hold', sa.String(length=16), nullable=True),
    sa.Column('category', sa.SmallInteger(), nullable=False),
    sa.Column('trust', sa.SmallInteger(), nullable=False),
    sa.Column('balance', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('reviewed_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("hold IN ('policy', 'deputy')", name=op.f('ck_senders_hold')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'suspended', 'expelled')", name=op.f('ck_senders_status')),
    sa.CheckConstraint('trust BETWEEN 0 AND 3', name=op.f('ck_senders_trust')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_senders_account_id_accounts')),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_senders'))
    )
    op.create_table('ledger_transactions',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('sender_id', ID, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('memo', sa.Text(), server_default='', nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('report_id', ID, nullable=True),
    sa.Column('dispute_id', ID, nullable=True),
    sa.CheckConstraint("kind IN ('deposit', 'debit', 'reversal')", name=op.f('ck_ledger_transactions_kind')),
    sa.CheckConstraint('amount > 0', name=op.f('ck_ledger_transactions_amount_positive')),
    sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_ledger_transactions_report_id_reports')),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.account_id'], name=op.f('fk_ledger_transactions_sender_id_senders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_transactions')),
    sa.UniqueConstraint('key', name=op.f('uq_ledger_transactions_key'))
    )
    op.create_index('ix_ledger_transactions_sender_id_kind', 'ledger_transactions', ['sender_id', 'kind'], unique=False)
    op.create_table('sender_domains',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('sender_id', ID, nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.account_id'], name=op.f('fk_sender_domains_sender_id_senders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_domains')),
    sa.UniqueConstraint('domain', name=op.f('uq_sender_domains_domain'))
    )
    op.create_index(op.f('ix_sender_domains_sender_id'), 'sender_domains', ['sender_id'], unique=False)
    op.create_table('sender_events',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('sender_id', ID, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('old_status', sa.String(length=16), nullable=False),
    sa.Column('new_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.account_id'], name=op.f('fk_sender_events_sender_id_senders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_events'))
    )
    op.create_index('ix_sender_events_sender_id_id', 'sender_events', ['sender_id', 'id'], unique=False)
    op.create_table('sender_networks',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('sender_id', ID, nullable=False),
    sa.Column('network', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.account_id'], name=op.f('fk_sender_networks_sender_id_senders')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sender_networks')),
    sa.UniqueConstraint('network', name=op.f('uq_sender_networks_network'))
    )
    op.create_index(op.f('ix_sender_networks_sender_id'), 'sender_networks', ['sender_id'], unique=False)
    op.create_table('bond_disputes',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('sender_id', ID, nullable=False),
    sa.Column('transaction_id', ID, nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decided_by', ID, nullable=True),
    sa.Column('decision_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'approved', 'denied')", name=op.f('ck_bond_disputes_status')),
    sa.ForeignKeyConstraint(['decided_by'], ['accounts.id'], name=op.f('fk_bond_disputes_decided_by_accounts')),
    sa.ForeignKeyConstraint(['sender_id'], ['senders.account_id'], name=op.f('fk_bond_disputes_sender_id_senders')),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_bond_disputes_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bond_disputes')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_bond_disputes_transaction_id'))
    )
    op.create_index(op.f('ix_bond_disputes_sender_id'), 'bond_disputes', ['sender_id'], unique=False)
    op.create_table('ledger_entries',
    sa.Column('seq', ID, autoincrement=False, nullable=False),
    sa.Column('transaction_id', ID, nullable=False),
    sa.Column('account', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], name=op.f('fk_ledger_entries_transaction_id_ledger_transactions')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_ledger_entries'))
    )
    op.create_index(op.f('ix_ledger_entries_transaction_id'), 'ledger_entries', ['transaction_id'], unique=False)

def downgrade() -> None:
    for name in ('ledger_entries', 'bond_disputes', 'sender_networks', 'sender_events', 'sender_domains',
                 'ledger_transactions', 'senders'):
        op.drop_table(name)
    op.execute("DELETE FROM api_tokens WHERE account_id IN (SELECT id FROM accounts WHERE role = 'sender')")
    op.execute("DELETE FROM accounts WHERE role = 'sender'")
    _roles(ROLES_BEFORE)
