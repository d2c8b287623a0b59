"""Background jobs as every process of the service sees them, on SQLite and PostgreSQL:
progress and outcome from the database, one job of a family at a time, and a job whose
process died reported as interrupted."""

from __future__ import annotations

import threading

import pytest

from wfplatform.errors import Conflict, ValidationFailed
from wfplatform.jobs import BackgroundJobs, Job
from wfplatform.jobs import runner as job_runner
from wfplatform.jobs.store import JobStore


def jobs_of(storage) -> BackgroundJobs:
    storage.processes.beat()
    return BackgroundJobs("test", JobStore(storage.engine, "test"), storage.processes)


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
    with pytest.raises(Conflict, match="another test job is running"):
        blocked_job(there)
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
