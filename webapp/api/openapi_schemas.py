"""The OpenAPI components: the fixed shapes written out, collections and images generated from the field table.

Each field of ``webapp/metadata.py`` documents itself with the limits the API
enforces (lengths, ranges, choices, patterns), both as sent back and as accepted.
"""

from ..field_rules import DOI_PATTERN, MAX_INT
from ..metadata import COLLECTION_FIELDS, IMAGE_ABSENT_FILES, IMAGE_FIELDS
from ..vocab import ANALYSIS_LEVELS, MAP_TYPES

OUTPUT_TYPES = {
    "text": "string", "longtext": "string", "url": "string", "doi": "string", "choice": "string",
    "int": "integer", "float": "number", "bool": "boolean", "date": "string",
}
#: How the older fields with a coded vocabulary or a default read back.
OUTPUT_OVERRIDES = {
    "name": {"type": "string"},
    "private": {"type": "boolean"},
    "map_type": {"type": "string", "enum": list(MAP_TYPES.values())},
    "analysis_level": {"type": ["string", "null"], "enum": [*ANALYSIS_LEVELS.values(), None]},
    "modality": {"type": "string"},
    "target_template_image": {"type": "string"},
}
INPUT_OVERRIDES = {
    "map_type": {"enum": [*MAP_TYPES, *MAP_TYPES.values()], "description": "A code (T, Z, F, X2, P, IP, M, U, R, "
                 "Pa, A, V, Other) or its display string. Default Other."},
    "analysis_level": {"enum": [*ANALYSIS_LEVELS, *ANALYSIS_LEVELS.values()]},
    "number_of_subjects": {"minimum": 1},
    "private": {"type": "boolean"},
    "cognitive_paradigm_cogatlas": {"description": "The Cognitive Atlas task's name, or its id (trm_…)."},
}


def ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(kind, **extra):
    return {"type": [kind, "null"], **extra}




def output_property(field):
    """How a field reads back: null when unknown, except NeuroVault's blank-by-default text ("")."""
    if field.own_column and field.name in OUTPUT_OVERRIDES:
        return OUTPUT_OVERRIDES[field.name]
    kind = OUTPUT_TYPES[field.kind]
    spec = {"type": kind if field.blank == "" else [kind, "null"]}
    if field.kind == "choice":
        spec["enum"] = [*field.choices, None]
    if field.kind == "date":
        spec["format"] = "date-time"
    if field.title != field.name:
        spec["title"] = field.title
    return spec


def input_property(field):
    """What the API accepts for a field: its kind with the limits ``webapp/field_rules.py`` enforces."""
    spec = {"type": [OUTPUT_TYPES[field.kind], "null"] if field.name != "name" else "string"}
    if field.kind in ("text", "longtext", "url", "doi") and field.length:
        spec["maxLength"] = field.length
    if field.kind == "int":
        spec |= {"minimum": -MAX_INT, "maximum": MAX_INT}
    if field.kind == "choice":
        spec["enum"] = [*field.choices, None]
    if field.kind == "url":
        spec |= {"format": "uri", "description": "http or https."}
    if field.kind == "doi":
        spec |= {"pattern": DOI_PATTERN.pattern, "description": "Looks like 10.1234/abcd."}
    override = INPUT_OVERRIDES.get(field.name, {})
    if "enum" in override:
        spec["type"] = ["string", "null"]
    return spec | override


def input_schema(fields, description):
    properties = {field.name: input_property(field) for field in fields if not field.read_only}
    return {"type": "object", "description": description, "properties": properties}


def with_fields(schema, fields, extra_names=()):
    """A read schema with every field of the table (and ``extra_names``, always null) added and required."""
    properties = {**schema["properties"], **{field.name: output_property(field) for field in fields}}
    properties |= {name: {"type": "null"} for name in extra_names}
    return {**schema, "properties": properties, "required": [*schema["required"], *(f.name for f in fields),
                                                             *extra_names]}


