"""Plain domain records: dataclasses with no Flask or SQLAlchemy imports."""
