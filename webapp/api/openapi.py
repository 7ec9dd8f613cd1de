"""The API's OpenAPI 3.1 description: the paths written by hand next to the routes they describe.

The components (the JSON of collections and images, and what may be sent) come
from the field table in ``webapp/metadata.py`` (``openapi_schemas.py``), so the
documented limits are the enforced ones. ``tests/api/test_openapi.py`` checks
every rule of the blueprint is described and runs schemathesis against the
document, validating the answers against it. The ``/api/docs`` page is rendered
from the same dict.
"""

from flask import current_app

from ..vocab import ANALYSIS_LEVELS, MAP_TYPES
from .openapi_schemas import SCHEMAS, nullable, ref

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def json_body(schema, description):
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error(description):
    return json_body(ref("Error"), description)


def page_of(item):
    return {
        "type": "object",
        "required": ["count", "next", "previous", "results"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "next": nullable("string", format="uri", description="The next page (absolute URL), or null."),
            "previous": nullable("string", format="uri", description="The previous page (absolute URL), or null."),
            "results": {"type": "array", "items": ref(item)},
        },
    }


LIMIT = {
    "name": "limit", "in": "query", "required": False,
    "schema": {"type": "integer", "minimum": 1, "default": 100},
    "description": "Page size; at most 1000 (a larger value is lowered to 1000).",
}
OFFSET = {
    "name": "offset", "in": "query", "required": False,
    "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647, "default": 0},
}
FORMAT = {
    "name": "format", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "Accepted and ignored (answers are always JSON).",
}
COLLECTION_REF = {
    "name": "ref", "in": "path", "required": True, "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    "description": "The collection id, or a private collection's share token.",
}
IMAGE_ID = {
    "name": "image_id", "in": "path", "required": True,
    "schema": {"type": "integer", "minimum": 0, "maximum": 2147483647},
}
REGION = {
    "name": "region", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 100},
    "description": "Only maps with a peak, or at least a quarter of a cluster, in a brain region whose name "
    "contains these words (case-insensitive), e.g. `amygdala`, `precentral`.",
}
SHARE_TOKEN = {
    "name": "share_token", "in": "query", "required": False, "schema": {"type": "string"},
    "description": "Set on links into a private collection, so they work without a login.",
}
FILE_NAME = {
    "name": "file_name", "in": "path", "required": True, "schema": {"type": "string", "pattern": "[.]nii[.]gz$"},
}
AUTH = [{"token": []}, {"bearer": []}]
OPTIONAL_AUTH = [*AUTH, {}]
COLLECTION_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": ref("CollectionInput")},
        "application/x-www-form-urlencoded": {"schema": ref("CollectionInput")},
    },
}

NEEDS_LOGIN = error("No or wrong token.")
NOT_YOURS = error("Not your collection.")
NOT_FOUND = error("No such collection or image, or a private one.")
BAD_FIELDS = json_body({"anyOf": [ref("FieldErrors"), ref("Error")]}, "Bad fields or parameters, or a bad body.")
NAMED_FILE_RESPONSES = {
    "200": {"description": "The file.", "content": {"application/gzip": {"schema": {"type": "string"}}}},
    "302": {"description": "To the map's canonical file name."}, "401": NEEDS_LOGIN, "404": NOT_FOUND,
}


def operation(summary, description="", *, tag, security=OPTIONAL_AUTH, parameters=(), body=None, responses):
    op = {"summary": summary, "tags": [tag], "security": security, "responses": responses}
    if description:
        op["description"] = description
    if parameters:
        op["parameters"] = list(parameters)
    if body:
        op["requestBody"] = body
    return op


