"""Storage: the in-memory store, the SQL session plumbing and the storage adapter."""
