"""The whole pipeline on S3 storage: upload → worker → thumbnails → download, with no shared folder.

The web server and the worker get separate ``STORAGE_DIR`` folders (used only for
staging), so every byte they share has to travel through the S3-compatible server.
"""

import hashlib
import uuid

import pytest

from tests.faults.sites import emails_for, own_site, researcher, upload, wait_until
from tests.niftigen import mni_like_map

pytestmark = pytest.mark.e2e


def test_pipeline_on_s3_storage(moto_server, tmp_path):
    bucket = f"nd-e2e-{uuid.uuid4().hex[:8]}"
    moto_server.storage(bucket, tmp_path / "probe")
    settings = {**moto_server.settings(bucket), "STORAGE_DIR": str(tmp_path / "web-staging")}
    with own_site(tmp_path / "site", extra_env=settings, workers=0) as site:
        site.env["STORAGE_DIR"] = str(tmp_path / "worker-staging")
        site.start_worker()
        session, collection_id = researcher(site, "s3-researcher@example.org")
        data = mni_like_map(tmp_path / "motor.nii.gz").read_bytes()
        entry = upload(site, session, collection_id, "motor.nii.gz", data)

        image = site.wait_for_final(entry["id"])
        assert image.status == "ready", image.error
        assert image.sha256 == hashlib.sha256(data).hexdigest()
        store = moto_server.storage(bucket, tmp_path / "probe")
        assert store.exists(image.storage_key)
        assert not list((tmp_path / "web-staging").rglob("originals"))

        download = session.get(f"{site.url}/images/{entry['id']}/file")
        assert download.status_code == 200 and download.content == data
        assert int(download.headers["Content-Length"]) == len(data)
        part = session.get(f"{site.url}/images/{entry['id']}/file", headers={"Range": "bytes=10-99"})
        assert part.status_code == 206 and part.content == data[10:100]

        thumb = session.get(f"{site.url}/images/{entry['id']}/thumbnails/glass_brain.png")
        assert thumb.status_code == 200 and thumb.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert store.exists(f"artifacts/{entry['id']}/glass_brain.png")
        wait_until(lambda: emails_for(site, entry["id"]), 60, "no email about the image")

        assert list((tmp_path / "worker-staging" / "staging").glob("local-*")) == []
