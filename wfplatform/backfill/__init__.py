"""The backfill: copies the records that exist only in memory into the database,
compares before it writes, records a ledger, and undoes a run exactly."""
