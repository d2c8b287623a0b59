"""background jobs

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# JSON on SQLite, JSONB on PostgreSQL (as wfplatform.models.types.JSONDocument).
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table('background_jobs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('family', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=320), nullable=False),
    sa.Column('process_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('parameters', JSON, nullable=False),
    sa.Column('progress', JSON, nullable=False),
    sa.Column('result', JSON, nullable=True),
    sa.Column('error', JSON, nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_jobs'))
    )
    with op.batch_alter_table('background_jobs', schema=None) as batch_op:
        batch_op.create_index('ix_background_jobs_family_created_at', ['family', 'created_at'], unique=False)
        batch_op.create_index('uq_background_jobs_running_family', ['family'], unique=True, postgresql_where=sa.text("state = 'running'"), sqlite_where=sa.text("state = 'running'"))


def downgrade():
    op.drop_table('background_jobs')
