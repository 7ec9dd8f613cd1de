"""50 uploads from 10 clients at once against gunicorn with 2 worker processes: nothing lost, nothing doubled."""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from tests.niftigen import small_map

from .sites import create_users, csrf_of, new_collection, own_site

pytestmark = pytest.mark.e2e

CLIENTS = 10
UPLOADS_PER_CLIENT = 5


def client_run(site, email, files):
    """One client: log in, make a collection, upload its files one after another; returns (status, body, sha)."""
    session = site.login(email)
    collection_id = new_collection(site, session, f"concurrent {email}")
    url = f"{site.url}/collections/{collection_id}/upload"
    answers = []
    for name, data in files:
        token = csrf_of(session, url)
        answer = session.post(url, data={"csrf_token": token}, files=[("file", (name, data, "application/gzip"))],
                              headers={"Accept": "application/json"}, timeout=300)
        answers.append((answer.status_code, answer.text[:300], hashlib.sha256(data).hexdigest()))
    return answers


def test_fifty_concurrent_uploads(tmp_path, redis_broker):
    files = {
        f"client{c}@example.org": [
            (f"c{c}-{u}.nii.gz", small_map(tmp_path / f"c{c}-{u}.nii.gz", seed=c * 100 + u).read_bytes())
            for u in range(UPLOADS_PER_CLIENT)
        ]
        for c in range(CLIENTS)
    }
    expected = sorted(hashlib.sha256(data).hexdigest() for batch in files.values() for _, data in batch)
    assert len(set(expected)) == CLIENTS * UPLOADS_PER_CLIENT

    with own_site(tmp_path / "site", broker_url=redis_broker, web_workers=2, workers=2) as site:
        create_users(site, files)
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = [a for batch in pool.map(lambda item: client_run(site, *item), files.items()) for a in batch]

        failures = [(status, body) for status, body, _ in results if status != 201]
        assert failures == [], failures

        from webapp.extensions import db
        from webapp.models import Image

        with site.app.app_context():
            rows = db.session.execute(sa.select(Image.id, Image.sha256, Image.file_size)).all()
            db.session.remove()
        assert sorted(row.sha256 for row in rows) == expected, "an upload is missing or was stored twice"

        final = [site.wait_for_final(row.id, seconds=180) for row in rows]
        assert [image.status for image in final] == ["ready"] * len(rows), [i.error for i in final if i.error]

        store = site.app.extensions["storage"]
        for image in final:
            with store.open(image.storage_key) as handle:
                assert hashlib.sha256(handle.read()).hexdigest() == image.sha256
