"""Figure 8: a study as one zip against the same maps uploaded one by one (issue 20).

N small maps (4 mm) are sent while no worker runs: once as N API uploads, once as one zip through the same API
(with ``BENCH_ARCHIVE_PAD_MIB`` of raw data beside the maps, skipped by the worker, while the web worker's memory
is sampled). Then one worker starts and drains each. Archive throughput = maps unpacked + processed per second,
from the first map the worker made out of the zip to the last one final; the floor is the single uploads of the
same maps, from the first taken up to the last final (the worker's start-up is in neither). Embedded defaults
(SQLite + SQL broker) unless ``BENCH_MODE=redis``.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from pathlib import Path

from bench.common import MIB, Row, quick
from bench.sites import ApiClient, live_site
from bench.uploads import RSS_GOAL, RssSampler, worker_pid

FIGURE = "8 archives"


def final_count(site, collection_id: int) -> tuple[int, int]:
    """(final images, all images) of the collection."""
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Image

    with site.app.app_context():
        done, total = db.session.execute(sa.select(
            sa.func.count().filter(Image.status.in_(Image.FINAL_STATUSES)), sa.func.count()).where(
            Image.collection_id == collection_id)).one()
        db.session.remove()
    return done, total


def drain_seconds(site, collection_id: int, n_maps: int, started_by_worker: bool) -> float:
    """Start one worker, wait until the collection holds ``n_maps`` final images; seconds of the worker's work.

    Counted from the first map taken up (single uploads: the first ``processing``; an archive: the first map the
    worker made from it) to the last one final, from the images' own timestamps, so the worker's start-up (a
    few noisy seconds on a shared machine) is in neither.
    """
    import sqlalchemy as sa

    from webapp.extensions import db
    from webapp.models import Image

    worker = site.start_worker(beat=False)
    deadline = time.monotonic() + 120 + 5 * n_maps
    while final_count(site, collection_id) != (n_maps, n_maps):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{n_maps} maps not final in time: {final_count(site, collection_id)}")
        time.sleep(0.2)
    site.kill_worker(worker)
    first = Image.uploaded_at if started_by_worker else Image.processing_at
    last = sa.func.max(sa.func.coalesce(Image.ready_at, Image.failed_at))
    with site.app.app_context():
        begin, end = db.session.execute(sa.select(sa.func.min(first), last).where(
            Image.collection_id == collection_id)).one()
        db.session.remove()
    return (end - begin).total_seconds()


def zipped(target: Path, path: Path, n_maps: int, pad_mib: int) -> Path:
    """The study zip: ``n_maps`` copies of the map under BIDS names, and ``pad_mib`` MiB of raw data beside them
    (a member the worker skips unread), so the upload is large enough for the web tier's memory to show."""
    data = path.read_bytes()
    chunk = os.urandom(MIB)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for i in range(n_maps):
            archive.writestr(f"study/sub-{i:03d}_task-bench_stat-t_statmap.nii.gz", data)
        with archive.open("study/sourcedata/raw.bin", "w", force_zip64=True) as member:
            for _ in range(pad_mib):
                member.write(chunk)
    return target


def run() -> list[Row]:
    from tests.niftigen import mni_like_map

    n_maps = 10 if quick() else int(os.environ.get("BENCH_ARCHIVE_MAPS", "100"))
    mode = os.environ.get("BENCH_MODE", "embedded")
    with tempfile.TemporaryDirectory(prefix="bench-archives-") as folder:
        path = mni_like_map(Path(folder) / "small.nii.gz", voxel_mm=4.0)
        pad_mib = 8 if quick() else int(os.environ.get("BENCH_ARCHIVE_PAD_MIB", "512"))
        archive = zipped(Path(folder) / "study.zip", path, n_maps, pad_mib)
        size = archive.stat().st_size
        # every single upload waits for the worker that starts later: room for all of them in the pending limit
        with live_site(mode, workers=0, extra_env={"MAX_PENDING_IMAGES_PER_USER": str(2 * n_maps)}) as site:
            singles = ApiClient(site, "bench-singles@example.org")
            for i in range(n_maps):
                singles.upload(path, name=f"single {i}")
            single_seconds = drain_seconds(site, singles.collection, n_maps, started_by_worker=False)
            packed = ApiClient(site, "bench-archive@example.org")
            with RssSampler(worker_pid(site.web.pid)) as web_rss, archive.open("rb") as handle:
                answer = packed.session.post(f"{packed.url}/api/collections/{packed.collection}/images/",
                                             files={"file": ("study.zip", handle)})
            answer.raise_for_status()
            archive_seconds = drain_seconds(site, packed.collection, n_maps, started_by_worker=True)
    single_rate, archive_rate = n_maps / single_seconds, n_maps / archive_seconds
    return [
        Row(FIGURE, f"zip upload ({size / MIB:.0f} MiB): web worker RSS growth", web_rss.growth / MIB, None,
            "MiB", None, f"<= {RSS_GOAL // MIB} MiB", web_rss.growth <= RSS_GOAL,
            "the web tier only stores the archive; a worker unpacks it"),
        Row(FIGURE, f"{n_maps} small maps (4 mm), single uploads, 1 worker", single_rate, None, "/s",
            note="maps per second, first map taken up to the last final"),
        Row(FIGURE, f"{n_maps} small maps (4 mm) in one zip, unpacked + processed, 1 worker", archive_rate,
            single_rate, "/s", archive_rate / single_rate, "≥ 0.8× single uploads", archive_rate >= 0.8 * single_rate,
            "ratio = archive / single uploads of the same maps"),
    ]
