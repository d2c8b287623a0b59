"""RQ on Redis as the execution queue (`WF_EXECUTION_QUEUE_URL=redis://...`): the service
enqueues execution ids; `flask wf worker` processes, on this machine or others, run them.

Why RQ (over Celery): explicit job states, a synchronous mode for tests, plain Redis, and
little to configure; everything RQ would retry, time out or limit is the engine's own
concern here (claims, leases, slots, node retries), so RQ only carries ids:

- one job per execution id (`unique`): the sweeper offering an execution again while its
  job waits adds nothing, a job that finished leaves no trace (`result_ttl=0`), and one
  that ended without running it (a worker stopped or killed first) is replaced;
- no broker retries and no job timeout: a run's retries and its end are the engine's, and
  a worker that dies mid-run leaves a lease that expires (the sweeper marks it `crashed`);
- `SimpleWorker`: jobs run in the worker process, which built the app once (storage,
  the engine) before taking the first, instead of forking a child per job."""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus

QUEUE_NAME = "wf-executions"
FAILED_JOBS_KEPT_SECONDS = 24 * 3600
ENDED = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
log = logging.getLogger(__name__)
_runner: Callable[[str], None] | None = None  # this worker process's (see `work`)


class RqQueue:
    backend = "rq"

    def __init__(self, url: str, name: str = QUEUE_NAME) -> None:
        self.connection = Redis.from_url(url)
        self.queue = Queue(name, connection=self.connection)
        self.name = name

    def submit(self, execution_id: str) -> None:
        job_id = f"{self.name}-{execution_id}"  # one per execution and queue
        try:
            try:
                self._enqueue(execution_id, job_id)
            except DuplicateJobError:
                if not self._ended(job_id):
                    return  # its job is waiting or running
                # a job that ended without running it (its worker stopped first): RQ keeps
                # its record, which must not hold the execution back
                Job.fetch(job_id, connection=self.connection).delete()
                self._enqueue(execution_id, job_id)
        except DuplicateJobError:
            pass  # another process offered it at the same moment
        except RedisError as fault:  # the row is queued: the sweeper offers it again
            log.warning("the execution queue does not answer (%s); %s waits", fault, execution_id)

    def _enqueue(self, execution_id: str, job_id: str) -> None:
        self.queue.enqueue_call(
            run_execution,
            args=(execution_id,),
            job_id=job_id,
            unique=True,
            timeout=-1,
            result_ttl=0,
            failure_ttl=FAILED_JOBS_KEPT_SECONDS,
            description=f"execution {execution_id}",
        )

    def _ended(self, job_id: str) -> bool:
        try:
            status = Job.fetch(job_id, connection=self.connection).get_status()
        except NoSuchJobError:
            return True
        return status in ENDED

    def depth(self) -> int:
        return self.queue.count  # raises RedisError when Redis does not answer

    def close(self) -> None:
        self.connection.close()

    def work(self, run: Callable[[str], None], burst: bool = False) -> None:
        """Run this process as a worker of the queue until stopped (or, `burst`, until it
        is empty); `run` is the runner of this process's engine."""
        global _runner
        _runner = run
        worker = SimpleWorker([self.queue], connection=self.connection)
        worker.work(burst=burst, with_scheduler=False, logging_level="WARNING")


def run_execution(execution_id: str) -> None:
    """The job: run the execution in this worker process; a failure is the engine's to
    record, never RQ's to retry."""
    if _runner is None:
        raise RuntimeError("run_execution runs in `flask wf worker`, which builds the engine")
    try:
        _runner(execution_id)
    except Exception:
        log.exception("execution %s: the runner failed", execution_id)
