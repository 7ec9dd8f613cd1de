"""/metrics: Prometheus's text format, counters that move with uploads and processing, loopback only."""

import io

import pytest
from prometheus_client.parser import text_string_to_metric_families

from webapp import create_app
from webapp.config import TestConfig
from webapp.extensions import db


def scrape(client, **kwargs):
    answer = client.get("/metrics", **kwargs)
    assert answer.status_code == 200, answer.status_code
    assert answer.headers["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(answer.get_data(as_text=True))}


def value(families, name, **labels):
    """A counter's total or a histogram's count for these labels (0 when the series does not exist yet)."""
    family = families.get(name)
    wanted = {f"{name}_total", f"{name}_count", name}
    return sum(sample.value for sample in (family.samples if family else ())
               if sample.name in wanted and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_counters_move_after_an_upload_and_a_processed_image(site, outbox):
    anonymous = site.clients["anonymous"]
    before = scrape(anonymous)
    cid = site.ids["public_collection"]
    data = {"file": (io.BytesIO(site.nifti), "map.nii.gz"), "csrf_token": site.csrf("owner")}
    answer = site.clients["owner"].post(f"/collections/{cid}/upload", data=data, content_type="multipart/form-data",
                                        headers={"Accept": "application/json"})
    assert answer.status_code == 201
    after = scrape(anonymous)

    assert value(after, "neurodrop_uploads") == value(before, "neurodrop_uploads") + 1
    assert value(after, "neurodrop_upload_bytes") == value(before, "neurodrop_upload_bytes") + len(site.nifti)
    # tasks run eagerly here: the image is ready before it could be marked queued (see the next test)
    for status in ("uploaded", "processing", "ready"):
        moved = value(after, "neurodrop_images_reached_status", status=status)
        assert moved == value(before, "neurodrop_images_reached_status", status=status) + 1, status
    timed = ("neurodrop_processing_duration_seconds", {"kind": "3D", "status": "ready"})
    assert value(after, timed[0], **timed[1]) == value(before, timed[0], **timed[1]) + 1
    assert value(after, "neurodrop_emails_sent") == value(before, "neurodrop_emails_sent") + 1
    upload_requests = {"endpoint": "uploads.upload", "method": "POST", "status": "201"}
    assert value(after, "neurodrop_http_requests", **upload_requests) == value(
        before, "neurodrop_http_requests", **upload_requests) + 1
    timed_request = {"endpoint": "uploads.upload", "status": "201"}
    assert value(after, "neurodrop_http_request_duration_seconds", **timed_request) >= 1
    assert value(after, "neurodrop_images", status="ready") == 1
    assert "neurodrop_queue_depth" in after


def test_queueing_is_counted(site):
    from webapp.models import Image
    from webapp.pipeline import mark_queued

    image_id = site.image(Image.UPLOADED)
    before = scrape(site.clients["anonymous"])
    with site.app.app_context():
        mark_queued(image_id)
        mark_queued(image_id)
    after = scrape(site.clients["anonymous"])
    assert value(after, "neurodrop_images_reached_status", status="queued") == value(
        before, "neurodrop_images_reached_status", status="queued") + 1


def test_email_failures_are_counted(site, monkeypatch):
    from webapp.email import send_email
    from webapp.extensions import mail

    before = scrape(site.clients["anonymous"])

    def refuse(message):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(mail, "send", refuse)
    with site.app.app_context(), pytest.raises(ConnectionRefusedError):
        send_email("subject", ["someone@example.org"], "body")
    after = scrape(site.clients["anonymous"])
    assert value(after, "neurodrop_email_failures") == value(before, "neurodrop_email_failures") + 1


def test_refused_to_other_addresses(app):
    client = app.test_client()
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "not an address"}).status_code == 403


def test_allowed_networks_come_from_the_setting_and_the_proxy_is_honoured(tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path / "instance"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.sqlite'}")
    monkeypatch.setenv("METRICS_ALLOWED_ADDRESSES", "10.0.0.0/8")
    monkeypatch.setenv("PROXY_COUNT", "1")
    app = create_app(TestConfig())
    with app.app_context():
        db.create_all()
    client = app.test_client()
    proxied = {"environ_base": {"REMOTE_ADDR": "127.0.0.1"}}
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.9.8.7"}, **proxied).status_code == 200
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.5"}, **proxied).status_code == 403
    assert client.get("/metrics", **proxied).status_code == 403


def test_multiprocess_mode_adds_up_every_process(tmp_path, monkeypatch):
    """With PROMETHEUS_MULTIPROC_DIR set (gunicorn, Celery) the answer is read from the processes' files."""
    from webapp import metrics

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    registry = metrics.scrape_registry()
    assert registry is not metrics.REGISTRY
    assert list(registry.collect()) == []
