"""A reader thread a few volumes ahead of the pass that measures them, in a fixed ring of buffers.

Inflating (zlib-ng through ``ctypes``, ISA-L), reading a file and most of numpy's per-volume work
release the GIL, so on two cores a series' pass takes about the longer of reading and measuring
instead of their sum (decision 0033). Memory is the ring (``depth`` buffers) whatever the series'
length: the reader waits for a buffer the consumer has given back. What goes wrong in the reader
(a truncated or corrupt stream) is raised in the consumer, in its place in the order, and no
thread outlives the pass: ``close`` stops the reader and waits for it.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

DEFAULT_DEPTH = 3
RING_BYTES = 96 * 2**20  # buffers of large volumes are fewer: a worker's address space is capped
_DONE = object()


def spare_core() -> bool:
    """Whether another core is idle now: fewer tasks running (``/proc/loadavg``'s fourth field, this one
    included) than the cores this process may use. On a busy machine a second thread only shares this
    one's time, and costs a few per cent in handing volumes over (decision 0033); unknown counts as idle."""
    try:
        with open("/proc/loadavg") as loadavg:
            running = int(loadavg.read().split()[3].split("/")[0])
        return running < len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError, AttributeError):
        return True


def ring_depth(depth: int, buffer_bytes: int) -> int:
    """``depth`` buffers, fewer when they would hold more than ``RING_BYTES`` (at least one)."""
    return max(1, min(depth, RING_BYTES // max(buffer_bytes, 1)))


class ReadAhead:
    """The items ``fill(buffer, index)`` makes for ``index`` in ``range(count)``, in order.

    ``make_buffer()`` makes each of the ``depth`` buffers once; ``fill`` writes into the buffer it
    is given and returns the item (which may view the buffer). An item is valid until the next one
    is asked for: its buffer then goes back to the reader. Iterate once; use it as a context
    manager (or call ``close``) so that a consumer stopping early stops the reader too.
    """

    def __init__(self, fill: Callable[[Any, int], Any], count: int, make_buffer: Callable[[], Any],
                 depth: int = DEFAULT_DEPTH):
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        self._ready: queue.SimpleQueue = queue.SimpleQueue()
        for _ in range(depth):
            self._free.put(make_buffer())
        self._stop = threading.Event()
        self._lent = None
        self._thread = threading.Thread(target=self._read, args=(fill, count), name="read-ahead", daemon=True)
        self._thread.start()  # RuntimeError when no thread can be started

    def _read(self, fill: Callable[[Any, int], Any], count: int) -> None:
        """The reader: one buffer at a time from the ring, filled, handed over with its item."""
        for index in range(count):
            buffer = self._free.get()
            if buffer is None or self._stop.is_set():
                return
            try:
                item = fill(buffer, index)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
                self._ready.put((None, None, exc))
                return
            self._ready.put((buffer, item, None))
        self._ready.put(_DONE)

    def __iter__(self) -> Iterator[Any]:
        try:
            while True:
                self._give_back()
                entry = self._ready.get()
                if entry is _DONE:
                    return
                buffer, item, error = entry
                if error is not None:
                    raise error
                self._lent = buffer
                yield item
        finally:
            self.close()

    def _give_back(self) -> None:
        if self._lent is not None:
            self._free.put(self._lent)
            self._lent = None

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def close(self) -> None:
        """Stop the reader (it finishes the item it is filling, if any) and wait for it."""
        self._stop.set()
        self._free.put(None)  # wakes a reader waiting for a buffer
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
