"""The post-commit work queue: `report_queue` holds the ids of reports still to process.

Before, the processor marked each report `processed` with an UPDATE of its row, which SQLite
writes out whole (raw message and trace included) and which moved the row's entries in the
evidence and state indexes. Now the stored state stays `accepted` (or becomes `parked`) and
"processed" means "no longer queued". Reports still `accepted` when this runs are queued;
`ix_reports_state`, only there to find them, goes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        'report_queue',
        sa.Column('report_id', ID, autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(['report_id'], ['reports.id'], name=op.f('fk_report_queue_report_id_reports')),
        sa.PrimaryKeyConstraint('report_id', name=op.f('pk_report_queue')),
    )
    op.execute("INSERT INTO report_queue (report_id) SELECT id FROM reports WHERE state = 'accepted'")
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_state')


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_state', ['state'], unique=False)
    op.execute("UPDATE reports SET state = 'processed' WHERE state = 'accepted' "
               "AND id NOT IN (SELECT report_id FROM report_queue)")
    op.drop_table('report_queue')
