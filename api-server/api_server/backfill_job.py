"""The start-up backfill of an API process: in its own thread, under the claim, reported.

`BackfillJob.start()` returns at once (serving and triggers never wait for it); the thread takes
the Redis claim, runs the backfill, releases the claim, records the report in the ingest log and
hands it to the listeners (status, metrics). A process that does not win the claim does nothing:
the winner backfills for every process and replica. `run_once()` is the same, synchronously, for
a later retry (coins left pending by a 429) or an admin request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from api_server.backfill import BackfillClaim, Backfiller, BackfillProgress, BackfillReport
from api_server.errors import StoreUnavailable

log = logging.getLogger(__name__)


class IngestLog(Protocol):
    """Where finished reports are recorded (Store.record_ingest)."""

    def record_ingest(self, summary: dict[str, object]) -> None: ...


class BackfillJob:
    """Runs a Backfiller once per claim, off the serving path."""

    def __init__(
        self,
        *,
        backfiller: Backfiller,
        claim: BackfillClaim,
        ingest_log: IngestLog,
        listeners: list[Callable[[BackfillReport], None]] | None = None,
    ) -> None:
        self.backfiller = backfiller
        self.claim = claim
        self.ingest_log = ingest_log
        self.listeners = listeners or []
        self.thread: threading.Thread | None = None
        self.last: BackfillReport | None = None
        self._lock = threading.Lock()

    def start(self) -> threading.Thread:
        """Run once in a daemon thread and return it."""
        self.thread = threading.Thread(target=self._guarded, name="backfill", daemon=True)
        self.thread.start()
        return self.thread

    def run_once(self, progress: BackfillProgress | None = None) -> BackfillReport | None:
        """Backfill if this process wins the claim; return the report, or None."""
        if self.backfiller.days <= 0:
            return None
        with self._lock:
            if not self.claim.acquire():
                log.info("backfill skipped: another process holds the claim")
                return None
            try:
                report = self.backfiller.run(progress, keep_claim=self.claim.renew)
            finally:
                self.claim.release()
            self.last = report
            try:
                self.ingest_log.record_ingest(report.to_dict())
            except StoreUnavailable as exc:
                log.warning("could not record the backfill summary: %s", exc.message)
            for listener in self.listeners:
                listener(report)
            return report

    def _guarded(self) -> None:
        try:
            self.run_once()
        except Exception:  # a thread must not die silently
            log.error("backfill failed unexpectedly", exc_info=True)
