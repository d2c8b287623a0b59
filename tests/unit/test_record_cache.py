"""The record cache's own rules, without a database: what it serves, and what a read
racing a change must not leave behind."""

from __future__ import annotations

import time

import pytest

from wfplatform.domain.users import User
from wfplatform.storage import record_cache
from wfplatform.storage.locks import WriteTracker
from wfplatform.storage.modes import RepositoryMode
from wfplatform.storage.record_cache import RecordCache

DATABASE_ONLY = RepositoryMode.of("database-only")


@pytest.fixture
def tracker() -> WriteTracker:
    return WriteTracker()


@pytest.fixture
def cache(tracker: WriteTracker) -> RecordCache:
    cache = RecordCache(tracker, capacity=3)
    cache.alive({"users"})
    return cache


def read_through(cache: RecordCache, user: User, mode: RepositoryMode = DATABASE_ONLY):
    """A read as the adapter makes it: the ticket, then (on a miss) the database's answer."""
    ticket = cache.ticket("users", user.id, mode)
    if ticket.record is not None:
        return ticket.record
    cache.keep(ticket, user)
    return None


def test_a_kept_record_is_served_as_a_copy(cache: RecordCache) -> None:
    user = User(email="a@example.com", password_hash="h")
    assert read_through(cache, user) is None
    served = read_through(cache, user)
    assert served == user and served is not user
    served.role = "admin"
    assert read_through(cache, user).role == "user"


def test_a_read_that_began_before_a_change_was_heard_keeps_nothing(cache: RecordCache) -> None:
    user = User(email="a@example.com", password_hash="h")
    ticket = cache.ticket("users", user.id, DATABASE_ONLY)
    cache.changed("users", "some other user")  # any notice may be about what was read
    cache.keep(ticket, user)
    assert cache.ticket("users", user.id, DATABASE_ONLY).record is None


def test_a_write_of_this_process_stops_the_record_being_served(
    cache: RecordCache, tracker: WriteTracker
) -> None:
    user = User(email="a@example.com", password_hash="h")
    read_through(cache, user)
    with tracker.writing([("users", user.id)]):
        assert cache.ticket("users", user.id, DATABASE_ONLY).record is None
    assert cache.ticket("users", user.id, DATABASE_ONLY).record is None


def test_a_read_racing_a_write_of_this_process_keeps_nothing(
    cache: RecordCache, tracker: WriteTracker
) -> None:
    user = User(email="a@example.com", password_hash="h")
    ticket = cache.ticket("users", user.id, DATABASE_ONLY)
    with tracker.writing([("users", user.id)]):
        pass
    cache.keep(ticket, user)
    assert cache.ticket("users", user.id, DATABASE_ONLY).record is None


def test_a_record_kept_in_another_mode_is_not_served(cache: RecordCache) -> None:
    user = User(email="a@example.com", password_hash="h")
    read_through(cache, user)
    dual = RepositoryMode.of("dual", "database")
    assert cache.ticket("users", user.id, dual).record is None


def test_notices_forget_one_record_or_all_of_a_repository(cache: RecordCache) -> None:
    first, second = (User(email=f"{n}@example.com", password_hash="h") for n in "ab")
    for user in (first, second):
        read_through(cache, user)
    cache.changed("users", first.id)
    assert cache.ticket("users", first.id, DATABASE_ONLY).record is None
    assert cache.ticket("users", second.id, DATABASE_ONLY).record == second
    cache.changed("users", None)
    assert cache.ticket("users", second.id, DATABASE_ONLY).record is None


def test_the_cache_is_live_only_while_the_feed_keeps_hearing_from_the_database(
    cache: RecordCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache.is_live()
    later = time.monotonic() + record_cache.LIVE_SECONDS + 1
    monkeypatch.setattr(record_cache.time, "monotonic", lambda: later)
    assert not cache.is_live()
    cache.alive()
    assert cache.is_live()
    cache.lost()
    assert not cache.is_live()


def test_nothing_is_kept_once_the_feed_is_lost(cache: RecordCache) -> None:
    user = User(email="a@example.com", password_hash="h")
    read_through(cache, user)
    cache.lost()
    cache.alive()
    assert cache.ticket("users", user.id, DATABASE_ONLY).record is None


def test_the_oldest_record_goes_first_when_full(cache: RecordCache) -> None:
    users = [User(email=f"{n}@example.com", password_hash="h") for n in range(4)]
    for user in users:
        read_through(cache, user)
    assert cache.describe() == {"live": True, "records": 3, "capacity": 3}
    assert cache.ticket("users", users[0].id, DATABASE_ONLY).record is None
    assert cache.ticket("users", users[3].id, DATABASE_ONLY).record == users[3]


def test_a_cache_of_no_capacity_is_never_live(tracker: WriteTracker) -> None:
    cache = RecordCache(tracker, capacity=0)
    cache.alive()
    assert not cache.is_live()


def test_a_repository_the_database_does_not_announce_is_never_cached(cache) -> None:
    assert cache.is_live("users") and not cache.is_live("workflows")
    ticket = cache.ticket("workflows", "w1", DATABASE_ONLY)
    cache.keep(ticket, User(email="a@example.com", password_hash="h"))
    assert cache.describe()["records"] == 0
