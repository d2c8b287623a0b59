"""list indexes: workflows by status and date, and trigrams for search

Revision ID: 0011
Revises: 0010

A status filter, newest first, reads `(status, updated_at)` (it replaces the index on
`status` alone). On PostgreSQL, `search` (a substring of the name or description) uses a
trigram index (the trusted extension pg_trgm, which the database's owner may create).
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ix_workflows_status')
        batch_op.create_index(
            'ix_workflows_status_updated_at', ['status', 'updated_at'], unique=False
        )
    if postgres:
        op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
        op.create_index(
            'ix_workflows_search_text',
            'workflows',
            ['search_text'],
            postgresql_using='gin',
            postgresql_ops={'search_text': 'gin_trgm_ops'},
        )


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_index('ix_workflows_search_text', table_name='workflows')
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.drop_index('ix_workflows_status_updated_at')
        batch_op.create_index('ix_workflows_status', ['status'], unique=False)
