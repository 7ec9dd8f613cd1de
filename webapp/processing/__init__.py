"""The Celery tasks: thin glue that loads a row, calls the pure steps in ``workers/``, writes results, emails.

Built the way Flask's own Celery example is: ``celery_init_app`` makes one Celery app per Flask app,
configured from ``app.config["CELERY"]``, whose tasks run inside that Flask app's context; the tasks
are ``@shared_task``, so they belong to whichever Celery app is current and no module holds a global
Flask app (decision 0020).
"""

from celery import Celery, Task
from flask import appcontext_pushed, has_app_context


def celery_init_app(app):
    """A Celery app bound to this Flask app: the same settings, and tasks run in its app context."""

    class FlaskTask(Task):
        """Runs inside the Flask app (or the caller's context, when a test runs the task eagerly)."""

        def __call__(self, *args, **kwargs):
            if has_app_context():
                return self.run(*args, **kwargs)
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery(app.name, task_cls=FlaskTask)
    celery_app.config_from_object(app.config["CELERY"])
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    appcontext_pushed.connect(use_this_apps_celery, app)
    return celery_app


def use_this_apps_celery(app, **_):
    """Inside a Flask app's context, ``task.delay`` goes through that app's Celery (broker, eager or not),
    even when the process built another app since (the tests build many; a worker builds one)."""
    app.extensions["celery"].set_current()
