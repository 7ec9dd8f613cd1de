"""Filters and globals shared by every template."""

from flask import current_app, g, request, url_for
from flask_security import url_for_security
from markupsafe import Markup, escape

from workers.plain import human_bytes

from .vocab import ANALYSIS_LEVELS, MAP_TYPES, analysis_level_label, map_type_label


def human_size(size):
    """A byte count as people read it, by the site's one rule (``workers.plain.human_bytes``: 1.2 MiB)."""
    return "" if size is None else human_bytes(size)


def human_time(moment):
    """A timestamp in UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def number(value, digits=4):
    """A statistic for a table: None as a dash, floats to a few significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def card_paths():
    """The list pages' link prefixes, built once per request: a card adds its id instead of calling ``url_for``
    three times (a third of a list page's rendering)."""
    if "card_paths" not in g:
        g.card_paths = {"image": url_for("images.detail", image_id=0)[:-1],
                        "collection": url_for("collections.detail", collection_id=0)[:-1]}
    return g.card_paths


#: The layout's links (``base.html``): endpoint, arguments, and whether it is Flask-Security's.
LAYOUT_LINKS = {
    "css": ("static", {"filename": "css/site.css"}, False),
    "home": ("main.index", {}, False),
    "collections": ("collections.index", {}, False),
    "images": ("images.index", {}, False),
    "search_by_file": ("similar.search", {}, False),
    "mine": ("collections.mine", {}, False),
    "admin": ("admin.index", {}, False),
    "profile": ("accounts.profile", {}, False),
    "api": ("api.index", {}, False),
    "logout": ("logout", {}, True),
    "login": ("login", {}, True),
    "register": ("register", {}, True),
}


def layout_links():
    """The layout's paths, the same on every page under one mount point: made with ``url_for`` once per mount point
    and process, not ten times per page (decision 0040)."""
    kept = current_app.extensions.setdefault("layout_links", {})
    links = kept.get(request.script_root)
    if links is None:
        links = kept[request.script_root] = {
            name: (url_for_security if security else url_for)(endpoint, **values)
            for name, (endpoint, values, security) in LAYOUT_LINKS.items()}
    return links


def image_card_html(image, show_collection=True):
    """The ``image_card`` macro's HTML, byte for byte, written in Python: the macro's Jinja (two dozen escaped
    fields and a nested macro per card) was a third of a list page's rendering (issue 19)."""
    paths = card_paths()
    link = f"{paths['image']}{image.id}"
    name, status = escape(image.name), escape(image.status)
    if image.status == "ready":
        picture = (f'<img src="{link}/thumbnails/glass_brain.png" alt="Glass brain of {name}" loading="lazy" '
                   f'width="240" height="100">')
    else:
        picture = f'<span class="thumb-placeholder" role="img" aria-label="No preview yet: {status}"></span>'
    modality = f" · {escape(image.modality)}" if image.modality and image.modality != "Other" else ""
    collection = (f'\n    <span class="card-meta">in <a href="{paths["collection"]}{image.collection_id}">'
                  f'{escape(image.collection.name)}</a></span>\n    ' if show_collection else "")
    return Markup(
        f'\n  <li class="card image-card" data-image-id="{image.id}">\n    <a class="card-link" href="{link}">\n'
        f'      \n        {picture}\n      \n      <span class="card-title">{name}</span>\n    </a>\n'
        f'    <span class="card-meta">{escape(map_type_label(image.map_type))}{modality} \n'
        f'  <span class="badge badge-{status}" data-status="{status}">{status}</span>\n</span>\n'
        f'    {collection}\n  </li>\n')


def init_templating(app):
    app.jinja_env.filters["human_size"] = human_size
    app.jinja_env.filters["human_time"] = human_time
    app.jinja_env.filters["number"] = number
    app.jinja_env.globals.update(
        MAP_TYPES=MAP_TYPES,
        ANALYSIS_LEVELS=ANALYSIS_LEVELS,
        map_type_label=map_type_label,
        analysis_level_label=analysis_level_label,
        card_paths=card_paths,
        image_card_html=image_card_html,
        layout_links=layout_links,
    )
