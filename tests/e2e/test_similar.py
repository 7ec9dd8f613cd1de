"""Similar maps end to end: real web server and worker, maps uploaded through the API, answers in true-r order."""

from pathlib import Path

import numpy as np
import pytest
import requests
from scipy.ndimage import gaussian_filter

from tests.niftigen import make_nifti, mni_like_data

pytestmark = pytest.mark.e2e


def smooth_field(seed):
    inside, affine = mni_like_data(4.0)
    field = gaussian_filter(np.random.default_rng(seed).standard_normal(inside.shape), 2.0)
    return np.where(inside != 0, field, 0).astype(np.float32), affine


class Caller:
    def __init__(self, live_site, email):
        live_site.create_user(email)
        self.url = live_site.url
        self.headers = {"Authorization": f"Token {live_site.token_for(email)}"}

    def get(self, path, **kwargs):
        return requests.get(self.url + path, headers=self.headers, timeout=60, **kwargs)

    def post(self, path, **kwargs):
        return requests.post(self.url + path, headers=self.headers, timeout=60, **kwargs)


def similar_ids(get, image_id):
    answer = get(f"/api/images/{image_id}/similar/?limit=1000")
    assert answer.status_code == 200, answer.text
    return [row["id"] for row in answer.json()["results"]]


def test_similar_maps_live(live_site, tmp_path):
    owner = Caller(live_site, "e2e-similar@example.org")
    collection = owner.post("/api/collections/", json={"name": "E2E similar maps"}).json()
    base, affine = smooth_field(1)
    other, _ = smooth_field(2)
    maps = {"base": base, "copy": np.where(base != 0, base + 0.6 * other, 0), "negative": -base,
            "unrelated": smooth_field(3)[0]}
    ids = {}
    for name, data in maps.items():
        path = make_nifti(tmp_path / f"{name}.nii.gz", data, affine)
        with open(path, "rb") as handle:
            answer = owner.post(f"/api/collections/{collection['id']}/images/", files={"file": handle},
                                data={"name": name, "map_type": "Z"})
        assert answer.status_code == 201, answer.text
        ids[name] = answer.json()["id"]
    for image_id in ids.values():
        assert live_site.wait_for_final(image_id).status == "ready"

    anonymous = lambda path: requests.get(live_site.url + path, timeout=60)  # noqa: E731
    # the live site is shared with the other end-to-end tests: only this test's maps are ranked here
    ours = lambda ranked: [i for i in ranked if i in ids.values()]  # noqa: E731
    assert ours(similar_ids(anonymous, ids["base"])) == [ids["copy"], ids["unrelated"], ids["negative"]]
    page = anonymous(f"/images/{ids['base']}").text
    assert "Similar maps" in page and f'data-image-id="{ids["copy"]}"' in page

    # a private collection's map disappears for others at once and stays for its owner
    private = owner.post("/api/collections/", json={"name": "E2E private", "private": True}).json()
    path = make_nifti(tmp_path / "twin.nii.gz", base * 3, affine)
    with open(path, "rb") as handle:
        twin = owner.post(f"/api/collections/{private['id']}/images/", files={"file": handle},
                          data={"name": "twin", "map_type": "Z"}).json()["id"]
    assert live_site.wait_for_final(twin).status == "ready"
    assert twin not in similar_ids(anonymous, ids["base"])
    assert similar_ids(owner.get, ids["base"])[0] == twin
    answer = requests.patch(f"{live_site.url}/api/collections/{collection['id']}/", json={"private": True},
                            headers=owner.headers, timeout=60)
    assert answer.status_code == 200, answer.text
    assert anonymous(f"/api/images/{ids['base']}/similar/").status_code == 404
    requests.patch(f"{live_site.url}/api/collections/{collection['id']}/", json={"private": False},
                   headers=owner.headers, timeout=60)

    # a deleted map is gone
    assert requests.delete(f"{live_site.url}/api/images/{ids['copy']}/", headers=owner.headers,
                           timeout=60).status_code == 204
    assert ours(similar_ids(anonymous, ids["base"])) == [ids["unrelated"], ids["negative"]]


def test_search_by_file_live(live_site, tmp_path):
    searcher = Caller(live_site, "e2e-searcher@example.org")
    base, affine = smooth_field(1)
    good = make_nifti(tmp_path / "mine.nii.gz", base + 0.01, affine)
    with open(good, "rb") as handle:
        answer = searcher.post("/api/similar/", files={"file": handle})
    assert answer.status_code in (200, 202), answer.text
    search_url = answer.json()["url"].replace(live_site.app.config["BASE_URL"], "")
    body = wait_for_search(searcher, search_url)
    assert body["status"] == "ready" and body["results"], body
    assert body["results"][0]["r"] > 0.99

    broken = tmp_path / "broken.nii"
    broken.write_bytes(b"not a nifti file at all" * 20)
    with open(broken, "rb") as handle:
        answer = searcher.post("/api/similar/", files={"file": handle})
    body = wait_for_search(searcher, answer.json()["url"].replace(live_site.app.config["BASE_URL"], ""))
    assert body["status"] == "failed" and body["error"]

    from webapp.extensions import db
    from webapp.models import SimilaritySearch

    with live_site.app.app_context():
        assert all(s.storage_key is None for s in db.session.query(SimilaritySearch))
        folder = Path(live_site.app.config["STORAGE_DIR"]) / "searches"
        assert not [p for p in folder.rglob("*") if p.is_file()]


def wait_for_search(caller, path, seconds=120):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        body = caller.get(path).json()
        if body["status"] != "pending":
            return body
        time.sleep(0.5)
    raise AssertionError(f"search {path} still pending after {seconds} s")
