"""Any byte sequence as a file name, through every way in (upload form, API, tus): it is shown
escaped, never reaches a storage path, and downloads under a safe Content-Disposition; stored
files are never served as something a browser would run."""

import base64
import io
import re
from urllib.parse import unquote

import pytest

from tests.helpers import csrf_token
from tests.niftigen import small_map
from webapp.extensions import db
from webapp.models import Image

from .world import OWNER, PASSWORD

HOSTILE_NAMES = {
    "html": "<img src=x onerror=alert(1)><svg onload=alert(2)>.nii.gz",
    "html with a slash": "<script>alert(3)</script>.nii.gz",
    "traversal": "../../../etc/passwd.nii.gz",
    "windows traversal": "..\\..\\boot.ini.nii",
    "nul": "map\x00.php.nii.gz",
    "controls": "a\r\nSet-Cookie: pwned=1\r\n.nii.gz",
    "rtl": "evil\u202egz.iin.exe",
    "emoji": "🧠 map 😀.nii.gz",
    "long": "x" * 5000 + ".nii.gz",
    "only dots": "..",
    "quotes": 'a"; filename="evil.html',
    "percent": "%2e%2e%2f%2e%2e%2fetc.nii",
    "empty": "",
}
STORAGE_KEY = re.compile(r"^originals/[0-9a-f/]+[0-9a-f]$")


@pytest.fixture
def owner(app, accounts):
    """(test client logged in as the owner, their collection id, their API token)."""
    from webapp.models import ApiToken, Collection, User

    user_id = accounts.create(OWNER, PASSWORD)
    with app.app_context():
        collection = Collection(owner_id=user_id, name="Names")
        db.session.add(collection)
        _, token = ApiToken.issue(db.session.get(User, user_id), "names")
        db.session.commit()
        collection_id = collection.id
    client = app.test_client()
    accounts.login(OWNER, PASSWORD, client=client)
    return client, collection_id, token


@pytest.fixture
def nifti(tmp_path):
    return small_map(tmp_path / "tiny.nii.gz", shape=(6, 5, 4)).read_bytes()


def refused_as_nameless(name, answer, multipart=True):
    """A part without a file name is no file at all (as browsers send it): every route says so with a 400.

    A raw CR/LF in a multipart file name ends the part's header (browsers send them as %0D%0A), so the
    part has no file name either; tus carries the name in base64 and gets it whole.
    """
    if name and not (multipart and ("\r" in name or "\n" in name)):
        return False
    assert answer.status_code == 400, answer.get_data(as_text=True)
    return True


def by_form(client, collection_id, token, name, payload):
    path = f"/collections/{collection_id}/upload"
    answer = client.post(
        path, content_type="multipart/form-data", headers={"Accept": "application/json"},
        data={"file": [(io.BytesIO(payload), name)], "csrf_token": csrf_token(client, path)},
    )
    if refused_as_nameless(name, answer):
        return None
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["images"][0]["id"]


def by_api(client, collection_id, token, name, payload):
    answer = client.post(
        f"/api/collections/{collection_id}/images/", content_type="multipart/form-data",
        data={"file": (io.BytesIO(payload), name), "name": ""}, headers={"Authorization": f"Token {token}"},
    )
    if refused_as_nameless(name, answer):
        return None
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return answer.get_json()["id"]


def by_tus(client, collection_id, token, name, payload):
    def b64(value):
        return base64.b64encode(value if isinstance(value, bytes) else value.encode()).decode()

    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Token {token}", "Upload-Length": str(len(payload)),
               "Upload-Metadata": f"filename {b64(name)},collection_id {b64(str(collection_id))}",
               "Content-Type": "application/offset+octet-stream"}
    answer = client.post("/api/uploads/", headers=headers, data=payload)
    if refused_as_nameless(name, answer, multipart=False):
        return None
    assert answer.status_code == 201, answer.get_data(as_text=True)
    with client.application.app_context():
        return db.session.scalar(db.select(Image.id).order_by(Image.id.desc()).limit(1))


ROUTES = {"form": by_form, "api": by_api, "tus": by_tus}


def assert_safe_disposition(header):
    """One attachment, whose file names (plain and RFC 5987) hold no path, no control character, no dot-file."""
    assert not any(ch in header for ch in "\r\n\x00"), header
    assert header.startswith("attachment; "), header
    names = [unquote(name) for name in re.findall(r"""filename\*?=(?:UTF-8'')?"?([^";]*)"?""", header)]
    assert names, header
    for name in names:
        assert name and "/" not in name and "\\" not in name and not name.startswith("."), header
        assert not any(0x202A <= ord(ch) <= 0x202E for ch in name), header


