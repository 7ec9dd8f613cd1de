"""Which user an API token belongs to, kept in the web process while no token or user row has changed.

Every token request looked its token and user up in the database: one query of ~30 columns in its
own transaction, ~0.5–0.9 ms of CPU, a third of a kept list's (decision 0037). That answer changes
only when a token or a user row changes, so each web process keeps it (by the token's hash, never the
secret), stamped with the generation of ``api-tokens`` in the page cache's shared store (decision
0010). Every commit that writes an ``ApiToken`` or ``User`` row, by a flush or a bulk statement, starts a
new generation before the request that made it answers: a revoked token, or a deactivated or deleted
user's, is refused by every process on its next request. A token request reads the generation (one
GET to the shared cache) and goes to the database as before (``callers.user_for_secret``) when its
token is not kept under it, or when its use was last noted over a minute ago (``last_used_at`` stays
exact to the minute). Without a shared cache, or when it cannot be read, every request goes to the
database. If a new generation cannot be written (a cache outage at the moment of a revocation), a kept
token is still refused within a minute, when its use is next noted.
"""

import itertools
import time
from typing import NamedTuple

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..callers import LAST_USED_RESOLUTION, user_for_secret
from ..models import ApiToken, User
from ..models.base import hash_token
from ..pagecache import new_generations, no_shared_cache, read_once

TOKENS = "api-tokens"
CHANGED = "neurodrop_api_tokens_changed"
#: How many tokens a web process keeps (a few hundred bytes each); past it, all are dropped at once.
KEPT_TOKENS = 10_000
CHECK_AGAIN_AFTER = LAST_USED_RESOLUTION.total_seconds()


class Kept(NamedTuple):
    generation: str
    user_id: int
    checked_at: float


def kept_tokens():
    """This process's kept tokens: token hash → Kept."""
    return current_app.extensions.setdefault("api_tokens", {})


def tokens_generation():
    """The current generation of the tokens, or None when there is no shared cache or it cannot be read.

    Read with the generations the view declared (``pagecache.read_once``): one round trip for the request.
    """
    if no_shared_cache():
        return None
    try:
        return read_once([TOKENS])[TOKENS]
    except Exception:  # a cache outage costs the query, never the check
        return None


def token_caller(secret):
    """(user id, user or None) of the active user owning this token, or None when the token is not valid.

    The user row is loaded only when the answer is not kept (``auth.api_user`` loads it when a view asks).
    """
    generation = tokens_generation()
    key = hash_token(secret)
    kept = kept_tokens().get(key) if generation is not None else None
    if kept is not None and kept.generation == generation and time.monotonic() - kept.checked_at < CHECK_AGAIN_AFTER:
        return kept.user_id, None
    user = user_for_secret(secret)
    if user is None:
        kept_tokens().pop(key, None)
        return None
    if generation is not None:
        if len(kept_tokens()) >= KEPT_TOKENS:
            kept_tokens().clear()
        kept_tokens()[key] = Kept(generation, user.id, time.monotonic())
    return user.id, user


def note_flushed_changes(session, flush_context):
    rows = itertools.chain(session.new, session.dirty, session.deleted)
    if any(isinstance(row, ApiToken | User) for row in rows):
        session.info[CHANGED] = True


def note_bulk_changes(state):
    """An UPDATE, DELETE or INSERT of tokens or users (or of no mapped class: a table-level statement)."""
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    mappers = state.all_mappers
    if not mappers or any(issubclass(mapper.class_, ApiToken | User) for mapper in mappers):
        state.session.info[CHANGED] = True


def start_new_generation_after_commit(session):
    if session.info.pop(CHANGED, None) and has_app_context() and "cache" in current_app.extensions:
        try:
            new_generations([TOKENS])
        except Exception as exc:  # the commit happened; kept tokens are checked again within a minute
            current_app.logger.warning("api tokens: could not start a new generation: %r", exc)


def forget_changes(session):
    session.info.pop(CHANGED, None)


def listen_for_token_changes():
    """Watch every session's commits for token and user changes (once per interpreter, like the page cache)."""
    if event.contains(Session, "after_commit", start_new_generation_after_commit):
        return
    event.listen(Session, "after_flush", note_flushed_changes)
    event.listen(Session, "do_orm_execute", note_bulk_changes)
    event.listen(Session, "after_commit", start_new_generation_after_commit)
    event.listen(Session, "after_rollback", forget_changes)
