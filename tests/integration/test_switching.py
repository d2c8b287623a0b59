"""Switching modes at runtime: the guards, the audit trail and persistence across restarts."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from tests.conftest import build_storage
from tests.factories import make_user
from tests.sync import mirror_memory_to_database
from wfplatform.errors import GuardRefused, StorageUnavailable, ValidationFailed
from wfplatform.repositories import NAMES, REPOSITORIES
from wfplatform.storage import fleet
from wfplatform.storage.journal import Change
from wfplatform.storage.mode_registry import ModeRegistry
from wfplatform.storage.modes import DATABASE, MEMORY, Mode, RepositoryMode


def refusal(excinfo, repository: str = "users") -> list[str]:
    return excinfo.value.details["refused"][repository]


def test_switches_every_repository_and_records_who_and_why(make_storage):
    storage = make_storage("memory-only")
    result = storage.switch("dual", reason="start the cut-over", actor="ops@example.com")
    assert set(result["modes"]) == set(NAMES)
    assert all(mode.mode is Mode.DUAL for mode in storage.parts.modes.snapshot().values())
    latest = storage.parts.modes.history()[0]
    assert latest["actor"] == "ops@example.com"
    assert latest["reason"] == "start the cut-over"
    assert latest["from"] == {"mode": "memory-only", "read_from": "memory"}
    assert latest["to"] == {"mode": "dual", "read_from": "memory"}
    assert latest["forced"] is False


def test_switches_one_repository_alone(make_storage):
    storage = make_storage("memory-only")
    storage.switch("dual", repositories=["workflows"], reason="workflows first", actor="ops")
    assert storage.parts.modes.get("workflows").mode is Mode.DUAL
    assert storage.parts.modes.get("users").mode is Mode.MEMORY_ONLY


def test_refuses_to_skip_a_step(make_storage):
    storage = make_storage("memory-only")
    with pytest.raises(GuardRefused) as refused:
        storage.switch("database-only", reason="hurry", actor="ops")
    assert any("one step at a time" in reason for reason in refusal(refused))
    assert storage.parts.modes.get("users").mode is Mode.MEMORY_ONLY


def test_refuses_database_reads_while_records_exist_only_in_memory(make_storage):
    storage = make_storage("memory-only")
    storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=DATABASE, reason="flip reads", actor="ops")
    assert refusal(refused) == ["1 records exist only in memory: run the backfill first"]

    mirror_memory_to_database(storage)
    storage.switch("dual", read_from=DATABASE, reason="flip reads", actor="ops")
    assert storage.parts.modes.get("users").read_from == DATABASE


def test_refuses_database_reads_while_the_journal_holds_writes(make_storage):
    storage = make_storage("dual", read_from=MEMORY)
    user = make_user()
    storage.in_memory("users").upsert(user)
    storage.parts.journal.append([Change("users", user.id, None)])
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=DATABASE, reason="flip reads", actor="ops")
    assert "the sync journal holds 1 writes: run sync first" in refusal(refused)


def test_refuses_memory_reads_until_memory_is_loaded(make_storage):
    storage = make_storage("database-only")
    storage.users.add(make_user())
    storage.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=MEMORY, reason="walk back", actor="ops")
    assert refusal(refused) == ["1 records exist only in the database: load memory first"]

    assert storage.load_memory("users") == 1
    storage.switch("dual", read_from=MEMORY, reason="walk back", actor="ops")
    assert storage.verify()["differences"] == 0


def test_refuses_memory_reads_while_memory_holds_stale_copies(make_storage):
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user(name="before the cut-over"))
    storage.switch("database-only", reason="cut-over", actor="ops")
    storage.users.update(dataclasses.replace(user, name="after the cut-over"))  # database alone
    storage.switch("dual", read_from=DATABASE, reason="walk back", actor="ops")
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=MEMORY, reason="walk back", actor="ops")
    assert refusal(refused) == [
        "1 records differ between memory and the database: load memory first"
    ]

    assert storage.load_memory("users") == 1
    storage.switch("dual", read_from=MEMORY, reason="walk back", actor="ops")
    assert storage.users.get(user.id).name == "after the cut-over"


def test_refuses_to_turn_fallback_off_while_the_journal_holds_writes(make_storage):
    """Without fallback, writes go straight to the database: replaying older journaled
    writes after them would take the database back in time."""
    storage = make_storage("dual", read_from=DATABASE)
    user = storage.users.add(make_user())
    storage.parts.health.mark_down("connection refused")  # as after a failed database call
    storage.users.update(dataclasses.replace(user, name="journaled"))
    storage.parts.health.mark_up()
    with pytest.raises(GuardRefused) as refused:
        storage.switch("dual", read_from=DATABASE, fallback=False, reason="flaps", actor="ops")
    assert refusal(refused) == [
        "the sync journal holds 1 writes: run sync before turning fallback off"
    ]
    assert storage.parts.modes.get("users").fallback is True

    assert storage.replay_journal()["pending"] == 0
    storage.switch("dual", read_from=DATABASE, fallback=False, reason="flaps", actor="ops")
    assert storage.parts.modes.get("users").fallback is False
    assert storage.users.get(user.id).name == "journaled"
    assert storage.verify()["differences"] == 0


def test_force_overrides_a_guard_and_says_so(make_storage):
    storage = make_storage("memory-only")
    storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    result = storage.switch("dual", read_from=DATABASE, reason="I know", actor="ops", force=True)
    assert result["forced"] is True
    assert storage.parts.modes.history()[0]["forced"] is True


def test_dry_run_reports_without_switching(make_storage):
    storage = make_storage("memory-only")
    result = storage.switch("dual", reason="what if", actor="ops", dry_run=True)
    assert result["dry_run"] is True
    assert storage.parts.modes.get("users").mode is Mode.MEMORY_ONLY
    assert len(storage.parts.modes.history()) == len(REPOSITORIES)  # only the initial modes


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"reason": " "}, "a reason is required"),
        ({"reason": "x", "repositories": ["nope"]}, "unknown repositories: nope"),
        ({"reason": "x", "shadow_rate": 2}, "shadow_rate must be between 0 and 1"),
        ({"reason": "x", "read_from": "disk"}, "read_from='disk' is not valid"),
    ],
)
def test_rejects_bad_requests_clearly(make_storage, options, message):
    storage = make_storage("memory-only")
    with pytest.raises(ValidationFailed) as rejected:
        storage.switch("dual", actor="ops", **options)
    assert message in rejected.value.message


def test_rejects_an_unknown_mode(make_storage):
    storage = make_storage("memory-only")
    with pytest.raises(ValidationFailed) as rejected:
        storage.switch("triple", reason="x", actor="ops")
    assert "unknown mode 'triple'" in rejected.value.message


def test_a_restart_comes_back_in_the_last_chosen_modes(make_storage, engine, tmp_path):
    storage = make_storage("memory-only")
    storage.switch("dual", reason="cut-over", actor="ops", shadow_rate=0.25)
    restarted = build_storage(engine, tmp_path / "restarted.log", "memory-only")
    try:
        mode = restarted.parts.modes.get("users")
        assert (mode.mode, mode.read_from, mode.shadow_rate) == (Mode.DUAL, MEMORY, 0.25)
    finally:
        restarted.close()


def test_adopts_the_modes_another_process_switched(make_storage):
    here, elsewhere = make_storage("memory-only"), make_storage("memory-only")  # one database
    here.switch("dual", repositories=["workflows"], reason="workflows first", actor="ops")

    assert elsewhere.follow_mode_changes() == ["workflows"]
    assert elsewhere.parts.modes.get("workflows").label() == "dual(read_from=memory)"
    assert elsewhere.parts.modes.get("users").mode is Mode.MEMORY_ONLY
    assert elsewhere.follow_mode_changes() == []


def test_a_started_storage_follows_another_process_switch_within_two_seconds(make_storage):
    here = make_storage("dual", read_from=DATABASE)
    elsewhere = make_storage("dual", read_from=DATABASE)
    user = here.users.add(make_user())
    elsewhere.start()  # as the WSGI entry point does
    here.switch("database-only", reason="cut-over", actor="ops")

    deadline = time.monotonic() + 2.0
    while elsewhere.parts.modes.get("users").mode is not Mode.DATABASE_ONLY:
        assert time.monotonic() < deadline, "still dual 2 s after the switch elsewhere"
        time.sleep(0.05)
    assert {mode.label() for mode in elsewhere.parts.modes.snapshot().values()} == {"database-only"}
    elsewhere.parts.health.mark_down("connection refused")
    with pytest.raises(StorageUnavailable):  # no fallback to its memory any more
        elsewhere.users.get(user.id)


def test_a_switch_waits_for_units_of_work_in_flight(make_storage):
    storage = make_storage("memory-only")
    inside, release = threading.Event(), threading.Event()
    user = make_user()

    def slow_create(uow):
        uow.users.add(user)
        inside.set()
        release.wait(5)

    writer = threading.Thread(target=storage.atomic, args=(slow_create,))
    writer.start()
    inside.wait(5)
    switched = threading.Event()
    switcher = threading.Thread(
        target=lambda: (storage.switch("dual", reason="x", actor="ops"), switched.set())
    )
    switcher.start()
    assert not switched.wait(0.2)  # still waiting for the unit of work
    release.set()
    writer.join(5)
    switcher.join(5)
    assert switched.is_set()
    # the write committed under memory-only, before the switch: it is only in memory
    assert storage.readiness("users")["only_in_memory"] == 1


def test_readiness_names_every_reason_per_step(make_storage):
    storage = make_storage("memory-only")
    storage.users.add(make_user())
    storage.switch("dual", reason="cut-over", actor="ops")
    report = storage.readiness("users")
    assert report["current"] == "dual(read_from=memory)"
    assert report["steps"]["memory-only"] == {"safe": True, "reasons": []}
    assert report["steps"]["dual(read_from=database)"]["safe"] is False
    assert report["only_in_memory"] == 1


def test_processes_starting_at_once_on_a_fresh_database_agree_on_the_modes(engine):
    """Two workers may both find no stored modes; the one that stores second adopts the
    first one's instead of failing to start."""
    specs = [binding.spec for binding in REPOSITORIES]
    winner = ModeRegistry(engine, specs, RepositoryMode.of("dual", MEMORY))
    loser = ModeRegistry(engine, specs, RepositoryMode.of("memory-only"))
    store_initial_modes = loser.apply

    def after_the_winner(*args, **kwargs):
        winner.load()
        return store_initial_modes(*args, **kwargs)

    loser.apply = after_the_winner
    loser.load()

    assert loser.snapshot() == winner.snapshot()
    assert loser.get("users").mode is Mode.DUAL


