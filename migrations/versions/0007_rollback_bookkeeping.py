"""rollback bookkeeping: undone ledger entries, the run's state before a rollback

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('migration_ledger', schema=None) as batch_op:
        batch_op.add_column(sa.Column('undone_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('migration_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state_before_rollback', sa.String(length=20), nullable=True))


def downgrade():
    with op.batch_alter_table('migration_runs', schema=None) as batch_op:
        batch_op.drop_column('state_before_rollback')
    with op.batch_alter_table('migration_ledger', schema=None) as batch_op:
        batch_op.drop_column('undone_at')
