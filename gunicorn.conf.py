"""gunicorn's settings file, read from the working directory (`scripts/serve.sh` and any
`gunicorn wfplatform.wsgi:app` started in the project root); command-line options win.

With several workers, metrics must be added up across them: each worker records into
files under `PROMETHEUS_MULTIPROC_DIR` and any worker's `/metrics` reads them all (see
`wfplatform/observability/multiprocess.py`). Set the directory yourself, or a temporary
one is made here; it is emptied at start (numbers of an earlier run must not count) and a
worker that exits has its live gauges removed."""

import glob
import os
import shutil
import tempfile

_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
_made_here = []


def on_starting(server):
    """In the master, before any worker starts (workers inherit the environment)."""
    directory = os.environ.get(_DIRECTORY)
    if not directory:
        if server.cfg.workers < 2:
            return  # one process: its own registry is the whole truth
        directory = tempfile.mkdtemp(prefix="wf-metrics-")
        _made_here.append(directory)
        os.environ[_DIRECTORY] = directory
    os.makedirs(directory, exist_ok=True)
    for leftover in glob.glob(os.path.join(directory, "*.db")):
        os.remove(leftover)


def child_exit(server, worker):
    if os.environ.get(_DIRECTORY):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for directory in _made_here:
        shutil.rmtree(directory, ignore_errors=True)
