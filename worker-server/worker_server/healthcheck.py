"""`python -m worker_server.healthcheck`: exit 0 when the worker's heartbeat is fresh, else 1.

Used as the worker container's health check: it reads the same settings as the worker and looks at
the heartbeat the worker writes to Redis every few seconds.
"""

from __future__ import annotations

import sys

import redis

from cryptostats.heartbeat import HEARTBEAT_MAX_AGE, read_heartbeat
from cryptostats.startup import load_settings_or_exit

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1


def main() -> int:
    """Print the heartbeat's age and return the exit code."""
    settings = load_settings_or_exit()
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        found = read_heartbeat(client, settings.redis_channel)
    finally:
        client.close()
    if found.fresh:
        print(f"healthy: worker heartbeat {found.age_seconds:.1f} s old")
        return EXIT_HEALTHY
    print(f"unhealthy: {found.problem} (limit {HEARTBEAT_MAX_AGE:g} s)", file=sys.stderr)
    return EXIT_UNHEALTHY


if __name__ == "__main__":
    raise SystemExit(main())
