"""The OpenAPI document describes exactly the routes there are, the docs page renders it, the answers match its
schemas, and schemathesis finds no 500 and no answer unlike the document anywhere in it on the live site."""

import io
import re

import pytest

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def described_operations(document):
    return {(method.upper(), "/api" + path) for path, item in document["paths"].items()
            for method in item if method.upper() in METHODS}


def routed_operations(app):
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.openapi", "api.docs"):
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
            found |= {(method, path) for method in rule.methods & METHODS}
    return found


def test_document_describes_every_api_route(app, client):
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": "http://neurodrop.test/api"}]
    assert described_operations(document) == routed_operations(app)


def test_document_is_valid_openapi(client):
    import schemathesis

    schema = schemathesis.openapi.from_dict(client.get("/api/openapi.json").get_json())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(described_operations(client.get("/api/openapi.json").get_json()))


def test_docs_page_lists_every_operation_without_inline_script(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    for method, path in described_operations(client.get("/api/openapi.json").get_json()):
        assert f"{method} {path}" in text
    assert "<script>" not in text and "onclick" not in text
    assert "Authorization: Token" in text and "http://neurodrop.test/api/collections/" in text


def server_errors(strategy, auth, examples):
    """Each generated request the site answered with a 5xx, or with JSON unlike the documented schema:
    (method, path, query, body, status, text)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import response_schema_conformance

    found = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def call(case):
        response = case.call(headers={**(case.headers or {}), **auth}, timeout=30)
        problem = response.text[:300] if response.status_code >= 500 else None
        if problem is None:
            try:
                case.validate_response(response, checks=[response_schema_conformance])
            except (AssertionError, FailureGroup) as mismatch:
                problem = str(mismatch)[:600]
        if problem is not None:
            found.append((case.method, case.formatted_path, case.query, case.body, response.status_code, problem))

    try:
        call()
    except Unsatisfiable:
        pass  # nothing to make invalid (an operation without parameters or body, in negative mode)
    return found


@pytest.mark.e2e
def test_schemathesis_finds_no_server_error_on_the_live_site(live_site, tmp_path):
    """Generated requests to every operation on real HTTP: valid ones by the owner of an existing collection and
    image (pinned in the path), invalid ones by another user, valid ones anonymously."""
    import requests
    import schemathesis
    from schemathesis import GenerationMode

    from tests.niftigen import small_map

    email = live_site.create_user("fuzz@example.org")
    headers = {"Authorization": f"Token {live_site.token_for(email)}"}
    other = {"Authorization": f"Token {live_site.token_for(live_site.create_user('fuzz-other@example.org'))}"}
    api = live_site.url + "/api"
    made = requests.post(f"{api}/collections/", json={"name": "fuzz target"}, headers=headers, timeout=30).json()
    with small_map(tmp_path / "fuzz.nii.gz").open("rb") as handle:
        image = requests.post(f"{api}/collections/{made['id']}/images/", files={"file": handle}, headers=headers,
                              timeout=30).json()
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        pinned = {"ref": str(made["id"]), "image_id": image["id"]}
        pinned = {key: value for key, value in pinned.items() if f"{{{key}}}" in operation.path}
        if operation.method.upper() == "DELETE":
            owner_run = (GenerationMode.POSITIVE, other, None, 5)  # the owner would delete the targets
        else:
            owner_run = (GenerationMode.POSITIVE, headers, pinned or None, 5)
        for mode, auth, path_parameters, examples in (
            owner_run,
            (GenerationMode.NEGATIVE, other, None, 5),
            (GenerationMode.POSITIVE, {}, None, 2),
        ):
            strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
            failures += server_errors(strategy, auth, examples)
    assert not failures, failures[:5]


def conforms(client, document, template, method="GET", path_parameters=None, **kwargs):
    """The answer to ``method template`` (its parameters filled in) matches what the document says it answers."""
    import schemathesis
    from schemathesis.specs.openapi.checks import response_schema_conformance

    operation = schemathesis.openapi.from_dict(document)[template][method]
    answer = client.open("/api" + template.format(**(path_parameters or {})), method=method, **kwargs)
    operation.Case(path_parameters=path_parameters).validate_response(answer, checks=[response_schema_conformance])
    return answer


def test_answers_match_the_documented_schemas(owner, client, stored_image):
    """Collections and images (every metadata field, set and unset) are what the components say they are."""
    document = client.get("/api/openapi.json").get_json()
    cid = owner.new_collection("Documented", echo_time=30, handedness="left", used_smoothing=False)["id"]
    plain = stored_image(cid)
    full = stored_image(cid, map_type="T", analysis_level="G", smoothness_fwhm=6.0, sex="F", extra={"n": "3"})
    conforms(client, document, "/collections/")
    conforms(client, document, "/collections/{ref}/", path_parameters={"ref": str(cid)})
    conforms(client, document, "/collections/{ref}/images/", path_parameters={"ref": str(cid)})
    conforms(client, document, "/images/")
    for image_id in (plain, full):
        conforms(client, document, "/images/{image_id}/", path_parameters={"image_id": image_id})
    bad = conforms(client, document, "/collections/", "POST", json={"name": "x", "echo_time": "?"},
                   headers=owner.headers)
    assert bad.status_code == 400


def test_an_archive_upload_answers_the_documented_202(owner, client, tmp_path):
    """An archive posted to the API answers 202 with its batch, and the document says so (issue 20)."""
    from tests import archives as build

    document = client.get("/api/openapi.json").get_json()
    assert "202" in document["paths"]["/collections/{ref}/images/"]["post"]["responses"]
    cid = owner.new_collection("Archive")["id"]
    data = build.write_zip(tmp_path / "spm.zip", build.spm_folder()).read_bytes()
    answer = conforms(client, document, "/collections/{ref}/images/", "POST", path_parameters={"ref": str(cid)},
                      headers=owner.headers, data={"file": (io.BytesIO(data), "spm.zip")},
                      content_type="multipart/form-data")
    assert answer.status_code == 202 and answer.get_json()["kind"] == "archive"
