"""Fault tests: real processes on real services, each breaking one part and checking that nothing is lost."""

import pytest

from .sites import REDIS_SERVER, reachable


@pytest.fixture(scope="session")
def redis_broker():
    """The machine's Redis as broker (db 1, private queues per site), or None to follow the run's broker."""
    return f"{REDIS_SERVER}/1" if reachable("127.0.0.1", 6379) else None
