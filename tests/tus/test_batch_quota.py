"""Archives and pair halves count against the quota while they wait for the worker, once, and stop counting
when their batch is unpacked, stopped by an error, or closed by the sweep (issue 20, leftover)."""

import io
from datetime import timedelta

from tests import archives as build
from webapp import batches, quota
from webapp.extensions import db
from webapp.models import Batch, Image, utcnow
from webapp.processing import archives

from .test_batches import sent


def used(app, researcher):
    with app.app_context():
        return quota.used_bytes(researcher.user_id)


def image_bytes(app):
    with app.app_context():
        return db.session.scalar(db.select(db.func.coalesce(db.func.sum(Image.file_size), 0)))


def test_a_half_waiting_for_its_partner_counts_once(app, tus, researcher):
    hdr, _img = build.pair_bytes(build.small_map(2))
    sent(tus, hdr, researcher.collection_id, filename="con_0001.hdr", batch="wait-1", batch_size=2)
    assert used(app, researcher) == len(hdr)


def test_an_archive_posted_to_the_api_counts_until_it_is_unpacked(app, client, researcher, tmp_path, monkeypatch):
    monkeypatch.setattr(batches, "queue_import", lambda batch_id: None)
    data = build.write_zip(tmp_path / "spm.zip", build.spm_folder()).read_bytes()
    answer = client.post(f"/api/collections/{researcher.collection_id}/images/",
                         headers={"Authorization": f"Token {researcher.token}"},
                         data={"file": (io.BytesIO(data), "spm.zip")}, content_type="multipart/form-data")
    assert answer.status_code == 202
    assert used(app, researcher) == len(data)
    archives.import_batch.apply(args=[answer.get_json()["id"]])
    assert used(app, researcher) == image_bytes(app) > 0


def test_a_batch_stopped_by_an_error_gives_its_bytes_back(app, tus, researcher, tmp_path, monkeypatch):
    monkeypatch.setattr(archives.Importer, "take_source", lambda self, source: 1 / 0)
    data = build.write_zip(tmp_path / "a.zip", {"x.txt": b"x" * 1000}).read_bytes()
    answer, _url = sent(tus, data, researcher.collection_id, filename="a.zip")
    assert answer.status_code == 204
    assert used(app, researcher) == 0
    with app.app_context():
        batch = db.session.get(Batch, int(answer.headers["X-Batch-Id"]))
        assert batch.status == Batch.CLOSED and batch.sources == [] and "unexpected error" in batch.error


def test_a_group_whose_partner_never_came_is_unpacked_by_the_sweep(app, tus, researcher):
    hdr, _img = build.pair_bytes(build.small_map(3))
    answer, _url = sent(tus, hdr, researcher.collection_id, filename="con_0002.hdr", batch="never", batch_size=2)
    with app.app_context():
        batch = db.session.get(Batch, int(answer.headers["X-Batch-Id"]))
        batch.created_at = utcnow() - timedelta(seconds=app.config["BATCH_WAIT_SECONDS"] + 60)
        db.session.commit()
        archives.sweep_batches.apply()
        db.session.expire_all()
        batch = db.session.get(Batch, batch.id)
        assert batch.status == Batch.CLOSED and batch.sources == []
        [skipped] = batch.outcomes
        assert skipped["name"] == "con_0002.hdr" and ".img was not found" in skipped["reason"]
    assert used(app, researcher) == 0


def test_a_half_arriving_after_its_group_was_swept_is_unpacked_on_its_own(app, tus, researcher):
    hdr, img = build.pair_bytes(build.small_map(4))
    answer, _url = sent(tus, hdr, researcher.collection_id, filename="con_0003.hdr", batch="late", batch_size=2)
    with app.app_context():
        batch = db.session.get(Batch, int(answer.headers["X-Batch-Id"]))
        batch.created_at = utcnow() - timedelta(seconds=app.config["BATCH_WAIT_SECONDS"] + 60)
        db.session.commit()
        archives.sweep_batches.apply()
    late, _url = sent(tus, img, researcher.collection_id, filename="con_0003.img", batch="late", batch_size=2)
    assert late.headers["X-Batch-Id"] != answer.headers["X-Batch-Id"]
    with app.app_context():
        own = db.session.get(Batch, int(late.headers["X-Batch-Id"]))
        assert own.status == Batch.CLOSED and own.sources == [] and own.outcomes[0]["name"] == "con_0003.img"
    assert used(app, researcher) == 0
