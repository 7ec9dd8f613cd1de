"""Metadata a map's file name and folder already say: BIDS entities, SPM and FSL output names, JSON sidecars.

Researchers upload analysis folders whose names carry the map type, the contrast, the template and the level of
the analysis; typing them again by hand is where mistakes come from. Every value here is a guess from a name, so
each comes with the reason it was inferred (shown on the image page as "inferred", and never written over a value
the uploader typed). Pure: a path string or a dict in, plain data out.
"""

import re

MAP_SUFFIXES = (".nii.gz", ".nii", ".img.gz", ".hdr.gz", ".img", ".hdr")

#: BIDS ``stat-`` (and ``desc-``) values → NeuroVault map type codes.
STAT_MAP_TYPES = {
    "t": "T", "tstat": "T", "z": "Z", "zstat": "Z", "f": "F", "fstat": "F", "effect": "U", "beta": "U",
    "cope": "U", "variance": "V", "varcope": "V", "p": "P", "chi2": "X2", "mask": "R",
}

#: BIDS suffixes that say what the map is whatever its entities.
SUFFIX_MAP_TYPES = {"mask": "R", "dseg": "Pa", "probseg": "Other", "T1w": "A"}

#: SPM and FSL output names (the stem, without extension) → (map type, what the number means).
TOOL_PATTERNS = (
    (re.compile(r"spmT_(\d+)", re.I), "T", "SPM", "contrast"),
    (re.compile(r"spmF_(\d+)", re.I), "F", "SPM", "contrast"),
    (re.compile(r"con_(\d+)", re.I), "U", "SPM", "contrast"),
    (re.compile(r"ess_(\d+)", re.I), "Other", "SPM", "contrast"),
    (re.compile(r"beta_(\d+)", re.I), "U", "SPM", "regressor"),
    (re.compile(r"ResMS", re.I), "V", "SPM", None),
    (re.compile(r"RPV", re.I), "Other", "SPM", None),
    (re.compile(r"mask", re.I), "R", None, None),
    (re.compile(r"zstat(\d+)", re.I), "Z", "FSL", "contrast"),
    (re.compile(r"zfstat(\d+)", re.I), "Z", "FSL", "F-test"),
    (re.compile(r"tstat(\d+)", re.I), "T", "FSL", "contrast"),
    (re.compile(r"fstat(\d+)", re.I), "F", "FSL", "F-test"),
    (re.compile(r"varcope(\d+)", re.I), "V", "FSL", "contrast"),
    (re.compile(r"cope(\d+)", re.I), "U", "FSL", "contrast"),
    (re.compile(r"pe(\d+)", re.I), "U", "FSL", "regressor"),
    (re.compile(r"(?:thresh_)?zstat(\d+)", re.I), "Z", "FSL", "contrast"),
)

FSL_COPE_FOLDER = re.compile(r"cope(\d+)\.feat$", re.I)
GROUP_FOLDERS = re.compile(r"^(group|groups|group[-_]level|second[-_]level|\S+\.gfeat)$", re.I)

#: The reason given for a name that is only the member's path: not worth marking on a single upload.
PLAIN_NAME = "its path in the archive"

SIDECAR_FIELDS = {"Description": "description", "Sources": "sources", "DegreesOfFreedom": "degrees_of_freedom",
                  "df": "degrees_of_freedom"}
MAX_SIDECAR_KEYS = 200
MAX_SIDECAR_TEXT = 10_000


