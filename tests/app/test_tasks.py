"""The Celery tasks, run eagerly: idempotent processing, one email per outcome, mail retries, the sweep."""

import io
import smtplib
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from flask_mail import BadHeaderError

from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import Artifact, Collection, Image, ImageStats, utcnow
from webapp.processing import emails, notify, tasks, upkeep
from webapp.storage import artifact_key, new_key


@pytest.fixture
def stored_image(app, accounts, tmp_path):
    """A committed ``uploaded`` image whose bytes are in storage; returns a maker taking file bytes."""
    owner_id = accounts.create("tasks@example.org")

    def make(content=None, status=Image.UPLOADED):
        content = content if content is not None else mni_like_map(tmp_path / "m.nii.gz").read_bytes()
        with app.app_context():
            collection = Collection.query.first() or Collection(owner_id=owner_id, name="Tasks")
            stored = app.extensions["storage"].put_bytes(new_key("originals"), content)
            image = Image(collection=collection, uploader_id=owner_id, name="m", storage_key=stored.key,
                          file_size=stored.size, sha256=stored.sha256, status=status)
            db.session.add(image)
            db.session.commit()
            return image.id

    return make


def image_row(app, image_id):
    with app.app_context():
        image = db.session.get(Image, image_id)
        db.session.expunge(image)
        return image


def emails_for(outbox, image_id):
    return [m for m in outbox() if m["X-Neurodrop-Image"] == str(image_id)]


def test_processing_is_idempotent_and_emails_once(app, stored_image, outbox):
    image_id = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "ready"
        first = {a.kind: a.storage_key for a in Artifact.query.filter_by(image_id=image_id)}
        assert tasks.process_image.delay(image_id).get() is None
    assert len(emails_for(outbox, image_id)) == 1

    with app.app_context():
        image = db.session.get(Image, image_id)
        image.set_status(Image.UPLOADED)
        db.session.commit()
        assert tasks.process_image.delay(image_id).get() == "ready"
        again = {a.kind: a.storage_key for a in Artifact.query.filter_by(image_id=image_id)}
        assert again == first and Artifact.query.filter_by(image_id=image_id).count() == len(first)


def test_mail_failure_is_retried_and_never_changes_the_image(app, stored_image, outbox, monkeypatch):
    """Eager tasks that do not propagate errors run their retries at once, as a worker would later."""
    calls = {"n": 0}
    real_send = notify.send_outcome_email

    def flaky(image):
        calls["n"] += 1
        if calls["n"] < 3:
            raise ConnectionRefusedError("smtp down")
        real_send(image)

    monkeypatch.setattr(notify, "send_outcome_email", flaky)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_eager_propagates", False)
    image_id = stored_image()
    with app.app_context():
        tasks.process_image.delay(image_id)
        assert emails.notify_uploader.apply(args=[image_id]).get() is False
    assert calls["n"] == 3 and len(emails_for(outbox, image_id)) == 1
    assert image_row(app, image_id).notified_status == "ready"


def test_array_over_the_memory_cap_fails_cleanly(app, stored_image):
    app.config["MAX_ARRAY_BYTES"] = 1000
    image_id = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "failed"
    image = image_row(app, image_id)
    assert image.status == "failed" and image.error and image.report["findings"][-1]["level"] == "error"


@pytest.mark.parametrize("step", ["store_pictures", "write_results", "store_copies"])
def test_the_soft_time_limit_while_storing_results_is_reported_as_such(app, stored_image, monkeypatch, step):
    """Issue 15: the limit reached after the analysis said "unexpected error" instead of the time limit."""
    def out_of_time(*args, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, step, out_of_time)
    image_id = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "failed"
    image = image_row(app, image_id)
    assert image.status == "failed" and "took longer than the" in image.error and "unexpected" not in image.error


