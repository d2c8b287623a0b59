"""The guards' view of other processes' journals (`storage.fleet`), and shadow reads
racing writes that do not go through a unit of work."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.factories import make_user
from wfplatform.domain.codec import to_dict, utcnow
from wfplatform.errors import GuardRefused
from wfplatform.models import StorageProcessModel
from wfplatform.storage import fleet
from wfplatform.storage.journal import Change
from wfplatform.storage.modes import DATABASE, MEMORY


def test_a_journal_replayed_at_start_up_counts_for_the_guards_meanwhile(make_storage):
    """A process starting up publishes its (adopted) journal before it replays it: a
    switch decided elsewhere during that replay sees it."""
    here = make_storage("dual", read_from=DATABASE)
    there = make_storage("dual", read_from=DATABASE)
    there.parts.journal.append([Change("users", make_user().id, None)])  # adopted, say
    seen = {}
    replay = there.replay_journal

    def replay_while_a_switch_is_decided_elsewhere():
        seen["journal"] = here.readiness("users")["journal"]
        return replay()

    there.replay_journal = replay_while_a_switch_is_decided_elsewhere
    there.start()

    assert seen["journal"] == 1


def test_a_journal_no_live_process_holds_any_more_still_refuses(make_storage, engine, tmp_path):
    """A process died with a journal entry (a write made while the database was away).
    Its file waits for the next process to start and adopt it; meanwhile its last word
    still counts, so the guards refuse `database-only` (an adopter would later replay
    that older state over whatever was written since)."""
    here = make_storage("dual", read_from=DATABASE)
    user = here.users.add(make_user(name="before"))
    there = make_storage("dual", read_from=DATABASE, journal_path=tmp_path / "gone.log")
    changed = to_dict(dataclasses.replace(user, name="written while the database was away"))
    there.parts.journal.append([Change("users", user.id, changed)])
    there.parts.processes.beat(fleet.activity(there.parts))
    there.parts.journal.close()  # the process is killed: its file is left, its heartbeat stops
    with engine.begin() as connection:
        connection.execute(
            sa.update(StorageProcessModel)
            .where(StorageProcessModel.id == there.parts.processes.id)
            .values(last_seen=utcnow() - timedelta(seconds=30))
        )

    with pytest.raises(GuardRefused):
        here.switch("database-only", reason="finish", actor="ops")


def test_a_write_waiting_in_the_journal_is_not_a_shadow_mismatch(make_storage):
    """A write journaled during a blip is in memory and not yet in the database: shadow
    reads wait for the replay instead of counting a mismatch (which would refuse the
    next step for five minutes although verify finds nothing)."""
    storage = make_storage("dual", read_from=MEMORY, shadow_rate=1.0)
    user = storage.users.add(make_user(name="before"))
    storage.parts.health.mark_down("a blip")
    storage.users.update(dataclasses.replace(user, name="after"))  # journaled
    storage.parts.health.mark_up()
    assert len(storage.parts.journal) == 1

    assert storage.users.get(user.id).name == "after"
    storage.parts.shadow.drain()
    storage.replay_journal()

    assert storage.verify()["differences"] == 0
    assert storage.parts.stats.snapshot("users")["mismatches"] == 0
