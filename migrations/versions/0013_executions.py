"""executions and node executions: the runs of workflows

Revision ID: 0013
Revises: 0012

An execution's `workflow_id` has no foreign key: the history of a run outlives the
workflow it ran. The slot columns are NULL unless a run holds a concurrency slot, and a
unique key ignores NULL, so at most one running execution holds each slot; `retry_of`
is unique the same way: an execution is retried once (its retry may be retried in turn).
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('executions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workflow_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('workflow_version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('trigger', sa.String(length=20), nullable=False),
    sa.Column('input', JSON, nullable=True),
    sa.Column('error', JSON, nullable=True),
    sa.Column('retry_of', sa.String(length=36), nullable=True),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('runner', sa.String(length=200), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('workflow_slot', sa.Integer(), nullable=True),
    sa.Column('global_slot', sa.Integer(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('data_bytes', sa.BigInteger(), nullable=False),
    sa.Column('truncated', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_executions_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_executions')),
    sa.UniqueConstraint('global_slot', name=op.f('uq_executions_global_slot')),
    sa.UniqueConstraint('retry_of', name=op.f('uq_executions_retry_of')),
    sa.UniqueConstraint('workflow_id', 'workflow_slot', name=op.f('uq_executions_workflow_id_workflow_slot'))
    )
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.create_index('ix_executions_user_id_created_at', ['user_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_executions_workflow_id_created_at', ['workflow_id', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_executions_status_created_at', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_executions_status_lease_expires_at', ['status', 'lease_expires_at'], unique=False)

    op.create_table('node_executions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('execution_id', sa.String(length=36), nullable=False),
    sa.Column('node_id', sa.String(length=100), nullable=False),
    sa.Column('node_type', sa.String(length=200), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('input', JSON, nullable=True),
    sa.Column('output', JSON, nullable=True),
    sa.Column('error', JSON, nullable=True),
    sa.Column('truncated', sa.Boolean(), nullable=False),
    sa.Column('start_seq', sa.Integer(), nullable=False),
    sa.Column('end_seq', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('duration_ms', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['execution_id'], ['executions.id'], name=op.f('fk_node_executions_execution_id_executions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_node_executions'))
    )
    with op.batch_alter_table('node_executions', schema=None) as batch_op:
        batch_op.create_index('ix_node_executions_execution_id_start_seq', ['execution_id', 'start_seq'], unique=False)


def downgrade():
    with op.batch_alter_table('node_executions', schema=None) as batch_op:
        batch_op.drop_index('ix_node_executions_execution_id_start_seq')
    op.drop_table('node_executions')
    with op.batch_alter_table('executions', schema=None) as batch_op:
        batch_op.drop_index('ix_executions_status_lease_expires_at')
        batch_op.drop_index('ix_executions_status_created_at')
        batch_op.drop_index('ix_executions_workflow_id_created_at')
        batch_op.drop_index('ix_executions_user_id_created_at')
    op.drop_table('executions')
