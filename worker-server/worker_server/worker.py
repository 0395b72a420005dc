"""A `schedule` loop that publishes update triggers and a heartbeat to Redis."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
import schedule

from cryptostats.messages import Heartbeat, UpdateTrigger, heartbeat_key

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
"""How often the worker writes its heartbeat, proving the loop runs."""

MAX_WAIT_SECONDS = 1.0
"""Longest sleep between loop turns, so a stop request is seen within a second."""


class TriggerWorker:
    """Publishes {"trigger": "update"} at start and every interval; survives Redis outages.

    `wait(seconds)` is how the loop passes time between turns and returns whether a stop was
    requested; by default it waits on the stop event. Tests pass one that moves a fake clock.
    """

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        channel: str,
        interval_seconds: int,
        wait: Callable[[float], bool] | None = None,
    ) -> None:
        self.redis = redis_client
        self.channel = channel
        self.interval_seconds = interval_seconds
        self.stop_event = threading.Event()
        self.wait = wait or self.stop_event.wait
        self.started = threading.Event()
        self.published = 0
        self.failed = 0
        self.scheduler = schedule.Scheduler()

    def request_stop(self, *_: object) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self.stop_event.set()

    def publish_trigger(self) -> int | None:
        """Publish one trigger; return how many subscribers got it, or None when Redis failed."""
        try:
            receivers = int(self.redis.publish(self.channel, UpdateTrigger().encode()))
        except redis.RedisError as exc:
            self.failed += 1
            log.error("publish to %r failed (%s); next tick retries", self.channel, exc)
            return None
        self.published += 1
        if receivers == 0:
            log.warning("trigger published on %r but no subscriber received it", self.channel)
        else:
            log.info("trigger published on %r to %d subscriber(s)", self.channel, receivers)
        return receivers

    def write_heartbeat(self) -> None:
        """Record that the loop is alive, with an expiry of a few intervals."""
        ttl = max(3 * self.interval_seconds, 3 * HEARTBEAT_SECONDS)
        beat = Heartbeat(
            at=time.time(),
            interval_seconds=self.interval_seconds,
            next_trigger_at=self._next_trigger_at(),
        )
        try:
            self.redis.set(heartbeat_key(self.channel), beat.encode(), ex=ttl)
        except redis.RedisError as exc:
            log.warning("heartbeat not written (%s)", exc)

    def _next_trigger_at(self) -> float | None:
        triggers = [
            job
            for job in self.scheduler.jobs
            if job.job_func is not None and getattr(job.job_func, "__name__", "") == "tick"
        ]
        if not triggers or triggers[0].next_run is None:
            return None
        return triggers[0].next_run.timestamp()

    def run(self, *, max_ticks: int | None = None) -> None:
        """Publish at start and every interval until stopped or max_ticks triggers were sent."""
        ticks = 0

        def tick() -> None:
            nonlocal ticks
            ticks += 1
            self.publish_trigger()

        self.scheduler.every(self.interval_seconds).seconds.do(tick)
        self.scheduler.every(HEARTBEAT_SECONDS).seconds.do(self.write_heartbeat)
        log.info("worker started: channel %r, every %d s", self.channel, self.interval_seconds)
        self.write_heartbeat()
        tick()  # schedule's first run is one interval after start
        self.started.set()
        try:
            while not self.stop_event.is_set():
                try:
                    self.scheduler.run_pending()
                except Exception:
                    log.exception("scheduled job failed; the loop goes on")
                if max_ticks is not None and ticks >= max_ticks:
                    break
                idle = self.scheduler.idle_seconds
                pause = MAX_WAIT_SECONDS if idle is None else min(max(idle, 0.0), MAX_WAIT_SECONDS)
                self.wait(pause)
        finally:
            self.scheduler.clear()
            log.info("worker stopped after %d trigger(s)", self.published)
