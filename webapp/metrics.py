"""Prometheus metrics: requests, uploads, images reaching each status, processing time, emails, queues.

Counters live in ``prometheus_client``'s default registry. Under gunicorn and Celery's prefork pool
every process writes its own files under ``PROMETHEUS_MULTIPROC_DIR`` (set before this module is
imported: ``gunicorn.conf.py`` and ``celery_worker.py`` do it), and ``/metrics`` adds them up, so
the web processes and the workers of one machine answer in one scrape. Images per status and queue
depth are read when scraped. ``/metrics`` answers only addresses in ``METRICS_ALLOWED_ADDRESSES``.
"""

import ipaddress
import os
import time

from flask import Response, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event
from sqlalchemy.orm import Session

REQUESTS = Counter("neurodrop_http_requests", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("neurodrop_http_request_duration_seconds", "Time to answer a request", ["endpoint", "status"])
UPLOADS = Counter("neurodrop_uploads", "Images received (page, API, tus)")
UPLOAD_BYTES = Counter("neurodrop_upload_bytes", "Bytes of images received")
STATUS_REACHED = Counter("neurodrop_images_reached_status", "Images moved to a status", ["status"])
PROCESSING = Histogram(
    "neurodrop_processing_duration_seconds",
    "From a worker taking an image to its final status",
    ["kind", "status"],
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, float("inf")),
)
EMAILS = Counter("neurodrop_emails_sent", "Emails handed to the mail server (or the outbox)")
EMAIL_FAILURES = Counter("neurodrop_email_failures", "Emails that could not be sent (retried later)")


def image_status_set(image, status, old, initiator):
    """Count a status change; a final one also times the processing since the worker took the image."""
    if status == old:
        return
    STATUS_REACHED.labels(status=status).inc()
    if status in image.FINAL_STATUSES and image.processing_at is not None:
        from .models import utcnow

        seconds = (utcnow() - image.processing_at).total_seconds()
        PROCESSING.labels(kind="4D" if image.is_4d else "3D", status=status).observe(max(seconds, 0.0))


def count_new_images(session, flush_context, instances):
    from .models import Image

    for row in session.new:
        if isinstance(row, Image):
            UPLOADS.inc()
            UPLOAD_BYTES.inc(row.file_size or 0)


def image_queued():
    """The pipeline queues images with a bulk UPDATE, which no attribute event sees."""
    STATUS_REACHED.labels(status="queued").inc()


def email_sent(ok):
    (EMAILS if ok else EMAIL_FAILURES).inc()


def listen_to_images():
    from .models import Image

    if not event.contains(Image.status, "set", image_status_set):
        event.listen(Image.status, "set", image_status_set)
        event.listen(Session, "before_flush", count_new_images)


def start_timer():
    g.metrics_started = time.perf_counter()


def record_request(response):
    started = g.pop("metrics_started", None)
    if started is not None and request.endpoint != "metrics":
        endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
        status = str(response.status_code)
        REQUESTS.labels(endpoint=endpoint, method=request.method, status=status).inc()
        LATENCY.labels(endpoint=endpoint, status=status).observe(time.perf_counter() - started)
    return response


def allowed_networks(setting):
    """The networks of ``METRICS_ALLOWED_ADDRESSES`` (addresses or CIDR blocks, comma-separated)."""
    networks = []
    for part in (setting or "").split(","):
        if part.strip():
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
    return networks


def address_allowed(address, networks):
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    return any(ip in network for network in networks if network.version == ip.version)


class ScrapeTimeCollector:
    """Numbers read when scraped: images per status (database) and queue depth (broker)."""

    def __init__(self, app):
        self.app = app

    def collect(self):
        from .dashboard import images_per_status, queue_depths

        with self.app.app_context():
            statuses = GaugeMetricFamily("neurodrop_images", "Images in each status", labels=["status"])
            try:
                counts = images_per_status()
            except Exception as exc:  # the database being down must not hide the other numbers
                self.app.logger.warning("metrics: images per status unavailable: %r", exc)
                counts = {}
            for status, count in counts.items():
                statuses.add_metric([status], count)
            yield statuses
            depths = GaugeMetricFamily("neurodrop_queue_depth", "Messages waiting in each queue", labels=["queue"])
            for queue, depth in queue_depths().items():
                if depth is not None:
                    depths.add_metric([queue], depth)
            yield depths


def scrape_registry():
    """The registry to answer from: every process's files in multiprocess mode, else this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def metrics_view():
    if not address_allowed(request.remote_addr, current_app.extensions["metrics_networks"]):
        abort(403)
    registry = scrape_registry()
    body = generate_latest(registry)
    body += generate_latest(current_app.extensions["metrics_scrape_registry"])
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def serve_worker_metrics(config):
    """A worker machine's own ``/metrics`` (``METRICS_WORKER_PORT``), for workers on machines without the web."""
    from prometheus_client import start_http_server

    port = config.get("METRICS_WORKER_PORT") or 0
    if port:
        start_http_server(port, addr=config.get("METRICS_WORKER_HOST", "127.0.0.1"), registry=scrape_registry())
    return port


def init_metrics(app):
    listen_to_images()
    app.extensions["metrics_networks"] = allowed_networks(app.config["METRICS_ALLOWED_ADDRESSES"])
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeTimeCollector(app))
    app.extensions["metrics_scrape_registry"] = scrape
    app.before_request_funcs.setdefault(None, []).insert(0, start_timer)
    app.after_request(record_request)
    app.add_url_rule("/metrics", "metrics", metrics_view)
