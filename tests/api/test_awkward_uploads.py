"""Awkward files (``tests/awkward.py``) uploaded through the API under awkward names, processed by the real
task: each ends ready or failed as the corpus says, its JSON, page and download answer, and nothing is a 500."""

import pytest
import requests

from tests.awkward import CORPUS, Failed

BASE = "http://neurodrop.test"

UPLOADS = [
    ("nifti2.nii.gz", "Carte « z » d'été \"final\" (v2).nii.gz"),
    ("bgzip blocks", "map with  spaces.nii.gz"),
    ("complex64", "复数 map.nii.gz"),
    ("scl_slope=NaN, int16", "slope'nan.nii"),
    ("FSL ni1 .hdr alone", "fsl pair.nii"),
    ("all NaN", "empty map.nii"),
    ("dim[0]=5, AFNI series", "stats+tlrc.nii"),
    ("gzip + trailing garbage", "ü.nii.gz"),
]


def as_requests_sends_it(filename, data):
    """The multipart body pynv and NiMARE send (requests: a quote in a file name goes as %22, UTF-8 as is)."""
    prepared = requests.Request("POST", BASE, files={"file": (filename, data)}).prepare()
    return {"data": prepared.body, "content_type": prepared.headers["Content-Type"]}


@pytest.mark.parametrize(("entry", "filename"), UPLOADS)
def test_an_awkward_upload_ends_as_the_corpus_says(owner, tmp_path, entry, filename):
    build, expected = CORPUS[entry]
    data = build(tmp_path).read_bytes()
    cid = owner.new_collection(f"Awkward {entry}")["id"]
    answer = owner.post(f"/api/collections/{cid}/images/", **as_requests_sends_it(filename, data))
    assert answer.status_code == 201, answer.get_json()
    body = owner.get(f"/api/images/{answer.get_json()['id']}/").get_json()
    assert body["original_filename"] == filename
    if isinstance(expected, Failed):
        assert body["status"] == "failed" and f"{expected.field}=" in body["error"], body["error"]
        assert expected.value in body["error"]
    else:
        assert body["status"] == "ready", body["error"]
        assert {finding["field"] for finding in body["report"]["findings"]} >= expected.findings
    assert owner.get(f"/images/{body['id']}").status_code == 200
    assert owner.get(body["file"].removeprefix(BASE)).status_code == 200
