"""Why a report does not count, stored with it; forwarder evidence; confirmed mail hosts.

`reports.count_reason`: the counting rule's reason (`policy.counting`) when `counted` is false
(NULL for rows stored before: they keep their flag). `receiving_hosts`: the listable IPs of
the trusted relays in each reporter's traces (one row per IP and reporter), the evidence that
a source is a forwarder. `reporters.mailhosts_confirmed`: the reporter has set its mail hosts
itself (`mailrep reporter set`, `PUT /api/v1/reporter/mailhosts`).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('count_reason', sa.String(32), nullable=True))
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mailhosts_confirmed', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_table(
        'receiving_hosts',
        sa.Column('ip', sa.String(45), nullable=False),
        sa.Column('reporter_id', ID, nullable=False),
        sa.ForeignKeyConstraint(['reporter_id'], ['accounts.id'], name=op.f('fk_receiving_hosts_reporter_id_accounts')),
        sa.PrimaryKeyConstraint('ip', 'reporter_id', name=op.f('pk_receiving_hosts')),
    )


def downgrade() -> None:
    op.drop_table('receiving_hosts')
    with op.batch_alter_table('reporters', schema=None) as batch_op:
        batch_op.drop_column('mailhosts_confirmed')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('count_reason')