def test_missing_stored_file_fails_with_a_reason(app, stored_image):
    image_id = stored_image()
    with app.app_context():
        app.extensions["storage"].delete(db.session.get(Image, image_id).storage_key)
        tasks.process_image.delay(image_id)
    image = image_row(app, image_id)
    assert image.status == "failed" and "missing" in image.error


def test_sweep_requeues_stuck_images_and_fails_hopeless_ones(app, stored_image, outbox):
    stuck = stored_image(status=Image.QUEUED)
    hopeless = stored_image(status=Image.PROCESSING)
    fresh = stored_image(status=Image.QUEUED)
    with app.app_context():
        long_ago = utcnow() - timedelta(seconds=app.config["STUCK_AFTER_SECONDS"] + 60)
        for image_id in (stuck, hopeless):
            db.session.get(Image, image_id).status_changed_at = long_ago
        db.session.get(Image, hopeless).attempts = app.config["MAX_PROCESSING_ATTEMPTS"]
        db.session.commit()
        result = upkeep.sweep_stuck_images.delay().get()
    assert result == {"requeued": [stuck], "failed": [hopeless], "unsent": []}
    assert image_row(app, stuck).status == "ready"
    assert image_row(app, hopeless).status == "failed" and "attempts" in image_row(app, hopeless).error
    assert image_row(app, fresh).status == "queued"
    assert len(emails_for(outbox, hopeless)) == 1


def test_reprocess_command(app, runner, stored_image):
    image_id = stored_image()
    with app.app_context():
        tasks.process_image.delay(image_id)
    result = runner.invoke(args=["images", "reprocess", str(image_id)])
    assert result.exit_code == 0 and "queued 1 image" in result.output
    image = image_row(app, image_id)
    assert image.status == "ready" and image.attempts == 1
    assert runner.invoke(args=["images", "reprocess", "--all"]).exit_code == 0


def test_broker_down_leaves_the_image_uploaded_for_the_sweep(app, stored_image, monkeypatch):
    from webapp.pipeline import queue_processing

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(tasks.process_image, "apply_async", refuse)
    image_id = stored_image()
    with app.app_context():
        queue_processing([image_id])
    assert image_row(app, image_id).status == "uploaded"


def test_sweep_sends_an_email_the_broker_lost(app, stored_image, outbox, monkeypatch):
    """The broker is down when processing ends: the image is ready at once, and the sweep sends the email later."""
    real_delay = emails.notify_uploader.delay

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(emails.notify_uploader, "delay", broker_down)
    image_id = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "ready"
    assert emails_for(outbox, image_id) == []

    monkeypatch.setattr(emails.notify_uploader, "delay", real_delay)
    with app.app_context():
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == []
        db.session.get(Image, image_id).status_changed_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == [image_id]
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == []
    assert len(emails_for(outbox, image_id)) == 1


def stored_artifact_files(app, image_id):
    """The thumbnail files in storage under the image's deterministic keys."""
    storage = app.extensions["storage"]
    return [kind for kind in ("glass_brain", "ortho", "mosaic") if storage.exists(artifact_key(image_id, kind))]


def during_analysis(monkeypatch, action):
    """Run ``action(image)`` while the worker is between its claim and its results (a long map)."""
    claimed = {}
    real_claim, real_analyse = tasks.claim, tasks.analyse

    def remember_claim(image_id):
        claimed["id"] = image_id
        return real_claim(image_id)

    def analyse_then_act(path, config, *args):
        results = real_analyse(path, config, *args)
        action(db.session.get(Image, claimed["id"]))
        return results

    monkeypatch.setattr(tasks, "claim", remember_claim)
    monkeypatch.setattr(tasks, "analyse", analyse_then_act)


def test_image_deleted_while_processing_leaves_nothing_and_its_id_is_never_reused(app, stored_image, monkeypatch):
    """Issue 21: Alice deletes a map while it is processing; Bob's next upload gets a new id, and
    Alice's worker writes neither rows nor thumbnail files."""
    from webapp.files import delete_image

    during_analysis(monkeypatch, delete_image)
    deleted = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(deleted).get() is None
        assert db.session.get(Image, deleted) is None
        assert Artifact.query.count() == 0 and ImageStats.query.count() == 0
    assert stored_artifact_files(app, deleted) == []
    monkeypatch.undo()
    assert stored_image() > deleted


