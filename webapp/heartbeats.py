"""Workers say they are alive through the shared cache, for a broker that cannot carry a ping.

The dashboard asks Redis- or RabbitMQ-backed workers with Celery's broadcast ping. The embedded SQL broker
cannot broadcast, so there every worker's main process writes its name to the shared cache (a folder under
``instance/`` on one machine, Redis on several) every ``WORKER_HEARTBEAT_SECONDS``; a name not renewed for
three periods has expired on its own. A registry key lists the names, so that the folder cache, which cannot
list its keys, can be read; each beat rewrites it with the names still alive and its own (two beats at the same
instant may drop each other's name until the next beat: the page shows a worker a period late, never a dead one).
"""

import threading
import time

from .extensions import cache
from .pagecache import no_shared_cache

PREFIX = "worker-heartbeat:"
REGISTRY = "worker-heartbeats"
MISSED_BEATS = 3


def beat(name: str, period: float) -> None:
    """Record that worker ``name`` is alive for the next ``MISSED_BEATS`` periods."""
    cache.set(PREFIX + name, time.time(), timeout=max(1, int(period * MISSED_BEATS)))
    cache.set(REGISTRY, sorted({*recent_workers(), name}), timeout=0)


def recent_workers() -> list[str]:
    """Names of the workers whose last beat has not expired."""
    names = cache.get(REGISTRY) or []
    alive = cache.get_many(*(PREFIX + name for name in names)) if names else []
    return sorted(name for name, seen in zip(names, alive, strict=True) if seen is not None)


def start_beating(app, name: str) -> threading.Thread | None:
    """A daemon thread beating for ``name`` while the worker runs; None when beats are switched off."""
    period = app.config["WORKER_HEARTBEAT_SECONDS"]
    if period <= 0 or no_shared_cache(app):
        return None

    def run():
        while True:
            try:
                with app.app_context():
                    beat(name, period)
            except Exception:  # the cache may be down for a while; the dashboard then says "unknown"
                app.logger.warning("worker heartbeat not recorded", exc_info=True)
            time.sleep(period)

    thread = threading.Thread(target=run, name="worker-heartbeat", daemon=True)
    thread.start()
    return thread