def stem_of(filename):
    """The file name without its folder and its map extension (``.nii.gz``, ``.img``…)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in MAP_SUFFIXES:
        if base.lower().endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)]
    return base


def bids_entities(stem):
    """The ``key-value`` entities of a BIDS name and its suffix: ({"sub": "01", ...}, "statmap"), or ({}, None)."""
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        key, dash, value = part.partition("-")
        if not dash or not key.isalnum() or not value:
            return {}, None
        entities[key] = value
    last = parts[-1]
    if "-" in last:
        key, _dash, value = last.partition("-")
        entities[key] = value
        last = None
    return (entities, last) if entities else ({}, None)


def template_for_space(space):
    """Our template code for a BIDS ``space-`` value."""
    lowered = space.lower()
    if lowered == "mni152nlin2009casym":
        return "MNI152NLin2009cAsym"
    if lowered == "mni152lin":
        return "MNI152Lin"
    if "colin27" in lowered:
        return "Colin27"
    if lowered.startswith("fsaverage"):
        return "fsaverage"
    if lowered.startswith("mni"):
        return "GenericMNI"
    return "other"


def inferred(fields, field, value, why):
    """Record one inferred value with its reason (the first reason for a field wins)."""
    if value is not None and field not in fields:
        fields[field] = {"value": value, "why": why}


def from_bids(stem, folders):
    """Fields a BIDS name sets (``task``, ``contrast``, ``stat``/``desc``, ``space``, ``sub``)."""
    entities, suffix = bids_entities(stem)
    if not entities:
        return {}
    fields = {}
    stat = entities.get("stat") or entities.get("desc")
    source = "stat" if "stat" in entities else "desc"
    if stat and stat.lower() in STAT_MAP_TYPES:
        inferred(fields, "map_type", STAT_MAP_TYPES[stat.lower()], f"BIDS {source}-{stat}")
    if suffix in SUFFIX_MAP_TYPES:
        inferred(fields, "map_type", SUFFIX_MAP_TYPES[suffix], f"BIDS suffix _{suffix}")
    if "space" in entities:
        inferred(fields, "target_template_image", template_for_space(entities["space"]),
                 f"BIDS space-{entities['space']}")
    if "contrast" in entities:
        inferred(fields, "contrast_definition", entities["contrast"], f"BIDS contrast-{entities['contrast']}")
    if "task" in entities:
        inferred(fields, "task", entities["task"], f"BIDS task-{entities['task']}")
    if "sub" in entities:
        level = "G" if entities["sub"].lower() == "group" else "S"
        inferred(fields, "analysis_level", level, f"BIDS sub-{entities['sub']}")
    elif any(GROUP_FOLDERS.match(folder) for folder in folders) or "group" in entities:
        inferred(fields, "analysis_level", "G", "a group-level folder or entity")
    name = bids_name(entities, suffix)
    inferred(fields, "name", name, "BIDS entities")
    return fields


def bids_name(entities, suffix):
    """A readable image name from the entities that tell maps of one study apart."""
    words = [f"sub-{entities['sub']}"] if "sub" in entities else []
    words += [entities[key] for key in ("task", "contrast") if key in entities]
    stat = entities.get("stat") or entities.get("desc")
    if stat:
        words.append(stat)
    elif suffix:
        words.append(suffix)
    return " ".join(words) or None


def from_tools(stem, folders):
    """Fields an SPM or FSL output name sets; the FSL ``copeN.feat`` folder names the contrast."""
    for pattern, map_type, tool, numbered in TOOL_PATTERNS:
        match = pattern.fullmatch(stem)
        if not match:
            continue
        fields = {}
        inferred(fields, "map_type", map_type, f"{tool or 'a'} output name {stem}")
        cope = next((m.group(1) for m in map(FSL_COPE_FOLDER.search, folders) if m), None)
        if cope is not None:
            inferred(fields, "contrast_definition", f"cope{cope}", f"FSL folder cope{cope}.feat")
        elif numbered == "contrast" and match.groups():
            inferred(fields, "contrast_definition", f"{numbered} {int(match.group(1))}", f"{tool} output name")
        if any(GROUP_FOLDERS.match(folder) for folder in folders):
            inferred(fields, "analysis_level", "G", "a group-level folder")
        where = "/".join(folders[-3:])
        inferred(fields, "name", f"{where}/{stem}" if where else stem, PLAIN_NAME)
        return fields
    return {}


def infer_from_path(path):
    """What a member's path says about the map: {field: {"value": …, "why": …}}.

    BIDS names first (they are explicit), then SPM and FSL names; a plain name gives the path without extension.
    """
    normalised = path.replace("\\", "/").strip("/")
    folders = [part for part in normalised.split("/")[:-1] if part]
    stem = stem_of(normalised)
    fields = from_bids(stem, folders) or from_tools(stem, folders)
    if "name" not in fields:
        where = "/".join(folders[-2:])
        fields["name"] = {"value": f"{where}/{stem}" if where else stem, "why": PLAIN_NAME}
    return fields


def sidecar_path_for(path):
    """The JSON sidecar's path for a map's path (BIDS: same stem, ``.json``)."""
    normalised = path.replace("\\", "/")
    folder, _slash, _base = normalised.rpartition("/")
    stem = stem_of(normalised)
    return f"{folder}/{stem}.json" if folder else f"{stem}.json"


def bounded_value(value, depth=0):
    """A sidecar value kept as plain JSON, with long text cut and deep nesting dropped."""
    if isinstance(value, str):
        return value[:MAX_SIDECAR_TEXT]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth >= 4:
        return None
    if isinstance(value, list):
        return [bounded_value(item, depth + 1) for item in value[:MAX_SIDECAR_KEYS]]
    if isinstance(value, dict):
        return {str(k)[:200]: bounded_value(v, depth + 1) for k, v in list(value.items())[:MAX_SIDECAR_KEYS]}
    return str(value)[:MAX_SIDECAR_TEXT]


def from_sidecar(sidecar):
    """Fields a JSON sidecar sets, and every key of it kept for the image's extra fields.

    Returns (inferred fields, kept keys). ``Description`` becomes the description, ``Sources`` and the
    degrees of freedom are kept under their own names; anything that is not an object is ignored.
    """
    if not isinstance(sidecar, dict):
        return {}, {}
    kept = bounded_value(dict(list(sidecar.items())[:MAX_SIDECAR_KEYS]))
    fields = {}
    for key, field in SIDECAR_FIELDS.items():
        value = kept.get(key)
        if sidecar_value_fits(field, value):
            inferred(fields, field, value, f"the JSON sidecar's {key}")
    return fields, kept


def sidecar_value_fits(field, value):
    """Whether a sidecar value has the shape its field needs (text, a list of sources, a positive number)."""
    if field == "description":
        return isinstance(value, str) and bool(value.strip())
    if field == "sources":
        return isinstance(value, list | str)
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


#: Fields that are image columns; the others are kept in the image's extra fields.
COLUMN_FIELDS = ("name", "map_type", "analysis_level", "target_template_image", "description", "modality",
                 "number_of_subjects", "contrast_definition")
