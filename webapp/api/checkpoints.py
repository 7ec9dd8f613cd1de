"""Deep offsets of the API's public lists, started from a kept checkpoint (issue 19 item 4, decision 0035).

NeuroVault's clients page by ``limit``/``offset``; ``OFFSET 900000`` makes the database walk 900,000
visible rows (each tested against its collection) before the page, hundreds of milliseconds at a million
maps. A public list is ordered by id, so the rows before an id are fixed by which rows are visible: this
module keeps the id at every STEP-th position of the list (one scan, kept in the web process) and turns
``OFFSET n`` into ``WHERE id >= <id at position STEP × (n // STEP)> … OFFSET n % STEP``, the same rows.

The checkpoints are stamped with the page-cache generations of ``site`` and the list's scope
(``webapp/pagecache.py``, decision 0010): every commit that may change what the public list shows (an
image made ready, deleted, moved or taken down; a collection made private, taken down or deleted; a
statement over a whole table) starts a new generation, and the next deep request scans again. The
generations are read before the scan, so checkpoints are never stamped newer than what they count.
Out-of-date checkpoints are never used: until the next scan (at most one at a time, spaced by
RESCAN_PAUSE), a deep offset walks the plain way, as it does without a shared cache
(``PAGE_CACHE_URL=off``) or when the generations cannot be read.
"""

import threading
import time
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..pagecache import SITE, no_shared_cache, read_once

#: Every STEP-th row's id is kept: a deep offset walks at most STEP - 1 rows past its checkpoint.
STEP = 1000

#: After a scan of S seconds, the next one waits RESCAN_PAUSE × S: on a list that changes every moment (maps
#: made ready all day) scanning takes at most about 1/RESCAN_PAUSE of a process's time, and the requests in
#: between walk the plain offset, as before checkpoints.
RESCAN_PAUSE = 10

#: How many lists' checkpoints a process keeps (the public lists, and each large collection asked about at a
#: deep offset); past it, all are dropped at once and scanned again on demand.
KEPT_LISTS = 1_000

#: One scan at a time per process; a request that finds one under way walks the plain offset rather than wait.
_scanning = threading.Lock()


class Kept(NamedTuple):
    stamp: tuple
    ids: list
    rescan_after: float


def kept_checkpoints():
    """This process's checkpoints: list name → Kept."""
    return current_app.extensions.setdefault("api_checkpoints", {})


def current_stamp(scope):
    """The generations of ``site`` and a list's scope (what the checkpoints of a public list, and its kept items'
    JSON, depend on), or None when they cannot be read.

    Read once per request (``pagecache.read_once``, with the token's and the list's total's): the checkpoints
    and the kept items of one page then cost no other round trip, and the stamp is still read before any of
    the rows it stands for.
    """
    if no_shared_cache():
        return None
    try:
        return tuple(read_once([SITE, scope]).values())
    except Exception:  # a cache outage costs the walk, never the answer
        return None


def checkpoint_ids(query, model):
    """The id of the rows at positions STEP, 2 × STEP, … (counted from 0) of ``query`` in id order: one scan."""
    position = sa.func.row_number().over(order_by=model.id) - 1
    numbered = query.with_only_columns(model.id.label("id"), position.label("position")).order_by(None).subquery()
    every_step = sa.select(numbered.c.id).where(numbered.c.position > 0, numbered.c.position % STEP == 0)
    return db.session.scalars(every_step.order_by(numbered.c.id)).all()


def current_checkpoints(name, scope, query, model):
    """The list's checkpoint ids as of now, or None: no shared cache, or out of date and not to be scanned now."""
    stamp = current_stamp(scope)
    if stamp is None:
        return None
    kept = kept_checkpoints().get(name)
    if kept is not None and kept.stamp == stamp:
        return kept.ids
    if kept is not None and time.monotonic() < kept.rescan_after:
        return None
    if not _scanning.acquire(blocking=False):
        return None
    try:
        kept = kept_checkpoints().get(name)
        if kept is not None and kept.stamp == stamp:  # another thread scanned meanwhile
            return kept.ids
        started = time.monotonic()
        ids = checkpoint_ids(query, model)
        finished = time.monotonic()
        if len(kept_checkpoints()) >= KEPT_LISTS:
            kept_checkpoints().clear()
        kept_checkpoints()[name] = Kept(stamp, ids, finished + RESCAN_PAUSE * (finished - started))
        return ids
    finally:
        _scanning.release()


def checkpoint_start(query, model, offset, name, scope):
    """(id or None, offset): the page at ``offset`` of ``query`` is the page at the returned offset of the rows from
    that id on (``model.id >= id``), started at the nearest checkpoint; None when no checkpoint is reached.

    ``query`` is ordered by ``model.id`` alone; ``name`` names it among the lists kept in ``scope``. Past the
    last checkpoint (past the end of the list) the walk starts at the last one.
    """
    if offset < STEP:
        return None, offset
    ids = current_checkpoints(name, scope, query, model)
    steps = min(offset // STEP, len(ids or ()))
    if steps == 0:
        return None, offset
    return ids[steps - 1], offset - steps * STEP
