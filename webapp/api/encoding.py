"""A list's answer assembled from its items' encoded JSON, byte for byte what Flask's JSON provider writes.

Encoding ~190 KB of JSON for a page of 100 images was about half of a kept list's CPU time
(decision 0037). Out of debug mode Flask's ``DefaultJSONProvider.response`` writes
``json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=...) + "\\n"``; the
C encoder then writes an object inside a list exactly as it writes the object alone, so each item can be
encoded once (``encoded``) and the page's answer joined from those bytes (``list_answer``). The envelope's
keys (``count``, ``next``, ``previous``, ``results``) are in sorted order, as ``sort_keys`` puts them. In
debug mode (indented output) or under a provider writing otherwise, the items are decoded and the whole
answer encoded as before.
"""

import json

from flask import current_app
from flask.json.provider import DefaultJSONProvider

COMPACT = (",", ":")


def writes_compact():
    """Whether the app's JSON answers are compact, written by Flask's default provider's ``dumps`` and ``response``.

    Flask-Security's provider subclasses it for its ``default`` only (lazy strings), which ``encoded`` uses too.
    """
    provider = current_app.json
    kind = type(provider)
    if kind.dumps is not DefaultJSONProvider.dumps or kind.response is not DefaultJSONProvider.response:
        return False
    return provider.compact is True or (provider.compact is None and not current_app.debug)


def encoded(value):
    """The bytes the app's JSON provider writes for ``value`` inside a compact answer."""
    return current_app.json.dumps(value, separators=COMPACT).encode()


def list_answer(count, next_link, previous_link, fragments):
    """NeuroVault's page ``{"count", "next", "previous", "results"}`` as a response, its results already encoded."""
    envelope = {"count": count, "next": next_link, "previous": previous_link}
    if not writes_compact():
        return current_app.json.response({**envelope, "results": [json.loads(item) for item in fragments]})
    head = encoded(envelope)
    body = b"".join((head[:-1], b',"results":[', b",".join(fragments), b"]}\n"))
    return current_app.response_class(body, mimetype=current_app.json.mimetype)
