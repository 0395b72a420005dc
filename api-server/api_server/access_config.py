"""Settings of users and actions: the admin key, who may write, rate limits, manual refresh.

Read once at start like cryptostats.config.Settings (tests pass a dict); a bad value raises
ConfigError naming the variable. The admin key is registered as a log secret when read.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from limits import parse_many

from cryptostats.errors import ConfigError
from cryptostats.logs import redact_secret

ANONYMOUS_WRITE_POLICIES = ("local", "none", "any")
"""`local`: anonymous writes only from loopback; `none`: every write needs a key; `any`: open."""

DEFAULT_RATE_LIMIT_WRITES = "10/minute;100/hour"
"""Writes per client (key, or address when anonymous): refresh, keys, watchlist."""

DEFAULT_RATE_LIMIT_ASK = "30/minute"
"""POST /api/ask per client."""

MIN_ADMIN_KEY_CHARS = 24
"""A shorter bootstrap admin key is refused: it could be guessed."""

KEY_CHARS = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
"""What a key may be made of (the token68 characters of a Bearer credential)."""


@dataclass(frozen=True)
class AccessSettings:
    """Who may do what, and how often."""

    admin_api_key: str = ""
    anonymous_writes: str = "local"
    refresh_min_seconds: int = 60
    rate_limit_writes: str = DEFAULT_RATE_LIMIT_WRITES
    rate_limit_ask: str = DEFAULT_RATE_LIMIT_ASK
    rate_limit_reads: str = ""

    def __repr__(self) -> str:  # never print the admin key
        return (
            f"AccessSettings(admin_api_key={'set' if self.admin_api_key else 'unset'}, "
            f"anonymous_writes={self.anonymous_writes!r}, "
            f"refresh_min_seconds={self.refresh_min_seconds}, "
            f"rate_limit_writes={self.rate_limit_writes!r}, "
            f"rate_limit_ask={self.rate_limit_ask!r}, rate_limit_reads={self.rate_limit_reads!r})"
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AccessSettings:
        """Build access settings from the environment, raising ConfigError on a bad value."""
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value if value else default

        policy = get("ANONYMOUS_WRITES", "local").lower()
        if policy not in ANONYMOUS_WRITE_POLICIES:
            raise ConfigError(
                "ANONYMOUS_WRITES",
                f"{policy!r} is not one of {', '.join(ANONYMOUS_WRITE_POLICIES)}",
            )
        return cls(
            admin_api_key=_admin_key(env),
            anonymous_writes=policy,
            refresh_min_seconds=_seconds(get("REFRESH_MIN_SECONDS", "60")),
            rate_limit_writes=_limits("RATE_LIMIT_WRITES", get("RATE_LIMIT_WRITES", ""), cls),
            rate_limit_ask=_limits("RATE_LIMIT_ASK", get("RATE_LIMIT_ASK", ""), cls),
            rate_limit_reads=_limits("RATE_LIMIT_READS", get("RATE_LIMIT_READS", ""), cls),
        )


def load_access_or_exit() -> AccessSettings:
    """Return validated access settings, or print the problem and exit with code 2."""
    try:
        return AccessSettings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _admin_key(env: Mapping[str, str]) -> str:
    key = env.get("ADMIN_API_KEY", "").strip()
    path = env.get("ADMIN_API_KEY_FILE", "").strip()
    name = "ADMIN_API_KEY"
    if key and path:
        raise ConfigError("ADMIN_API_KEY_FILE", "set ADMIN_API_KEY or ADMIN_API_KEY_FILE, not both")
    if path:
        name = "ADMIN_API_KEY_FILE"
        try:
            key = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(name, f"cannot read the key file ({type(exc).__name__})") from None
    if not key:
        return ""
    redact_secret(key)
    if len(key) < MIN_ADMIN_KEY_CHARS or len(key) > 256 or not KEY_CHARS.match(key):
        raise ConfigError(
            name,
            f"the admin key must be {MIN_ADMIN_KEY_CHARS}-256 characters of letters, digits "
            "and ._~+/=- (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)",
        )
    return key


def _seconds(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError("REFRESH_MIN_SECONDS", f"{raw!r} is not a whole number") from None
    if not 1 <= value <= 86_400:
        raise ConfigError("REFRESH_MIN_SECONDS", f"{value} is out of range (1..86400)")
    return value


def _limits(name: str, raw: str, defaults: type[AccessSettings]) -> str:
    """Return a Flask-Limiter limit string: the default when unset, "" for off."""
    if not raw:
        return str(getattr(defaults, name.lower()))
    if raw.lower() in ("off", "none", "unlimited"):
        return ""
    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(
            name, f"{raw!r} is not a rate limit like '10/minute' or '10/minute;100/hour'"
        ) from None
    return raw
