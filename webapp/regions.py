"""Search by brain region: the rows the worker keeps per map, and the condition the lists and the API filter on.

A map matches a region word when a region whose name contains it holds one
of the map's peaks or sub-peaks, or at least ``SHARE_BOUND`` of one of its
clusters' voxels (in either atlas). Shared by the image list, the API and the
worker, so it lives outside the blueprints.
"""

import sqlalchemy as sa
from markupsafe import Markup, escape

from .models import Image, ImageRegion

#: A cluster counts as "in" a region when at least this share of its voxels lie there.
SHARE_BOUND = 0.25
MAX_REGION_WORDS = 100


def region_rows(table):
    """One dict per (atlas, region) that the cluster table names: largest share of a cluster, and whether a
    peak lies there. Empty for a table without labels (not in MNI space, no atlases) or without clusters."""
    found = {}
    for cluster in (table or {}).get("clusters") or []:
        for atlas, regions in (cluster.get("regions") or {}).items():
            for region in regions:
                row = found.setdefault((atlas, region["name"]), {"share": 0.0, "at_peak": False})
                row["share"] = max(row["share"], float(region["share"]))
        for point in (cluster.get("peak") or {}, *(cluster.get("subpeaks") or [])):
            for atlas, name in (point.get("regions") or {}).items():
                if name:
                    found.setdefault((atlas, name), {"share": 0.0, "at_peak": False})["at_peak"] = True
    return [{"atlas": atlas, "name": name[:128], **row} for (atlas, name), row in sorted(found.items())]


def clean_region(words):
    """The region words of a query string, trimmed; '' for none."""
    return (words or "").strip()[:MAX_REGION_WORDS]


def in_region(words):
    """A condition on Image: the map has a peak in, or a cluster share above the bound of, a matching region."""
    from .listing import like_pattern

    pattern = like_pattern(words)
    matching = sa.select(ImageRegion.image_id).where(
        ImageRegion.name.ilike(pattern, escape="\\"),
        sa.or_(ImageRegion.at_peak.is_(True), ImageRegion.share >= SHARE_BOUND),
    )
    return Image.id.in_(matching)


def region_names():
    """Every atlas region name, for the search form's suggestions (from the atlas files, not from the maps,
    so private maps reveal nothing)."""
    from workers.atlases import all_region_names

    return all_region_names()


#: The datalist's options, kept per list of names: ~500 escaped ``<option>`` per list page otherwise.
DATALISTS = {}


def region_options():
    """The search form's ``<option>`` elements for every region name, as Jinja would write them, built once."""
    names = tuple(region_names())
    options = DATALISTS.get(names)
    if options is None:
        options = Markup("".join(f'<option value="{escape(name)}">' for name in names))
        DATALISTS.clear()
        DATALISTS[names] = options
    return options
