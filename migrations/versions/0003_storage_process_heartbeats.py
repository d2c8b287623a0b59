"""storage process heartbeats

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('storage_processes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_processes'))
    )
    with op.batch_alter_table('storage_processes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_storage_processes_last_seen'), ['last_seen'], unique=False)


def downgrade():
    op.drop_table('storage_processes')
