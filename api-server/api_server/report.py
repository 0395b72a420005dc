"""What one ingest did: the IngestReport, and the log line every ingest writes."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

log = logging.getLogger("api_server.ingest")

OUTCOMES = ("ok", "partial", "upstream_error", "store_error")
"""How an ingest can end."""


@dataclass
class IngestReport:
    """What one ingest did, for logs, the ingest log and the status endpoints."""

    reason: str
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = "running"
    stored: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    upstream_calls: int = 0
    errors: list[str] = field(default_factory=list)
    source: str = ""
    error_kind: str = ""
    """The UpstreamError kind when the fetch failed (metrics only; not stored)."""
    pid: int = field(default_factory=os.getpid)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as the ingest log stores it and /ready shows it (datetimes kept)."""
        return {
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "outcome": self.outcome,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "skipped": self.skipped,
            "upstreamCalls": self.upstream_calls,
            "errors": self.errors,
            "source": self.source,
            "pid": self.pid,
        }

    @property
    def duration_ms(self) -> float:
        """Milliseconds from start to finish (0 while running)."""
        end = self.finished_at or self.started_at
        return round((end - self.started_at).total_seconds() * 1000, 1)


def log_report(report: IngestReport) -> None:
    """Write the one log line of a finished ingest, with its event fields."""
    log.info(
        "ingest %s (%s): stored=%d duplicates=%d skipped=%d upstream_calls=%d in %.0f ms",
        report.outcome,
        report.reason,
        len(report.stored),
        len(report.duplicates),
        len(report.skipped),
        report.upstream_calls,
        report.duration_ms,
        extra={
            "event": "ingest",
            "outcome": report.outcome,
            "reason": report.reason,
            "stored": len(report.stored),
            "duplicates": len(report.duplicates),
            "skipped": len(report.skipped),
            "upstream_calls": report.upstream_calls,
            "duration_ms": report.duration_ms,
            "source": report.source,
        },
    )
