"""NeuroVault fidelity (issue 22): file URLs that end in the file name, and the rest of what clients expect."""

import gzip
import io

import nibabel as nib
import numpy as np

BASE = "http://neurodrop.test"


def small_map_bytes():
    """A tiny gzipped NIfTI map."""
    image = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.eye(4))
    return gzip.compress(image.to_bytes())


def nimare_style_download(client, url, folder, collection_id, image_id):
    """What NiMARE does: save the ``file`` download as ``collection-<cid>_id-<iid>_<last part of the URL>``."""
    answer = client.get(url.removeprefix(BASE), follow_redirects=True)
    assert answer.status_code == 200, (url, answer.status_code)
    path = folder / f"collection-{collection_id}_id-{image_id}_{url.rsplit('/', 1)[-1]}"
    path.write_bytes(answer.data)
    return path


def test_file_url_ends_in_the_file_name_and_nibabel_loads_the_download(owner, client, stored_image, tmp_path):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid, payload=small_map_bytes(), original_filename="motor T (run 1).nii.gz")
    body = client.get(f"/api/images/{iid}/").get_json()
    assert body["file"] == f"{BASE}/api/images/{iid}/motor_T_run_1.nii.gz"
    saved = nimare_style_download(client, body["file"], tmp_path, cid, iid)
    assert nib.load(saved).shape == (2, 3, 4)


def test_named_file_keeps_ranges_and_etag_and_old_url_still_serves(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    payload = small_map_bytes()
    iid = stored_image(cid, payload=payload, original_filename="z.nii.gz")
    named = client.get(f"/api/images/{iid}/z.nii.gz")
    assert named.status_code == 200 and named.data == payload and "Content-Encoding" not in named.headers
    part = client.get(f"/api/images/{iid}/z.nii.gz", headers={"Range": "bytes=0-2"})
    assert part.status_code == 206 and part.data == payload[:3]
    again = client.get(f"/api/images/{iid}/z.nii.gz", headers={"If-None-Match": named.headers["ETag"]})
    assert again.status_code == 304
    assert client.get(f"/api/images/{iid}/file").data == payload
    moved = client.get(f"/api/images/{iid}/other.nii.gz")
    assert moved.status_code == 302 and moved.headers["Location"].endswith(f"/api/images/{iid}/z.nii.gz")
    assert client.get(f"/api/images/{iid}/z.png").status_code == 404


def test_private_file_url_carries_the_share_token_in_the_path(owner, stranger, client, stored_image, tmp_path):
    private = owner.new_collection("Secret", private=True)
    token = private["url"].rstrip("/").rsplit("/", 1)[-1]
    iid = stored_image(private["id"], payload=small_map_bytes(), original_filename="secret.nii")
    [image] = client.get(f"/api/collections/{token}/images/").get_json()["results"]
    assert image["file"] == f"{BASE}/api/images/{iid}/{token}/secret.nii.gz"
    saved = nimare_style_download(client, image["file"], tmp_path, private["id"], iid)
    assert saved.name.endswith(".nii.gz")
    assert stranger.get(f"/api/images/{iid}/secret.nii.gz").status_code == 404
    assert stranger.get(f"/api/images/{iid}/{'x' * 32}/secret.nii.gz").status_code == 404
    assert client.get(f"/api/images/{iid}/%00/secret.nii.gz").status_code == 404


def test_uploaded_name_is_made_url_safe(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    iid = stored_image(cid, payload=io.BytesIO(b"x").read(), original_filename="état/../β.nii")
    assert client.get(f"/api/images/{iid}/").get_json()["file"] == f"{BASE}/api/images/{iid}/image-{iid}.nii.gz"


def test_empty_text_is_an_empty_string_and_contributors_a_string(owner, client, stored_image):
    cid = owner.new_collection("Bare")["id"]
    body = client.get(f"/api/collections/{cid}/").get_json()
    blank = ("authors", "paper_url", "full_dataset_url", "description", "contributors")
    assert [body[key] for key in blank] == [""] * len(blank)
    assert body["DOI"] is None and body["journal_name"] is None
    assert client.get(f"/api/images/{stored_image(cid)}/").get_json()["description"] == ""


def test_is_valid_means_the_essential_metadata_is_there(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    complete = stored_image(cid, map_type="T", modality="fMRI-BOLD", analysis_level="G", number_of_subjects=20)
    single = stored_image(cid, map_type="Z", modality="fMRI-BOLD", analysis_level="S")
    unknown_type = stored_image(cid, modality="fMRI-BOLD", analysis_level="G", number_of_subjects=20)
    no_count = stored_image(cid, map_type="T", modality="fMRI-BOLD", analysis_level="G")
    valid = {iid: client.get(f"/api/images/{iid}/").get_json()["is_valid"]
             for iid in (complete, single, unknown_type, no_count)}
    assert valid == {complete: True, single: True, unknown_type: False, no_count: False}


def test_cors_header_on_anonymous_reads_of_public_data_only(owner, client, stored_image):
    public = owner.new_collection("Open")["id"]
    iid = stored_image(public)
    for path in ("/api/collections/", f"/api/collections/{public}/", f"/api/images/{iid}/", "/api/images/"):
        assert client.get(path).headers.get("Access-Control-Allow-Origin") == "*", path
        assert "Access-Control-Allow-Origin" not in owner.get(path).headers, "never with a token"
    private = owner.new_collection("Closed", private=True)
    token = private["api_url"].rstrip("/").rsplit("/", 1)[-1]
    shared = client.get(f"/api/collections/{token}/")
    assert shared.status_code == 200 and "Access-Control-Allow-Origin" not in shared.headers
    assert "Access-Control-Allow-Origin" not in client.post("/api/collections/", json={"name": "x"}).headers


def test_paging_is_lenient_and_the_first_page_link_has_no_offset(owner, client, stored_image):
    cid = owner.new_collection()["id"]
    for n in range(3):
        stored_image(cid, name=f"map {n}")
    for query in ("limit=0", "limit=-3", "limit=ten", "offset=-1", "offset=x"):
        answer = client.get(f"/api/collections/{cid}/images/?{query}")
        assert answer.status_code == 200 and len(answer.get_json()["results"]) == 3, query
    second = client.get(f"/api/collections/{cid}/images/?limit=1&offset=1").get_json()
    assert second["previous"] == f"{BASE}/api/collections/{cid}/images/?limit=1"
