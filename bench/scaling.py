"""Figure 5: worker throughput, 200 small maps drained by 1 and then by 2 worker processes.

The maps are uploaded through the API while no worker runs, then the
workers start; throughput is maps per second between the first image taken
up and the last one ready (the images' own timestamps), so worker start-up
is not counted. PostgreSQL + Redis, as in production.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Row, quick
from bench.sites import ApiClient, live_site

FIGURE = "5 workers"


def all_final(site, ids: list[int]) -> bool:
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Image

    with site.app.app_context():
        waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Image).where(
            Image.id.in_(ids), Image.status.not_in(Image.FINAL_STATUSES)))
        db.session.remove()
    return waiting == 0


def drained_rate(site, ids: list[int]) -> float:
    """Maps per second from the first ``processing`` to the last ``ready``."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Image

    with site.app.app_context():
        first, last, ready = db.session.execute(sa.select(
            sa.func.min(Image.processing_at), sa.func.max(Image.ready_at),
            sa.func.count().filter(Image.status == Image.READY)).where(Image.id.in_(ids))).one()
        db.session.remove()
    if ready != len(ids):
        raise RuntimeError(f"only {ready} of {len(ids)} maps are ready")
    return len(ids) / (last - first).total_seconds()


def drain(site, client: ApiClient, path: Path, n_maps: int, n_workers: int) -> float:
    ids = [client.upload(path, name=f"w{n_workers} {i}")["id"] for i in range(n_maps)]
    workers = [site.start_worker(beat=False) for _ in range(n_workers)]
    deadline = time.monotonic() + 60 + 5 * n_maps
    while not all_final(site, ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n_maps} maps not processed in time")
        time.sleep(0.5)
    for worker in workers:
        site.kill_worker(worker)
    return drained_rate(site, ids)


def run() -> list[Row]:
    from tests.niftigen import mni_like_map

    n_maps = 20 if quick() else 200
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as folder:
        path = mni_like_map(Path(folder) / "small.nii.gz", voxel_mm=4.0)
        with live_site("redis", workers=0) as site:
            client = ApiClient(site)
            one = drain(site, client, path, n_maps, 1)
            two = drain(site, client, path, n_maps, 2)
    return [Row(FIGURE, f"{n_maps} small maps (4 mm), 1 worker process", one, None, "/s", None,
                note="maps per second"),
            Row(FIGURE, f"{n_maps} small maps (4 mm), 2 worker processes", two, one, "/s", two / one,
                "", None, "ratio = 2 workers / 1 worker; 2 cores shared with the web server and databases")]
