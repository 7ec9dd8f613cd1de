"""Each user's effective limits: their own when an administrator set one, else the site's default.

Every upload path (the page, the API, tus) reads the limits through these two functions, so a
per-user quota set in the admin area or with ``flask accounts quota`` applies everywhere at once.
"""

import re

from flask import current_app

UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
         "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


def quota_bytes_for(user):
    """How many bytes the user may store in all."""
    own = getattr(user, "quota_bytes", None)
    return own if own is not None else current_app.config["USER_QUOTA_BYTES"]


def pending_limit_for(user):
    """How many of the user's images may wait for a worker at once."""
    own = getattr(user, "max_pending_images", None)
    return own if own is not None else current_app.config["MAX_PENDING_IMAGES_PER_USER"]


def parse_size(text):
    """Bytes from ``50GiB``, ``1.5 GB``, ``1024``; ValueError naming the text when it is none of those."""
    match = SIZE.fullmatch(text or "")
    unit = match.group(2).upper() if match else None
    if match is None or unit not in UNITS:
        raise ValueError(f"{text!r} is not a size: write a number with an optional unit (B, KB, MB, GB, KiB, MiB, GiB)")
    return int(float(match.group(1)) * UNITS[unit])
