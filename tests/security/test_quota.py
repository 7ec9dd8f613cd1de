"""The storage quota holds on every upload path and transfer encoding (issue 21, item 1): chunked bodies
without a Content-Length, several files in one request, and uploads running at the same time.

Chunked requests are built as a server such as gunicorn hands them over: no ``CONTENT_LENGTH`` and
``wsgi.input_terminated`` set. A body that stops after its first piece until told to go on keeps one
request in flight while another is made.
"""

import base64
import io
import threading

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import EnvironBuilder, encode_multipart
from werkzeug.wrappers import Request

from tests.helpers import csrf_token
from tests.niftigen import mni_like_map
from webapp.extensions import db
from webapp.models import ApiToken, Collection, Image, QuotaReservation, Upload, User

EMAIL = "quota@example.org"


@pytest.fixture
def nifti(tmp_path):
    return mni_like_map(tmp_path / "map.nii.gz").read_bytes()


@pytest.fixture
def owner(app, accounts):
    """(user id, collection id, API token) of a logged-in uploader (the session is ``accounts.client``'s)."""
    user_id = accounts.create(EMAIL)
    with app.app_context():
        collection = Collection(owner_id=user_id, name="Quota")
        db.session.add(collection)
        _, token = ApiToken.issue(db.session.get(User, user_id), "quota tests")
        db.session.commit()
        collection_id = collection.id
    assert accounts.login(EMAIL).status_code == 302
    return user_id, collection_id, token


class HeldBody(io.RawIOBase):
    """A request body that gives its first piece, then waits until ``go`` is set before the rest."""

    def __init__(self, data, first=1024):
        super().__init__()
        self.pieces = [data[:first], data[first:]]
        self.started, self.go = threading.Event(), threading.Event()

    def readable(self):
        return True

    def readinto(self, buffer):
        while self.pieces and not self.pieces[0]:
            self.pieces.pop(0)
        if not self.pieces:
            return 0
        if len(self.pieces) == 1 and not self.started.is_set():
            self.started.set()
            assert self.go.wait(60), "the test never let the held body go on"
        piece = self.pieces[0]
        size = min(len(buffer), len(piece))
        buffer[:size], self.pieces[0] = piece[:size], piece[size:]
        return size


def chunked(client, path, body, content_type, headers=None):
    """POST ``body`` (bytes or a stream) with no Content-Length, as a chunked request reaches the app."""
    environ = EnvironBuilder(path=path, method="POST", input_stream=io.BytesIO(), content_type=content_type,
                             headers=headers or {}).get_environ()
    environ["wsgi.input"] = io.BytesIO(body) if isinstance(body, bytes) else body
    environ.pop("CONTENT_LENGTH", None)
    environ["wsgi.input_terminated"] = True
    return client.open(Request(environ))


def multipart(files, **fields):
    """(body, content type) of a multipart form with these ``(name, bytes)`` files under ``file``."""
    values = [(key, value) for key, value in fields.items()]
    values += [("file", FileStorage(io.BytesIO(content), filename=name)) for name, content in files]
    from werkzeug.datastructures import MultiDict

    boundary, body = encode_multipart(MultiDict(values))
    return body, f"multipart/form-data; boundary={boundary}"


def api_upload(client, collection_id, token, content, held=False):
    body, content_type = multipart([("map.nii.gz", content)])
    stream = HeldBody(body) if held else body
    answer = lambda: chunked(client, f"/api/collections/{collection_id}/images/", stream, content_type,  # noqa: E731
                             {"Authorization": f"Token {token}"})
    return (stream, answer) if held else answer()


def stored_state(app, user_id):
    """(images, bytes stored, reservations left) of the user."""
    with app.app_context():
        user = db.session.get(User, user_id)
        images = db.session.scalar(sa.select(sa.func.count(Image.id)).where(Image.uploader_id == user_id))
        reservations = db.session.scalar(sa.select(sa.func.count(QuotaReservation.id)))
        return images, user.bytes_stored(), reservations


def fill_quota_with_one_map(app, client, owner, nifti, spare=0):
    """Upload one map normally and set the quota to exactly what is stored (plus ``spare``)."""
    _, collection_id, token = owner
    first = client.post(f"/api/collections/{collection_id}/images/", data={"file": (io.BytesIO(nifti), "a.nii.gz")},
                        headers={"Authorization": f"Token {token}"})
    assert first.status_code == 201, first.get_data(as_text=True)
    app.config["USER_QUOTA_BYTES"] = len(nifti) + spare


def test_a_chunked_api_upload_over_the_quota_is_refused_and_stores_nothing(app, client, owner, nifti):
    fill_quota_with_one_map(app, client, owner, nifti)
    user_id, collection_id, token = owner
    for _ in range(3):
        answer = api_upload(client, collection_id, token, nifti)
        assert answer.status_code == 413, answer.get_data(as_text=True)[:300]
        assert "quota" in answer.get_json()["detail"]
    assert stored_state(app, user_id) == (1, len(nifti), 0)


