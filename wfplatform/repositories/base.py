"""The repository interface every domain implements twice (memory and SQL).

A repository class declares which of its public methods read and which write (`@reads`,
`@writes`); that declaration is all the storage adapter needs to route it. Writes change
records only through the primitives `_insert`, `_replace` and `_erase`, which both backends
implement and which report every change to the unit of work, so the adapter knows exactly
which records an operation touched and can copy their final state to the other backend.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, overload

from ..domain.codec import to_dict
from ..domain.validation import validate_record
from ..errors import CHANGED_MEANWHILE, Conflict, NotFound
from .security_state import SecurityState

READ = "read"
WRITE = "write"
INSERTED, UPDATED, IDENTICAL = "inserted", "updated", "identical"


Method = TypeVar("Method", bound=Callable[..., Any])


@overload
def reads(fn: Method) -> Method: ...


@overload
def reads(*, key_arg: str | None = None) -> Callable[[Method], Method]: ...


def reads(fn: Any = None, *, key_arg: str | None = None) -> Any:
    """Mark a read. `key_arg` names the argument holding a record key (enables lazy sync).
    The method keeps its signature, for readers and type checkers."""

    def mark(method: Method) -> Method:
        method.__storage_kind__ = READ  # type: ignore[attr-defined]
        method.__storage_key_arg__ = key_arg  # type: ignore[attr-defined]
        return method

    return mark(fn) if fn is not None else mark


def writes(method: Method) -> Method:
    method.__storage_kind__ = WRITE  # type: ignore[attr-defined]
    return method


def declared_operations(cls: type) -> dict[str, str]:
    """Public methods of a repository class mapped to `read` or `write`.

    The declaration is read along the MRO, so a backend's override of an interface method
    keeps the interface's marker."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for name, member in vars(klass).items():
            kind = getattr(member, "__storage_kind__", None)
            if kind and not name.startswith("_"):
                found[name] = kind
    return found


@functools.cache
def key_argument(cls: type, operation: str) -> str | None:
    """The argument an operation reads one record by (`@reads(key_arg=...)`), if any: looked up
    once per class and operation (every sampled read asks)."""
    for klass in cls.__mro__:
        member = vars(klass).get(operation)
        if member is not None and hasattr(member, "__storage_kind__"):
            return getattr(member, "__storage_key_arg__", None)
    return None


@dataclass(frozen=True)
class Parent:
    """A record's reference to its owner in another repository."""

    repository: str
    field: str


@dataclass(frozen=True)
class UniqueKey:
    """Values no two records of a repository share, besides the key. `fields` are record
    attributes (a property such as a user's `email_key` counts) and, by the same names, the
    columns of the SQL table's unique constraint; memory indexes the value of one field,
    or the tuple of several. A record with any of the fields empty (None) holds no value,
    as NULL never clashes in SQL: such a key constrains only the records that fill it."""

    name: str
    fields: tuple[str, ...]

    def value(self, record: Any) -> Hashable | None:
        values = tuple(getattr(record, field) for field in self.fields)
        if None in values:
            return None
        return values[0] if len(values) == 1 else values


# The storage adapter's parts (`storage.parts.StorageParts`: `on_database()`,
# `memory_repository(name)`, ...), the repository's current mode and the proposed one ->
# the reasons the step is not safe yet (the type is not named: repositories sit below it).
ReadinessCheck = Callable[[Any, Any, Any], Iterable[str]]


@dataclass(frozen=True)
class RepositorySpec:
    """Everything the adapter, the backups and the guards know of a repository, declared
    once: memory's indexes, the SQL conflict columns, the integrity checks and the
    readiness report are derived from it.

    - `parents`: references with a foreign key; a write whose parent is missing, or a
      delete of a parent still referenced, is refused in every backend.
    - `unique`: values no two records share (a `Conflict` in every backend).
    - `soft_references`: references without a foreign key (they may dangle, e.g. a version's
      author who was deleted since): checked by the integrity check, never refused.
    - `other_ids`: fields holding ids of records of any kind (the audit trail's actor and
      resource), checked only to be ids.
    - `internal_references`: what in a record names other parts of it that do not exist
      (a workflow's edges naming missing nodes), described, or None.
    - `readiness`: the repository's own reasons a step is not safe yet (e.g. credentials
      that do not decrypt before reads move to the database), shown and enforced like
      the adapter's guards (see `storage.readiness`); a `StorageUnavailable` it raises is
      a reason too.
    - `security`: the security state an import keeps (see `SecurityState`).
    - `cached_reads`: reads by key from the database are kept in each process while the
      database announces every change to the table (see `storage.record_cache`); its
      table needs the trigger of revision 0010."""

    name: str
    record_type: type
    parents: tuple[Parent, ...] = ()
    unique: tuple[UniqueKey, ...] = ()
    soft_references: tuple[Parent, ...] = ()
    other_ids: tuple[str, ...] = ()
    internal_references: Callable[[Any], str | None] | None = None
    readiness: ReadinessCheck | None = None
    security: SecurityState | None = None
    cached_reads: bool = False

    def key(self, record: Any) -> str:
        return record.id

    def id_fields(self) -> tuple[str, ...]:
        """The fields of a record that hold record ids."""
        references = (*self.parents, *self.soft_references)
        return ("id", *(parent.field for parent in references), *self.other_ids)

    def parent_keys(self, record: Any) -> list[tuple[str, str]]:
        return [
            (parent.repository, getattr(record, parent.field))
            for parent in self.parents
            if getattr(record, parent.field, None) is not None
        ]


