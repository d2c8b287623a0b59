"""The two backends' primitives, below the repositories that build on them: the in-memory
store and its transactions (`memory`), database sessions, engine settings and the
translation of driver faults into `StorageUnavailable` (`sql`), and many rows in one
statement (`recordset`). Nothing here imports a repository or the adapter."""
