"""Issue 15: one configured logger for web and workers, at LOG_LEVEL, one line per event, request ids."""

import io
import logging

import pytest

from webapp.logs import OneLineFormatter, configure_logging


@pytest.fixture
def log_stream():
    """The site's handler, writing into a buffer for the test (its stream is put back afterwards)."""
    handler = configure_logging(logging.getLogger().level or "INFO")
    buffer = io.StringIO()
    saved = handler.setStream(buffer)
    yield buffer
    handler.setStream(saved)


def test_one_handler_on_the_root_however_many_apps_are_built(app):
    from webapp import create_app
    from webapp.config import TestConfig

    create_app(TestConfig())
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, OneLineFormatter)]
    assert len(ours) == 1
    assert not app.logger.handlers, "Flask's own handler would print each line twice"


def test_info_lines_of_the_app_are_written_with_the_request_id(app, client, log_stream):
    @app.route("/test-logging")
    def logs_a_line():
        logging.getLogger("webapp.test").info("uploaded %s\nsecond line", "map.nii.gz")
        return "ok"

    answer = client.get("/test-logging", headers={"X-Request-Id": "proxy-42"})
    assert answer.headers["X-Request-Id"] == "proxy-42"
    [line] = [line for line in log_stream.getvalue().splitlines() if "webapp.test" in line]
    assert " INFO webapp.test [proxy-42] uploaded map.nii.gz\\nsecond line" in line


def test_a_request_id_of_a_strange_shape_is_replaced(app, client):
    answer = client.get("/", headers={"X-Request-Id": "x" * 65})
    made = answer.headers["X-Request-Id"]
    assert made != "x" * 65 and len(made) == 16


def test_the_level_comes_from_the_settings(monkeypatch, tmp_path, log_stream):
    from webapp import create_app
    from webapp.config import TestConfig

    monkeypatch.setenv("LOG_LEVEL", "warning")
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    quiet = create_app(TestConfig())
    assert quiet.config["LOG_LEVEL"] == "WARNING" and logging.getLogger().level == logging.WARNING
    logging.getLogger("webapp.test").info("not shown")
    logging.getLogger("webapp.test").warning("shown")
    assert "shown" in log_stream.getvalue() and "not shown" not in log_stream.getvalue()
    configure_logging("INFO")


def test_a_worker_line_carries_the_task_id_and_a_traceback_stays_on_it(app, log_stream):
    from celery import shared_task

    @shared_task(name="tests.logging.fails")
    def fails():
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logging.getLogger("webapp.processing.tasks").exception("image 7: unexpected error")

    with app.app_context():
        result = fails.apply(task_id="task-abc")
    assert result.successful()
    [line] = [line for line in log_stream.getvalue().splitlines() if "unexpected error" in line]
    assert "ERROR webapp.processing.tasks [task-abc] image 7: unexpected error\\nTraceback" in line
    assert "ValueError: bad\\nvalue" in line
