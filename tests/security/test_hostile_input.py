"""Hostile values in URLs and query strings get a clear 4xx on every route, never a 500: numbers past
the database's integers, NUL bytes, very long strings, pages beyond any end, other scripts' digits."""

import base64
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.routing import IntegerConverter

from ..helpers import bulk_ready_images
from .world import build_world

#: "²".isdigit() is true but int("²") raises; int("٣") is 3 and int("１２") is 12 (issue 21, item 8).
NON_ASCII_DIGITS = ("²", "٣", "１２", "1²", "߁")
HUGE_NUMBERS = (2**31, 2**63, 10**30, *(quote(digits) for digits in NON_ASCII_DIGITS))
HOSTILE_STRINGS = (*(quote(digits) for digits in NON_ASCII_DIGITS), "%00", "a%00b", "x" * 3000,
                   "%2e%2e%2f%2e%2e%2fetc", "%F0%9F%A7%A0", "'%20OR%201=1--")
LIST_PATHS = ("/collections/", "/images/", "/collections/mine", "/api/collections/", "/api/images/",
              "/api/my_collections/")
HOSTILE_QUERIES = ("page=99999999999999999999", "page=-1", "page=abc", "page=1e9", "offset=99999999999999999999",
                   "offset=-5", "limit=99999999999", "limit=-1", "per_page=1000000", "owner=99999999999999999999",
                   "owner=abc", *(f"{name}={quote(digits)}" for name in ("owner", "page", "limit", "offset")
                                  for digits in NON_ASCII_DIGITS),
                   "sort=%00", "q=%00", "q=" + "x" * 5000, "map_type=%00", "modality=" + "%ff" * 20)


@pytest.fixture
def world(app, accounts, tmp_path):
    return build_world(app, accounts, tmp_path)


def hostile_urls(app):
    """For every rule, URLs with each argument replaced by hostile values (numbers for ints, strings for the rest)."""
    for rule in app.url_map.iter_rules():
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        for arg in rule.arguments:
            converter = rule._converters[arg]
            values = HUGE_NUMBERS if isinstance(converter, IntegerConverter) else HOSTILE_STRINGS
            for value in values:
                url = rule.rule
                for name in rule.arguments:
                    fill = value if name == arg else ("1" if isinstance(rule._converters[name], IntegerConverter)
                                                      else "glass_brain")
                    url = replace_argument(url, name, str(fill))
                yield rule.endpoint, methods, url


def replace_argument(url, name, value):
    """``/x/<int(max=2147483647):id>/y`` with the argument replaced (any converter spelling)."""
    start = url.find("<")
    while start != -1:
        end = url.find(">", start)
        part = url[start + 1:end]
        if part.split(":")[-1] == name:
            return url[:start] + value + url[end + 1:]
        start = url.find("<", end)
    return url


def test_hostile_path_arguments_never_500(app, world):
    checked = 0
    for actor in ("anonymous", "owner"):
        client = world.clients[actor]
        for endpoint, methods, url in hostile_urls(app):
            for method in methods:
                headers = {"Tus-Resumable": "1.0.0", "Authorization": f"Token {world.tokens['owner']}"} \
                    if endpoint.startswith("tus.") and actor == "owner" else {}
                answer = client.open(url, method=method, headers=headers)
                answer.close()
                checked += 1
                assert answer.status_code < 500, (actor, method, url[:120], answer.status_code)
    assert checked > 100


def test_hostile_query_strings_never_500(world):
    for actor in ("anonymous", "owner"):
        client = world.clients[actor]
        for path in LIST_PATHS:
            for query in HOSTILE_QUERIES:
                headers = {"Authorization": f"Token {world.tokens['owner']}"} \
                    if path.startswith("/api/") and actor == "owner" else {}
                answer = client.get(f"{path}?{query}", headers=headers)
                assert answer.status_code < 500, (actor, path, query[:60], answer.status_code)


def test_api_pages_are_capped(app, world):
    """More public images than the cap of 1000: a hostile ``limit`` gets a page of 1000, never all of them."""
    with app.app_context():
        bulk_ready_images(world.ids["public_collection"], 1000, world.ids["owner"])
    answer = world.clients["anonymous"].get("/api/images/?limit=100000")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["count"] == 1001 and len(body["results"]) == 1000 and body["next"]


def test_hostile_tus_metadata_is_a_clear_no(world):
    client = world.clients["anonymous"]
    base = {"Tus-Resumable": "1.0.0", "Authorization": f"Token {world.tokens['owner']}", "Upload-Length": "10"}
    for metadata in ("collection_id OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "filename", "filename ,,,", "=" * 5000,
                     "collection_id AA==,filename AA=="):
        answer = client.post("/api/uploads/", headers={**base, "Upload-Metadata": metadata})
        assert 400 <= answer.status_code < 500, (metadata[:40], answer.status_code)
    for length in ("-1", "99999999999999999999999", "1e9", ""):
        answer = client.post("/api/uploads/", headers={**base, "Upload-Length": length})
        assert 400 <= answer.status_code < 500, (length, answer.status_code)


