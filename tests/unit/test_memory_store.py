"""The memory backend's transactions: staged, isolated, validated and applied at once."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wfplatform.backends.memory import MemoryStore, MemoryTable
from wfplatform.errors import Conflict


@dataclass
class Item:
    id: str
    email: str
    tags: list[str]


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.add_table(
        MemoryTable(
            "items",
            key=lambda item: item.id,
            unique={"email": lambda item: item.email},
            indexes={"tag": lambda item: item.tags},
        )
    )
    return store


def test_staged_changes_are_invisible_until_commit(store):
    transaction = store.begin()
    transaction.view("items").put(Item("1", "a@x", ["red"]))
    assert store.view("items").get("1") is None
    assert transaction.view("items").get("1") is not None
    transaction.commit()
    assert store.view("items").get("1").email == "a@x"


def test_indexes_follow_puts_and_removes(store):
    table = store.view("items")
    table.put(Item("1", "a@x", ["red", "blue"]))
    table.put(Item("2", "b@x", ["blue"]))
    assert table.keys_for("tag", "blue") == {"1", "2"}
    table.put(Item("1", "a@x", ["green"]))
    assert table.keys_for("tag", "blue") == {"2"}
    table.remove("2")
    assert table.keys_for("tag", "blue") == set()
    assert table.holder("email", "b@x") is None


def test_a_transaction_sees_its_own_removals_and_index_changes(store):
    store.view("items").put(Item("1", "a@x", ["red"]))
    transaction = store.begin()
    view = transaction.view("items")
    view.remove("1")
    view.put(Item("2", "a@x", ["red"]))
    assert view.get("1") is None
    assert view.holder("email", "a@x") == "2"
    assert view.keys_for("tag", "red") == {"2"}
    assert view.keys() == {"2"}


def test_commit_refuses_a_unique_value_taken_meanwhile(store):
    first, second = store.begin(), store.begin()
    first.view("items").put(Item("1", "same@x", []))
    second.view("items").put(Item("2", "same@x", []))
    first.commit()
    with pytest.raises(Conflict):
        second.commit()
    assert store.view("items").keys() == {"1"}


def test_commit_accepts_a_unique_value_freed_in_the_same_transaction(store):
    store.view("items").put(Item("1", "same@x", []))
    transaction = store.begin()
    transaction.view("items").remove("1")
    transaction.view("items").put(Item("2", "same@x", []))
    transaction.commit()
    assert store.view("items").holder("email", "same@x") == "2"
