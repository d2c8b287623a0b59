"""Test helper: make the database equal to memory, as a backfill would, so a test can walk
the cut-over's steps. A full reload in one transaction, under every record's lock."""

from __future__ import annotations

from wfplatform.backends.sql import new_session
from wfplatform.domain.codec import to_dict
from wfplatform.storage.adapter import Storage
from wfplatform.storage.journal import Change


def mirror_memory_to_database(storage: Storage) -> None:
    removals, puts = [], []
    for name, binding in storage.parts.bindings.items():  # parents before children
        memory = storage.in_memory(name)
        with new_session(storage.parts.engine) as session:
            database_keys = binding.sql(session).keys()
        removals = [Change(name, key, None) for key in sorted(database_keys)] + removals
        puts += [Change(name, r.id, to_dict(r)) for r in memory.iter_all()]
    changes = removals + puts
    with storage.parts.locks.hold((change.repository, change.key) for change in changes):
        storage.replicator.apply(changes)