PATHS = {
    "/": {"get": operation("Links to the lists", tag="meta", responses={"200": json_body(ref("Index"), "Links.")})},
    "/user": {
        "get": operation(
            "The token's user", tag="meta", security=AUTH,
            responses={"200": json_body(ref("User"), "You."), "401": NEEDS_LOGIN},
        )
    },
    "/collections/": {
        "get": operation(
            "Public collections", "Oldest first. Filter by exact `name`, `DOI` or `owner` (a user id).",
            tag="collections",
            parameters=[
                LIMIT, OFFSET, FORMAT,
                {"name": "name", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "DOI", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "owner", "in": "query", "required": False, "schema": {"type": "integer"}},
            ],
            responses={
                "200": json_body(page_of("Collection"), "A page of collections."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN,
            },
        ),
        "post": operation(
            "Create a collection", "`name` is required; a DOI must be unique.", tag="collections", security=AUTH,
            body=COLLECTION_BODY,
            responses={"201": json_body(ref("Collection"), "Created."), "400": BAD_FIELDS, "401": NEEDS_LOGIN},
        ),
    },
    "/my_collections/": {
        "get": operation(
            "Your collections, private ones included", tag="collections", security=AUTH,
            parameters=[LIMIT, OFFSET, FORMAT],
            responses={
                "200": json_body(page_of("Collection"), "A page of collections."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN,
            },
        )
    },
    "/collections/{ref}/": {
        "parameters": [COLLECTION_REF],
        "get": operation(
            "One collection", tag="collections", parameters=[FORMAT],
            responses={"200": json_body(ref("Collection"), "The collection."), "401": NEEDS_LOGIN, "404": NOT_FOUND},
        ),
        "put": operation(
            "Change your collection", "Fields not sent stay as they are; `name` is required.", tag="collections",
            security=AUTH, body=COLLECTION_BODY,
            responses={
                "200": json_body(ref("Collection"), "Saved."), "400": BAD_FIELDS, "401": NEEDS_LOGIN,
                "403": NOT_YOURS, "404": NOT_FOUND,
            },
        ),
        "patch": operation(
            "Change some fields of your collection", tag="collections", security=AUTH, body=COLLECTION_BODY,
            responses={
                "200": json_body(ref("Collection"), "Saved."), "400": BAD_FIELDS, "401": NEEDS_LOGIN,
                "403": NOT_YOURS, "404": NOT_FOUND,
            },
        ),
        "delete": operation(
            "Delete your collection and its images", tag="collections", security=AUTH,
            responses={"204": {"description": "Deleted."}, "401": NEEDS_LOGIN, "403": NOT_YOURS, "404": NOT_FOUND},
        ),
    },
    "/collections/{ref}/images/": {
        "parameters": [COLLECTION_REF],
        "get": operation(
            "A collection's images",
            "Upload order. Its owner sees every image with its `status`; others see the ready ones.",
            tag="images", parameters=[LIMIT, OFFSET, FORMAT],
            responses={
                "200": json_body(page_of("Image"), "A page of images."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN, "404": NOT_FOUND,
            },
        ),
        "post": operation(
            "Upload a map into your collection",
            "Multipart. Answers at once with `status: queued`; poll the image until `ready` or `failed`. An "
            "archive (.zip, .tar, .tar.gz, .tgz) or a lone .hdr/.img half answers 202 with its batch: a worker makes "
            "the images; poll the batch's `url` until `complete`.",
            tag="images", security=AUTH,
            body={"required": True, "content": {"multipart/form-data": {"schema": ref("ImageUpload")}}},
            responses={
                "201": json_body(ref("Image"), "Stored and queued."),
                "202": json_body(ref("Batch"), "An archive or a pair half, stored and queued for unpacking."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN,
                "403": NOT_YOURS, "404": NOT_FOUND, "413": error("Too large, or over your quota."),
                "429": error("Too many of your images wait for processing."),
            },
        ),
    },
    "/collections/{ref}/download": {
        "parameters": [COLLECTION_REF],
        "get": operation(
            "The listed images' files as one zip", tag="collections",
            responses={
                "200": {"description": "A zip.", "content": {"application/zip": {"schema": {"type": "string"}}}},
                "401": NEEDS_LOGIN, "404": NOT_FOUND,
            },
        ),
    },
    "/images/": {
        "get": operation(
            "Ready images of public collections", "Oldest first.", tag="images",
            parameters=[LIMIT, OFFSET, REGION, FORMAT],
            responses={"200": json_body(page_of("Image"), "A page of images."), "400": BAD_FIELDS,
                       "401": NEEDS_LOGIN},
        )
    },
    "/images/{image_id}/": {
        "parameters": [IMAGE_ID],
        "get": operation(
            "One image", tag="images", parameters=[SHARE_TOKEN, FORMAT],
            responses={"200": json_body(ref("Image"), "The image."), "401": NEEDS_LOGIN, "404": NOT_FOUND},
        ),
        "patch": operation(
            "Change your image's fields", tag="images", security=AUTH, parameters=[SHARE_TOKEN],
            body={
                "required": True,
                "content": {
                    "application/json": {"schema": ref("ImageFields")},
                    "application/x-www-form-urlencoded": {"schema": ref("ImageFields")},
                },
            },
            responses={
                "200": json_body(ref("Image"), "Saved."), "400": BAD_FIELDS, "401": NEEDS_LOGIN,
                "403": NOT_YOURS, "404": NOT_FOUND,
            },
        ),
        "delete": operation(
            "Delete your image", tag="images", security=AUTH, parameters=[SHARE_TOKEN],
            responses={"204": {"description": "Deleted."}, "401": NEEDS_LOGIN, "403": NOT_YOURS, "404": NOT_FOUND},
        ),
    },
    "/images/{image_id}/file": {
        "parameters": [IMAGE_ID],
        "get": operation(
            "The map as .nii.gz",
            "application/gzip with no Content-Encoding. A gzipped upload is sent byte for byte (ranges work); an "
            "uncompressed one is gzipped on the way, as NeuroVault stores every map gzipped.",
            tag="images", parameters=[SHARE_TOKEN],
            responses={
                "200": {"description": "The file.", "content": {"application/gzip": {"schema": {"type": "string"}}}},
                "401": NEEDS_LOGIN, "404": NOT_FOUND,
            },
        ),
    },
    "/images/{image_id}/{file_name}": {
        "parameters": [IMAGE_ID, FILE_NAME],
        "get": operation(
            "The map as .nii.gz, at the URL given as `file`",
            "The last part is the map's file name (NiMARE saves each download under it); another name ending in "
            "`.nii.gz` redirects to this one. Same bytes, ranges and ETag as `/images/{image_id}/file`.",
            tag="images", responses=NAMED_FILE_RESPONSES,
        ),
    },
    "/images/{image_id}/{share_token}/{file_name}": {
        "parameters": [IMAGE_ID, {**SHARE_TOKEN, "in": "path", "required": True}, FILE_NAME],
        "get": operation(
            "A private collection's map as .nii.gz", "The share token is a path part, so the name stays last.",
            tag="images", responses=NAMED_FILE_RESPONSES,
        ),
    },
    "/images/{image_id}/similar/": {
        "parameters": [IMAGE_ID],
        "get": operation(
            "The maps most similar to this one",
            "Best first, by exact Pearson r over the MNI152 4 mm brain mask (voxels zero or NaN in either map do "
            "not count); the 100 most similar maps you may see (public ones, and your own). `reason` says why a map "
            "has none (ROI, parcellation, not in MNI space, constant); `not_comparable` counts maps whose r is "
            "undefined with this one (too little overlap, or constant where they overlap).",
            tag="images",
            parameters=[
                SHARE_TOKEN, LIMIT, OFFSET,
                {"name": "map_type", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(MAP_TYPES)}},
                {"name": "analysis_level", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": list(ANALYSIS_LEVELS)}},
            ],
            responses={
                "200": json_body({"allOf": [page_of("SimilarMap"), {
                    "type": "object",
                    "properties": {"reason": {"type": ["string", "null"]},
                                   "not_comparable": {"type": "integer", "minimum": 0}},
                }]}, "A page of similar maps."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN, "404": NOT_FOUND,
            },
        ),
    },
    "/similar/": {
        "post": operation(
            "Search by file: the public maps most like an unpublished map",
            "Multipart `file` (.nii or .nii.gz). A worker checks it as an upload, makes its vector, deletes the "
            "file and ranks the public maps; nothing is published. Answers 202 (`pending`; poll `url`) or 200 when "
            "already done. The answer is kept for an hour, for you only. Rate limited per user.",
            tag="images", security=AUTH,
            body={"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": "The NIfTI file."}},
            }}}},
            responses={
                "200": json_body(ref("Search"), "Done."), "202": json_body(ref("Search"), "Queued."),
                "400": BAD_FIELDS, "401": NEEDS_LOGIN, "413": error("Larger than the search size limit."),
                "429": error("Too many searches; see Retry-After."),
            },
        ),
    },
    "/similar/{search_id}/": {
        "parameters": [{"name": "search_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": operation(
            "Your search by file", "Its status, then a page of the most similar public maps.", tag="images",
            security=AUTH, parameters=[LIMIT, OFFSET],
            responses={"200": json_body(ref("Search"), "The search."), "400": BAD_FIELDS, "401": NEEDS_LOGIN,
                       "404": error("No such search of yours (or it expired).")},
        ),
    },
    "/images/{image_id}/thumbnail.png": {
        "parameters": [IMAGE_ID],
        "get": operation(
            "The glass brain", tag="images", parameters=[SHARE_TOKEN],
            responses={
                "200": {"description": "A PNG.", "content": {"image/png": {"schema": {"type": "string"}}}},
                "401": NEEDS_LOGIN, "404": error("Not ready, or no such image."),
            },
        ),
    },
}

DESCRIPTION = (
    "A NeuroVault-compatible API: NeuroVault's clients (pynv, nilearn's `fetch_neurovault`) work with only their "
    "base URL changed. Every path also answers without its trailing slash, POST included.\n\n"
    "Authenticate with `Authorization: Token <key>` (or `Bearer <key>`); make keys on your account's API tokens "
    "page or with `flask accounts token EMAIL`. A wrong key is a 401 on every route. Errors are JSON: "
    "`{\"detail\": ...}`, or field name to messages for a 400."
)


def openapi_document():
    """The description of the API as served by this site (its server URL is this site's BASE_URL)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "neurodrop API", "version": "1", "description": DESCRIPTION},
        "servers": [{"url": current_app.config["BASE_URL"] + "/api"}],
        "tags": [
            {"name": "collections", "description": "Groups of maps, usually one paper's."},
            {"name": "images", "description": "Maps: upload, read, download."},
            {"name": "meta", "description": "The index and your account."},
        ],
        "paths": PATHS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization",
                          "description": "`Token <key>`, as NeuroVault and pynv send it."},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def operations(document):
    """Each operation of the document as a flat record, in path order, for the human page."""
    found = []
    for path, item in document["paths"].items():
        shared = item.get("parameters", [])
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            body = op.get("requestBody", {}).get("content", {})
            found.append({
                "method": method.upper(),
                "path": "/api" + path,
                "summary": op["summary"],
                "description": op.get("description", ""),
                "needs_token": {} not in op["security"],
                "parameters": [*shared, *op.get("parameters", [])],
                "body_types": list(body),
                "body_fields": body_fields(document, next(iter(body.values()), {}).get("schema")),
                "responses": [(code, response["description"]) for code, response in op["responses"].items()],
                "anchor": f"{method}-{path.strip('/').replace('/', '-').replace('{', '').replace('}', '')}",
            })
    return found


def body_fields(document, schema):
    """(name, type, description) of a request body's fields, following references and ``allOf``."""
    if not schema:
        return []
    if "$ref" in schema:
        return body_fields(document, document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]])
    fields = [field for part in schema.get("allOf", []) for field in body_fields(document, part)]
    for name, spec in schema.get("properties", {}).items():
        kind = spec.get("format") if spec.get("format") == "binary" else spec.get("type", "")
        fields.append((name, "file" if kind == "binary" else kind, spec.get("description", "")))
    return fields
