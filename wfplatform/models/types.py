import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

# JSON on SQLite, JSONB (indexable, comparable) on PostgreSQL.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)