def test_a_chunked_api_upload_that_fits_is_stored_and_its_reservation_settled(app, client, owner, nifti):
    user_id, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = 2 * len(nifti)
    answer = api_upload(client, collection_id, token, nifti)
    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    assert stored_state(app, user_id) == (1, len(nifti), 0)


def test_a_chunked_api_upload_larger_than_what_is_left_is_cut_off_and_stores_nothing(app, client, owner, nifti):
    fill_quota_with_one_map(app, client, owner, nifti, spare=len(nifti) // 2)
    user_id, collection_id, token = owner
    answer = api_upload(client, collection_id, token, nifti)
    assert answer.status_code == 413
    assert stored_state(app, user_id) == (1, len(nifti), 0)


def test_all_parts_of_a_chunked_upload_page_request_count_together(app, client, owner, nifti):
    user_id, collection_id, _ = owner
    app.config["USER_QUOTA_BYTES"] = len(nifti) * 5 // 2
    body, content_type = multipart([(f"{n}.nii.gz", nifti) for n in range(3)],
                                   csrf_token=csrf_token(client, f"/collections/{collection_id}/upload"))
    answer = chunked(client, f"/collections/{collection_id}/upload", body, content_type,
                     {"Accept": "application/json"})
    assert answer.status_code == 413, answer.get_data(as_text=True)[:300]
    assert stored_state(app, user_id) == (0, 0, 0)
    body, content_type = multipart([(f"{n}.nii.gz", nifti) for n in range(2)],
                                   csrf_token=csrf_token(client, f"/collections/{collection_id}/upload"))
    answer = chunked(client, f"/collections/{collection_id}/upload", body, content_type,
                     {"Accept": "application/json"})
    assert answer.status_code == 201, answer.get_data(as_text=True)[:300]
    assert stored_state(app, user_id) == (2, 2 * len(nifti), 0)


def test_a_full_quota_refuses_the_upload_page_before_reading(app, client, owner, nifti):
    fill_quota_with_one_map(app, client, owner, nifti)
    user_id, collection_id, _ = owner
    body, content_type = multipart([("b.nii.gz", nifti)],
                                   csrf_token=csrf_token(client, f"/collections/{collection_id}/upload"))
    answer = chunked(client, f"/collections/{collection_id}/upload", body, content_type,
                     {"Accept": "application/json"})
    assert answer.status_code == 413 and "quota" in answer.get_json()["detail"]
    assert stored_state(app, user_id) == (1, len(nifti), 0)


def in_thread(call):
    """Run ``call`` on a thread; returns a function that waits for and returns its answer."""
    result = {}

    def run():
        try:
            result["answer"] = call()
        except BaseException as exc:  # shown by the waiting side
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def answer():
        thread.join(60)
        if "error" in result:
            raise result["error"]
        return result["answer"]

    return answer


def test_two_uploads_at_once_cannot_together_pass_the_quota(app, owner, nifti):
    """The first chunked upload reserves what is left while its body arrives; the second finds nothing free."""
    user_id, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = len(nifti) * 3 // 2
    held, first = api_upload(app.test_client(), collection_id, token, nifti, held=True)
    first_answer = in_thread(first)
    if not held.started.wait(20):
        first_answer()
    second = api_upload(app.test_client(), collection_id, token, nifti)
    assert second.status_code == 413 and "quota" in second.get_json()["detail"]
    held.go.set()
    assert first_answer().status_code == 201
    images, stored, reservations = stored_state(app, user_id)
    assert (images, reservations) == (1, 0) and stored <= app.config["USER_QUOTA_BYTES"]


def test_an_upload_with_a_length_reserves_only_that_and_leaves_the_rest(app, owner, nifti):
    user_id, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = len(nifti) * 5 // 2
    body, content_type = multipart([("held.nii.gz", nifti)])
    held = HeldBody(body)
    environ = EnvironBuilder(path=f"/api/collections/{collection_id}/images/", method="POST", data=body,
                             content_type=content_type, headers={"Authorization": f"Token {token}"}).get_environ()
    environ["wsgi.input"] = held
    first_answer = in_thread(lambda: app.test_client().open(Request(environ)))
    assert held.started.wait(20)
    assert api_upload(app.test_client(), collection_id, token, nifti).status_code == 201
    assert api_upload(app.test_client(), collection_id, token, nifti).status_code == 413
    held.go.set()
    assert first_answer().status_code == 201
    assert stored_state(app, user_id) == (2, 2 * len(nifti), 0)


def tus_create(client, token, collection_id, length, body=None):
    def b64(text):
        return base64.b64encode(str(text).encode()).decode()

    headers = {"Authorization": f"Token {token}", "Tus-Resumable": "1.0.0", "Upload-Length": str(length),
               "Upload-Metadata": f"filename {b64('t.nii.gz')},collection_id {b64(collection_id)}"}
    if body is None:
        return client.post("/api/uploads/", headers=headers)
    return chunked(client, "/api/uploads/", body, "application/offset+octet-stream", headers)


def test_tus_counts_uploads_in_flight_on_other_paths(app, owner, nifti):
    user_id, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = len(nifti) * 3 // 2
    held, first = api_upload(app.test_client(), collection_id, token, nifti, held=True)
    first_answer = in_thread(first)
    assert held.started.wait(20)
    refused = tus_create(app.test_client(), token, collection_id, len(nifti) // 4)
    assert refused.status_code == 413 and "quota" in refused.get_json()["detail"]
    held.go.set()
    assert first_answer().status_code == 201
    assert stored_state(app, user_id) == (1, len(nifti), 0)


def test_tus_creations_that_pass_the_early_check_together_are_still_held_to_the_quota(app, client, owner,
                                                                                      monkeypatch):
    """As if two creations passed the early check at the same moment: the commit-time check still refuses."""
    from webapp.tus import resumable

    _, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = 1000
    monkeypatch.setattr(resumable, "check_quota", lambda *args, **kwargs: None)
    assert tus_create(client, token, collection_id, 600).status_code == 201
    refused = tus_create(client, token, collection_id, 600)
    assert refused.status_code == 413 and "quota" in refused.get_json()["detail"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(resumable.Upload.length))) == 600


def test_a_chunked_tus_body_past_its_length_is_refused(app, client, owner):
    _, collection_id, token = owner
    app.config["USER_QUOTA_BYTES"] = 1000
    answer = tus_create(client, token, collection_id, 100, body=b"x" * 5000)
    assert answer.status_code == 413
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.max(resumable_offset()))) in (None, 0)


