"""Start-up helpers: read settings or exit 2 with one line naming the variable."""

from __future__ import annotations

import sys
from collections.abc import Mapping

from cryptostats.config import Settings
from cryptostats.errors import ConfigError

EXIT_CONFIG = 2
"""Exit code for a bad configuration value."""


def load_settings_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """Return validated settings, or print the problem and exit with code 2."""
    try:
        return Settings.from_env(environ)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None
