"""Reading: the index, collection and image JSON, paging, slashes, visibility, downloads."""

import math

import pytest

from webapp.models import Image

from ..helpers import USES_POSTGRES, bulk_collections

# PostgreSQL's JSON refuses NaN, so there only the float columns can hold one; SQLite's JSON takes it too.
JSON_NAN = 0.5 if USES_POSTGRES else float("nan")

BASE = "http://neurodrop.test"


def test_index_links_are_absolute_on_base_url(client):
    for path in ("/api", "/api/", "/api/?format=json"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.get_json()["collections"] == f"{BASE}/api/collections/"
        assert answer.get_json()["images"] == f"{BASE}/api/images/"


def test_collection_json_has_neurovault_fields(owner, client):
    made = owner.new_collection("Motor", DOI="10.1234/motor.1", authors="A. B.", paper_url="https://doi.org/x",
                                journal_name="NeuroImage", description="tapping", full_dataset_url="https://x.org/d",
                                cognitive_paradigm="finger tapping")
    body = client.get(f"/api/collections/{made['id']}/").get_json()
    assert body["url"] == f"{BASE}/collections/{made['id']}", "the HTML page, as on NeuroVault"
    assert body["api_url"] == f"{BASE}/api/collections/{made['id']}/"
    assert body["download_url"] == f"{BASE}/api/collections/{made['id']}/download"
    assert body["owner"] == owner.id and body["owner_name"] == f"user {owner.id}" and body["contributors"] == ""
    assert (body["name"], body["DOI"], body["authors"], body["journal_name"]) == ("Motor", "10.1234/motor.1",
                                                                                 "A. B.", "NeuroImage")
    assert body["paper_url"] == "https://doi.org/x" and body["full_dataset_url"] == "https://x.org/d"
    assert body["description"] == "tapping" and body["private"] is False and body["number_of_images"] == 0
    assert body["add_date"].endswith("Z") and body["modify_date"].endswith("Z")
    assert body["cognitive_paradigm"] == "finger tapping"


def test_routes_answer_with_and_without_slash_without_redirect(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid)
    for path in ("/api/collections", f"/api/collections/{cid}", f"/api/collections/{cid}/images", "/api/images",
                 f"/api/images/{iid}", "/api/my_collections", "/api/user", "/api/docs"):
        for variant in (path, path + "/", path + "?format=json", path + "/?format=json"):
            answer = owner.get(variant)
            assert answer.status_code == 200, (variant, answer.status_code)


def image_of(client, image_id, **kwargs):
    answer = client.get(f"/api/images/{image_id}/", **kwargs)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_image_json_has_neurovault_fields_and_ours(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    stats = {"min": -3.5, "max": JSON_NAN, "percentiles": {"50": JSON_NAN}}
    iid = stored_image(cid, map_type="T", analysis_level="G", modality="fMRI-BOLD", number_of_subjects=21,
                       perc_bad_voxels=12.5, brain_coverage=float("nan"), perc_voxels_outside=3.0, stats=stats,
                       report={"findings": [], "scl_slope": JSON_NAN}, extra={"tags": "motor", "name": "x"})
    body = image_of(client, iid)
    assert body["url"] == f"{BASE}/images/{iid}" and body["id"] == iid
    assert body["api_url"] == f"{BASE}/api/images/{iid}/"
    assert body["file"] == f"{BASE}/api/images/{iid}/map.nii.gz"
    assert body["thumbnail"] == f"{BASE}/api/images/{iid}/thumbnail.png"
    assert body["collection"] == f"{BASE}/collections/{cid}" and body["collection_id"] == cid
    assert body["collection_api_url"] == f"{BASE}/api/collections/{cid}/"
    assert (body["map_type"], body["analysis_level"], body["modality"]) == ("T map", "group", "fMRI-BOLD")
    assert body["is_thresholded"] is False and body["not_mni"] is False and body["is_valid"] is True
    assert body["image_type"] == "statistic_map" and body["number_of_subjects"] == 21
    assert body["brain_coverage"] is None and body["perc_bad_voxels"] == 12.5
    nan_as = JSON_NAN if USES_POSTGRES else None
    assert body["stats"] == {"min": -3.5, "max": nan_as, "percentiles": {"50": nan_as}}
    assert body["report"]["scl_slope"] == nan_as
    assert body["status"] == "ready" and body["error"] is None and len(body["sha256"]) == 64
    assert body["file_size"] > 0 and body["target_template_image"] == "GenericMNI"
    assert body["tags"] == "motor" and body["name"] == "map", "extra fields are echoed, never over known ones"


@pytest.mark.parametrize("status", [Image.UPLOADED, Image.QUEUED, Image.PROCESSING, Image.FAILED])
def test_unfinished_image_is_not_valid_and_has_real_booleans(owner, client, stored_image, status):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid, status=status, error="broken" if status == Image.FAILED else None)
    body = image_of(client, iid)
    assert body["is_valid"] is False and body["thumbnail"] is None and body["status"] == status
    assert body["is_thresholded"] is False and body["not_mni"] is False
    assert body["map_type"] == "other" and body["analysis_level"] is None
    if status == Image.FAILED:
        assert body["error"] == "broken"


def test_strict_json_never_nan(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    stored_image(cid, stats={"mean": JSON_NAN}, perc_bad_voxels=float("inf"), brain_coverage=float("nan"))
    text = client.get(f"/api/collections/{cid}/images/").get_data(as_text=True)
    assert "NaN" not in text and "Infinity" not in text


def test_paging_counts_links_and_limits(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    ids = [stored_image(cid, name=f"map {n}") for n in range(5)]
    first = client.get(f"/api/collections/{cid}/images/?limit=2&format=json").get_json()
    assert first["count"] == 5 and [r["id"] for r in first["results"]] == ids[:2]
    assert first["previous"] is None
    assert first["next"] == f"{BASE}/api/collections/{cid}/images/?format=json&limit=2&offset=2"
    second = client.get(first["next"].removeprefix(BASE)).get_json()
    assert [r["id"] for r in second["results"]] == ids[2:4]
    assert second["previous"] == f"{BASE}/api/collections/{cid}/images/?format=json&limit=2", "no offset=0"
    last = client.get(second["next"].removeprefix(BASE)).get_json()
    assert [r["id"] for r in last["results"]] == ids[4:] and last["next"] is None
    default = client.get(f"/api/collections/{cid}/images").get_json()
    assert len(default["results"]) == 5 and default["next"] is None
    assert client.get(f"/api/collections/{cid}/images/?limit=5000").status_code == 200


@pytest.mark.parametrize("query", ["limit=abc", "limit=0", "limit=-1", "offset=-5", "offset=x", "offset=1e3"])
def test_bad_paging_falls_back_to_the_defaults_as_on_neurovault(client, query):
    for path in ("/api/collections/", "/api/images/"):
        answer = client.get(f"{path}?{query}")
        assert answer.status_code == 200 and answer.get_json()["previous"] is None, (path, query)


def test_limit_above_maximum_is_lowered(app, client, owner):
    """A world larger than the cap of 1000, so a page that ignored the cap would show it."""
    with app.app_context():
        bulk_collections(owner.id, 1001)
    body = client.get("/api/collections/?limit=100000").get_json()
    assert body["count"] == 1001 and len(body["results"]) == 1000
    assert "offset=1000" in body["next"]


def test_collection_filters_name_doi_owner(owner, stranger, client):
    a = owner.new_collection("Alpha", DOI="10.1000/alpha")
    owner.new_collection("Beta")
    c = stranger.new_collection("Alpha")
    owner.new_collection("Hidden", private=True)

    def ids(query):
        return [r["id"] for r in client.get(f"/api/collections/?{query}").get_json()["results"]]

    assert ids("name=Alpha") == [a["id"], c["id"]]
    assert ids("DOI=10.1000/alpha") == [a["id"]]
    assert ids(f"owner={stranger.id}") == [c["id"]]
    assert ids(f"owner={owner.id}&name=Alpha") == [a["id"]]
    assert len(ids("")) == 3, "private collections are not listed"
    assert client.get("/api/collections/?owner=me").status_code == 400


def test_private_collection_is_404_to_others_and_visible_by_share_token(owner, stranger, client, stored_image):
    private = owner.new_collection("Secret", private=True)
    token = private["url"].rstrip("/").rsplit("/", 1)[-1]
    assert token != str(private["id"]), "a private collection's URL uses its share token"
    iid = stored_image(private["id"])
    for caller in (client, stranger):
        assert caller.get(f"/api/collections/{private['id']}/").status_code == 404
        assert caller.get(f"/api/collections/{private['id']}/images/").status_code == 404
        assert caller.get(f"/api/images/{iid}/").status_code == 404
        assert caller.get(f"/api/images/{iid}/file").status_code == 404
    assert client.get("/api/images/").get_json()["count"] == 0

    shared = client.get(f"/api/collections/{token}/").get_json()
    assert shared["id"] == private["id"] and shared["private"] is True
    [image] = client.get(f"/api/collections/{token}/images/").get_json()["results"]
    assert f"share_token={token}" in image["api_url"] and image["file"].endswith(f"/{token}/map.nii.gz")
    for link in (image["api_url"], image["file"], image["thumbnail"]):
        assert client.get(link.removeprefix(BASE)).status_code == 200, link
    assert client.get(f"/api/images/{iid}/?share_token=wrong").status_code == 404
    assert owner.get(f"/api/collections/{private['id']}/").status_code == 200
    assert [c["id"] for c in owner.get("/api/my_collections/").get_json()["results"]] == [private["id"]]


def test_others_see_only_ready_images_the_owner_sees_all(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    ready = stored_image(cid)
    pending = stored_image(cid, status=Image.QUEUED)
    failed = stored_image(cid, status=Image.FAILED, error="not NIfTI")
    public = client.get(f"/api/collections/{cid}/images/").get_json()
    assert public["count"] == 1 and [r["id"] for r in public["results"]] == [ready]
    mine = owner.get(f"/api/collections/{cid}/images/").get_json()
    assert mine["count"] == 3 and [r["id"] for r in mine["results"]] == [ready, pending, failed]
    assert [r["id"] for r in client.get("/api/images/").get_json()["results"]] == [ready]
    assert client.get(f"/api/collections/{cid}/").get_json()["number_of_images"] == 3


def test_file_is_served_as_stored_without_content_encoding(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    payload = b"\x1f\x8b\x08" + bytes(range(256)) * 8
    iid = stored_image(cid, payload=payload, original_filename="motor.nii.gz")
    answer = client.get(f"/api/images/{iid}/file")
    assert answer.status_code == 200 and answer.data == payload
    assert answer.mimetype == "application/gzip" and "Content-Encoding" not in answer.headers
    assert "motor.nii.gz" in answer.headers["Content-Disposition"]
    assert answer.headers["Accept-Ranges"] == "bytes"
    part = client.get(f"/api/images/{iid}/file", headers={"Range": "bytes=0-2"})
    assert part.status_code == 206 and part.data == payload[:3]


def test_thumbnail_only_when_ready(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    ready = stored_image(cid)
    queued = stored_image(cid, status=Image.QUEUED)
    png = client.get(f"/api/images/{ready}/thumbnail.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert client.get(f"/api/images/{queued}/thumbnail.png").status_code == 404


def test_collection_download_is_a_zip_of_the_listed_maps(owner, client, stored_image):
    import io
    import zipfile

    cid = owner.new_collection()["id"]
    ready = stored_image(cid, payload=b"ready bytes", original_filename="a.nii.gz")
    stored_image(cid, payload=b"pending bytes", status=Image.QUEUED)
    answer = client.get(f"/api/collections/{cid}/download")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        assert archive.namelist() == [f"image_{ready}_a.nii.gz"]
        assert archive.read(f"image_{ready}_a.nii.gz") == b"ready bytes"
    with zipfile.ZipFile(io.BytesIO(owner.get(f"/api/collections/{cid}/download").data)) as archive:
        assert len(archive.namelist()) == 2


@pytest.mark.parametrize("path", ["/api/collections/999/", "/api/collections/999/images/", "/api/images/999/",
                                  "/api/images/999/file", "/api/collections/nosuchtoken/",
                                  "/api/collections/99999999999999999999999/", "/api/images/99999999999999999999/",
                                  "/api/nothing-here"])
def test_missing_things_are_json_404(client, path):
    answer = client.get(path)
    assert answer.status_code == 404 and answer.is_json and "detail" in answer.get_json()


def test_wrong_method_is_json_405(client):
    answer = client.post("/api/images/")
    assert answer.status_code == 405 and answer.is_json


def test_nan_helper_handles_nesting():
    from webapp.api.serializers import json_safe

    assert json_safe({"a": [1.0, math.nan, {"b": -math.inf}], "c": (2, "x")}) == {"a": [1.0, None, {"b": None}],
                                                                                 "c": [2, "x"]}


def test_hostile_text_in_urls_is_a_4xx_on_every_database(owner, client, stored_image):
    """NUL and non-ASCII text reach no query (PostgreSQL refuses NUL) and no constant-time comparison."""
    private = owner.new_collection("Secret", private=True)
    iid = stored_image(private["id"])
    assert client.get("/api/collections/?name=a%00b").get_json() == {"name": ["Null characters are not allowed."]}
    assert client.get("/api/collections/?DOI=%00").status_code == 400
    for path in ("/api/collections/%00abc/", "/api/collections/%C3%A9%C3%A9%C3%A9/images/",
                 f"/api/images/{iid}/?share_token=%C3%A9t%C3%A9", f"/api/images/{iid}/file?share_token=%00"):
        assert client.get(path).status_code == 404, path


def test_uncompressed_upload_is_served_gzipped_for_nilearn(owner, client, stored_image):
    import gzip

    cid = owner.new_collection()["id"]
    payload = b"\x5c\x01\x00\x00" + bytes(range(256)) * 3000
    iid = stored_image(cid, payload=payload, original_filename="rest état.nii")
    answer = client.get(f"/api/images/{iid}/file")
    assert answer.status_code == 200 and answer.mimetype == "application/gzip"
    assert "Content-Encoding" not in answer.headers
    assert gzip.decompress(answer.data) == payload and len(answer.data) < len(payload)
    assert "filename*=UTF-8''rest%20%C3%A9tat.nii.gz" in answer.headers["Content-Disposition"]