@pytest.mark.parametrize("route", ROUTES)
def test_hostile_names_are_kept_harmless(app, owner, nifti, route):
    client, collection_id, token = owner
    for label, name in HOSTILE_NAMES.items():
        image_id = ROUTES[route](client, collection_id, token, name, nifti)
        if image_id is None:
            continue
        with app.app_context():
            image = db.session.get(Image, image_id)
            stored_name, key = image.original_filename, image.storage_key
        assert STORAGE_KEY.match(key), (label, key)
        assert "/" not in stored_name and "\\" not in stored_name, (label, stored_name)
        assert not any(ord(ch) < 32 or 0x202A <= ord(ch) <= 0x202E for ch in stored_name), (label, stored_name)
        assert 0 < len(stored_name) <= 255, label

        page = client.get(f"/images/{image_id}")
        assert page.status_code == 200, label
        html = page.get_data(as_text=True)
        assert "<img src=x" not in html and "<svg onload" not in html and "<script>alert" not in html, label
        if label == "html":
            assert "&lt;img src=x onerror=alert(1)&gt;&lt;svg onload=alert(2)&gt;" in html

        download = client.get(f"/images/{image_id}/file")
        assert download.status_code == 200, label
        assert download.data == nifti
        assert download.headers["Content-Type"] in ("application/gzip", "application/octet-stream"), label
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert_safe_disposition(download.headers["Content-Disposition"])
        api_file = client.get(f"/api/images/{image_id}/file", headers={"Authorization": f"Token {token}"})
        assert api_file.status_code == 200 and api_file.headers["Content-Type"] in (
            "application/gzip", "application/octet-stream")
        assert_safe_disposition(api_file.headers["Content-Disposition"])


def test_a_file_name_that_is_not_utf8_is_a_clear_no_or_harmless(app, owner, nifti):
    """tus metadata is base64 of any bytes: undecodable ones answer 400, never 500."""
    client, collection_id, token = owner
    raw = base64.b64encode(b"\xff\xfe\x80evil.nii").decode()
    cid = base64.b64encode(str(collection_id).encode()).decode()
    answer = client.post("/api/uploads/", headers={
        "Tus-Resumable": "1.0.0", "Authorization": f"Token {token}", "Upload-Length": str(len(nifti)),
        "Upload-Metadata": f"filename {raw},collection_id {cid}"})
    assert answer.status_code in (201, 400), answer.get_data(as_text=True)


def test_html_uploaded_as_a_map_is_never_served_as_html(app, owner):
    client, collection_id, token = owner
    page = b"<!doctype html><html><script>alert(document.cookie)</script></html>"
    for name in ("page.html", "page.svg", "page.nii.gz", "page.js"):
        image_id = by_form(client, collection_id, token, name, page)
        download = client.get(f"/images/{image_id}/file")
        assert download.headers["Content-Type"] in ("application/gzip", "application/octet-stream"), name
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Content-Disposition"].startswith("attachment;")
        assert "text/html" not in download.headers["Content-Type"]
        with app.app_context():
            assert db.session.get(Image, image_id).status == "failed"


def test_thumbnails_are_png_and_nosniff(world):
    client = world.clients["anonymous"]
    for kind in ("glass_brain", "ortho"):
        answer = client.get(f"/images/{world.ids['public_image']}/thumbnails/{kind}.png")
        assert answer.status_code == 200
        assert answer.headers["Content-Type"] == "image/png" and answer.data[:8] == b"\x89PNG\r\n\x1a\n"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    answer = client.get(f"/images/{world.ids['public_image']}/thumbnails/..%2f..%2fsecret_key.png")
    assert answer.status_code == 404


CONTROLS = "a\r\nBcc: x@example.org\x07\u202e\u2028b"
CLEANED = "aBcc: x@example.orgb"


def test_control_characters_are_stripped_from_every_stored_name_and_text(app, owner, nifti):
    """Issue 21: one helper (``webapp/text.py``) cleans names and texts from the API, tus and the forms;
    descriptions keep their line breaks (as ``\\n``) and nothing else."""
    from webapp.models import ApiToken, Collection

    client, collection_id, token = owner
    api = {"Authorization": f"Token {token}"}
    made = client.post("/api/collections/", headers=api, json={
        "name": CONTROLS, "authors": CONTROLS, "journal_name": CONTROLS,
        "description": "one\r\ntwo\x1b[31m\u2029three"})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["name"] == made.get_json()["authors"] == made.get_json()["journal_name"] == CLEANED
    assert made.get_json()["description"] == "one\ntwo[31m\nthree"

    image_id = by_api(client, collection_id, token, "m.nii.gz", nifti)
    edited = client.patch(f"/api/images/{image_id}/", headers=api, json={"name": CONTROLS, "description": CONTROLS})
    assert edited.status_code == 200 and edited.get_json()["name"] == CLEANED
    assert edited.get_json()["description"] == "a\nBcc: x@example.org\nb"

    def b64(value):
        return base64.b64encode(value.encode()).decode()

    answer = client.post("/api/uploads/", data=nifti, headers={
        "Tus-Resumable": "1.0.0", "Authorization": f"Token {token}", "Upload-Length": str(len(nifti)),
        "Content-Type": "application/offset+octet-stream",
        "Upload-Metadata": f"filename {b64('t.nii.gz')},collection_id {b64(str(collection_id))},name {b64(CONTROLS)}"})
    assert answer.status_code == 201, answer.get_data(as_text=True)

    form_path = f"/collections/{collection_id}/edit"
    answer = client.post(form_path, data={"name": CONTROLS, "description": "x\r\ny\x00", "authors": CONTROLS,
                                          "csrf_token": csrf_token(client, form_path)})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    tokens_path = "/accounts/tokens"
    client.post(tokens_path, data={"name": CONTROLS, "csrf_token": csrf_token(client, tokens_path)})
    with app.app_context():
        tus_image = db.session.scalar(db.select(Image).order_by(Image.id.desc()).limit(1))
        assert tus_image.name == CLEANED
        collection = db.session.get(Collection, collection_id)
        assert (collection.name, collection.authors, collection.description) == (CLEANED, CLEANED, "x\ny")
        assert db.session.scalar(db.select(ApiToken.name).order_by(ApiToken.id.desc()).limit(1)) == CLEANED
