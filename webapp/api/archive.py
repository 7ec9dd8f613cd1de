"""A collection's maps as one zip, written while it is sent: memory stays at one chunk whatever the size.

The maps are stored (not deflated): they are gzipped NIfTI already, mostly.
"""

import zipfile

from flask import Response, stream_with_context

from ..extensions import get_storage
from ..files import nifti_download_name
from ..storage import CHUNK_SIZE


class ChunkSink:
    """A write-only file for ``zipfile`` that hands back what was written since the last call."""

    def __init__(self):
        self.chunks = []
        self.position = 0

    def write(self, data):
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self):
        return self.position

    def flush(self):
        pass

    def drain(self):
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def archive_name(image):
    """A unique name inside the zip: the image id, then the name it downloads under."""
    return f"image_{image.id}_{nifti_download_name(image)}"


def zip_chunks(entries):
    """The bytes of a zip holding each (name, storage key), produced piece by piece."""
    storage = get_storage()
    sink = ChunkSink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, key in entries:
            with storage.open(key) as source, archive.open(name, "w", force_zip64=True) as target:
                for chunk in iter(lambda source=source: source.read(CHUNK_SIZE), b""):
                    target.write(chunk)
                    yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def zip_response(images, filename):
    entries = [(archive_name(image), image.storage_key) for image in images]
    response = Response(stream_with_context(zip_chunks(entries)), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
