"""audit outbox: audit entries stored with the mode switch they record

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# JSON on SQLite, JSONB on PostgreSQL (as wfplatform.models.types.JSONDocument).
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        'audit_outbox',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('entry', JSON, nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_outbox')),
    )


def downgrade():
    op.drop_table('audit_outbox')
