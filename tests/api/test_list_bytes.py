"""The image lists serialise each image as its own detail page does, byte for byte (issue 19 item 2).

The lists build their links from per-request templates and read their rows by a deferred join; a
varied set (private collection, non-ASCII names, NaN and exponent floats, custom fields, no glass
brain, maps still processing) must come out exactly as ``/api/images/<id>/`` sends each one.
"""

import json
import math
from urllib.parse import urlsplit

from webapp.models import Image


def varied_images(owner, stored_image):
    public = owner.new_collection("Public set")["id"]
    private = owner.new_collection("Sécret", private=True)
    ids = [
        stored_image(public, name="Amygdalä 日本", original_filename="ü map (1).nii", map_type="T",
                     analysis_level="G", number_of_subjects=12, modality="fMRI-BOLD",
                     perc_bad_voxels=math.nan, brain_coverage=-math.inf, stats={"max": 1e-05, "big": 1e20}),
        stored_image(public, name="no thumb", thumbnail=False, extra={"custom": "42", "text": "x", "ü": "\u2028"}),
        stored_image(public, name="still processing", status=Image.PROCESSING),
        stored_image(private["id"], name="hidden map", original_filename="weird name.nii.gz",
                     stats={"clusters": {"rows": [[1, 2.5]]}, "threshold": 3.1}),
        stored_image(private["id"], name="second hidden", cognitive_paradigm_cogatlas=None),
    ]
    return public, private, ids


def compact(value):
    """The bytes Flask's JSON provider writes: sorted keys, no spaces, non-ASCII escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def test_list_results_equal_each_detail_byte_for_byte(owner, client, stored_image):
    public, private, ids = varied_images(owner, stored_image)
    lists = [(client, "/api/images/?limit=3"), (client, "/api/images/?limit=1&offset=1"),
             (owner, f"/api/collections/{public}/images/"),
             (owner, f"/api/collections/{private['id']}/images/?limit=1&offset=1"),
             (client, urlsplit(private["images_url"]).path)]
    seen = set()
    for caller, path in lists:
        answer = caller.get(path)
        assert answer.status_code == 200, path
        for result in answer.get_json()["results"]:
            link = urlsplit(result["api_url"])
            detail = caller.get(f"{link.path}?{link.query}")
            assert detail.status_code == 200
            assert json.dumps(result, sort_keys=True) == json.dumps(detail.get_json(), sort_keys=True), path
            assert compact(result) in answer.data and compact(result) in detail.data
            seen.add(result["id"])
    assert seen == set(ids)


def test_list_answers_are_the_json_providers_bytes(app, owner, client, stored_image):
    """Joined from each item's kept bytes, a list's answer is what Flask's provider writes for the whole page."""
    public, private, _ = varied_images(owner, stored_image)
    series = {"max": 3.5, "volumes": [{"mean": n / 7, "min": -1e-7 * n, "label": f"vol {n} é"} for n in range(300)]}
    stored_image(public, name="long series", is_4d=True, stats=series, age=None, extra={"note": "tab\there"})
    paths = ["/api/images/?limit=2", "/api/images/?limit=2&offset=2", "/api/images/?limit=100",
             f"/api/collections/{public}/images/", urlsplit(private["images_url"]).path,
             "/api/collections/", "/api/collections/?limit=1&offset=1"]
    for caller, more in ((client, []), (owner, ["/api/my_collections/"])):
        for path in (paths + more) * 2:  # built, then from the kept bytes
            answer = caller.get(path)
            assert answer.status_code == 200, path
            with app.app_context():
                assert answer.data == app.json.response(answer.get_json()).get_data(), path
            assert answer.headers["Content-Type"] == "application/json"
            assert answer.headers["Content-Length"] == str(len(answer.data))


def test_the_kept_bytes_are_each_items_compact_json(app, owner, stored_image):
    public, _, ids = varied_images(owner, stored_image)
    answer = owner.get("/api/images/")
    collections = owner.get("/api/collections/")
    kept_images, kept_collections = app.extensions["api_image_json"], app.extensions["api_collection_json"]
    for item in answer.get_json()["results"]:
        assert kept_images[item["id"]][1] == compact(item)
    assert kept_collections[public][1] == compact(collections.get_json()["results"][0])
    assert set(kept_images) == set(ids[:2]), "only the public ready images were listed"


def test_in_debug_mode_the_answer_is_indented_as_before(app, owner, stored_image):
    public, _, _ = varied_images(owner, stored_image)
    app.debug = True
    try:
        answer = owner.get(f"/api/collections/{public}/images/")
        with app.app_context():
            assert answer.data == app.json.response(answer.get_json()).get_data()
        assert answer.data.startswith(b'{\n  "count": 3,\n')
    finally:
        app.debug = False
