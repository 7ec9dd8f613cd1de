"""Worker entry point: ``celery -A celery_worker worker`` (add ``-B`` for the periodic sweep on one worker).

Each worker process writes its metrics under ``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_folder.py``),
shared with the web server of the same machine; ``METRICS_WORKER_PORT`` also serves them from here.
"""

from prometheus_folder import use_multiprocess_folder

use_multiprocess_folder()

from celery.signals import setup_logging, worker_init, worker_process_init  # noqa: E402

from webapp import create_app  # noqa: E402
from webapp.heartbeats import start_beating  # noqa: E402
from webapp.logs import configure_logging  # noqa: E402
from webapp.metrics import serve_worker_metrics  # noqa: E402

flask_app = create_app()
celery = flask_app.extensions["celery"]

import webapp.processing.tasks  # noqa: E402,F401  (registers the tasks)
from webapp.processing.memory import limit_address_space  # noqa: E402


@worker_init.connect
def start_metrics_server(**_):
    serve_worker_metrics(flask_app.config)


@worker_init.connect
def start_heartbeat(sender=None, **_):
    """The main process beats for the whole worker (its pool's children come and go)."""
    start_beating(flask_app, getattr(sender, "hostname", None) or "celery")


@worker_process_init.connect
def limit_child_memory(**_):
    limit_address_space(flask_app.config.get("WORKER_ADDRESS_SPACE_MB", 0))


@setup_logging.connect
def use_the_sites_logging(**_):
    """Celery leaves logging alone when this signal has a receiver: the worker logs like the web tier."""
    configure_logging(flask_app.config["LOG_LEVEL"])
