"""The image card written in Python (``templating.image_card_html``) is the Jinja macro it replaced, byte for byte."""

from types import SimpleNamespace

import pytest

#: The ``image_card`` macro as it was (webapp/templates/macros/cards.html before issue 19's cut).
JINJA_CARD = "\n".join((
    '{% macro status_badge(image) %}',
    '  <span class="badge badge-{{ image.status }}" data-status="{{ image.status }}">{{ image.s'
    'tatus }}</span>',
    '{% endmacro %}',
    '',
    '{% macro image_card(image, show_collection=True) %}{% set paths = card_paths() %}',
    '  <li class="card image-card" data-image-id="{{ image.id }}">',
    '    <a class="card-link" href="{{ paths.image }}{{ image.id }}">',
    "      {% if image.status == 'ready' %}",
    '        <img src="{{ paths.image }}{{ image.id }}/thumbnails/glass_brain.png" alt="Glass b'
    'rain of {{ image.name }}" loading="lazy" width="240" height="100">',
    '      {% else %}',
    '        <span class="thumb-placeholder" role="img" aria-label="No preview yet: {{ image.st'
    'atus }}"></span>',
    '      {% endif %}',
    '      <span class="card-title">{{ image.name }}</span>',
    '    </a>',
    '    <span class="card-meta">{{ map_type_label(image.map_type) }}{% if image.modality and i'
    "mage.modality != 'Other' %} · {{ image.modality }}{% endif %} {{ status_badge(image) }}</s"
    'pan>',
    '    {% if show_collection %}',
    '    <span class="card-meta">in <a href="{{ paths.collection }}{{ image.collection_id }}">{'
    '{ image.collection.name }}</a></span>',
    '    {% endif %}',
    '  </li>',
    '{% endmacro %}',
    '',
    '',
))

IMAGES = [
    dict(id=7, name="map", status="ready", map_type="T", modality="fMRI-BOLD", collection_id=3, collection="Set"),
    dict(id=8, name='<b>"Amygdalä" & co</b>', status="processing", map_type="Z", modality="Other", collection_id=4,
         collection="<i>Sécret</i> & 'quotes'"),
    dict(id=9, name="x", status="failed", map_type=None, modality=None, collection_id=5, collection="c"),
    dict(id=10, name="y", status="ready", map_type="weird", modality="", collection_id=6, collection="d"),
]


@pytest.mark.parametrize("fields", IMAGES, ids=lambda fields: str(fields["id"]))
@pytest.mark.parametrize("show_collection", [True, False])
def test_the_python_card_is_the_macro_byte_for_byte(app, fields, show_collection):
    image = SimpleNamespace(**{**fields, "collection": SimpleNamespace(name=fields["collection"])})
    with app.test_request_context("/images/"):
        expected = str(app.jinja_env.from_string(JINJA_CARD).module.image_card(image, show_collection))
        written = app.jinja_env.from_string("{{ image_card_html(image, show_collection) }}").render(
            image=image, show_collection=show_collection)
    assert written == expected
