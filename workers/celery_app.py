"""The Celery app for worker processes, configured from ``webapp.config`` through the Flask app."""

from webapp import create_app

flask_app = create_app()
celery = flask_app.extensions["celery"]

import workers.tasks  # noqa: E402,F401  (registers the tasks)
