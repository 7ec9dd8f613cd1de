"""The API's OpenAPI 3.1 description, written by hand next to the routes it describes.

A hand-written dict (no schema library): the routes and their JSON are few and
stable (NeuroVault's), and ``tests/api/test_openapi.py`` holds the two together
by checking every rule of the blueprint is described and by running schemathesis
against the document. The ``/api/docs`` page is rendered from the same dict.
"""

from flask import current_app

from ..vocab import ANALYSIS_LEVELS, MAP_TYPES, MODALITIES, TEMPLATES

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind, **extra):
    return {"type": [kind, "null"], **extra}


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


SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["detail"],
        "properties": {"detail": {"type": "string"}},
        "description": "Any error but a bad field.",
    },
    "FieldErrors": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": {"type": "string"}},
        "description": "A 400: each bad field (or query parameter, or `non_field_errors`) with its messages.",
        "example": {"name": ["This field may not be blank."]},
    },
    "User": {
        "type": "object",
        "required": ["id", "username", "email"],
        "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"}},
    },
    "Collection": {
        "type": "object",
        "description": "NeuroVault's collection fields; fields sent on creation that neurodrop does not know are "
        "kept and appear here too.",
        "required": [
            "id", "url", "download_url", "owner", "owner_name", "contributors", "number_of_images", "name", "DOI",
            "authors", "paper_url", "journal_name", "description", "full_dataset_url", "private", "add_date",
            "modify_date",
        ],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "format": "uri", "description": "A private collection's URL uses its share "
                    "token in place of the id."},
            "download_url": {"type": "string", "format": "uri", "description": "A zip of the listed images."},
            "html_url": {"type": "string", "format": "uri"},
            "images_url": {"type": "string", "format": "uri"},
            "owner": {"type": "integer"},
            "owner_name": nullable("string"),
            "contributors": {"type": "array", "items": {"type": "string"}},
            "number_of_images": {"type": "integer", "description": "Every image uploaded, whatever its status."},
            "name": {"type": "string"},
            "DOI": nullable("string"),
            "authors": nullable("string"),
            "paper_url": nullable("string"),
            "journal_name": nullable("string"),
            "description": nullable("string"),
            "full_dataset_url": nullable("string"),
            "private": {"type": "boolean"},
            "add_date": {"type": "string", "format": "date-time"},
            "modify_date": {"type": "string", "format": "date-time"},
        },
    },
    "CollectionInput": {
        "type": "object",
        "description": "JSON or form fields. Unknown fields are kept and echoed back.",
        "properties": {
            "name": {"type": "string", "maxLength": 200, "description": "Required on POST and PUT."},
            "description": {"type": "string", "maxLength": 10000},
            "authors": {"type": "string", "maxLength": 2000},
            "DOI": {"type": "string", "description": "Unique; looks like 10.1234/abcd."},
            "paper_url": {"type": "string", "format": "uri"},
            "journal_name": {"type": "string", "maxLength": 200},
            "full_dataset_url": {"type": "string", "format": "uri"},
            "private": {"type": "boolean"},
        },
    },
    "SimilarMap": {
        "type": "object",
        "required": ["id", "name", "collection", "r", "url"],
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "collection": {"type": ["integer", "string"], "description": "Its id, or its share token if private."},
            "collection_url": {"type": "string", "format": "uri"},
            "r": {"type": "number", "minimum": -1, "maximum": 1,
                  "description": "Pearson r over the 4 mm MNI brain mask, voxels zero or NaN in either map left out."},
            "url": {"type": "string", "format": "uri"},
            "html_url": {"type": "string", "format": "uri"},
            "thumbnail": {"type": "string", "format": "uri"},
        },
    },
    "Search": {
        "type": "object",
        "required": ["id", "url", "status"],
        "properties": {
            "id": {"type": "string"},
            "url": {"type": "string", "format": "uri"},
            "status": {"type": "string", "enum": ["pending", "ready", "failed"]},
            "error": {"type": ["string", "null"], "description": "Why the file could not be compared."},
            "filename": {"type": "string"},
            "count": {"type": "integer", "minimum": 0},
            "next": {"type": ["string", "null"]},
            "previous": {"type": ["string", "null"]},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/SimilarMap"}},
        },
        "description": "A search by file; `count`, `next`, `previous` and `results` once `status` is `ready`.",
    },
    "Image": {
        "type": "object",
        "description": "NeuroVault's image fields and neurodrop's (`status`, `error`, `stats`, `report`, `sha256`). "
        "Unknown fields sent on upload are kept and appear here too. NaN is sent as null.",
        "required": [
            "url", "id", "file", "collection", "collection_id", "file_size", "name", "description", "add_date",
            "modify_date", "is_valid", "map_type", "analysis_level", "modality", "target_template_image",
            "thumbnail", "is_thresholded", "perc_bad_voxels", "not_mni", "brain_coverage", "perc_voxels_outside",
            "number_of_subjects", "image_type", "status", "error", "stats", "clusters", "report", "sha256",
        ],
        "properties": {
            "url": {"type": "string", "format": "uri"},
            "id": {"type": "integer"},
            "file": {"type": "string", "format": "uri", "description": "The map as .nii.gz: the uploaded bytes when "
                     "they were gzipped, else gzipped on the way (nilearn saves every map as .nii.gz)."},
            "html_url": {"type": "string", "format": "uri"},
            "collection": {"type": "string", "format": "uri"},
            "collection_id": {"type": "integer"},
            "file_size": {"type": "integer"},
            "sha256": {"type": "string"},
            "name": {"type": "string"},
            "description": nullable("string"),
            "original_filename": {"type": "string"},
            "add_date": {"type": "string", "format": "date-time"},
            "modify_date": {"type": "string", "format": "date-time"},
            "is_valid": {"type": "boolean", "description": "True once the image is ready."},
            "map_type": {"type": "string", "enum": list(MAP_TYPES.values())},
            "analysis_level": {"type": ["string", "null"], "enum": [*ANALYSIS_LEVELS.values(), None]},
            "modality": {"type": "string"},
            "target_template_image": {"type": "string"},
            "number_of_subjects": nullable("integer"),
            "thumbnail": nullable("string", format="uri", description="The glass brain PNG once ready."),
            "is_thresholded": {"type": "boolean"},
            "perc_bad_voxels": nullable("number"),
            "not_mni": {"type": "boolean"},
            "brain_coverage": nullable("number"),
            "perc_voxels_outside": nullable("number"),
            "is_4d": {"type": "boolean"},
            "image_type": {"type": "string", "const": "statistic_map"},
            "status": {"type": "string", "enum": ["uploaded", "queued", "processing", "ready", "failed"]},
            "error": nullable("string", description="Why processing failed, for a researcher."),
            "stats": nullable("object", description="Summary, percentiles, histogram, peak, flags."),
            "clusters": {"oneOf": [ref("ClusterTable"), {"type": "null"}],
                         "description": "The cluster table with region names; null until processed."},
            "report": nullable("object", description="The validation report: header facts and findings."),
        },
    },
    "ClusterTable": {
        "type": "object",
        "description": "Clusters of the voxels past the map's threshold, each sign apart, strongest peak first "
        "(as nilearn's get_clusters_table). Regions are named from the atlases listed, for maps in MNI space.",
        "properties": {
            "threshold": {"type": ["object", "null"], "description": "`value`, `two_sided`, `rule` (in words), "
                          "`below` (P maps), `nonzero` (already thresholded maps); null for masks and atlases.",
                          "properties": {"value": nullable("number"), "two_sided": {"type": "boolean"},
                                         "rule": {"type": "string"}}},
            "clusters": {"type": "array", "items": ref("Cluster")},
            "n_found": {"type": "integer", "description": "Clusters found; more than listed when `truncated`."},
            "truncated": {"type": "boolean"},
            "message": nullable("string", description="Why the table is empty or cut short."),
            "atlases": {"type": "array", "items": {"type": "object", "properties": {
                "key": {"type": "string"}, "title": {"type": "string"}, "citation": {"type": "string"}}}},
            "labels_note": nullable("string", description="Why there are no region names (not in MNI space)."),
        },
    },
    "Cluster": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "sign": {"type": "string", "enum": ["+", "-"]},
            "size_voxels": {"type": "integer"},
            "size_mm3": {"type": "number"},
            "peak": ref("ClusterPeak"),
            "subpeaks": {"type": "array", "maxItems": 3, "items": ref("ClusterPeak"),
                         "description": "Local maxima more than 8 mm from a stronger one."},
            "regions": {"type": "object", "description": "Per atlas key, the regions holding at least 5 % of the "
                        "cluster's voxels: `[{name, share}]`, largest first.",
                        "additionalProperties": {"type": "array", "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "share": {"type": "number"}}}}},
        },
    },
    "ClusterPeak": {
        "type": "object",
        "properties": {
            "value": {"type": "number"},
            "mm": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3,
                   "description": "MNI coordinates (x, y, z) in mm."},
            "voxel": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
            "regions": {"type": "object", "additionalProperties": nullable("string"),
                        "description": "Per atlas key, the region at this point (null outside every region)."},
        },
    },
    "ImageFields": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": 255, "description": "Default: the file name."},
            "description": {"type": "string"},
            "map_type": {"type": "string", "enum": [*MAP_TYPES, *MAP_TYPES.values()], "description": "A code "
                         "(T, Z, F, X2, P, IP, M, U, R, Pa, A, V, Other) or its display string. Default Other."},
            "modality": {"type": "string", "enum": list(MODALITIES), "description": "Default Other."},
            "analysis_level": {"type": "string", "enum": [*ANALYSIS_LEVELS, *ANALYSIS_LEVELS.values()]},
            "target_template_image": {"type": "string", "enum": list(TEMPLATES)},
            "number_of_subjects": {"type": "integer", "minimum": 1, "maximum": 2147483647},
        },
    },
    "ImageUpload": {
        "allOf": [
            ref("ImageFields"),
            {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": ".nii or .nii.gz"}},
            },
        ],
        "description": "Multipart form. Unknown fields (e.g. `cognitive_paradigm_cogatlas`, `tags`) are kept.",
    },
    "Index": {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}},
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
BAD_FIELDS = json_body(ref("FieldErrors"), "Bad fields or parameters.")


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
            "Multipart. Answers at once with `status: queued`; poll the image until `ready` or `failed`.",
            tag="images", security=AUTH,
            body={"required": True, "content": {"multipart/form-data": {"schema": ref("ImageUpload")}}},
            responses={
                "201": json_body(ref("Image"), "Stored and queued."), "400": BAD_FIELDS, "401": NEEDS_LOGIN,
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
