"""The worker child's memory limits: a hostile file ends in MemoryError, never in the OOM killer.

Set once per worker process (``celery_worker.py``'s ``worker_process_init``), apart from the tasks,
which know nothing of how their process is capped.
"""

import ctypes
import resource

M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_address_space(limit_mb):
    """Cap this worker child's memory, so one hostile file ends in MemoryError, not in the OOM killer.

    Under a cap, malloc keeps one arena: each thread's own (the series' reader thread, decision 0033)
    reserves 64 MiB of the capped address space, which a series needs no more than it needs RAM.
    """
    if limit_mb:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        one_malloc_arena()


def one_malloc_arena() -> bool:
    """All threads allocate from the main arena (glibc's ``M_ARENA_MAX``); False where there is no glibc."""
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False