def test_stale_run_writes_nothing_onto_a_row_that_replaced_its_image(app, stored_image, monkeypatch):
    """A database that once reused ids: the row under the claimed id is now someone else's upload."""

    def replace(image):
        replacement = {"collection_id": image.collection_id, "uploader_id": image.uploader_id, "id": image.id}
        db.session.delete(image)
        db.session.commit()
        stored = app.extensions["storage"].put_bytes(new_key("originals"), b"bob's bytes")
        db.session.add(Image(name="bob", storage_key=stored.key, file_size=stored.size, sha256=stored.sha256,
                             status=Image.UPLOADED, **replacement))
        db.session.commit()

    during_analysis(monkeypatch, replace)
    image_id = stored_image()
    with app.app_context():
        tasks.process_image.delay(image_id)
        bob = db.session.get(Image, image_id)
        assert bob.name == "bob" and bob.status == Image.UPLOADED and bob.report is None
        assert bob.stats is None and bob.artifacts == []


def test_deleting_an_image_or_collection_removes_its_files(app, stored_image):
    from webapp.files import delete_collection, delete_image

    first, second = stored_image(), stored_image()
    storage = app.extensions["storage"]
    with app.app_context():
        for image_id in (first, second):
            assert tasks.process_image.delay(image_id).get() == "ready"
        originals = [db.session.get(Image, i).storage_key for i in (first, second)]
        assert stored_artifact_files(app, first) == stored_artifact_files(app, second) == ["glass_brain", "ortho"]
        delete_image(db.session.get(Image, first))
        assert stored_artifact_files(app, first) == [] and not storage.exists(originals[0])
        assert stored_artifact_files(app, second) == ["glass_brain", "ortho"]
        delete_collection(Collection.query.one())
    assert stored_artifact_files(app, second) == [] and not storage.exists(originals[1])


PERMANENT_MAIL_ERRORS = {
    "bad header": lambda: BadHeaderError("Header values may not contain linefeed or carriage return characters"),
    "recipient 550": lambda: smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")}),
    "data 554": lambda: smtplib.SMTPDataError(554, b"message refused"),
}


@pytest.mark.parametrize("error", PERMANENT_MAIL_ERRORS)
def test_a_permanent_mail_error_is_not_retried_and_not_swept_again(app, stored_image, monkeypatch, error):
    """Issue 21: an email no server will ever take was retried 50 times, and each sweep started another chain."""
    calls = []

    def refuse(image):
        calls.append(image.id)
        raise PERMANENT_MAIL_ERRORS[error]()

    monkeypatch.setattr(notify, "send_outcome_email", refuse)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_eager_propagates", False)
    image_id = stored_image()
    with app.app_context():
        tasks.process_image.delay(image_id)
        db.session.get(Image, image_id).status_changed_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == []
    assert calls == [image_id]
    image = image_row(app, image_id)
    assert image.status == "ready" and image.notified_status == "ready" and image.notify_queued_at is None


def test_a_temporary_smtp_refusal_is_retried(app, stored_image, outbox, monkeypatch):
    real_send, calls = notify.send_outcome_email, []

    def busy_once(image):
        calls.append(image.id)
        if len(calls) == 1:
            raise smtplib.SMTPRecipientsRefused({"a@example.org": (451, b"try again later")})
        real_send(image)

    monkeypatch.setattr(notify, "send_outcome_email", busy_once)
    monkeypatch.setitem(app.extensions["celery"].conf, "task_eager_propagates", False)
    image_id = stored_image()
    with app.app_context():
        tasks.process_image.delay(image_id)
    assert len(calls) == 2 and len(emails_for(outbox, image_id)) == 1


