"""The sync journal: durable, ordered, replay-checkpointed, and tolerant of a torn append."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wfplatform.storage.journal import Change, SyncJournal


@pytest.fixture
def open_journal(tmp_path) -> Iterator:
    opened: list[SyncJournal] = []

    def open_() -> SyncJournal:
        opened.append(SyncJournal(tmp_path / "journal.log"))
        return opened[-1]

    yield open_
    for journal in opened:
        journal.close()


def put(key: str, name: str = "x") -> Change:
    return Change("users", key, {"id": key, "name": name})


def test_entries_survive_a_reopen_in_order(open_journal, tmp_path):
    journal = open_journal()
    journal.append([put("a")])
    journal.append([put("b"), Change("users", "a", None)])
    journal.close()

    reopened = open_journal()
    pending = reopened.pending()
    assert [entry.seq for entry in pending] == [1, 2]
    assert pending[1].changes == (put("b"), Change("users", "a", None))


def test_replayed_entries_are_not_replayed_again_and_numbers_keep_growing(open_journal, tmp_path):
    journal = open_journal()
    journal.append([put("a")])
    journal.append([put("b")])
    journal.mark_replayed(1)
    journal.close()

    reopened = open_journal()
    assert [entry.seq for entry in reopened.pending()] == [2]
    reopened.mark_replayed(2)
    assert len(reopened) == 0
    assert (tmp_path / "journal.log").stat().st_size == 0
    assert reopened.append([put("c")]) == 3


def test_a_torn_last_append_is_ignored_and_cut_off(open_journal, tmp_path):
    path = tmp_path / "journal.log"
    journal = open_journal()
    journal.append([put("a")])
    journal.close()
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"seq": 2, "changes": [{"repos')  # the process died mid-write

    reopened = open_journal()
    assert [entry.seq for entry in reopened.pending()] == [1]
    reopened.append([put("b")])
    reopened.close()
    assert [entry.seq for entry in open_journal().pending()] == [1, 2]


def test_processes_sharing_a_path_each_own_a_file_and_the_living_adopt_the_dead(tmp_path):
    path = tmp_path / "journal.log"
    first = SyncJournal(path)
    second = SyncJournal(path)  # another worker, same configuration
    try:
        assert first.path == path and second.path != path
        second.append([put("a", "from the second worker")])
        second.close()  # the second worker dies with a pending entry

        third = SyncJournal(path)  # a new worker starts
        try:
            assert third.adopt_orphans() == 1
            assert third.pending()[0].changes == (put("a", "from the second worker"),)
            assert first.adopt_orphans() == 0  # nothing left to adopt, and `third` is alive
        finally:
            third.close()
    finally:
        first.close()
