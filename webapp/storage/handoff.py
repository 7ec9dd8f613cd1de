"""Work handed to one thread of its own, a bounded number of steps behind the thread that hands it over."""

from collections import deque
from concurrent.futures import ThreadPoolExecutor


class Handoff:
    """Calls run in order on one thread, started at the first call; at most ``in_flight`` wait.

    Hashing and writing release the GIL, so the bytes of an upload are hashed and written on the
    second core while the request thread reads the next ones; the bound keeps memory flat (each
    waiting call holds one chunk). ``settle`` waits for every call and raises what one raised.
    """

    def __init__(self, name, in_flight):
        self.name, self.in_flight = name, in_flight
        self.waiting = deque()
        self.pool = None

    def submit(self, call, *args):
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        if len(self.waiting) >= self.in_flight:
            self.waiting.popleft().result()
        self.waiting.append(self.pool.submit(call, *args))

    def settle(self):
        while self.waiting:
            self.waiting.popleft().result()

    def close(self):
        """Stop the thread, dropping calls not started yet (their bytes are being given up)."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.waiting.clear()
