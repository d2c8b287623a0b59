"""The start-up load, the batched replay, the damaged journal, load-memory and the text
repair, raced and faulted: each test states what a user or an operator would lose."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import sqlalchemy as sa

from tests.factories import make_user, make_workflow
from tests.integration.test_restart import on_cluster  # noqa: F401 (a fixture)
from wfplatform.backends.sql import new_session
from wfplatform.domain.codec import to_dict
from wfplatform.errors import StorageUnavailable
from wfplatform.models import UserModel
from wfplatform.services.context import Actor
from wfplatform.services.text_repair import repair_text
from wfplatform.storage.journal import Change, SyncJournal
from wfplatform.storage.journal_format import encode
from wfplatform.storage.modes import DATABASE

FIRST, SECOND = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_walk_back_while_memory_loads_leaves_memory_not_loaded(make_storage):
    """A load of memory that an operator's database-only -> dual walk back overtakes must
    not mark memory loaded: records written in database-only before the walk back, in
    batches the load had already passed, stay stale in memory, and the next fallback (or
    the flip of reads to memory) serves users their old record as if it were current."""
    storage = make_storage("dual", read_from=DATABASE)
    first = storage.users.add(make_user(id=FIRST))  # fixed ids: loaded in this order, and
    second = storage.users.add(make_user(id=SECOND))  # their locks and write slots differ
    held, release = threading.Event(), threading.Event()

    def hold_second_record() -> None:  # a user's write to it, in flight
        with storage.parts.locks.hold([("users", second.id)]):
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_second_record)
    holder.start()
    held.wait(10)
    loader = threading.Thread(target=storage.load_memory, args=("users",), kwargs={"batch_size": 1})
    loader.start()
    wait_until(lambda: storage.parts.tracker.token("users", second.id) is None)  # on batch 2

    storage.switch("database-only", reason="step forward", actor="ops")
    renamed = storage.users.update(dataclasses.replace(first, name="renamed in database-only"))
    storage.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    release.set()
    holder.join(10)
    loader.join(10)

    stale = storage.in_memory("users").fetch(first.id) != renamed
    assert not (storage.parts.warmup.is_loaded("users") and stale), (
        "memory is marked loaded while it holds the record as it was before database-only"
    )


def test_a_replayed_journal_never_overwrites_a_newer_acknowledged_write(make_storage, tmp_path):
    """A process started while the database was down, with an earlier process's journal
    pending, has no memory copy to fall back on. Were its writes acknowledged from the
    database meanwhile, the replay of the journal's older copies would overwrite them: until
    it caught up, it refuses them (503: the client tries again) instead."""
    seeding = make_storage("dual", read_from=DATABASE)
    target = seeding.users.add(make_user())
    seeding.close()
    path = tmp_path / "earlier.parts.journal"
    earlier = SyncJournal(path)  # acknowledged by a process that died before replaying it
    journaled = dataclasses.replace(target, name="journaled earlier")
    earlier.append([Change("users", target.id, to_dict(journaled))])
    earlier.close()
    storage = make_storage("dual", read_from=DATABASE, journal_path=path)
    storage.parts.warmup.expect(["users"])  # what start() leaves when the database did not answer

    with pytest.raises(StorageUnavailable):
        storage.users.update(dataclasses.replace(journaled, name="the user's rename"))
    storage.catch_up()  # replays, then loads memory
    renamed = storage.users.update(dataclasses.replace(journaled, name="the user's rename"))

    assert storage.users.get(target.id) == renamed
    assert storage.in_memory("users").fetch(target.id) == renamed
    assert storage.verify(["users"])["differences"] == 0


def stored_name(engine, user_id: str) -> str:
    with new_session(engine) as session:
        return session.scalar(sa.select(UserModel.name).where(UserModel.id == user_id))


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the failed start
def test_damaged_lines_are_kept_aside_once_even_if_the_rewrite_did_not_happen(tmp_path):
    """A crash (or a failed write) after the damaged lines reached `<journal>.damaged`
    but before the journal was rewritten without them: the next start keeps the same
    lines aside again, so the operator is told of twice the lost writes and repairs
    (replays) each of them twice."""
    path = tmp_path / "sync.journal"
    earlier = SyncJournal(path)
    earlier.append([Change("users", "u1", None)])
    earlier.close()
    with open(path, "a", encoding="utf-8") as journal:
        journal.write('{"seq": 2, "changes": [{"repos\n')
        journal.write(encode(3, [Change("users", "u3", None)]) + "\n")
    rewrite = tmp_path / "sync.journal.rewrite"
    rewrite.mkdir()  # the rewrite fails, as a crash between the two writes would stop it
    with pytest.raises(OSError):
        SyncJournal(path)
    rewrite.rmdir()

    journal = SyncJournal(path)  # the next start
    journal.close()

    assert journal.set_aside_lines() == 1
    assert [entry.seq for entry in journal.pending()] == [1, 3]


# -- the database stops ----------------------------------------------------------------------
@pytest.mark.cluster
@pytest.mark.postgres
def test_load_memory_while_the_journal_drains_keeps_the_writes_made_during_the_outage(
    on_cluster,  # noqa: F811 (a fixture)
    cluster,
):
    """The operator's load-memory (allowed in dual reading the database) run after an
    outage, before the journal is replayed: memory is made equal to a database that lacks
    the journaled writes, so a user who signed up during the outage is gone from memory.
    Reads are served from memory until the journal drains (the user cannot sign in), and
    memory never gets the record back (the replay writes only the database): the next
    fallback serves without it."""
    storage = on_cluster("dual", read_from=DATABASE)
    storage.users.add(make_user())
    cluster.stop()
    signed_up = storage.users.add(make_user())  # served from memory, journaled
    assert len(storage.parts.journal) == 1
    cluster.start()

    storage.reload_memory(["users"])

    assert storage.users.get(signed_up.id) == signed_up
    storage.replay_journal()
    assert storage.in_memory("users").fetch(signed_up.id) == signed_up


def test_a_refused_replay_batch_counts_each_parent_copied_to_the_database_once(make_storage):
    """A batch the database refuses is rolled back and replayed entry by entry, yet the
    parents it copied first were counted as `lazy_synced` already: the counter (and
    wf_storage_lazy_synced_total) reports copies that the rollback undid."""
    storage = make_storage("memory-only")
    owner = storage.users.add(make_user())  # only in memory
    storage.switch("dual", reason="start the cut-over", actor="ops")
    taken = storage.users.add(make_user())  # in both
    workflow = make_workflow(owner)
    clash = make_user(email=taken.email)  # refused by the database's unique key
    storage.parts.journal.append([Change("workflows", workflow.id, to_dict(workflow))])
    storage.parts.journal.append([Change("users", clash.id, to_dict(clash))])

    result = storage.replay_journal()

    assert result["pending"] == 0
    assert storage.parts.stats.snapshot("users")["secondary_conflicts"] == 1
    assert storage.parts.stats.snapshot("users")["lazy_synced"] == 1


@pytest.mark.cluster
@pytest.mark.postgres
def test_a_replay_that_meets_a_read_only_database_keeps_the_journal(on_cluster, cluster):  # noqa: F811
    """The database comes back read-only (a failover still promoting, maintenance): the
    refused batch is replayed entry by entry and every entry fails the same way, so each
    is counted as a secondary error and checkpointed as replayed. The journal, the only
    durable copy of writes acknowledged during the outage, is emptied: once this process
    restarts (memory loads from the database) the users' writes are gone."""
    storage = on_cluster("dual", read_from=DATABASE)
    cluster.stop()
    signed_up = [storage.users.add(make_user()) for _ in range(2)]  # journaled
    cluster.start()
    set_read_only(storage.parts.engine, "on")

    try:
        storage.replay_journal()
    finally:
        set_read_only(storage.parts.engine, "off")

    assert len(storage.parts.journal) == len(signed_up)
    assert storage.parts.stats.snapshot("users")["secondary_errors"] == 0


