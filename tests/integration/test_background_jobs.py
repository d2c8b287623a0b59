"""Background jobs as every process of the service sees them, on SQLite and PostgreSQL:
progress and outcome from the database, one job of a family at a time, and a job whose
process died reported as interrupted."""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from wfplatform.errors import Conflict, ValidationFailed
from wfplatform.jobs import BackgroundJobs, Job
from wfplatform.jobs import runner as job_runner
from wfplatform.jobs.store import JobStore
from wfplatform.repositories import NAMES


def jobs_of(storage) -> BackgroundJobs:
    storage.parts.processes.beat()
    return BackgroundJobs("test", JobStore(storage.parts.engine, "test"), storage.parts.processes)


@pytest.fixture
def two_processes(make_storage, monkeypatch):
    monkeypatch.setattr(job_runner, "SAVE_EVERY", 0.0)
    return jobs_of(make_storage()), jobs_of(make_storage())


def blocked_job(jobs: BackgroundJobs) -> tuple[Job, threading.Event, threading.Event]:
    """A job that reports progress, then waits for `release`."""
    advanced, release = threading.Event(), threading.Event()

    def work(job: Job) -> dict:
        job.begin("copying", {"users": 10})
        job.advance("users", 4, 10)
        advanced.set()
        release.wait(10)
        return {"copied": 10}

    return jobs.start(Job("test", "copy", "ops@example.com", {"n": 10}), work), advanced, release


def test_another_process_follows_a_job_to_its_end(two_processes):
    here, there = two_processes
    job, advanced, release = blocked_job(here)
    assert advanced.wait(10)

    running = there.get(job.id)
    assert running["state"] == "running"
    assert running["phase"] == "copying"
    assert running["progress"]["done"] == 4 and running["progress"]["total"] == 10
    assert running["created_by"] == "ops@example.com"

    release.set()
    assert here.wait(job.id, 10)["state"] == "completed"
    finished = there.get(job.id)
    assert finished["state"] == "completed"
    assert finished["result"] == {"copied": 10}
    assert finished["finished_at"] is not None
    assert [listed["id"] for listed in there.recent()] == [job.id]


def test_one_job_of_a_family_runs_at_a_time_across_processes(two_processes):
    here, there = two_processes
    job, advanced, release = blocked_job(here)
    assert advanced.wait(10)
    with pytest.raises(Conflict, match="another test job is running") as refused:
        blocked_job(there)
    assert refused.value.details == {"running": [job.id]}
    release.set()
    here.wait(job.id, 10)

    second, _, release_second = blocked_job(there)
    release_second.set()
    assert there.wait(second.id, 10)["state"] == "completed"


def test_a_job_whose_process_died_is_interrupted_and_frees_the_family(two_processes):
    here, there = two_processes
    job, advanced, release = blocked_job(here)
    assert advanced.wait(10)
    here.processes.leave()  # as if the process had stopped beating long ago

    assert there.get(job.id)["state"] == "interrupted"
    other, _, release_other = blocked_job(there)
    release_other.set()
    release.set()
    assert there.wait(other.id, 10)["state"] == "completed"


def test_a_failure_is_the_jobs_outcome_without_its_internals(two_processes):
    here, there = two_processes

    def refused(job: Job) -> dict:
        raise ValidationFailed("batch_size must be at least 1")

    def crashed(job: Job) -> dict:
        raise RuntimeError("password=hunter2 in a driver message")

    first = here.start(Job("test", "copy", "ops", {}), refused)
    here.wait(first.id, 10)
    second = here.start(Job("test", "copy", "ops", {}), crashed)
    here.wait(second.id, 10)

    assert there.get(first.id)["error"]["message"] == "batch_size must be at least 1"
    assert there.get(second.id)["error"] == {"code": "internal_error", "message": "RuntimeError"}
    assert there.get("unknown") is None


# -- races between processes and threads ----------------------------------------------------


