"""data migration runs and ledger

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# JSON on SQLite, JSONB on PostgreSQL (as wfplatform.models.types.JSONDocument).
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table('migration_runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=False),
    sa.Column('options', JSON, nullable=False),
    sa.Column('counts', JSON, nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_runs'))
    )
    with op.batch_alter_table('migration_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_migration_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_migration_runs_state'), ['state'], unique=False)

    op.create_table('migration_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('repository', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('before', JSON, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['migration_runs.id'], name=op.f('fk_migration_ledger_run_id_migration_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_migration_ledger'))
    )
    with op.batch_alter_table('migration_ledger', schema=None) as batch_op:
        batch_op.create_index('ix_migration_ledger_run_id_id', ['run_id', 'id'], unique=False)



def downgrade():
    op.drop_table('migration_ledger')
    op.drop_table('migration_runs')
