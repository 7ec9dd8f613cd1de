"""NeuroVault's own clients, unchanged, against a live site (real gunicorn, real worker): pynv and nilearn."""

import uuid

import nibabel as nib
import numpy as np
import pytest
import requests

from tests.niftigen import make_nifti, mni_like_data, mni_like_map

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def token(live_site):
    return live_site.token_for(live_site.create_user(f"clients-{uuid.uuid4().hex[:6]}@example.org"))


def pynv_client(live_site, token):
    from pynv import Client

    return Client(access_token=token, api_base_url=live_site.url + "/api/")


def test_pynv_creates_uploads_reads_and_pages(live_site, token, tmp_path):
    from pynv.exceptions import AuthenticationError, ValidationError

    api = pynv_client(live_site, token)
    collection = api.create_collection("pynv maps", description="two maps", DOI=f"10.5555/pynv.{uuid.uuid4().hex}")
    assert collection["owner_name"] and collection["number_of_images"] == 0
    paths = [mni_like_map(tmp_path / "motor.nii.gz"), mni_like_map(tmp_path / "rest.nii.gz", signed=False)]
    first = api.add_image(collection["id"], str(paths[0]), name="Motor T", map_type="T", modality="fMRI-BOLD",
                          analysis_level="G", number_of_subjects=16, cognitive_paradigm_cogatlas="trm_4f24126c22011")
    second = api.add_image(collection["id"], str(paths[1]), name="Rest Z", map_type="Z map")
    assert first["status"] in ("queued", "processing", "ready") and first["collection_id"] == collection["id"]
    assert first["cognitive_paradigm_cogatlas_id"] == "trm_4f24126c22011", "an id sent as the task goes to _id"

    for uploaded, path in zip((first, second), paths, strict=True):
        assert live_site.wait_for_final(uploaded["id"]).status == "ready"
        image = api.get_image(uploaded["id"])
        assert image["is_valid"] is (uploaded is first), "NeuroVault's meaning: the essential metadata is given"
        assert image["is_thresholded"] is False and image["not_mni"] is False
        assert image["thumbnail"].startswith(live_site.url) and image["stats"]["max"] > 0
        download = requests.get(image["file"], timeout=30)
        assert download.content == path.read_bytes() and "Content-Encoding" not in download.headers
        assert requests.get(image["thumbnail"], timeout=30).content[:4] == b"\x89PNG"
    assert api.get_image(first["id"])["map_type"] == "T map"
    assert api.get_image(second["id"])["map_type"] == "Z map"

    assert api.get_collection(collection["id"])["number_of_images"] == 2
    assert api.update_collection(collection["id"], journal_name="NeuroImage")["journal_name"] == "NeuroImage"
    assert collection["id"] in [c["id"] for c in api.my_collections()["results"]]

    pages = [api.get_collection_images(collection["id"], limit=1, offset=offset) for offset in (0, 1, 2)]
    assert [page["count"] for page in pages] == [2, 2, 2]
    assert [[r["id"] for r in page["results"]] for page in pages] == [[first["id"]], [second["id"]], []]
    assert pages[0]["next"] == f"{live_site.url}/api/collections/{collection['id']}/images/?limit=1&offset=1"
    assert pages[1]["next"] is None and pages[1]["previous"].endswith("limit=1")

    with pytest.raises(ValidationError) as invalid:
        api.create_collection("")
    assert invalid.value.errors == {"name": ["This field may not be blank."]}
    with pytest.raises(AuthenticationError):
        pynv_client(live_site, "not-a-token").my_collections()
    with pytest.raises(AuthenticationError):
        pynv_client(live_site, "not-a-token").create_collection("nope")


def thresholded_map(path):
    """A T map cut at |t| > 3: most voxels zero, so NeuroVault (and we) flag it as thresholded."""
    data, affine = mni_like_data()
    return make_nifti(path, np.where(np.abs(data) > 3, data, 0).astype(np.float32), affine)


