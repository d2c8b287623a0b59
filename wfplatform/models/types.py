import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# JSON on SQLite, JSONB (indexable, comparable) on PostgreSQL.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def only_on(dialect: str, index: sa.Index) -> sa.Index:
    """`index` made by `create_all` on `dialect` only, and expected by the migrations'
    schema check there only (migrations/env.py reads `info["only_on"]`)."""
    index.info["only_on"] = dialect
    return index.ddl_if(dialect=dialect)
