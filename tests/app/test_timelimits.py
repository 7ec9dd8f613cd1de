"""A large file earns a longer run: its task carries its own limits, and the sweep waits as long before resending."""

from datetime import timedelta
from types import SimpleNamespace

import pytest

from tests.niftigen import mni_like_map
from webapp.config import Config
from webapp.extensions import db
from webapp.models import Collection, Image, utcnow
from webapp.processing import tasks, timelimits, upkeep
from webapp.storage import new_key

GIB = 1024**3
SETTINGS = {"PROCESSING_SOFT_TIME_LIMIT": 600, "PROCESSING_TIME_LIMIT": 660, "PROCESSING_SECONDS_PER_GIB": 300,
            "STUCK_AFTER_SECONDS": 900, "MAX_UPLOAD_BYTES": 32 * GIB}


def test_a_small_map_keeps_the_base_limits_and_a_large_series_earns_more():
    assert timelimits.time_limits(0, SETTINGS) == (600, 660)
    assert timelimits.time_limits(5_000, SETTINGS) == (601, 661)  # rounded up to the next second
    assert timelimits.time_limits(20 * GIB, SETTINGS) == (6600, 6660)
    assert timelimits.stuck_after_seconds(20 * GIB, SETTINGS) == 900 + 6000
    assert timelimits.longest_run_seconds(SETTINGS) == 660 + 32 * 300


def test_the_reason_names_the_limit_the_run_was_given():
    assert timelimits.limit_of_current_run(SimpleNamespace(timelimit=(6660, 6600)), SETTINGS) == 6600
    assert timelimits.limit_of_current_run(SimpleNamespace(timelimit=None), SETTINGS) == 600


def test_redis_keeps_an_unacknowledged_task_longer_than_the_largest_upload_may_run(monkeypatch, tmp_path):
    monkeypatch.setenv("INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", str(10 * GIB))
    monkeypatch.setenv("PROCESSING_SECONDS_PER_GIB", "120")
    config = Config()
    assert config.CELERY["broker_transport_options"]["visibility_timeout"] == config.PROCESSING_TIME_LIMIT + 1200 + 60


@pytest.fixture
def image_of_size(app, accounts, tmp_path):
    """A committed image whose row says it is ``size`` bytes (the stored bytes are a small real map)."""
    owner_id = accounts.create("limits@example.org")

    def make(size, status=Image.UPLOADED):
        with app.app_context():
            collection = Collection.query.first() or Collection(owner_id=owner_id, name="Limits")
            stored = app.extensions["storage"].put_bytes(new_key("originals"),
                                                         mni_like_map(tmp_path / "m.nii.gz").read_bytes())
            image = Image(collection=collection, uploader_id=owner_id, name="m", storage_key=stored.key,
                          file_size=size, sha256=stored.sha256, status=status)
            db.session.add(image)
            db.session.commit()
            return image.id

    return make


@pytest.fixture
def sent(monkeypatch):
    """The (image id, soft limit, hard limit) of every processing task sent."""
    messages = []

    def record(args, soft_time_limit=None, time_limit=None, **_):
        messages.append((args[0], soft_time_limit, time_limit))

    monkeypatch.setattr(tasks.process_image, "apply_async", record)
    return messages


def test_an_upload_is_queued_with_the_limits_its_size_earns(app, image_of_size, sent):
    from webapp.pipeline import queue_processing

    small, large = image_of_size(1000), image_of_size(10 * GIB)
    with app.app_context():
        queue_processing([small, large])
        per_gib = app.config["PROCESSING_SECONDS_PER_GIB"]
        base = app.config["PROCESSING_SOFT_TIME_LIMIT"], app.config["PROCESSING_TIME_LIMIT"]
        assert sent == [(small, base[0] + 1, base[1] + 1), (large, base[0] + 10 * per_gib, base[1] + 10 * per_gib)]
        assert {image.status for image in Image.query} == {"queued"}


def test_the_sweep_leaves_a_large_series_running_within_its_time_and_resends_it_after(app, image_of_size, sent):
    small, large = image_of_size(1000, Image.PROCESSING), image_of_size(10 * GIB, Image.PROCESSING)
    with app.app_context():
        config = app.config
        past_the_base = utcnow() - timedelta(seconds=config["STUCK_AFTER_SECONDS"] + 60)
        for image_id in (small, large):
            db.session.get(Image, image_id).status_changed_at = past_the_base
        db.session.commit()
        assert upkeep.sweep_stuck_images.delay().get()["requeued"] == [small]
        assert db.session.get(Image, large).attempts == 0

        db.session.get(Image, large).status_changed_at = utcnow() - timedelta(
            seconds=timelimits.stuck_after_seconds(10 * GIB, config) + 60)
        db.session.commit()
        assert upkeep.sweep_stuck_images.delay().get()["requeued"] == [large]
    assert [image_id for image_id, _soft, _hard in sent] == [small, large]
    assert sent[1][1:] == timelimits.time_limits(10 * GIB, config)
