"""Report bodies apart: the raw message (`raw_z`) moves from `reports` to `report_bodies`, so
marking a report processed rewrites a small row instead of the row with the message (SQLite
rewrites a whole record on update and the WAL grows by it). Existing blobs are copied over.

Trap hits keep their `raw_z`: they are never updated.

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

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # The foreign key is added after `reports` was rebuilt (SQLite batch mode drops and
    # recreates `reports`, which a table referencing it would refuse with foreign_keys=ON).
    op.create_table('report_bodies',
                    sa.Column('report_id', ID, autoincrement=False, nullable=False),
                    sa.Column('raw_z', sa.LargeBinary(), nullable=False),
                    sa.PrimaryKeyConstraint('report_id', name=op.f('pk_report_bodies')))
    op.execute('INSERT INTO report_bodies (report_id, raw_z) SELECT id, raw_z FROM reports')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_column('raw_z')
    with op.batch_alter_table('report_bodies', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_report_bodies_report_id_reports'), 'reports',
                                    ['report_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('raw_z', sa.LargeBinary(), nullable=True))
    op.execute('UPDATE reports SET raw_z = (SELECT b.raw_z FROM report_bodies b WHERE b.report_id = reports.id)')
    op.execute("UPDATE reports SET raw_z = '' WHERE raw_z IS NULL")
    op.drop_table('report_bodies')
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.alter_column('raw_z', existing_type=sa.LargeBinary(), nullable=False)
