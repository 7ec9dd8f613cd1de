"""tus against the live site (gunicorn + a Celery worker): dropped connections, a web restart, racing PATCHes."""

import base64
import hashlib
import threading
import time

import pytest
import requests
import sqlalchemy as sa
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from tests.niftigen import mni_like_4d
from webapp.extensions import db
from webapp.models import Collection, User

from .bigfile import big_4d_nifti
from .tcpproxy import DroppingProxy

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024
BIG_BYTES = 200 * 10**6


@pytest.fixture(scope="module")
def uploader_account(live_site):
    """A user with a collection and an API token on the live site."""
    email = live_site.create_user("tus-live@example.org")
    token = live_site.token_for(email)
    with live_site.app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == email))
        collection = Collection(owner_id=user.id, name="Resumable scans")
        db.session.add(collection)
        db.session.commit()
        collection_id = collection.id
        db.session.remove()
    return token, collection_id


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    return big_4d_nifti(tmp_path_factory.mktemp("big") / "series.nii", BIG_BYTES)


def tus_headers(token):
    return {"Authorization": f"Token {token}"}


def server_offset(live_site, token, upload_url):
    """The offset the server reports for an upload, asked directly (not through any proxy)."""
    path = upload_url.split("/api/uploads/", 1)[1]
    answer = requests.head(
        f"{live_site.url}/api/uploads/{path}", headers={**tus_headers(token), "Tus-Resumable": "1.0.0"}, timeout=10
    )
    assert answer.status_code == 200, answer.status_code
    return int(answer.headers["Upload-Offset"])


def wait_for_offset(live_site, token, upload_url, above, seconds=60):
    """The server's offset once it passes ``above`` (the interrupted PATCH is being written)."""
    deadline = time.monotonic() + seconds
    offset = server_offset(live_site, token, upload_url)
    while offset <= above and time.monotonic() < deadline:
        time.sleep(0.2)
        offset = server_offset(live_site, token, upload_url)
    return offset


def metadata_header(collection_id, filename="race.nii"):
    encode = lambda text: base64.b64encode(text.encode()).decode()  # noqa: E731
    return f"filename {encode(filename)},collection_id {encode(str(collection_id))}"


def image_id_of(uploader):
    return int(uploader.request.response_headers["x-image-id"])


def test_tuspy_resumes_a_200mb_upload_after_the_connection_drops(live_site, uploader_account, big_file, tmp_path):
    token, collection_id = uploader_account
    path, size, sha256 = big_file
    chunk = 64 * MiB
    proxy = DroppingProxy(live_site.port)
    urls = FileStorage(str(tmp_path / "tus-urls.json"))
    metadata = {"filename": "series.nii", "collection_id": str(collection_id), "name": "Long series"}

    def fresh_uploader():
        client = tus_client.TusClient(proxy.url + "/api/uploads/", headers=tus_headers(token))
        return client.uploader(str(path), chunk_size=chunk, metadata=metadata, store_url=True, url_storage=urls)

    try:
        proxy.drop_once_after(int(size * 0.45))
        first = fresh_uploader()
        with pytest.raises((TusUploadFailed, TusCommunicationError)):
            first.upload()
        assert proxy.dropped.is_set()
        upload_url = first.url

        kept = wait_for_offset(live_site, token, upload_url, above=chunk)
        assert kept > chunk, "the bytes of the interrupted PATCH were not kept"
        sent_before_resume = proxy.sent_upstream

        second = fresh_uploader()
        assert second.url == upload_url and second.offset == kept
        second.upload()
        total_sent = proxy.sent_upstream
    finally:
        proxy.close()

    assert sent_before_resume < size and total_sent < 1.5 * size
    assert total_sent - sent_before_resume < size - kept + 5 * MiB
    image = live_site.wait_for_final(image_id_of(second), seconds=240)
    assert image.status == "ready", image.error
    assert image.sha256 == sha256 and image.file_size == size and image.name == "Long series"


def test_an_upload_survives_a_restart_of_the_web_process(live_site, uploader_account, tmp_path):
    token, collection_id = uploader_account
    path = mni_like_4d(tmp_path / "restart.nii", volumes=3)
    data = path.read_bytes()
    client = tus_client.TusClient(live_site.url + "/api/uploads/", headers=tus_headers(token))
    metadata = {"filename": "restart.nii", "collection_id": str(collection_id)}
    uploader = client.uploader(str(path), chunk_size=len(data) // 3 + 1, metadata=metadata)

    uploader.upload_chunk()
    acknowledged = uploader.offset
    assert 0 < acknowledged < len(data)
    live_site.restart_web()
    assert server_offset(live_site, token, uploader.url) == acknowledged

    uploader.upload()
    image = live_site.wait_for_final(image_id_of(uploader))
    assert image.status == "ready", image.error
    assert image.sha256 == hashlib.sha256(data).hexdigest()


def test_two_racing_patches_never_both_write(live_site, uploader_account):
    token, collection_id = uploader_account
    headers = {**tus_headers(token), "Tus-Resumable": "1.0.0"}
    created = requests.post(
        live_site.url + "/api/uploads/",
        headers={**headers, "Upload-Length": str(2 * MiB), "Upload-Metadata": metadata_header(collection_id)},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url = live_site.url + created.headers["Location"]
    start = threading.Barrier(2)
    answers = {}

    def send(letter):
        body = letter.encode() * MiB
        start.wait()
        answers[letter] = requests.patch(
            url,
            data=body,
            headers={**headers, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
            timeout=60,
        )

    threads = [threading.Thread(target=send, args=(letter,)) for letter in "AB"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    codes = sorted(answer.status_code for answer in answers.values())
    assert codes[0] == 204 and codes[1] in (409, 423), codes
    winner = next(letter for letter, answer in answers.items() if answer.status_code == 204)
    assert server_offset(live_site, token, url) == MiB

    last = requests.patch(
        url,
        data=b"C" * MiB,
        headers={**headers, "Upload-Offset": str(MiB), "Content-Type": "application/offset+octet-stream"},
        timeout=60,
    )
    assert last.status_code == 204
    image = live_site.image(int(last.headers["X-Image-Id"]))
    assert image.sha256 == hashlib.sha256(winner.encode() * MiB + b"C" * MiB).hexdigest()