def test_nul_bytes_in_bodies_are_a_clear_no(world):
    """PostgreSQL cannot store NUL in text: a form or JSON field holding one answers 4xx, not 500."""
    from tests.helpers import csrf_token

    owner = world.clients["owner"]
    form = {"name": "a\x00b", "csrf_token": csrf_token(owner, "/collections/new")}
    assert owner.post("/collections/new", data=form).status_code < 500
    api = world.clients["anonymous"]
    headers = {"Authorization": f"Token {world.tokens['owner']}"}
    assert api.post("/api/collections/", json={"name": "a\x00b"}, headers=headers).status_code < 500
    collection_id = world.ids["public_collection"]
    assert api.patch(f"/api/collections/{collection_id}/", json={"description": "\x00"},
                     headers=headers).status_code < 500
    assert api.get("/api/collections/?name=%00", headers=headers).status_code < 500


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_ids_and_lengths_are_ascii_digits_only(world):
    """Other scripts' digits name nothing: not a 500 ("²"), and not the id they would mean to int() ("٣" is 3)."""
    client = world.clients["anonymous"]
    headers = {"Authorization": f"Token {world.tokens['owner']}"}
    collection_id, image_id = world.ids["public_collection"], world.ids["public_image"]
    assert client.get(f"/api/collections/{collection_id}/").status_code == 200
    arabic = "".join(chr(0x0660 + int(digit)) for digit in str(collection_id))
    for ref in ("²", arabic, "".join(chr(0xFF10 + int(digit)) for digit in str(collection_id))):
        assert client.get(f"/api/collections/{quote(ref)}/").status_code == 404, ref
        assert client.get(f"/api/collections/{quote(ref)}/images/").status_code == 404, ref
        assert client.get(f"/collections/{quote(ref)}").status_code == 404, ref
    arabic_image = "".join(chr(0x0660 + int(digit)) for digit in str(image_id))
    assert client.get(f"/api/images/{image_id}/").status_code == 200
    assert client.get(f"/api/images/{quote(arabic_image)}/").status_code == 404
    assert client.get(f"/images/{quote(arabic_image)}").status_code == 404
    for owner in ("²", "٣", str(world.ids["owner"]).translate({ord("0") + d: 0x0660 + d for d in range(10)})):
        answer = client.get(f"/api/collections/?owner={quote(owner)}")
        assert answer.status_code == 400 and "owner" in answer.get_json(), owner
    for name in ("limit", "offset"):
        answer = client.get(f"/api/images/?{name}={quote('٣')}").get_json()
        assert answer["previous"] is None and len(answer["results"]) == min(answer["count"], 100), "the default"
    tus = {**headers, "Tus-Resumable": "1.0.0", "Upload-Length": "10"}
    for value in ("²", "٣", str(collection_id).translate({ord("0") + d: 0x0660 + d for d in range(10)})):
        answer = client.post("/api/uploads/", headers={**tus, "Upload-Metadata": f"collection_id {b64(value)},"
                                                                                    f"filename {b64('a.nii')}"})
        assert answer.status_code == 400 and "collection_id" in answer.get_json()["detail"], value
    for length in ("²", "¹²", "1²"):
        answer = client.post("/api/uploads/", headers={**tus, "Upload-Length": length, "Upload-Metadata":
                                                       f"collection_id {b64(str(collection_id))},filename {b64('a')}"})
        assert answer.status_code == 400 and "Upload-Length" in answer.get_json()["detail"], length


DIGIT_LIKE = st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(digits=DIGIT_LIKE)
def test_fuzz_digit_like_text_never_500(world, digits):
    """Any mix of Unicode digits and numerals as an id, a filter, a page or a tus length: a 4xx or an empty answer."""
    client = world.clients["anonymous"]
    token = {"Authorization": f"Token {world.tokens['owner']}"}
    for url in (f"/api/collections/{quote(digits)}/", f"/api/images/{quote(digits)}/", f"/images/{quote(digits)}",
                f"/api/collections/?owner={quote(digits)}", f"/api/images/?offset={quote(digits)}",
                f"/collections/?page={quote(digits)}"):
        assert client.get(url).status_code in (200, 400, 404), url
    tus = {**token, "Tus-Resumable": "1.0.0", "Upload-Length": "10",
           "Upload-Metadata": f"collection_id {b64(digits)},filename {b64('a.nii')}"}
    assert client.post("/api/uploads/", headers=tus).status_code in (400, 404)
