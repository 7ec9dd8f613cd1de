"""What an operator watches: images per status, processing times, storage, queues, workers, emails.

Read by the admin dashboard and (images per status, queue depth) by ``/metrics`` when scraped.
Anything that asks the broker or the workers has a short timeout and answers None when it cannot
tell, so a broker outage shows as "unknown" instead of hanging the page.
"""

import math
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from .extensions import db
from .heartbeats import recent_workers
from .models import Artifact, Image, Upload, utcnow
from .pagecache import no_shared_cache

PERCENTILES = (50, 90, 99)
MAX_TIMED_IMAGES = 20000


def images_per_status():
    counts = dict(db.session.execute(sa.select(Image.status, sa.func.count(Image.id)).group_by(Image.status)).all())
    return {status: counts.get(status, 0) for status in Image.STATUSES}


def percentile(sorted_values, p):
    """The nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)
    return sorted_values[min(rank, len(sorted_values) - 1)]


def processing_percentiles(hours=24):
    """Seconds from a worker taking an image to its result, over images finished in the last ``hours``."""
    since = utcnow() - timedelta(hours=hours)
    finished = sa.func.coalesce(Image.ready_at, Image.failed_at)
    rows = db.session.execute(
        sa.select(Image.processing_at, finished)
        .where(Image.status.in_(Image.FINAL_STATUSES), Image.status_changed_at >= since)
        .where(Image.processing_at.isnot(None))
        .limit(MAX_TIMED_IMAGES)
    ).all()
    durations = sorted(
        (end - start).total_seconds() for start, end in rows if start is not None and end is not None and end >= start
    )
    return {"count": len(durations), **{f"p{p}": percentile(durations, p) for p in PERCENTILES}}


def storage_used():
    """Bytes of originals and of derived files."""
    originals = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Image.file_size), 0)))
    derived = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Artifact.size), 0)))
    partial = db.session.scalar(sa.select(sa.func.coalesce(sa.func.sum(Upload.offset), 0)))
    return {"originals": originals, "derived": derived, "partial_uploads": partial}


def broker_connection(opener):
    """A connection to the broker that gives up after one quick try (Celery would otherwise retry for long)."""
    connection = opener(connect_timeout=2)
    connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0)
    return connection


def queue_names():
    conf = current_app.extensions["celery"].conf
    names = {conf.task_default_queue}
    for queue in conf.task_queues or ():
        names.add(getattr(queue, "name", queue))
    return sorted(names)


def queue_depths():
    """Messages waiting in each queue, None for a queue the broker would not tell about in time."""
    depths = {}
    try:
        with broker_connection(current_app.extensions["celery"].connection_for_read) as connection:
            channel = connection.default_channel
            for name in queue_names():
                try:
                    depths[name] = channel.queue_declare(queue=name, passive=True).message_count
                except connection.channel_errors:
                    depths[name] = 0  # Redis drops an emptied queue: one the broker does not know holds nothing
                    channel = connection.channel()
                except Exception:
                    depths[name] = None
    except Exception as exc:
        current_app.logger.warning("queue depth unavailable: %r", exc)
        return dict.fromkeys(queue_names())
    return depths


def workers_alive():
    """Names of the workers that answered a ping (or, on a broker that cannot broadcast, whose heartbeat is
    recent: ``webapp.heartbeats``), or None when neither could be asked."""
    timeout = current_app.config.get("WORKER_PING_TIMEOUT", 1.0)
    celery = current_app.extensions["celery"]
    try:
        with broker_connection(celery.connection_for_write) as connection:
            if "fanout" not in connection.transport.implements.exchange_type:
                return heartbeat_workers()  # the embedded SQL broker cannot broadcast: no worker hears a ping
            replies = celery.control.ping(timeout=timeout, connection=connection) or []
    except Exception as exc:
        current_app.logger.warning("worker ping failed: %r", exc)
        return None
    return sorted(name for reply in replies for name in reply)


def heartbeat_workers():
    if no_shared_cache():
        return None
    try:
        return recent_workers()
    except Exception as exc:
        current_app.logger.warning("worker heartbeats unavailable: %r", exc)
        return None


def emails_waiting():
    """Finished images whose uploader has not been sent the outcome email yet."""
    return db.session.scalar(
        sa.select(sa.func.count(Image.id)).where(
            Image.status.in_(Image.FINAL_STATUSES),
            Image.uploader_id.isnot(None),
            sa.or_(Image.notified_status.is_(None), Image.notified_status != Image.status),
        )
    )


def dashboard():
    return {
        "statuses": images_per_status(),
        "processing": processing_percentiles(),
        "storage": storage_used(),
        "queues": queue_depths(),
        "workers": workers_alive(),
        "emails_waiting": emails_waiting(),
    }
