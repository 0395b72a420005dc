"""Logging set-up shared by both processes: one line per event on stderr."""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d] %(message)s"
"""Plain, grep-friendly log lines."""


def configure_logging(level: str = "INFO") -> None:
    """Send log records of the given level and above to stderr."""
    root = logging.getLogger()
    root.setLevel(level)
    if not any(getattr(h, "_cryptostats", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler._cryptostats = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    for noisy in ("urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
