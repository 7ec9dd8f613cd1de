"""PostgreSQL drops the worker's connection under a task (``pg_terminate_backend``): the task retries and succeeds.

To hit the task inside a transaction every time, the test holds a lock on the image
row; the worker's next write waits on it, the test terminates exactly that backend,
then lets go. Always on the PostgreSQL server at 127.0.0.1:5432 (a fresh database).
"""

import pytest
import sqlalchemy as sa

from tests.niftigen import mni_like_map

from .sites import emails_for, own_site, reachable, researcher, upload, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not reachable("127.0.0.1", 5432), reason="needs PostgreSQL on 127.0.0.1:5432"),
]

WAITING_ON_LOCK = sa.text(
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND wait_event_type = 'Lock'"
)


def test_task_survives_its_connection_being_terminated(tmp_path, redis_broker):
    with own_site(tmp_path / "site", database="postgres", broker_url=redis_broker) as site:
        session, collection_id = researcher(site, "dropped@example.org")
        data = mni_like_map(tmp_path / "big.nii.gz", voxel_mm=1.0).read_bytes()
        entry = upload(site, session, collection_id, "drop.nii.gz", data)

        engine = sa.create_engine(site.env["DATABASE_URL"])
        monitor = sa.create_engine(site.env["DATABASE_URL"], isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as holder, monitor.connect() as admin:
                holder.execute(sa.text("SELECT id FROM image WHERE id = :id FOR UPDATE"), {"id": entry["id"]})
                waiting = wait_until(lambda: admin.execute(WAITING_ON_LOCK).scalars().all(), 60,
                                     "the worker never waited on the image row")
                terminated = admin.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(:pids) AS pid"),
                                           {"pids": waiting}).scalars().all()
                assert terminated == [True] * len(waiting)
                holder.rollback()
        finally:
            engine.dispose()
            monitor.dispose()

        image = site.wait_for_final(entry["id"], seconds=120)
        assert image.status == "ready", image.error
        logs = "".join(path.read_text(errors="replace") for path in site.folder.glob("worker-*.log"))
        assert "retry: Retry in" in logs, "the task did not go through its retry path"
        wait_until(lambda: emails_for(site, entry["id"]), 60, "no email about the image")
        assert len(emails_for(site, entry["id"])) == 1
