"""Tables whose row changes PostgreSQL announces, for the record cache (see
`storage.change_feed`): a row trigger sends `NOTIFY wf_record_changes, '<table>:<id>'` in
the transaction that writes the row, whoever writes it, and a statement trigger
`'<table>:*'` after a TRUNCATE. Revision 0010 creates them on a migrated database;
`announce_changes` makes `create_all` create them with the table too. Nothing on SQLite."""

from __future__ import annotations

import sqlalchemy as sa

CHANNEL = "wf_record_changes"
TRIGGER = "wf_record_changes"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION wf_announce_record_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':*');
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || NEW.id);
    END IF;
    RETURN NULL;
END
$$
"""


def announce_changes(table: sa.Table) -> None:
    """Make `create_all` give `table` the triggers (once, however often it is called)."""
    if table.info.get("announces_changes"):
        return
    table.info["announces_changes"] = True
    for statement in (
        FUNCTION,
        f"CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table.name} "
        "FOR EACH ROW EXECUTE FUNCTION wf_announce_record_change()",
        f"CREATE TRIGGER {TRIGGER}_truncate AFTER TRUNCATE ON {table.name} "
        "FOR EACH STATEMENT EXECUTE FUNCTION wf_announce_record_change()",
    ):
        sa.event.listen(table, "after_create", sa.DDL(statement).execute_if(dialect="postgresql"))
