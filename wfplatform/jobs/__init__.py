"""Background jobs: long work (a backfill, an import) runs in a thread of the process that
was asked, and every process of the service can report on it from the database."""

from .job import COMPLETED, FAILED, INTERRUPTED, RUNNING, Job
from .runner import BackgroundJobs

__all__ = ["COMPLETED", "FAILED", "INTERRUPTED", "RUNNING", "BackgroundJobs", "Job"]