def roi_mask(path):
    """A binary mask of the brain-sized ellipsoid: not thresholded, but an ROI."""
    data, affine = mni_like_data()
    return make_nifti(path, (data != 0).astype(np.float32), affine)


@pytest.fixture(scope="module")
def nilearn_collection(live_site, token, tmp_path_factory):
    """A public collection of two usable maps, a thresholded map and an ROI mask, all processed."""
    folder = tmp_path_factory.mktemp("nilearn-maps")
    api = pynv_client(live_site, token)
    collection = api.create_collection(f"nilearn {uuid.uuid4().hex[:8]}")
    uploads = {
        "t": (mni_like_map(folder / "t.nii.gz"), {"map_type": "T"}),
        "z": (mni_like_map(folder / "z.nii", signed=False), {"map_type": "Z"}),
        "thresholded": (thresholded_map(folder / "thr.nii.gz"), {"map_type": "T"}),
        "roi": (roi_mask(folder / "roi.nii.gz"), {"map_type": "R"}),
    }
    ids = {}
    for key, (path, fields) in uploads.items():
        ids[key] = api.add_image(collection["id"], str(path), name=key, **fields)["id"]
    for image_id in ids.values():
        assert live_site.wait_for_final(image_id).status == "ready"
    flags = {key: api.get_image(image_id) for key, image_id in ids.items()}
    assert flags["thresholded"]["is_thresholded"] is True and flags["roi"]["map_type"] == "ROI/mask"
    assert not any(flags[key]["is_thresholded"] or flags[key]["not_mni"] for key in ("t", "z", "roi"))
    return collection, ids, {key: path for key, (path, _) in uploads.items()}


@pytest.fixture
def nilearn_on_live_site(live_site, monkeypatch):
    from nilearn.datasets import neurovault

    monkeypatch.setattr(neurovault, "_NEUROVAULT_COLLECTIONS_URL", live_site.url + "/api/collections/")
    monkeypatch.setattr(neurovault, "_NEUROVAULT_IMAGES_URL", live_site.url + "/api/images/")
    return neurovault


def loaded_by_id(bunch):
    return {meta["id"]: nib.load(path) for meta, path in zip(bunch.images_meta, bunch.images, strict=True)}


def test_nilearn_fetches_a_collection_by_id(nilearn_on_live_site, nilearn_collection, tmp_path):
    collection, ids, paths = nilearn_collection
    bunch = nilearn_on_live_site.fetch_neurovault_ids(collection_ids=[collection["id"]], data_dir=tmp_path,
                                                      verbose=0)
    loaded = loaded_by_id(bunch)
    assert set(loaded) == set(ids.values()), "explicit ids take every map, as on NeuroVault"
    for key, image_id in ids.items():
        expected = nib.load(paths[key])
        assert loaded[image_id].shape == expected.shape
        assert np.allclose(loaded[image_id].get_fdata(), expected.get_fdata())
    assert bunch.collections_meta[0]["id"] == collection["id"]


def test_nilearn_default_filters_drop_thresholded_and_roi_maps(nilearn_on_live_site, nilearn_collection, tmp_path):
    collection, ids, paths = nilearn_collection
    bunch = nilearn_on_live_site.fetch_neurovault(max_images=10, collection_id=collection["id"], data_dir=tmp_path,
                                                  verbose=0)
    loaded = loaded_by_id(bunch)
    assert set(loaded) == {ids["t"], ids["z"]}
    assert np.allclose(loaded[ids["z"]].get_fdata(), nib.load(paths["z"]).get_fdata())


def test_nilearn_scrolls_collections_by_name(nilearn_on_live_site, nilearn_collection, tmp_path):
    """The filtered scroll (``collections/?name=…&limit=&offset=``), with nilearn's default image filters."""
    collection, ids, _ = nilearn_collection
    bunch = nilearn_on_live_site.fetch_neurovault(max_images=5, collection_terms={"name": collection["name"]},
                                                  data_dir=tmp_path, verbose=0)
    assert {meta["id"] for meta in bunch.images_meta} == {ids["t"], ids["z"]}
