"""One configured logger for the web tier and the workers: every event is one line on standard error.

Before this, nothing configured logging in the web processes, so the ``logger.info`` calls of the
app were dropped (Python's last-resort handler shows warnings only). Now ``configure_logging`` puts one
handler on the root logger, at ``LOG_LEVEL`` (``webapp/config.py``), and every line names its time,
level, logger and the request it belongs to: the ``X-Request-Id`` a proxy sent (when it has a sane
shape) or a fresh one, also sent back on the response, so a user's report and a proxy's log lead to
the same lines. A worker's lines carry the Celery task id instead. A traceback stays on its line
(newlines escaped), so one event is one line for ``grep`` and for log shippers.
"""

import logging
import re
import secrets

from flask import g, has_request_context, request

FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
REQUEST_ID_HEADER = "X-Request-Id"
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class OneLineFormatter(logging.Formatter):
    """The usual format, with the newlines of a message or a traceback escaped: one event, one line."""

    def format(self, record):
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on each record: the web request's, the Celery task's, or ``-``."""

    def filter(self, record):
        record.request_id = current_request_id()
        return True


def current_request_id():
    """The id of the request (or task) this line belongs to; ``-`` outside both."""
    if has_request_context():
        return g.get("request_id") or "-"
    from celery import current_task

    task = current_task
    task_id = getattr(getattr(task, "request", None), "id", None) if task else None
    return task_id or "-"


def configure_logging(level):
    """One handler on the root logger, on standard error; calling it again only changes the level."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, OneLineFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler.setFormatter(OneLineFormatter(FORMAT))
        handler.addFilter(RequestIdFilter())
        root.addHandler(handler)
    root.setLevel(level)
    return handler


def assign_request_id():
    """Take a proxy's ``X-Request-Id`` when it has a sane shape, else make one."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = offered if REQUEST_ID_SHAPE.fullmatch(offered) else secrets.token_hex(8)


def send_request_id(response):
    if g.get("request_id"):
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def init_logging(app):
    """Configure logging for this process and tag each request; Flask's own handler would print twice."""
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request(assign_request_id)
    app.after_request(send_request_id)
