"""Where bytes live. Every byte of an upload or a thumbnail goes through here.

A backend is a small object with the methods of ``Storage``; ``LocalStorage``
keeps files under one folder. Keys are made here (``new_key``/``artifact_key``),
never from a client's file name, so no user input ever becomes a path. A
missing key raises ``FileNotFoundError(key)`` on every backend.

Incoming bytes are written once: ``staging_file`` gives a file that hashes and
counts while it is written (the web tier hands it to Werkzeug's form parser),
and ``commit`` moves the finished file under its key.

``S3Storage`` keeps objects in an S3-compatible bucket so that web and worker
machines share them; see ``docs/decisions/0004-s3-storage.md``.
"""

from .base import CHUNK_SIZE, KEY_PATTERN, Storage, StoredObject, artifact_key, checked_key, copy_limited, new_key
from .local import LocalStorage
from .s3 import S3Storage, SizedReader
from .staging import StagingFile, TooLarge

__all__ = [
    "BACKENDS", "CHUNK_SIZE", "KEY_PATTERN", "LocalStorage", "S3Storage", "SizedReader", "StagingFile", "Storage",
    "StoredObject", "TooLarge", "artifact_key", "checked_key", "copy_limited", "new_key", "storage_from_config",
]


BACKENDS = {"local": LocalStorage, "s3": S3Storage}


def storage_from_config(config):
    """The backend named by ``STORAGE_BACKEND``, built from its own settings."""
    name = config.get("STORAGE_BACKEND", "local")
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"STORAGE_BACKEND={name!r}: expected one of {', '.join(sorted(BACKENDS))}") from None
    return backend.from_config(config)
