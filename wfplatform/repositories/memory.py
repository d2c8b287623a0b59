"""The generic half of every memory repository: primitives over a `TableView`."""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any, ClassVar

from ..backends.memory import (
    IndexKey,
    MemoryStore,
    MemoryTable,
    MemoryTransaction,
    reference_index,
)
from ..domain.codec import copy_record
from ..errors import DUPLICATE, MISSING_REFERENCE, STILL_REFERENCED, Conflict
from .base import ChangeSink, Page, Repository

# A step of an order's walk (a key, a set lookup) costs about a tenth of putting a record
# through the heap (fetching it, making its sort key, comparing), measured on 100,000
# workflows: `_select_indexed` walks while that is the cheaper way.
WALK_STEPS_PER_HEAP_ITEM = 10

Stamps = dict[str, Any]  # see `MemoryRepository.fetch_many_stamped`


class MemoryRepository(Repository):
    """Thread-safe through the store's lock; hands out and keeps copies only."""

    backend: ClassVar[str] = "memory"
    # a repository's own secondary indexes (name -> the value or values of a record) and
    # orders (name -> the value its records sort by), beside those the spec implies
    indexes: ClassVar[dict[str, IndexKey]] = {}
    orders: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    # texts searched for a substring (name -> the text of a record)
    texts: ClassVar[dict[str, Callable[[Any], str]]] = {}

    def __init__(
        self,
        store: MemoryStore,
        source: MemoryTransaction | None = None,
        changes: ChangeSink | None = None,
    ) -> None:
        """`source` is the unit of work's transaction; without one, the committed tables."""
        super().__init__(changes)
        self._store = store
        self._source: MemoryStore | MemoryTransaction = source or store
        self._view = self._source.view(self.spec.name)

    @classmethod
    def create_table(cls, store: MemoryStore) -> MemoryTable:
        """The table with the spec's unique keys, and an index on each parent reference."""
        unique: dict[str, IndexKey] = {key.name: key.value for key in cls.spec.unique}
        indexes: dict[str, IndexKey] = dict(cls.indexes)
        for parent in cls.spec.parents:
            indexes[reference_index(parent.field)] = operator.attrgetter(parent.field)
            store.references[parent.repository].append((cls.spec.name, parent.field))
            store.parents[cls.spec.name].append((parent.repository, parent.field))
        table = MemoryTable(
            cls.spec.name,
            cls.spec.key,
            unique=unique,
            indexes=indexes,
            orders=cls.orders,
            texts=cls.texts,
        )
        return store.add_table(table)

    @staticmethod
    def parent_index(field: str) -> str:
        """The index every memory table keeps on a reference to its parent."""
        return reference_index(field)

    def fetch(self, key: str) -> Any | None:
        with self._store.lock:
            record = self._view.get(key)
            return copy_record(record) if record is not None else None

    def fetch_many(self, keys: list[str]) -> dict[str, Any]:
        with self._store.lock:
            found = {key: self._view.get(key) for key in keys}
        return {key: copy_record(record) for key, record in found.items() if record is not None}

    def fetch_many_stamped(self, keys: list[str]) -> tuple[dict[str, Any], Stamps]:
        """`fetch_many` for a reader that never changes the copies (they keep the kept
        records' measurements, `stored_bytes`), and stamps that `changed_since` compares
        later: a reader may copy records without holding their record locks, then learn
        under the locks which of them were written since. A stamp is the kept record
        itself (a write replaces it, never changes it); holding it keeps its identity from
        being reused."""
        with self._store.lock:
            stamps = {key: self._view.get(key) for key in keys}
        found = {
            key: copy_record(kept, measured=True)
            for key, kept in stamps.items()
            if kept is not None
        }
        return found, stamps

    def changed_since(self, stamps: Stamps) -> list[str]:
        """The keys of `stamps` written (made, replaced or removed) since they were stamped."""
        with self._store.lock:
            return [key for key, kept in stamps.items() if self._view.get(key) is not kept]

    def iter_all(self, batch_size: int = 1000) -> Iterator[Any]:
        with self._store.lock:
            keys = sorted(self._view.keys())
        for start in range(0, len(keys), batch_size):
            with self._store.lock:
                batch = [self._view.get(key) for key in keys[start : start + batch_size]]
            yield from (copy_record(record) for record in batch if record is not None)

    def keys(self) -> set[str]:
        with self._store.lock:
            return self._view.keys()

    def count(self) -> int:
        with self._store.lock:
            return len(self._view.keys())

    def upsert(self, record: Any) -> None:
        with self._store.lock:
            self._view.put(record)

    def discard(self, key: str) -> None:
        with self._store.lock:
            self._view.remove(key)

    def _insert(self, record: Any) -> None:
        self._validate(record)
        key = self.spec.key(record)
        with self._store.lock:
            if self._view.get(key) is not None:
                raise Conflict(DUPLICATE.format(name=self.spec.name))
            self._check_unique(record)
            self._check_parents(record)
            self._view.put(record)
        self._changed(key, record)

    def _replace(self, record: Any, *, successor: bool = True) -> None:
        self._validate(record)
        key = self.spec.key(record)
        with self._store.lock:
            current = self._view.get(key) or self._require(key)
            if successor:
                self._check_successor(current, record)
            self._check_unique(record)
            self._check_parents(record)
            self._view.put(record)
        self._changed(key, record)

    def _erase(self, key: str) -> None:
        with self._store.lock:
            self._require(key)
            for child, field in self._store.references[self.spec.name]:
                if self._source.view(child).keys_for(reference_index(field), key):
                    raise Conflict(STILL_REFERENCED.format(name=self.spec.name))
            self._view.remove(key)
        self._changed(key, None)

    def _check_unique(self, record: Any) -> None:
        key = self.spec.key(record)
        for index, value in self._view.table.unique_values(record):
            if self._view.holder(index, value) not in (None, key):
                raise Conflict(DUPLICATE.format(name=self.spec.name))

    def _check_parents(self, record: Any) -> None:
        for parent, parent_key in self.spec.parent_keys(record):
            if self._source.view(parent).get(parent_key) is None:
                raise Conflict(MISSING_REFERENCE.format(name=self.spec.name))

    # -- query helpers for subclasses --------------------------------------------------------
    def _select(
        self,
        candidates: Iterable[Any],
        predicate: Callable[[Any], bool],
        sort_key: Callable[[Any], Any],
        reverse: bool,
        limit: int,
        offset: int,
    ) -> Page:
        matches = sorted((r for r in candidates if predicate(r)), key=sort_key, reverse=reverse)
        items = [copy_record(record) for record in matches[offset : offset + limit]]
        return Page.counted(items, len(matches))

    def _select_indexed(
        self,
        keys: AbstractSet[str] | None,
        order: str,
        descending: bool,
        limit: int,
        offset: int,
    ) -> Page:
        """A page of the records under `keys` (None: all) by `order` (a field and one of
        `orders`, the key breaking ties), without sorting them all: the total is the size
        of `keys`, and the page is a walk of the order from its end when that meets the
        page sooner than a heap of every key would (`WALK_STEPS_PER_HEAP_ITEM`), else the
        best of `keys` (a heap). A view with staged changes, or a field without an order,
        takes the plain way (`_select`)."""
        view = self._view
        table = view.table

        def sort_key(record: Any) -> tuple:
            return getattr(record, order), self.spec.key(record)

        if view.is_changed() or not table.has_order(order):
            records = view.records() if keys is None else (view.get(k) for k in keys)
            return self._select(records, bool, sort_key, descending, limit, offset)
        wanted = offset + limit
        total = len(table.records) if keys is None else len(keys)
        # the walk meets `wanted` of the keys in about wanted * records / total steps
        walk_steps = wanted * len(table.records) / max(total, 1)
        if keys is None or walk_steps <= total * WALK_STEPS_PER_HEAP_ITEM:
            walked = table.ordered_keys(order, descending)
            chosen = (key for key in walked if keys is None or key in keys)
            page = [view.get(key) for _, key in zip(range(wanted), chosen, strict=False)]
        else:
            best = heapq.nlargest if descending else heapq.nsmallest
            page = best(wanted, (view.get(k) for k in keys), key=sort_key)
        return Page.counted([copy_record(record) for record in page[offset:]], total)
