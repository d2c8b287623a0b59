"""The sync journal: durable, ordered, replay-checkpointed, tolerant of a torn append, and
of damaged lines (kept aside, reported, never stopping the entries after them)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import make_user
from wfplatform.domain.codec import to_dict
from wfplatform.repositories import REPOSITORIES
from wfplatform.storage.journal import Change, SyncJournal
from wfplatform.storage.journal_format import encode


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


# -- a damaged journal --------------------------------------------------------------------------
SPECS = {binding.name: binding.spec for binding in REPOSITORIES}


def user_change(**overrides) -> Change:
    user = make_user(**overrides)
    return Change("users", user.id, to_dict(user))


def damage_line(path: Path, number: int, text: bytes) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[number - 1] = text
    path.write_bytes(b"\n".join(lines))


def set_aside(path: Path) -> list[dict]:
    aside = path.with_name(path.name + ".damaged")
    return [json.loads(line) for line in aside.read_text().splitlines()] if aside.exists() else []


def test_a_torn_last_append_is_said_in_the_log_and_counted(open_journal, tmp_path, caplog):
    journal = open_journal()
    journal.append([put("a")])
    journal.close()
    with open(tmp_path / "journal.log", "a", encoding="utf-8") as handle:
        handle.write('{"seq": 2, "chan')

    with caplog.at_level(logging.WARNING, logger="wfplatform.storage.journal"):
        reopened = open_journal()

    assert "torn line" in caplog.text and "never acknowledged" in caplog.text
    assert reopened.damage.torn == 1
    assert reopened.set_aside_lines() == 0  # nothing acknowledged was lost


def test_an_unreadable_line_is_kept_aside_and_every_intact_entry_after_it_replays_in_order(
    tmp_path, caplog
):
    path = tmp_path / "journal.log"
    journal = SyncJournal(path, SPECS)
    changes = [user_change() for _ in range(4)]
    for change in changes:
        journal.append([change])
    journal.close()
    damage_line(path, 2, b'{"seq":2,"at":"2025-01-01T00:00:00+00:00","chan\x00ges":[')

    with caplog.at_level(logging.ERROR, logger="wfplatform.storage.journal"):
        reopened = SyncJournal(path, SPECS)

    pending = reopened.pending()
    assert [entry.seq for entry in pending] == [1, 3, 4]
    assert [entry.changes[0] for entry in pending] == [changes[0], changes[2], changes[3]]
    (kept,) = set_aside(path)
    assert (kept["journal"], kept["line"]) == ("journal.log", 2)
    assert kept["reason"].startswith("not JSON")
    assert kept["text"].startswith('{"seq":2,')
    assert (path.parent / "journal.log.damaged").stat().st_mode & 0o077 == 0  # may hold hashes
    assert "1 damaged lines" in caplog.text and "line 2: not JSON" in caplog.text
    assert changes[1].data["password_hash"] not in caplog.text  # reasons, never contents
    assert reopened.damage.damaged == 1 and reopened.set_aside_lines() == 1
    assert reopened.append([user_change()]) == 5
    reopened.close()

    again = SyncJournal(path, SPECS)  # the journal lost the damaged line: kept aside once
    assert [entry.seq for entry in again.pending()] == [1, 3, 4, 5]
    assert again.damage.damaged == 0 and again.set_aside_lines() == 1
    again.close()


def entry(*changes: dict, seq: object = 2) -> bytes:
    return json.dumps({"seq": seq, "at": "2025-01-01T00:00:00+00:00", "changes": list(changes)})


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param(b"\xff\xfe not text", "not UTF-8", id="not-utf8"),
        pytest.param(b"[1, 2]", "not a JSON object", id="not-an-object"),
        pytest.param(b'{"seq": 2, "at": "x"}', "changes must be", id="missing-changes"),
        pytest.param(entry(seq="2"), "seq must be an integer", id="seq-a-string"),
        pytest.param(entry(seq=1), "seq must be an integer above 1", id="seq-goes-back"),
        pytest.param(entry({"repository": "users"}), "changes[0] must be", id="missing-key"),
        pytest.param(
            entry({"repository": "users", "key": 7, "data": None}), "must be strings", id="key-int"
        ),
        pytest.param(
            entry({"repository": "users", "key": "k", "data": [1]}), "data must be", id="data-list"
        ),
        pytest.param(
            entry({"repository": "gadgets", "key": "k", "data": None}),
            "unknown repository 'gadgets'",
            id="unknown-repository",
        ),
        pytest.param(
            entry({"repository": "users", "key": "k", "data": {"id": "k", "colour": "red"}}),
            "not a users record",
            id="record-does-not-decode",
        ),
    ],
)
def test_json_that_is_not_a_valid_entry_counts_as_damaged(tmp_path, line, reason):
    path = tmp_path / "journal.log"
    journal = SyncJournal(path, SPECS)
    journal.append([user_change()])
    journal.close()
    with open(path, "ab") as handle:
        handle.write((line if isinstance(line, bytes) else line.encode()) + b"\n")
        handle.write(encode(3, [user_change()]).encode() + b"\n")  # intact, after it

    reopened = SyncJournal(path, SPECS)

    assert [entry.seq for entry in reopened.pending()] == [1, 3]
    (kept,) = set_aside(path)
    assert reason in kept["reason"]
    reopened.close()


def test_damaged_lines_of_an_adopted_journal_are_kept_aside_and_its_intact_entries_adopted(
    tmp_path,
):
    path = tmp_path / "journal.log"
    living = SyncJournal(path, SPECS)
    dying = SyncJournal(path, SPECS)  # another worker: a file of its own
    good = user_change()
    dying.append([user_change()])
    dying.append([good])
    dying.close()
    damage_line(dying.path, 1, b"garbage")
    try:
        assert living.adopt_orphans() == 1
        assert living.pending()[0].changes == (good,)
        assert [kept["journal"] for kept in set_aside(path)] == [dying.path.name]
        assert not dying.path.exists()
    finally:
        living.close()


def test_an_unreadable_checkpoint_replays_from_the_start(open_journal, tmp_path):
    journal = open_journal()
    journal.append([put("a")])
    journal.append([put("b")])
    journal.mark_replayed(1)
    journal.close()
    (tmp_path / "journal.log.checkpoint").write_text("not a number")

    assert [entry.seq for entry in open_journal().pending()] == [1, 2]
