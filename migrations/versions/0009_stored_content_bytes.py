"""stored content bytes: what each workflow and version stores, summed by the bytes quota

Revision ID: 0009
Revises: 0008

Rows written from now on get the size the service computes (`stored_bytes`); rows already
stored get the size the quota used to compute for them from their columns on every write.
"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

CONTENT = {
    'workflows': (('name', 'description'), ('tags', 'nodes', 'edges', 'settings')),
    'workflow_versions': (('name',), ('nodes', 'edges', 'settings')),
}


def _byte_length(dialect, column):
    if dialect == 'postgresql':
        return f'octet_length(CAST({column} AS TEXT))'
    return f'length(CAST({column} AS BLOB))'


def upgrade():
    dialect = op.get_bind().dialect.name
    for table, (texts, documents) in CONTENT.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column('content_bytes', sa.BigInteger(), server_default='0', nullable=False)
            )
        size = ' + '.join(_byte_length(dialect, column) for column in (*texts, *documents))
        op.execute(f'UPDATE {table} SET content_bytes = {size}')


def downgrade():
    for table in reversed(list(CONTENT)):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('content_bytes')
