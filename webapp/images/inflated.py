"""Volume k of a gzip series, inflated from the nearest access point of the index the worker built.

The worker's inflate pass recorded an access point every few MiB of output (``workers.gzindex``,
decision 0027), so a volume costs at most a few MiB of inflate, whatever its place in the series,
and nothing of the upload is recompressed.
"""

import zlib

from flask import abort

from workers import gzindex

from ..extensions import get_storage
from ..files import handle_mtime, send_computed


def send_volume(image, span, *, prefix, name):
    """The response for bytes ``span`` (start, length) of the inflated upload after ``prefix``; 404 when the
    image has no index (processed before it existed, or without zlib-ng)."""
    points, windows = image.artifact("access_points"), image.artifact("access_windows")
    if points is None or windows is None:
        abort(404)
    storage = get_storage()
    with storage.open(points.storage_key) as handle:
        table = handle.read()
    with storage.open(image.storage_key) as original, storage.open(windows.storage_key) as window_file:
        modified = handle_mtime(original)
        try:
            body = gzindex.read_span(original, table, window_file, *span)
        except (ValueError, zlib.error):  # an index that does not fit its upload: no volume, not a 500
            body = b""
    if len(body) != span[1]:
        abort(404)
    return send_computed(prefix + body, f"{image.storage_key}-{span[0]:x}", modified,
                         mimetype="application/octet-stream", name=name, max_age=300)
