"""users, workflows, workflow versions and storage modes

Revision ID: 0001
Revises:
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# JSON on SQLite, JSONB on PostgreSQL (as wfplatform.models.types.JSONDocument).
JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table('storage_mode_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('repository', sa.String(length=64), nullable=False),
    sa.Column('from_mode', sa.String(length=20), nullable=False),
    sa.Column('from_read_from', sa.String(length=20), nullable=False),
    sa.Column('to_mode', sa.String(length=20), nullable=False),
    sa.Column('to_read_from', sa.String(length=20), nullable=False),
    sa.Column('actor', sa.String(length=320), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_mode_changes'))
    )
    with op.batch_alter_table('storage_mode_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_storage_mode_changes_changed_at'), ['changed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_storage_mode_changes_repository'), ['repository'], unique=False)

    op.create_table('storage_modes',
    sa.Column('repository', sa.String(length=64), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('read_from', sa.String(length=20), nullable=False),
    sa.Column('shadow_rate', sa.Float(), nullable=False),
    sa.Column('fallback', sa.Boolean(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('repository', name=op.f('pk_storage_modes'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email_key', name=op.f('uq_users_email_key'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_role'), ['role'], unique=False)

    op.create_table('workflows',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('tags', JSON, nullable=False),
    sa.Column('nodes', JSON, nullable=False),
    sa.Column('edges', JSON, nullable=False),
    sa.Column('settings', JSON, nullable=False),
    sa.Column('node_types', JSON, nullable=False),
    sa.Column('credential_types', JSON, nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_workflows_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflows'))
    )
    with op.batch_alter_table('workflows', schema=None) as batch_op:
        batch_op.create_index('ix_workflows_credential_types', ['credential_types'], unique=False, postgresql_using='gin')
        batch_op.create_index('ix_workflows_node_types', ['node_types'], unique=False, postgresql_using='gin')
        batch_op.create_index(batch_op.f('ix_workflows_status'), ['status'], unique=False)
        batch_op.create_index('ix_workflows_tags', ['tags'], unique=False, postgresql_using='gin')
        batch_op.create_index(batch_op.f('ix_workflows_updated_at'), ['updated_at'], unique=False)
        batch_op.create_index('ix_workflows_user_id_updated_at', ['user_id', 'updated_at'], unique=False)

    op.create_table('workflow_versions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workflow_id', sa.String(length=36), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('nodes', JSON, nullable=False),
    sa.Column('edges', JSON, nullable=False),
    sa.Column('settings', JSON, nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workflow_id'], ['workflows.id'], name=op.f('fk_workflow_versions_workflow_id_workflows')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_versions')),
    sa.UniqueConstraint('workflow_id', 'number', name=op.f('uq_workflow_versions_workflow_id_number'))
    )


def downgrade():
    # Dropping a table drops its indexes; children before parents.
    op.drop_table('workflow_versions')
    op.drop_table('workflows')
    op.drop_table('users')
    op.drop_table('storage_modes')
    op.drop_table('storage_mode_changes')
