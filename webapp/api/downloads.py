"""The ``file`` URL of the API: a map as gzipped NIfTI, which is what NeuroVault serves and nilearn expects.

nilearn saves every download as ``image_<id>.nii.gz`` and nibabel then refuses
raw NIfTI under that name, and NeuroVault stores every upload gzipped. So an
upload that arrived gzipped is sent byte for byte, and one that arrived
uncompressed is sent as the gzipped copy its worker stored (both have a length,
ranges and an ETag); images processed before copies existed are gzipped while
sent (memory stays at one chunk).
The exact original is always at the image page's download link.
"""

import re
import unicodedata
import zlib
from urllib.parse import quote

from flask import Response, stream_with_context

from ..extensions import get_storage
from ..files import GZIP_MAGIC, nifti_download_name, send_stored
from ..storage import CHUNK_SIZE

try:  # ISA-L's deflate writes the same gzip format ~15x faster than zlib at level 1 (decision 0008)
    from isal import isal_zlib as deflate_lib
except ImportError:  # pragma: no cover - isal is in requirements.txt; zlib is the fallback
    deflate_lib = zlib

GZIP_LEVEL = 1  # fast, and most of the gain
NIFTI_GZ = ".nii.gz"


def stored_gzipped(image):
    """Whether the stored bytes are gzip: from the validation report when there is one, else from the bytes."""
    if isinstance(image.report, dict) and isinstance(image.report.get("compressed"), bool):
        return image.report["compressed"]
    with get_storage().open(image.storage_key) as handle:
        return handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC


def gzip_chunks(key):
    """The stored object gzipped, piece by piece."""
    compressor = deflate_lib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with get_storage().open(key) as source:
        for chunk in iter(lambda: source.read(CHUNK_SIZE), b""):
            packed = compressor.compress(chunk)
            if packed:
                yield packed
    yield compressor.flush()


def gzipped_name(image):
    name = nifti_download_name(image)
    return name if name.lower().endswith(".gz") else name + ".gz"


def url_file_name(image):
    """The last part of the ``file`` URL: the map's file name in URL-safe ASCII, always ending in ``.nii.gz``.

    NiMARE saves each download under the last part of its URL and nibabel picks the format from that
    name, so it must end in the extension of the bytes sent (issue 22).
    """
    name = gzipped_name(image)
    stem = name[: -len(NIFTI_GZ)] if name.lower().endswith(NIFTI_GZ) else name.split(".", 1)[0]
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_stem).strip("_")[:100]
    return f"{safe or f'image-{image.id}'}{NIFTI_GZ}"


def attachment(name):
    """A Content-Disposition for any file name: plain ASCII, or RFC 5987 with an ASCII fallback."""
    if name.isascii():
        return f'attachment; filename="{name}"'
    fallback = name.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def send_gzipped_nifti(image):
    """The map as ``.nii.gz`` bytes, as application/gzip, never with a Content-Encoding header.

    Stored bytes whenever there are some (the upload, or the worker's gzipped copy of an
    uncompressed one), so the download has a length and resumes; gzipping while sending is
    left for images processed before the worker made copies.
    """
    name = gzipped_name(image)
    if stored_gzipped(image):
        return send_stored(image.storage_key, mimetype="application/gzip", name=name, as_attachment=True)
    copy = image.artifact("gzip")
    if copy is not None:
        return send_stored(copy.storage_key, mimetype="application/gzip", name=name, as_attachment=True)
    response = Response(stream_with_context(gzip_chunks(image.storage_key)), mimetype="application/gzip")
    response.headers["Content-Disposition"] = attachment(name)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
