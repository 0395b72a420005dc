"""`python -m worker_server`: publish update triggers until SIGTERM or SIGINT."""

from __future__ import annotations

import signal

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from cryptostats.logs import configure_logging
from cryptostats.startup import load_settings_or_exit
from worker_server.worker import TriggerWorker


def main() -> None:
    """Run the trigger loop; exit 0 on SIGTERM/SIGINT."""
    settings = load_settings_or_exit()
    configure_logging(settings.log_level, secrets=[settings.coingecko_api_key])
    # Few, short retries: a publish while Redis is down must not delay a stop request.
    client = redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=1,
        socket_timeout=5,
        retry=Retry(ExponentialBackoff(cap=0.5), 1),
    )
    worker = TriggerWorker(
        redis_client=client,
        channel=settings.redis_channel,
        interval_seconds=settings.update_interval_seconds,
    )
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    try:
        worker.run()
    finally:
        client.close()


if __name__ == "__main__":
    main()