def set_read_only(engine, value: str) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("SET default_transaction_read_only = off"))
        name = connection.scalar(sa.text("SELECT current_database()"))
        connection.execute(
            sa.text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
        )
    engine.dispose()  # the connections of before the change are gone


def test_a_repair_that_would_make_two_emails_equal_still_repairs_every_other_record(
    make_storage,
):
    """Two addresses stored before the fix that differ only in an unstorable character
    become equal once repaired: the unique key refuses the second one (right), but the
    refusal ends the whole repair (a 409 naming no record), so every record after it,
    here a workflow, is never repaired and the flip of reads stays refused for good."""
    storage = make_storage("memory-only")
    memory = storage.in_memory
    owner = make_user(email="ada\ud800@example.com")
    memory("users").upsert(owner)
    memory("users").upsert(make_user(email="ada\x00@example.com"))
    workflow = make_workflow(owner, tags=["a\x00"])
    memory("workflows").upsert(workflow)
    storage.switch("dual", reason="start the cut-over", actor="ops")
    actor = Actor(user_id=None, role="admin", ip=None, user_agent=None)

    report = repair_text(storage, actor)

    assert list(storage.workflows.get(workflow.id).tags) == ["a\ufffd"]
    assert len(report["refused"]["users"]) == 1  # the second email: left for an operator


def test_a_process_catching_up_never_answers_from_a_database_behind_its_journal(
    make_storage, tmp_path
):
    """Started while the database was down, with an earlier process's journal pending: once
    the database answers, reads of a dual-database repository go to it (no fallback while
    memory is not loaded) before the journal is replayed. A user who signed up during the
    earlier outage is "not found" (cannot sign in; may sign up again, and the replay of the
    first account is then refused by the unique email and dropped)."""
    path = tmp_path / "earlier.parts.journal"
    signed_up = make_user()
    earlier = SyncJournal(path)  # acknowledged by a process that died before replaying it
    earlier.append([Change("users", signed_up.id, to_dict(signed_up))])
    earlier.close()
    storage = make_storage("dual", read_from=DATABASE, journal_path=path)
    storage.parts.warmup.expect(["users"])  # what start() leaves when the database did not answer

    try:
        found = storage.users.get_by_email(signed_up.email)
    except StorageUnavailable:
        found = signed_up  # a 503 (catching up) is an honest answer too
    assert found == signed_up
