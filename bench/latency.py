"""Figure 2: end-to-end latency, an API upload of the 2 mm map until the API says ``ready``.

A real web server (gunicorn) and a real Celery worker, on the embedded
defaults (SQLite + kombu's SQL broker) and on PostgreSQL + Redis. The
overhead is the latency minus the processing of the same file (figure 1's
"ours"), measured in this process in the same run. The image's status
timestamps split the latency into upload, waiting in the queue and work.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.common import Row, median_times, quick
from bench.processing import ours
from bench.sites import MODES, ApiClient, live_site

FIGURE = "2 latency"
OVERHEAD_GOAL = 0.5
POLL_SECONDS = 0.02


def wait_ready(client: ApiClient, image_id: int, seconds: float = 120) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.status(image_id)
        if status in ("ready", "failed"):
            return status
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"image {image_id} not final after {seconds} s")


def phases(site, image_id: int) -> dict[str, float]:
    """Seconds spent uploaded -> queued -> processing -> ready, from the image's own timestamps."""
    image = site.image(image_id)
    return {"in queue": (image.processing_at - image.queued_at).total_seconds(),
            "worker": (image.ready_at - image.processing_at).total_seconds()}


def measure(mode: str, path: Path, repeats: int) -> tuple[float, dict[str, float]]:
    with live_site(mode) as site:
        client = ApiClient(site)
        latencies, splits = [], []
        for n in range(repeats + 1):
            start = time.perf_counter()
            image = client.upload(path, name=f"latency {n}")
            status = wait_ready(client, image["id"])
            elapsed = time.perf_counter() - start
            if status != "ready":
                raise RuntimeError(f"image {image['id']} {status}")
            if n:  # the first one warms the worker up (imports, first connection)
                latencies.append(elapsed)
                splits.append(phases(site, image["id"]))
        return statistics.median(latencies), {key: statistics.median(s[key] for s in splits) for key in splits[0]}


def run() -> list[Row]:
    from bench.processing import _brain_like
    from tests.niftigen import make_nifti

    small = quick()
    repeats = 3 if small else 9
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as folder:
        data, affine = _brain_like((46, 55, 46), 4.0) if small else _brain_like((91, 109, 91), 2.0)
        path = make_nifti(Path(folder) / "map.nii.gz", data, affine)
        ours(path)
        processing = median_times({"ours": lambda: ours(path)}, 11)["ours"]
        rows = []
        for mode, label in MODES.items():
            latency, split = measure(mode, path, repeats)
            overhead = latency - processing
            rows.append(Row(FIGURE, f"upload -> ready, {label}", latency, processing, "ms", latency / processing,
                            f"overhead <= {OVERHEAD_GOAL} s", overhead <= OVERHEAD_GOAL,
                            f"overhead {overhead:.2f} s; in queue {split['in queue']:.2f} s, "
                            f"worker {split['worker']:.2f} s; reference = processing alone"))
        return rows
