"""Worker entry point: ``celery -A celery_worker worker`` (add ``-B`` for the periodic sweep on one worker)."""

from workers.celery_app import celery  # noqa: F401
