"""Worker entry point: ``celery -A celery_worker worker`` (add ``-B`` for the periodic sweep on one worker).

Each worker process writes its metrics under ``PROMETHEUS_MULTIPROC_DIR`` (``prometheus_folder.py``),
shared with the web server of the same machine; ``METRICS_WORKER_PORT`` also serves them from here.
"""

from prometheus_folder import use_multiprocess_folder

use_multiprocess_folder()

from celery.signals import worker_init  # noqa: E402

from webapp.metrics import serve_worker_metrics  # noqa: E402
from workers.celery_app import celery  # noqa: E402


@worker_init.connect
def start_metrics_server(**_):
    serve_worker_metrics(celery.flask_app.config)