def test_the_sweep_never_starts_a_second_email_task_beside_a_running_one(app, stored_image, monkeypatch):
    """The email task is queued (its retries are under way on a worker); sweeps come and go."""
    queued = []
    monkeypatch.setattr(emails.notify_uploader, "delay", queued.append)
    image_id = stored_image()
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "ready"
        db.session.get(Image, image_id).status_changed_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        for _ in range(3):
            assert upkeep.sweep_stuck_images.delay().get()["unsent"] == []
        assert queued == [image_id]

        silent = utcnow() - emails.notify_task_silence() - timedelta(seconds=1)
        db.session.get(Image, image_id).notify_queued_at = silent
        db.session.commit()
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == [image_id]
        assert upkeep.sweep_stuck_images.delay().get()["unsent"] == []
    assert queued == [image_id, image_id]


def test_a_name_with_cr_lf_is_stored_clean_and_its_email_is_sent(app, client, accounts, tmp_path, outbox):
    """Issue 21: ``name`` through the API kept its CR/LF, and Flask-Mail refused the subject for ever."""
    from webapp.models import ApiToken, User

    user_id = accounts.create("crlf@example.org")
    with app.app_context():
        _, secret = ApiToken.issue(db.session.get(User, user_id), "t")
        collection = Collection(owner_id=user_id, name="CRLF")
        db.session.add(collection)
        db.session.commit()
        collection_id = collection.id
    payload = mni_like_map(tmp_path / "m.nii.gz").read_bytes()
    answer = client.post(
        f"/api/collections/{collection_id}/images/", content_type="multipart/form-data",
        headers={"Authorization": f"Token {secret}"},
        data={"file": (io.BytesIO(payload), "m.nii.gz"), "name": "map\r\nBcc: victim@example.org\u2028x\x07"},
    )
    assert answer.status_code == 201, answer.get_json()
    image_id = answer.get_json()["id"]
    image = image_row(app, image_id)
    assert image.name == "mapBcc: victim@example.orgx" and image.status == "ready"
    [message] = emails_for(outbox, image_id)
    assert message["Subject"] == "Your map “mapBcc: victim@example.orgx” is ready" and message["Bcc"] is None


def test_an_other_map_takes_the_type_its_header_states_marked_as_inferred(app, stored_image, tmp_path):
    from tests.niftigen import set_header_fields

    path = set_header_fields(mni_like_map(tmp_path / "plain.nii"), tmp_path / "z.nii", intent_code=5)
    image_id = stored_image(path.read_bytes())
    with app.app_context():
        assert tasks.process_image.delay(image_id).get() == "ready"
    image = image_row(app, image_id)
    assert image.map_type == "Z" and image.extra["inferred"]["map_type"] == "the file's NIfTI intent (z-score)"


def test_a_capped_worker_keeps_one_malloc_arena_so_the_series_reader_thread_reserves_none(tmp_path):
    """A thread's own malloc arena reserves 64 MiB of a capped address space (decision 0033)."""
    import subprocess
    import sys
    from pathlib import Path

    script = """
import threading
from webapp.processing.memory import limit_address_space

def vm_kb():
    return int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])

limit_address_space(4096)
before = vm_kb()
kept = []
thread = threading.Thread(target=lambda: kept.append(bytearray(200_000)))
thread.start()
thread.join()
print(vm_kb() - before)
"""
    grown_kb = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                  cwd=Path(__file__).parents[2]).stdout.split()[-1])
    assert grown_kb < 32 * 1024, grown_kb



def test_an_image_a_worker_took_before_it_was_marked_queued_keeps_the_time_it_was_sent(app, stored_image):
    """The worker can start before the web tier's "queued" update: the status is the worker's, the time is kept."""
    from webapp.pipeline import mark_queued

    image_id = stored_image(status=Image.PROCESSING)
    sent_at = utcnow()
    with app.app_context():
        mark_queued(image_id, sent_at)
    image = image_row(app, image_id)
    assert image.status == Image.PROCESSING and image.queued_at == sent_at
