"""Report indexes that answer the hot queries alone: the evidence query (source IP, time,
counted, state, reporter) and the quota count (reporter, time). They replace the indexes on
(source_ip, received_at) and (reporter_id), which they extend.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_evidence', ['source_ip', 'received_at', 'counted', 'state', 'reporter_id'],
                              unique=False)
        batch_op.create_index('ix_reports_reporter_id_received_at', ['reporter_id', 'received_at'], unique=False)
        batch_op.drop_index('ix_reports_source_ip_received_at')
        batch_op.drop_index('ix_reports_reporter_id')


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index('ix_reports_reporter_id', ['reporter_id'], unique=False)
        batch_op.create_index('ix_reports_source_ip_received_at', ['source_ip', 'received_at'], unique=False)
        batch_op.drop_index('ix_reports_reporter_id_received_at')
        batch_op.drop_index('ix_reports_evidence')