def test_guards_see_the_journals_and_recent_errors_of_every_process(make_storage):
    """A switch is decided by whichever worker serves the request: another worker's
    waiting journal or recent errors must refuse the step there too."""
    here = make_storage("dual", read_from=DATABASE)
    there = make_storage("dual", read_from=DATABASE)
    there.parts.journal.append([Change("users", make_user().id, None)])
    for _ in range(9):
        there.parts.stats.observe("users", DATABASE, "read", 1.0)
    there.parts.stats.error("users", DATABASE, fell_back=True)
    there.parts.processes.beat(fleet.activity(there.parts))

    report = here.readiness("users")
    assert report["journal"] == 1
    assert (report["recent"]["operations"], report["recent"]["errors"]) == (9, 1)
    with pytest.raises(GuardRefused) as refused:
        here.switch("database-only", reason="finish", actor="ops")
    reasons = refusal(refused)
    assert "the sync journal holds 1 writes: run sync first" in reasons
    assert any(reason.startswith("1 errors in 9 operations") for reason in reasons), reasons

    assert there.replay_journal()["pending"] == 0  # replayed; the errors age out...
    there.parts.stats.reset()
    there.parts.processes.beat(fleet.activity(there.parts))
    here.switch("database-only", reason="finish", actor="ops")  # ... so the step is safe


def test_a_switch_whose_audit_entry_no_backend_stores_is_refused_whole(make_storage):
    """The entry waits in the outbox, committed with the switch, until the audit log takes
    it: one the log would never take is refused before anything commits, or every later
    delivery (each audit-log read, each start) would fail on it."""
    from wfplatform.domain.audit import AuditEntry

    storage = make_storage("memory-only")

    def unstorable(modes, forced) -> AuditEntry:
        return AuditEntry(action="storage.mode_change", resource_type="storage", ip="\x00")

    with pytest.raises(ValidationFailed):
        storage.switch("dual", reason="cut-over", actor="ops", audit=unstorable)
    assert storage.parts.modes.get("users").mode is Mode.MEMORY_ONLY
    assert "cut-over" not in {change["reason"] for change in storage.mode_history()}
