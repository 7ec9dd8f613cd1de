"""gunicorn's settings for neurodrop's web process.

gunicorn reads ``./gunicorn.conf.py`` by itself, so ``scripts/serve-prod.sh``, docker-compose, the
live sites of the tests and the benchmarks all serve with the same settings; flags on the command
line still win. Process sizes come from the environment, as docs/operations.md lists them.
"""

import os

from prometheus_folder import use_multiprocess_folder

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads, so a slow upload holds one thread and not a whole process.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "8"))
timeout = int(os.environ.get("WEB_TIMEOUT", "600"))
graceful_timeout = 30
# Scripts poll an image every few seconds on one kept-alive connection (pynv, the docs' examples).
# gunicorn's default of 2 s closes that connection just as the next poll is sent, and the client
# sees "Remote end closed connection without response". An idle connection costs a gthread worker
# a file descriptor in its poller, not a thread, so holding it longer than any usual poll is cheap.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "30"))

# Metrics (webapp/metrics.py): each process writes its own files in one folder and /metrics adds them up.
# Set here, in the master, before any worker imports the app (and with it prometheus_client).
use_multiprocess_folder()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