def collection_schema():
    return with_fields({
        "type": "object",
        "description": "NeuroVault's collection fields (its study-design fields too); fields sent on creation "
        "that neurodrop does not know are kept and appear here too.",
        "required": ["id", "url", "api_url", "download_url", "owner", "owner_name", "contributors",
                     "number_of_images", "add_date", "modify_date", "communities"],
        "properties": {
            "id": {"type": "integer"},
            "url": {"type": "string", "format": "uri", "description": "The HTML page (a private collection's "
                    "share link), as NeuroVault's `url`."},
            "api_url": {"type": "string", "format": "uri", "description": "This JSON; a private collection's "
                        "uses its share token in place of the id."},
            "download_url": {"type": "string", "format": "uri", "description": "A zip of the listed images."},
            "html_url": {"type": "string", "format": "uri"},
            "images_url": {"type": "string", "format": "uri"},
            "owner": {"type": "integer"},
            "owner_name": nullable("string"),
            "contributors": {"type": "string", "description": "Comma-joined names, as NeuroVault sends them."},
            "number_of_images": {"type": "integer", "description": "Every image uploaded, whatever its status."},
            "add_date": {"type": "string", "format": "date-time"},
            "modify_date": {"type": "string", "format": "date-time"},
            "communities": {"type": "array", "items": {"type": "integer"}},
        },
    }, COLLECTION_FIELDS)


def image_schema():
    return with_fields({
        "type": "object",
        "description": "NeuroVault's StatisticMap fields and neurodrop's (`status`, `error`, `stats`, `report`, "
        "`sha256`). Unknown fields sent on upload are kept and appear here too, JSON-decoded. NaN is sent as null.",
        "required": [
            "url", "api_url", "id", "file", "collection", "collection_id", "file_size", "add_date", "modify_date",
            "is_valid", "thumbnail", "is_thresholded", "perc_bad_voxels", "not_mni", "brain_coverage",
            "perc_voxels_outside", "image_type", "status", "error", "stats", "clusters", "report", "sha256",
        ],
        "properties": {
            "url": {"type": "string", "format": "uri", "description": "The HTML page, as NeuroVault's `url`."},
            "api_url": {"type": "string", "format": "uri", "description": "This JSON."},
            "id": {"type": "integer"},
            "file": {"type": "string", "format": "uri", "description": "The map as .nii.gz; the last part of the "
                     "URL is its file name (a private map's URL carries the share token before it)."},
            "html_url": {"type": "string", "format": "uri"},
            "collection": {"type": "string", "format": "uri", "description": "The collection's HTML page."},
            "collection_api_url": {"type": "string", "format": "uri"},
            "collection_id": {"type": "integer"},
            "file_size": {"type": "integer"},
            "sha256": {"type": "string"},
            "original_filename": {"type": "string"},
            "add_date": {"type": "string", "format": "date-time"},
            "modify_date": {"type": "string", "format": "date-time"},
            "is_valid": {"type": "boolean", "description": "The essential metadata (map type, modality, analysis "
                         "level, number of subjects) is filled in and the map is processed."},
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
    }, IMAGE_FIELDS, IMAGE_ABSENT_FILES)


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
    "Batch": {
        "type": "object",
        "required": ["id", "kind", "status", "complete", "counts", "members", "url"],
        "description": "Files sent together (an archive, a pair, a group): what became of each member.",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": ["archive", "form", "tus"]},
            "filename": {"type": "string"},
            "status": {"type": "string", "enum": ["waiting", "unpacking", "closed"]},
            "error": nullable("string", description="Why the archive could not be read (whole or in part)."),
            "complete": {"type": "boolean", "description": "Closed, and every image in it ready or failed."},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "Members by state: `ready`, `failed`, `skipped`, …"},
            "members": {"type": "array", "items": {"type": "object", "required": ["name", "state"], "properties": {
                "name": {"type": "string"},
                "state": {"type": "string"},
                "image_id": {"type": "integer"},
                "image_name": {"type": "string"},
                "url": {"type": "string", "format": "uri"},
                "reason": nullable("string"),
                "notes": {"type": "array", "description": "What the import inferred or converted."},
            }}},
            "url": {"type": "string", "format": "uri", "description": "The batch's page (JSON with Accept)."},
        },
    },
    "ImageUpload": {
        "allOf": [
            ref("ImageFields"),
            {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary", "description": ".nii or .nii.gz; "
                                        "or an archive, or one half of an Analyze pair (answered 202)"}},
            },
        ],
        "description": "Multipart form. Unknown fields (e.g. `cognitive_paradigm_cogatlas`, `tags`) are kept.",
    },
    "Index": {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}},
    "Collection": collection_schema(),
    "CollectionInput": input_schema(
        COLLECTION_FIELDS, "JSON or form fields. Unknown fields are kept and echoed back. `name` is required on "
        "POST and PUT; a DOI must be unique."),
    "Image": image_schema(),
    "ImageFields": input_schema(IMAGE_FIELDS, "Unknown fields are kept and echoed back (JSON-decoded)."),
}

