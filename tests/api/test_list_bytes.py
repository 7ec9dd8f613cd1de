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
