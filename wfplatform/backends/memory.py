"""The in-memory backend: tables of records behind one re-entrant lock.

Guarantees: every read and every commit holds the store's lock, so a reader never sees a
half-applied unit of work. State is per process: `memory-only` and `dual` reading from memory
are valid with a single process only. Records are stored and handed out as copies: a table
keeps each record as `domain.codec.kept_copy` makes it (its JSON pickled), and what it holds
is read for scalar fields only, or given out through `copy_record`.

A `MemoryTransaction` stages puts and removes in an overlay; reads through it see the overlay
over the committed tables; `commit()` re-checks unique keys against what committed meanwhile
and applies everything at once.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from sortedcontainers import SortedList

from ..domain.codec import copy_record, kept_copy
from ..errors import (
    CHANGED_MEANWHILE,
    DUPLICATE,
    MISSING_REFERENCE,
    STILL_REFERENCED,
    Conflict,
)

IndexKey = Callable[[Any], Hashable | Iterable[Hashable] | None]
DELETED = object()
NO_KEYS: frozenset[str] = frozenset()


def _values(index_key: IndexKey, record: Any) -> set[Hashable]:
    """An index key gives one value, a tuple (a composite value) or a list (many values)."""
    value = index_key(record)
    if value is None:
        return set()
    if isinstance(value, list | set | frozenset):
        return set(value)
    return {value}


class MemoryTable:
    """Records by key (kept copies), plus unique and non-unique secondary indexes, orders
    (the keys sorted by (a value of the record, key), walked from either end without
    sorting) and texts (a text of each record, by key, searched for a substring without
    opening a record). Index, unique, order and text keys are given whole records: `put`
    takes one, and `remove` makes one of what it removes."""

    def __init__(
        self,
        name: str,
        key: Callable[[Any], str],
        unique: dict[str, IndexKey] | None = None,
        indexes: dict[str, IndexKey] | None = None,
        orders: dict[str, Callable[[Any], Any]] | None = None,
        texts: dict[str, Callable[[Any], str]] | None = None,
    ) -> None:
        self.name = name
        self.key = key
        self.records: dict[str, Any] = {}
        self._unique_keys = unique or {}
        self._index_keys = indexes or {}
        self._order_keys = orders or {}
        self._unique: dict[str, dict[Hashable, str]] = {n: {} for n in self._unique_keys}
        self._index: dict[str, defaultdict[Hashable, set[str]]] = {
            n: defaultdict(set) for n in self._index_keys
        }
        self._orders: dict[str, SortedList] = {n: SortedList() for n in self._order_keys}
        self.text_keys = texts or {}
        self._texts: dict[str, dict[str, str]] = {n: {} for n in self.text_keys}

    def put(self, record: Any) -> None:
        """Keep a copy of `record` (the caller's may change after)."""
        key = self.key(record)
        self.remove(key)
        self.records[key] = kept_copy(record)
        for name, index_key in self._unique_keys.items():
            for value in _values(index_key, record):
                self._unique[name][value] = key
        for name, index_key in self._index_keys.items():
            for value in _values(index_key, record):
                self._index[name][value].add(key)
        for name, order_key in self._order_keys.items():
            self._orders[name].add((order_key(record), key))
        for name, text_key in self.text_keys.items():
            self._texts[name][key] = text_key(record)

    def remove(self, key: str) -> None:
        kept = self.records.pop(key, None)
        if kept is None:
            return
        old = copy_record(kept)  # the whole record: its keys may read its JSON
        for name, index_key in self._unique_keys.items():
            for value in _values(index_key, old):
                if self._unique[name].get(value) == key:
                    del self._unique[name][value]
        for name, index_key in self._index_keys.items():
            for value in _values(index_key, old):
                keys = self._index[name][value]
                keys.discard(key)
                if not keys:
                    del self._index[name][value]
        for name, order_key in self._order_keys.items():
            self._orders[name].remove((order_key(old), key))
        for texts in self._texts.values():
            del texts[key]

    def clear(self) -> None:
        for key in list(self.records):
            self.remove(key)

    def holder(self, index: str, value: Hashable) -> str | None:
        return self._unique[index].get(value)

    def keys_for(self, index: str, value: Hashable) -> AbstractSet[str]:
        """The index's own set, not a copy: read it under the store lock, never change it."""
        return self._index[index].get(value, NO_KEYS)

    def keys_containing(self, text: str, part: str) -> set[str]:
        """The keys of the records whose text `text` holds `part`."""
        return {key for key, value in self._texts[text].items() if part in value}

    def has_order(self, order: str) -> bool:
        return order in self._order_keys

    def ordered_keys(self, order: str, descending: bool) -> Iterator[str]:
        """Every key, by the order's value then the key (both descending, or both not)."""
        entries = self._orders[order]
        for _, key in reversed(entries) if descending else entries:
            yield key

    def unique_clash(self, record: Any, ignore: set[str]) -> str | None:
        """The unique index `record` would break, ignoring holders whose keys are in `ignore`."""
        key = self.key(record)
        for name, index_key in self._unique_keys.items():
            for value in _values(index_key, record):
                holder = self._unique[name].get(value)
                if holder is not None and holder != key and holder not in ignore:
                    return name
        return None

    def unique_values(self, record: Any) -> Iterator[tuple[str, Hashable]]:
        for name, index_key in self._unique_keys.items():
            for value in _values(index_key, record):
                yield name, value


class MemoryStore:
    """Every memory table of one process, behind one lock.

    `references[parent]` lists the (child table, field) pairs pointing at a parent table and
    `parents[child]` the (parent table, field) pairs, so memory enforces references the way
    the database's foreign keys do."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tables: dict[str, MemoryTable] = {}
        self.references: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)
        self.parents: defaultdict[str, list[tuple[str, str]]] = defaultdict(list)

    def add_table(self, table: MemoryTable) -> MemoryTable:
        self.tables[table.name] = table
        return table

    def begin(self) -> MemoryTransaction:
        return MemoryTransaction(self)

    def view(self, table: str) -> TableView:
        """The committed table, written directly (hold `lock` around use)."""
        return TableView(self.tables[table])

    def freeze(self, tables: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The committed records of `tables` as of one moment, by key: kept copies (see
        `MemoryTable`). Only the key -> record maps are copied: records are shared, which
        is safe because a commit replaces a stored record, it never changes one in place."""
        with self.lock:
            return {name: dict(self.tables[name].records) for name in tables}


class TableView:
    """One table as a unit of work sees it: its overlay of staged changes over the committed
    records. Without an overlay, puts and removes apply to the table directly (the caller
    holds the store lock)."""

    def __init__(
        self,
        table: MemoryTable,
        overlay: dict[str, Any] | None = None,
        based_on: dict[str, Any] | None = None,
    ) -> None:
        self.table = table
        self.overlay = overlay
        self._staged = overlay if overlay is not None else {}
        self._based_on = based_on if based_on is not None else {}

    def get(self, key: str) -> Any | None:
        if key in self._staged:
            staged = self._staged[key]
            return None if staged is DELETED else staged
        return self.table.records.get(key)

    def holder(self, index: str, value: Hashable) -> str | None:
        for key, staged in self._staged.items():
            if staged is not DELETED and (index, value) in self.table.unique_values(staged):
                return key
        holder = self.table.holder(index, value)
        return None if holder in self._staged else holder

    def keys_for(self, index: str, value: Hashable) -> AbstractSet[str]:
        """Read-only (without staged changes, the table's own set: see `MemoryTable`)."""
        if not self._staged:
            return self.table.keys_for(index, value)
        index_key = self.table._index_keys[index]
        return self._with_staged(
            self.table.keys_for(index, value), lambda staged: value in _values(index_key, staged)
        )

    def keys_containing(self, text: str, part: str) -> set[str]:
        text_key = self.table.text_keys[text]
        committed = self.table.keys_containing(text, part)
        if not self._staged:
            return committed
        return self._with_staged(committed, lambda staged: part in text_key(staged))

    def _with_staged(self, committed: AbstractSet[str], matches: Callable[[Any], bool]) -> set[str]:
        """`committed` (keys the table finds) as this view sees them: without the keys it
        stages, with those of its staged records that `matches`."""
        keys = {key for key in committed if key not in self._staged}
        keys.update(
            key for key, staged in self._staged.items() if staged is not DELETED and matches(staged)
        )
        return keys

    def is_changed(self) -> bool:
        """Whether this view stages changes of its own (the table's orders miss them)."""
        return bool(self._staged)

    def keys(self) -> set[str]:
        keys = set(self.table.records)
        for key, staged in self._staged.items():
            if staged is DELETED:
                keys.discard(key)
            else:
                keys.add(key)
        return keys

    def records(self) -> Iterator[Any]:
        for key, record in self.table.records.items():
            if key not in self._staged:
                yield record
        for staged in self._staged.values():
            if staged is not DELETED:
                yield staged

    def put(self, record: Any) -> None:
        """Keep a copy of `record`: in the table, or staged (a whole record, as the
        unit of work reads it back)."""
        if self.overlay is None:
            self.table.put(record)
        else:
            self._stage(self.table.key(record), copy_record(record))

    def remove(self, key: str) -> None:
        if self.overlay is None:
            self.table.remove(key)
        else:
            self._stage(key, DELETED)

    def _stage(self, key: str, staged: Any) -> None:
        if key not in self._based_on:
            self._based_on[key] = self.table.records.get(key)
        self.overlay[key] = staged


class MemoryTransaction:
    """Staged changes to several tables, applied atomically by `commit()`.

    `validate()` repeats, against what committed meanwhile, the checks a database makes at
    commit: unique keys, references both ways, and records changed under a staged change."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.overlays: dict[str, dict[str, Any]] = defaultdict(dict)
        self._based_on: dict[str, dict[str, Any]] = defaultdict(dict)

    def view(self, table: str) -> TableView:
        return TableView(self.store.tables[table], self.overlays[table], self._based_on[table])

    def validate(self) -> None:
        """Raise `Conflict` if the staged changes no longer fit what is committed."""
        for name, overlay in self.overlays.items():
            table = self.store.tables[name]
            for key, staged in overlay.items():
                self._check_unchanged(table, key, staged)
                if staged is DELETED:
                    self._check_unreferenced(name, key)
                else:
                    self._check_references(name, staged)
                    if table.unique_clash(staged, ignore=set(overlay)):
                        raise Conflict(DUPLICATE.format(name=name))

    def _check_unchanged(self, table: MemoryTable, key: str, staged: Any) -> None:
        before, now = self._based_on[table.name].get(key), table.records.get(key)
        if now is before:
            return
        if before is None:
            raise Conflict(DUPLICATE.format(name=table.name))
        if now is None or hasattr(now, "version"):
            # deleted meanwhile, or a versioned record updated meanwhile (a lost update)
            raise Conflict(CHANGED_MEANWHILE.format(name=table.name))

    def _check_references(self, name: str, staged: Any) -> None:
        for parent, field in self.store.parents[name]:
            value = getattr(staged, field)
            if value is not None and self.view(parent).get(value) is None:
                raise Conflict(MISSING_REFERENCE.format(name=name))

    def _check_unreferenced(self, name: str, key: str) -> None:
        for child, field in self.store.references[name]:
            if self.view(child).keys_for(reference_index(field), key):
                raise Conflict(STILL_REFERENCED.format(name=name))

    def commit(self) -> None:
        with self.store.lock:
            self.validate()
            self.apply()

    def apply(self) -> None:
        """Apply without validation; the caller holds the store lock."""
        for name, overlay in self.overlays.items():
            table = self.store.tables[name]
            for key, staged in overlay.items():
                if staged is DELETED:
                    table.remove(key)
                else:
                    table.put(staged)
        self.overlays.clear()
        self._based_on.clear()


def reference_index(field: str) -> str:
    """The index a child table keeps on its reference to a parent."""
    return f"references:{field}"
