"""The part of the repository contract every repository shares, as mixins: a repository's
test class names the record it makes and inherits the checks of what its spec declares
(unique keys, parents, children), of the operations it has (update and delete, a paged
list) and of its field lengths; it adds only its own queries.

`Contract.by_name` holds each repository's test class, so the checks of a parent can make
records of its children (`test_refuses_to_delete_a_record_still_referenced`)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any, ClassVar

import pytest

from wfplatform.errors import Conflict, NotFound, ValidationFailed
from wfplatform.repositories import BY_NAME, base
from wfplatform.repositories.base import RepositorySpec, UniqueKey
from wfplatform.storage.adapter import Storage


def assert_backends_agree(storage: Storage) -> None:
    if storage.parts.modes.get("users").mode.value == "dual":
        assert storage.verify()["differences"] == 0


class Contract:
    """Adding, reading back, copies and keys: what every repository answers alike."""

    by_name: ClassVar[dict[str, type[Contract]]] = {}
    name: ClassVar[str]
    mutable: ClassVar[str] = "name"  # a field a caller may change on a record it was handed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):
            Contract.by_name[cls.name] = cls

    def make(self, storage: Storage, **overrides: Any) -> Any:
        """A record not stored yet whose parents are stored."""
        raise NotImplementedError

    @property
    def spec(self) -> RepositorySpec:
        return BY_NAME[self.name].spec

    def repository(self, storage: Storage) -> Any:
        return storage.repository(self.name)

    def add(self, storage: Storage, **overrides: Any) -> Any:
        return self.repository(storage).add(self.make(storage, **overrides))

    def test_inherits_the_checks_its_spec_calls_for(self):
        assert bool(self.spec.unique) == isinstance(self, UniqueContract)
        assert bool(self.spec.parents) == isinstance(self, ChildContract)
        referenced = any(
            parent.repository == self.name
            for binding in BY_NAME.values()
            for parent in binding.spec.parents
        )
        assert referenced == isinstance(self, ParentContract)

    def test_returns_what_was_added(self, storage):
        record = self.add(storage)
        assert self.repository(storage).get(record.id) == record

    def test_answers_none_for_an_unknown_key(self, storage):
        assert self.repository(storage).get("no-such-id") is None

    def test_hands_out_copies_that_cannot_change_storage(self, storage):
        record = self.add(storage)
        setattr(record, self.mutable, "changed by the caller")
        fetched = self.repository(storage).get(record.id)
        assert getattr(fetched, self.mutable) != "changed by the caller"

    def test_refuses_a_duplicate_id(self, storage):
        record = self.add(storage)
        with pytest.raises(Conflict):
            self.repository(storage).add(self.make(storage, id=record.id))


class UniqueContract(Contract):
    """A repository whose spec declares unique keys refuses a second holder of a value."""

    def holding_the_same(self, storage: Storage, record: Any, key: UniqueKey) -> Any:
        """A new record holding `record`'s value of `key`."""
        values = {field: getattr(record, field) for field in key.fields}
        return dataclasses.replace(self.make(storage), **values)

    def test_refuses_a_second_holder_of_a_unique_value(self, storage):
        for key in self.spec.unique:
            record = self.add(storage)
            rival = self.holding_the_same(storage, record, key)
            with pytest.raises(Conflict):
                self.repository(storage).add(rival)
            assert self.repository(storage).get(rival.id) is None
        assert_backends_agree(storage)


class ChildContract(Contract):
    """A repository whose spec declares parents refuses a record whose parent is missing."""

    def test_refuses_a_record_whose_parent_is_missing(self, storage):
        for parent in self.spec.parents:
            orphan = dataclasses.replace(self.make(storage), **{parent.field: str(uuid.uuid4())})
            with pytest.raises(Conflict):
                self.repository(storage).add(orphan)
            assert self.repository(storage).get(orphan.id) is None


class ChangeContract(Contract):
    """A repository with `update` and `delete`."""

    def changed(self, record: Any) -> Any:
        return dataclasses.replace(record, name="Renamed")

    def test_updates_and_deletes(self, storage):
        record = self.add(storage)
        updated = self.repository(storage).update(self.changed(record))
        assert self.repository(storage).get(record.id) == updated != record
        self.repository(storage).delete(record.id)
        assert self.repository(storage).get(record.id) is None
        assert_backends_agree(storage)

    def test_answers_not_found_for_changes_to_unknown_records(self, storage):
        with pytest.raises(NotFound):
            self.repository(storage).update(self.make(storage))
        with pytest.raises(NotFound):
            self.repository(storage).delete("no-such-id")


class ParentContract(ChangeContract):
    """A repository other repositories refer to refuses to delete a record still referred
    to, by each of them."""

    def test_refuses_to_delete_a_record_still_referenced(self, storage):
        for name, binding in BY_NAME.items():
            for parent in binding.spec.parents:
                if parent.repository != self.name:
                    continue
                record = self.add(storage)
                Contract.by_name[name]().add(storage, **{parent.field: record.id})
                with pytest.raises(Conflict):
                    self.repository(storage).delete(record.id)
                assert self.repository(storage).get(record.id) is not None


class LengthContract(ChangeContract):
    """Values longer than their field are refused, on add and on update; the limit fits."""

    too_long: ClassVar[dict[str, tuple[Any, str]]]  # field -> (too long a value, the refusal)
    at_the_limit: ClassVar[dict[str, Any]]

    def test_refuses_values_longer_than_their_field(self, storage):
        values = {field: value for field, (value, _) in self.too_long.items()}
        refused_record = self.make(storage, **values)
        with pytest.raises(ValidationFailed) as refused:
            self.repository(storage).add(refused_record)
        assert refused.value.details == {field: why for field, (_, why) in self.too_long.items()}
        record = self.add(storage, **self.at_the_limit)
        field, value = next(iter(values.items()))
        with pytest.raises(ValidationFailed):
            self.repository(storage).update(dataclasses.replace(record, **{field: value}))
        assert self.repository(storage).get(record.id) == record
        assert self.repository(storage).get(refused_record.id) is None
        assert_backends_agree(storage)


class PagingContract(Contract):
    """A repository whose list pages: `total` counts the matches (up to a cap), a page is a
    slice."""

    def several(self, storage: Storage, count: int) -> list[Any]:
        """`count` stored records, in the order the list gives them."""
        raise NotImplementedError

    def listed(self, storage: Storage, records: list[Any], limit: int, offset: int) -> Any:
        raise NotImplementedError

    def test_pages_in_its_order(self, storage):
        records = self.several(storage, 5)
        page = self.listed(storage, records, limit=2, offset=1)
        assert (page.total, page.total_exact) == (5, True)
        assert [record.id for record in page.items] == [record.id for record in records[1:3]]

    def test_counts_its_matches_up_to_a_cap(self, storage, monkeypatch):
        records = self.several(storage, 5)
        monkeypatch.setattr(base, "COUNTED_AT_MOST", 3)
        page = self.listed(storage, records, limit=2, offset=3)
        assert (page.total, page.total_exact) == (3, False)  # at least 3: past the cap
        assert [record.id for record in page.items] == [record.id for record in records[3:5]]
        monkeypatch.setattr(base, "COUNTED_AT_MOST", 5)
        assert (self.listed(storage, records, limit=2, offset=0).total_exact) is True
