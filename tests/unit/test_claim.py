"""The claim in (fake) Redis: one fetch per burst, released on finish, never someone else's."""

from __future__ import annotations

import fakeredis
import pytest

from api_server.claim import RedisClaim
from api_server.redis_keys import claim_key

KEY = claim_key("crypto.update")


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


def claim(server: fakeredis.FakeServer) -> RedisClaim:
    client = fakeredis.FakeRedis(server=server)
    return RedisClaim(client, "crypto.update", window_seconds=5, lease_seconds=90)


def test_one_process_wins_while_the_ingest_runs(server: fakeredis.FakeServer) -> None:
    first, second = claim(server), claim(server)
    lease = first.acquire()
    assert lease is not None and second.acquire() is None
    assert 89 < second.retry_in() <= 90  # the lease: a crashed ingest frees it by itself


def test_release_leaves_a_short_marker_so_a_burst_still_coalesces(
    server: fakeredis.FakeServer,
) -> None:
    first, second = claim(server), claim(server)
    lease = first.acquire()
    assert lease is not None
    first.release(lease)
    assert second.acquire() is None  # a trigger of the same burst
    assert 4 < second.retry_in() <= 5  # ... but only for the claim window, not the lease
    assert first.redis.get(KEY) == f"done:{lease.token}".encode()
    first.redis.pexpire(KEY, 0)  # the window ends
    assert second.acquire() is not None


def test_release_never_touches_another_process_claim(server: fakeredis.FakeServer) -> None:
    first, second = claim(server), claim(server)
    stale = first.acquire()
    assert stale is not None
    first.redis.pexpire(KEY, 0)  # our lease ran out (a very slow ingest)
    theirs = second.acquire()
    assert theirs is not None
    first.release(stale)
    assert first.redis.get(KEY) == f"busy:{theirs.token}".encode()
    assert first.redis.pttl(KEY) > 5000


def test_without_redis_every_process_fetches() -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    down = redis.Redis(port=1, socket_connect_timeout=0.1, retry=Retry(NoBackoff(), 0))
    unreachable = RedisClaim(down, "crypto.update", window_seconds=5, lease_seconds=90)
    lease = unreachable.acquire()
    assert lease is not None and not lease.coordinated
    unreachable.release(lease)  # nothing to release, no error
    assert unreachable.retry_in() == 5
