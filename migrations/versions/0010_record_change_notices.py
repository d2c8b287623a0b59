"""record change notices: PostgreSQL announces each change to a users row

Revision ID: 0010
Revises: 0009

A row trigger sends `NOTIFY wf_record_changes, '<table>:<id>'` in the transaction that
writes the row, and a statement trigger `'<table>:*'` after a TRUNCATE, whoever writes:
every serving process listens and forgets what its record cache kept of that row
(wfplatform/storage/change_feed.py). Nothing on SQLite, whose reads are not cached.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

TABLES = ('users',)

FUNCTION = """
CREATE OR REPLACE FUNCTION wf_announce_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('wf_record_changes', TG_TABLE_NAME || ':*');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('wf_record_changes', TG_TABLE_NAME || ':' || OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('wf_record_changes', TG_TABLE_NAME || ':' || NEW.id);
    END IF;
    RETURN NULL;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(FUNCTION)
    for table in TABLES:
        op.execute(
            f'CREATE TRIGGER wf_record_changes AFTER INSERT OR UPDATE OR DELETE ON {table} '
            'FOR EACH ROW EXECUTE FUNCTION wf_announce_record_change()'
        )
        op.execute(
            f'CREATE TRIGGER wf_record_changes_truncate AFTER TRUNCATE ON {table} '
            'FOR EACH STATEMENT EXECUTE FUNCTION wf_announce_record_change()'
        )


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in TABLES:
        op.execute(f'DROP TRIGGER wf_record_changes_truncate ON {table}')
        op.execute(f'DROP TRIGGER wf_record_changes ON {table}')
    op.execute('DROP FUNCTION wf_announce_record_change()')
