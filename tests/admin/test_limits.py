"""Per-user limits set by an administrator override the site defaults on every upload path.

The maps here are larger than the 64 KiB the upload page allows a request's envelope, so the
page's check on Content-Length (made before any byte is read) is what refuses them.
"""

import io

import pytest

from tests.niftigen import mni_like_map
from tests.tus.tusclient import metadata_header
from webapp.extensions import db
from webapp.models import ApiToken, Image, User
from workers.plain import human_bytes

QUOTA_BELOW_THE_MAP = 70_000


@pytest.fixture
def site(site, tmp_path):
    site.nifti = mni_like_map(tmp_path / "larger.nii.gz", voxel_mm=4.0).read_bytes()
    assert len(site.nifti) > QUOTA_BELOW_THE_MAP + 64 * 1024
    return site


def set_limits(site, quota=None, pending=None):
    with site.app.app_context():
        owner = db.session.get(User, site.ids["owner"])
        owner.quota_bytes, owner.max_pending_images = quota, pending
        _, secret = ApiToken.issue(owner, "limits")
        db.session.commit()
        return secret


def upload_page(site):
    cid = site.ids["public_collection"]
    data = {"file": (io.BytesIO(site.nifti), "map.nii.gz"), "csrf_token": site.csrf("owner")}
    return site.clients["owner"].post(f"/collections/{cid}/upload", data=data, content_type="multipart/form-data",
                                      headers={"Accept": "application/json"})


def upload_api(site, secret):
    cid = site.ids["public_collection"]
    return site.clients["anonymous"].post(
        f"/api/collections/{cid}/images/", data={"file": (io.BytesIO(site.nifti), "map.nii.gz")},
        content_type="multipart/form-data", headers={"Authorization": f"Token {secret}"})


def start_tus(site, secret):
    headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Token {secret}", "Upload-Length": str(len(site.nifti)),
               "Upload-Metadata": metadata_header(filename="map.nii.gz", collection_id=site.ids["public_collection"])}
    return site.clients["anonymous"].post("/api/uploads/", headers=headers)


PATHS = {"page": lambda site, secret: upload_page(site), "api": upload_api, "tus": start_tus}


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_raised_quota_allows_what_the_default_refuses(site, path):
    site.app.config["USER_QUOTA_BYTES"] = QUOTA_BELOW_THE_MAP
    secret = set_limits(site)
    assert PATHS[path](site, secret).status_code == 413
    secret = set_limits(site, quota=10 * len(site.nifti))
    assert PATHS[path](site, secret).status_code == 201


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_lowered_quota_is_refused(site, path):
    secret = set_limits(site, quota=QUOTA_BELOW_THE_MAP)
    answer = PATHS[path](site, secret)
    assert answer.status_code == 413
    with site.app.app_context():
        assert db.session.query(Image).count() == 0


def test_a_pending_limit_of_zero_refuses_with_429(site):
    secret = set_limits(site, pending=0)
    assert upload_page(site).status_code == 429
    assert upload_api(site, secret).status_code == 429
    assert start_tus(site, secret).status_code == 429


def test_the_profile_shows_the_users_own_quota_and_usage(site):
    site.image()
    set_limits(site, quota=5 * 1000**3, pending=3)
    page = site.clients["owner"].get("/accounts/profile").get_data(as_text=True)
    assert "4.7 GiB" in page and "0 of at most 3" in page
    assert f"{human_bytes(len(site.nifti))} of 4.7 GiB" in page


def test_parse_size():
    from webapp.limits import parse_size

    assert parse_size("50GiB") == 50 * 1024**3
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("1024") == 1024
    with pytest.raises(ValueError, match="'lots' is not a size"):
        parse_size("lots")