def resumable_offset():
    from webapp.models import Upload

    return Upload.offset


def test_a_reservation_left_by_a_dead_process_stops_counting_and_is_swept(app, owner):
    from datetime import timedelta

    from webapp import quota
    from webapp.models import utcnow
    from webapp.processing.upkeep import expire_partial_uploads

    user_id, _, _ = owner
    app.config["USER_QUOTA_BYTES"] = 1000
    with app.app_context():
        old = utcnow() - timedelta(hours=app.config["STALE_STAGING_HOURS"], minutes=1)
        db.session.add_all([QuotaReservation(user_id=user_id, bytes=600, created_at=old),
                            QuotaReservation(user_id=user_id, bytes=300)])
        db.session.commit()
        assert quota.available_bytes(user_id) == 700, "only the live reservation counts"
        assert expire_partial_uploads.delay().get()["stale_reservations"] == 1
        assert db.session.scalar(sa.select(sa.func.sum(QuotaReservation.bytes))) == 300


def creations_meeting_before_the_quota_lock(monkeypatch):
    """Make two requests meet after inserting their rows and before locking the user's quota.

    That is where PostgreSQL deadlocked: each insert holds the user's row for its foreign key, and a
    ``FOR UPDATE`` waits for the other's hold to end. On SQLite the second insert waits for the
    first commit, so the meeting times out and each goes on alone.
    """
    from webapp import quota

    meeting = threading.Barrier(2, timeout=2)
    lock = quota.lock_user_quota

    def meet_then_lock(user_id):
        try:
            meeting.wait()
        except threading.BrokenBarrierError:
            pass
        lock(user_id)

    monkeypatch.setattr(quota, "lock_user_quota", meet_then_lock)


def test_two_tus_creations_at_the_same_moment_are_both_created(app, owner, monkeypatch):
    """A browser drops several files at once: each creation is answered 201, none 500 (a deadlock)."""
    _, collection_id, token = owner
    creations_meeting_before_the_quota_lock(monkeypatch)
    answers = [in_thread(lambda: tus_create(app.test_client(), token, collection_id, 1000)) for _ in range(2)]
    assert sorted(answer().status_code for answer in answers) == [201, 201]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Upload.id))) == 2


def test_two_api_uploads_reserving_at_the_same_moment_are_both_stored(app, owner, nifti, monkeypatch):
    user_id, collection_id, token = owner
    creations_meeting_before_the_quota_lock(monkeypatch)
    answers = [in_thread(lambda: api_upload(app.test_client(), collection_id, token, nifti)) for _ in range(2)]
    assert sorted(answer().status_code for answer in answers) == [201, 201]
    assert stored_state(app, user_id) == (2, 2 * len(nifti), 0)