def test_two_processes_starting_at_the_same_moment_run_one_job(two_processes):
    """The "is one running anywhere?" check and the job's row are separate transactions,
    and the lock around them is per process: both processes pass the check."""
    release = threading.Event()
    both_checked = threading.Barrier(2)
    started: dict[str, str] = {}

    def prepare() -> None:
        try:  # a correct start serialises the two: then the barrier breaks, harmlessly
            both_checked.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass

    def work(job: Job) -> dict:
        release.wait(10)
        return {}

    def attempt(name: str, jobs: BackgroundJobs) -> None:
        try:
            started[name] = jobs.start(Job("test", "copy", "ops", {}), work, prepare).id
        except Conflict:
            started[name] = "refused"

    pairs = list(zip("ab", two_processes, strict=True))
    threads = [threading.Thread(target=attempt, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    running = [row.id for row in two_processes[0].store.running()]
    release.set()
    for name, jobs in pairs:
        if started.get(name, "refused") != "refused":
            jobs.wait(started[name], 10)

    assert sorted(started.values()).count("refused") == 1, started
    assert len(running) == 1, running


def test_a_job_is_described_safely_while_it_advances(make_storage):
    """`get` answers for this process's own job from a request thread while the job's
    thread replaces and fills `progress`/`totals`: describing it must never fail."""
    jobs = jobs_of(make_storage())
    names = NAMES
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(job: Job) -> dict:
        while not stop.is_set():
            job.begin("restoring", dict.fromkeys(names, 10))
            for done, name in enumerate(names):
                job.advance(name, done, 10)
        return {}

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy server does
    try:
        job = jobs.start(Job("test", "copy", "ops", {}), work)
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline and not errors:
            try:
                json.dumps(jobs.get(job.id))  # what the endpoint serialises
            except RuntimeError as error:  # dictionary changed size during iteration
                errors.append(error)
    finally:
        sys.setswitchinterval(interval)
        stop.set()
    jobs.wait(job.id, 10)

    assert errors == []


def test_a_job_reported_interrupted_stops_instead_of_running_beside_a_new_one(two_processes):
    """A process that missed its heartbeats for a while (a database blip) is not dead: its
    job must not carry on (nor put `running` back over `interrupted`) once another process
    may have started a second job of the family."""
    here, there = two_processes
    first_step, go_on, second_step = (threading.Event() for _ in range(3))

    def work(job: Job) -> dict:
        job.begin("copying", {"users": 10})
        job.advance("users", 4, 10)
        first_step.set()
        go_on.wait(10)
        job.advance("users", 8, 10)  # its progress cannot be saved: the job stops here
        second_step.set()
        return {}

    job = here.start(Job("test", "copy", "ops", {}), work)
    assert first_step.wait(10)
    here.processes.leave()  # no heartbeat for longer than ALIVE_WITHIN
    assert there.get(job.id)["state"] == "interrupted"
    other, _, release_other = blocked_job(there)  # the family is free now
    here.processes.beat()  # ... but the process was alive all along
    go_on.set()
    here.wait(job.id, 10)

    assert not second_step.is_set()
    states = {listed["id"]: listed["state"] for listed in here.recent()}
    assert states == {job.id: "interrupted", other.id: "running"}
    release_other.set()
    assert there.wait(other.id, 10)["state"] == "completed"


def test_a_finished_job_reads_the_same_in_every_process(two_processes):
    """Its own process recomputes the rate from a clock that keeps running after the job
    ended, and reports its own start/finish instants, not the ones saved."""
    here, there = two_processes

    def work(job: Job) -> dict:
        job.begin("copying", {"users": 10})
        job.advance("users", 10, 10)
        return {}

    job = here.start(Job("test", "copy", "ops", {}), work)
    here.wait(job.id, 10)
    time.sleep(0.3)
    mine, theirs = here.get(job.id), there.get(job.id)

    for name in ("rate_per_second", "started_at", "finished_at"):
        assert mine[name] == theirs[name], name