class ChangeSink(Protocol):
    """What a unit of work offers the repositories it runs."""

    def record_change(self, spec: RepositorySpec, key: str, record: Any | None) -> None: ...

    def prepare_put(self, spec: RepositorySpec, record: Any) -> None: ...


class Repository(ABC):
    """Primitives shared by every repository; domain methods live in the subclasses."""

    spec: ClassVar[RepositorySpec]

    def __init__(self, changes: ChangeSink | None = None) -> None:
        self._changes = changes

    def _changed(self, key: str, record: Any | None) -> None:
        if self._changes is not None:
            self._changes.record_change(self.spec, key, record)

    @reads(key_arg="key")
    def get(self, key: str) -> Any | None:
        """The record with this key, or None."""
        return self.fetch(key)

    @writes
    def restore(self, record: Any) -> str:
        """Store a backup's copy of a record as it is: inserted when its key is new, else
        replaced. The checks of any write apply (validation, unique keys, parents) except
        the successor check: the backup's `version` is meant to win. Returns `inserted`,
        `updated` or `identical` (nothing written)."""
        current = self.fetch(self.spec.key(record))
        if current is None:
            self._insert(record)
            return INSERTED
        if to_dict(current) == to_dict(record):
            return IDENTICAL
        self._replace(record, successor=False)
        return UPDATED

    # -- primitives each backend implements ------------------------------------------------
    @abstractmethod
    def fetch(self, key: str) -> Any | None: ...

    @abstractmethod
    def fetch_many(self, keys: list[str]) -> dict[str, Any]:
        """The records among `keys` that exist, by key."""

    @abstractmethod
    def iter_all(self, batch_size: int = 1000) -> Iterator[Any]:
        """Every record, ordered by key (used by verify and backfill)."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def upsert(self, record: Any) -> None:
        """Replication: make the stored record equal to `record` (no domain checks)."""

    @abstractmethod
    def discard(self, key: str) -> None:
        """Replication: remove the record if it exists."""

    @abstractmethod
    def _insert(self, record: Any) -> None: ...

    @abstractmethod
    def _replace(self, record: Any, *, successor: bool = True) -> None:
        """Replace a stored record; `successor=False` skips `_check_successor`."""

    @abstractmethod
    def _erase(self, key: str) -> None: ...

    # -- helpers for domain write methods ---------------------------------------------------
    @staticmethod
    def _validate(record: Any) -> None:
        """The same checks before every backend stores a record."""
        validate_record(record)

    def _check_successor(self, current: Any, record: Any) -> None:
        """A versioned record may only replace the version it was made from (current + 1):
        whatever updated it since, this write would overwrite unseen."""
        if hasattr(record, "version") and record.version != current.version + 1:
            raise Conflict(CHANGED_MEANWHILE.format(name=self.spec.name))

    def _require(self, key: str) -> Any:
        record = self.fetch(key)
        if record is None:
            raise NotFound(f"{self.spec.name} {key} not found")
        return record


# A list counts its matches up to this many. Counting every one reads every matching row
# (PostgreSQL's count(*) has no shortcut), so a list would cost more as its table grows.
COUNTED_AT_MOST = 10_000


@dataclass
class Page:
    """One page of a list query: `total` is the number of matches, or `COUNTED_AT_MOST`
    with `total_exact` False when there are more."""

    items: list[Any]
    total: int
    total_exact: bool = True

    @classmethod
    def counted(cls, items: list[Any], matches: int) -> Page:
        """A page whose query matched `matches` records (counted up to one past the cap)."""
        return cls(items, min(matches, COUNTED_AT_MOST), matches <= COUNTED_AT_MOST)
