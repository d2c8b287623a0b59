"""process activity published with the heartbeat

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# JSON on SQLite, JSONB on PostgreSQL (as wfplatform.models.types.JSONDocument).
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    with op.batch_alter_table('storage_processes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('activity', JSON, nullable=True))


def downgrade():
    with op.batch_alter_table('storage_processes', schema=None) as batch_op:
        batch_op.drop_column('activity')
