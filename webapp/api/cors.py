"""``Access-Control-Allow-Origin: *`` on anonymous reads of public data, as NeuroVault answers.

Browser tools on other sites (viewers, meta-analysis front ends) read public maps
from NeuroVault's API; the same reads work here. The header is left off whenever
the request carries credentials (a token, or a session cookie that signed someone
in) and whenever the answer is about a private collection (found by its share
token), so no other site's script can read what only a credential or a share link
opens.
"""

from flask import g, request

from . import bp
from .auth import is_anonymous

READ_METHODS = ("GET", "HEAD")


def mark_private():
    """Note that this answer shows a private collection's data: it then gets no CORS header."""
    g.api_private_data = True


def open_to_other_sites():
    """Whether any site's script may read this answer: an anonymous read of public data."""
    return (
        request.method in READ_METHODS
        and "Authorization" not in request.headers
        and is_anonymous()
        and not g.get("api_private_data", False)
    )


@bp.after_request
def allow_public_reads(response):
    if open_to_other_sites():
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response
