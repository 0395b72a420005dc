"""The start-up backfill of an API process: in its own thread, under the claim, reported.

`BackfillJob.start()` returns at once (serving and triggers never wait for it); the thread takes
the Redis claim, runs the backfill, releases the claim, records the report in the ingest log and
hands it to the listeners (status, metrics). A process that does not win the claim does nothing:
the winner backfills for every process and replica. Coins left pending by a transport failure
(429, 5xx, timeouts the retries did not overcome) are tried again after `retry_seconds`, up to
`MAX_RETRIES` times. `run_once()` is the same, synchronously, for an operator's request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from api_server.backfill import BackfillClaim, Backfiller, BackfillProgress, BackfillReport
from api_server.errors import StoreUnavailable

log = logging.getLogger(__name__)

RETRY_SECONDS = 60.0
"""Wait before a start-up backfill tries again the coins a transport failure left pending."""

MAX_RETRIES = 10
"""Tries of the start-up backfill after the first, before the next start or an operator."""


class IngestLog(Protocol):
    """Where finished reports are recorded (Store.record_ingest)."""

    def record_ingest(self, report: BackfillReport) -> None: ...


class BackfillJob:
    """Runs a Backfiller once per claim, off the serving path."""

    def __init__(
        self,
        *,
        backfiller: Backfiller,
        claim: BackfillClaim,
        ingest_log: IngestLog,
        listeners: list[Callable[[BackfillReport], None]] | None = None,
        retry_seconds: float = RETRY_SECONDS,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        self.backfiller = backfiller
        self.claim = claim
        self.ingest_log = ingest_log
        self.listeners = listeners or []
        self.retry_seconds = retry_seconds
        self.prepare = prepare
        """Run once under the first claim won (MongoDB: rebuild buckets of older installs)."""
        self.thread: threading.Thread | None = None
        self.last: BackfillReport | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self) -> threading.Thread:
        """Run in a daemon thread (retrying pending coins) and return it."""
        self.thread = threading.Thread(target=self._guarded, name="backfill", daemon=True)
        self.thread.start()
        return self.thread

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop at its next wait."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run_once(
        self, progress: BackfillProgress | None = None, backfiller: Backfiller | None = None
    ) -> BackfillReport | None:
        """Backfill if this process wins the claim; return the report, or None."""
        backfiller = backfiller or self.backfiller
        if backfiller.days <= 0:
            return None
        with self._lock:
            if not self.claim.acquire():
                log.info("backfill skipped: another process holds the claim")
                return None
            try:
                if self.prepare is not None:
                    prepare, self.prepare = self.prepare, None
                    prepare()
                report = backfiller.run(progress, keep_claim=self.claim.renew)
            finally:
                self.claim.release()
            self.last = report
            try:
                self.ingest_log.record_ingest(report)
            except StoreUnavailable as exc:
                log.warning("could not record the backfill summary: %s", exc.message)
            for listener in self.listeners:
                listener(report)
            return report

    def run_until_done(self) -> BackfillReport | None:
        """Run, then retry while a transport failure left coins pending (stop ends the waits)."""
        report = self.run_once()
        for _ in range(MAX_RETRIES):
            if report is None or not report.pending:
                break
            log.info(
                "backfill: %d coins pending; retrying in %.0f s",
                len(report.pending),
                self.retry_seconds,
            )
            if self.stopping.wait(self.retry_seconds):
                break
            report = self.run_once()
        return report

    def _guarded(self) -> None:
        try:
            self.run_until_done()
        except Exception:  # a thread must not die silently
            log.error("backfill failed unexpectedly", exc_info=True)
