"""A PATCH body as the storage reads it: straight from the socket into the partial object.

Each byte is written once (decision 0023): no staging copy. Because the upload's claim is held
while the body arrives, the body itself keeps the claim honest:

- **a lease**: every ``RENEW_EVERY`` of arriving bytes, and before any byte that follows a longer
  pause, the claim's timestamp is renewed with a conditional UPDATE. When the renewal fails
  (another request settled the claim as stale) the body ends there, before that chunk is written;
- **an idle timeout**: under gunicorn the request's socket waits at most ``TUS_IDLE_SECONDS`` for
  the next bytes, so a stalled client frees its thread and its claim; what arrived is kept;
- **a digest on the side**: a body that starts at offset 0 may be the whole upload, so it is
  hashed on a thread as it passes (sha256 releases the GIL), and promoting needs no second read.
"""

import hashlib
import time
from contextlib import contextmanager

from flask import current_app, request
from werkzeug.exceptions import ClientDisconnected

from ..storage import TooLarge
from ..storage.handoff import Handoff

RENEW_EVERY = 20.0
READ_SIZE = 1024 * 1024
HASHES_IN_FLIGHT = 4


class PatchBody:
    """A readable stream over the request body; ends early (keeping what came) on a dropped client or a lost claim.

    A chunk that would take the body past ``max_bytes`` (what remains of the upload) raises
    ``TooLarge`` before any of it reaches the storage.
    """

    def __init__(self, stream, hashed, max_bytes):
        self._stream = stream
        self.max_bytes = max_bytes
        self._hash = hashlib.sha256() if hashed else None
        self._hasher = Handoff("tus-hash", HASHES_IN_FLIGHT)
        self._renew = None
        self._renewed_at = time.monotonic()
        self.size = 0
        self.claim_lost = False
        self.client_left = False

    def keep_claim_with(self, renew):
        """``renew()`` extends the claim and says whether it was still ours; called as bytes arrive."""
        self._renew, self._renewed_at = renew, time.monotonic()

    def read(self, size=-1):
        if self.claim_lost or self.client_left:
            return b""
        try:
            chunk = self._stream.read(size if size and size > 0 else READ_SIZE)
        except (ClientDisconnected, OSError):
            current_app.logger.info("tus: client left or stalled after %s bytes; keeping them", self.size)
            self.client_left = True
            return b""
        if self.size + len(chunk) > self.max_bytes:
            raise TooLarge(self.max_bytes)  # before a byte of this chunk is written: a body too long keeps nothing more
        if chunk and not self._lease_holds():
            self.claim_lost = True
            return b""
        self.size += len(chunk)
        self._hash_later(chunk)
        return chunk

    def _lease_holds(self):
        if self._renew is None or time.monotonic() - self._renewed_at < RENEW_EVERY:
            return True
        if not self._renew():
            current_app.logger.warning("tus: claim taken over after %s bytes; this body stops", self.size)
            return False
        self._renewed_at = time.monotonic()
        return True

    def _hash_later(self, chunk):
        if self._hash is not None and chunk:
            self._hasher.submit(self._hash.update, chunk)

    @property
    def hashed(self):
        return self._hash is not None

    @property
    def sha256(self):
        self._hasher.settle()
        return self._hash.hexdigest()

    def close(self):
        self._hasher.close()


def request_body():
    """The request's body stream, without werkzeug's wrapper where the server already ends it at the body's end.

    gunicorn says so (``wsgi.input_terminated``); werkzeug then wraps the input only to count
    against ``MAX_CONTENT_LENGTH``, and its wrapper (an ``io.RawIOBase``) allocates a fresh 1 MiB
    buffer per read and copies each chunk twice more. ``PatchBody`` already refuses a chunk past
    what remains of the upload, which is a tighter bound than ``MAX_CONTENT_LENGTH``.
    """
    if request.environ.get("wsgi.input_terminated"):
        return request.environ["wsgi.input"]
    return request.stream


@contextmanager
def idle_timeout(seconds):
    """Make the request's socket give up on a client silent for ``seconds`` (under gunicorn; elsewhere nothing)."""
    sock = request.environ.get("gunicorn.socket")
    if sock is None:
        yield
        return
    before = sock.gettimeout()
    sock.settimeout(seconds)
    try:
        yield
    finally:
        try:
            sock.settimeout(before)
        except OSError:
            pass
