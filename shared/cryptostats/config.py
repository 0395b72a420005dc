"""Settings shared by the worker and the API, read once at start from the environment."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlparse

from cryptostats.errors import ConfigError

PUBLIC_API_URL = "https://api.coingecko.com/api/v3"
"""CoinGecko's host for keyless and Demo-key calls."""

PRO_API_URL = "https://pro-api.coingecko.com/api/v3"
"""CoinGecko's host for paid (Pro) keys; a key sent to the wrong host is refused."""

DEFAULT_COINS = "bitcoin,ethereum,matic-network=polygon-ecosystem-token"
"""Tracked coins; matic-network migrated to POL, whose CoinGecko id is polygon-ecosystem-token."""

COIN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,99}$")
"""What a coin id may look like, public or upstream (CoinGecko ids are lowercase slugs)."""

API_KEY_HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key"}
"""The header that carries the CoinGecko key, by plan."""


@dataclass(frozen=True)
class TrackedCoin:
    """A tracked coin: the name clients use and the id CoinGecko knows it by."""

    public: str
    upstream: str


@dataclass(frozen=True)
class Settings:
    """Every tunable of both processes, validated."""

    redis_url: str = "redis://localhost:6379/0"
    redis_channel: str = "crypto.update"
    mongo_uri: str | None = None
    mongo_db: str = "cryptostats"
    coingecko_api_url: str = PUBLIC_API_URL
    coingecko_api_key: str = ""
    coingecko_api_plan: str = "demo"
    coins: tuple[TrackedCoin, ...] = ()
    update_interval_seconds: int = 900
    api_host: str = "0.0.0.0"
    api_port: int = 3000
    api_workers: int = 2
    api_threads: int = 4
    ingest_claim_seconds: float = 5.0
    request_read_timeout_seconds: float = 15.0
    log_level: str = "INFO"
    backfill_days: int = 30
    backfill_calls_per_minute: float = 0.0
    """0: the plan's rate (pacing.py); the demo stack sets a fast one for the simulator."""
    history_retention_days: int = 400
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables, raising ConfigError on a bad value."""
        env = os.environ if environ is None else environ

        def get(name: str, default: object) -> str:
            """The variable's value, or the field's default (written once, on the class)."""
            value = env.get(name, "").strip()
            return value if value else str(default)

        plan = _choice(
            "COINGECKO_API_PLAN", get("COINGECKO_API_PLAN", cls.coingecko_api_plan), ("demo", "pro")
        )
        api_url = get("COINGECKO_API_URL", "") or (PRO_API_URL if plan == "pro" else PUBLIC_API_URL)
        return cls(
            redis_url=_url("REDIS_URL", get("REDIS_URL", cls.redis_url), ("redis", "rediss")),
            redis_channel=_channel(get("REDIS_CHANNEL", cls.redis_channel)),
            mongo_uri=_mongo_uri(env.get("MONGO_URI", "").strip()),
            mongo_db=_db_name(get("MONGO_DB", cls.mongo_db)),
            coingecko_api_url=_url("COINGECKO_API_URL", api_url, ("http", "https")).rstrip("/"),
            coingecko_api_key=env.get("COINGECKO_API_KEY", "").strip(),
            coingecko_api_plan=plan,
            coins=parse_coins(get("COINS", DEFAULT_COINS)),
            update_interval_seconds=_int(
                "UPDATE_INTERVAL_SECONDS",
                get("UPDATE_INTERVAL_SECONDS", cls.update_interval_seconds),
                1,
                86_400,
            ),
            api_host=get("API_HOST", cls.api_host),
            api_port=_int("API_PORT", get("API_PORT", cls.api_port), 1, 65_535),
            api_workers=_int("API_WORKERS", get("API_WORKERS", cls.api_workers), 1, 64),
            api_threads=_int("API_THREADS", get("API_THREADS", cls.api_threads), 1, 256),
            ingest_claim_seconds=_float(
                "INGEST_CLAIM_SECONDS",
                get("INGEST_CLAIM_SECONDS", cls.ingest_claim_seconds),
                0.1,
                3600,
            ),
            request_read_timeout_seconds=_float(
                "REQUEST_READ_TIMEOUT_SECONDS", get("REQUEST_READ_TIMEOUT_SECONDS", "15"), 0.1, 300
            ),
            log_level=_choice(
                "LOG_LEVEL",
                get("LOG_LEVEL", cls.log_level).upper(),
                ("DEBUG", "INFO", "WARNING", "ERROR"),
            ),
            backfill_days=_int("BACKFILL_DAYS", get("BACKFILL_DAYS", cls.backfill_days), 0, 365),
            backfill_calls_per_minute=_float(
                "BACKFILL_CALLS_PER_MINUTE", get("BACKFILL_CALLS_PER_MINUTE", "0"), 0, 60_000
            ),
            history_retention_days=_int(
                "HISTORY_RETENTION_DAYS",
                get("HISTORY_RETENTION_DAYS", cls.history_retention_days),
                0,
                36_500,
            ),
            trusted_proxies=parse_networks("TRUSTED_PROXIES", env.get("TRUSTED_PROXIES", "")),
        )

    @property
    def embedded_store(self) -> bool:
        """Whether the API keeps its data in the in-memory mongomock store."""
        return self.mongo_uri is None

    @property
    def api_key_header(self) -> str:
        """The header name that carries the CoinGecko key for the configured plan."""
        return API_KEY_HEADERS[self.coingecko_api_plan]

    def coin(self, public: str) -> TrackedCoin | None:
        """Return the tracked coin with this public name, or None."""
        for spec in self.coins:
            if spec.public == public:
                return spec
        return None

    @property
    def coin_names(self) -> list[str]:
        """The public names of the tracked coins, in configured order."""
        return [spec.public for spec in self.coins]


def parse_coins(raw: str) -> tuple[TrackedCoin, ...]:
    """Parse `public[=upstream],...` into coin specs, rejecting duplicates and bad ids."""
    specs: list[TrackedCoin] = []
    seen: set[str] = set()
    for item in raw.split(","):
        item = item.strip().lower()
        if not item:
            continue
        public, _, upstream = item.partition("=")
        public, upstream = public.strip(), (upstream.strip() or public.strip())
        for value in (public, upstream):
            if not COIN_ID_PATTERN.match(value):
                raise ConfigError(
                    "COINS",
                    f"{value!r} is not a coin id (lowercase letters, digits and '-'; "
                    "entries are 'id' or 'public=upstream', comma-separated)",
                )
        if public in seen:
            raise ConfigError("COINS", f"{public!r} is listed twice")
        seen.add(public)
        specs.append(TrackedCoin(public=public, upstream=upstream))
    if not specs:
        raise ConfigError("COINS", "at least one coin id is required")
    return tuple(specs)


def parse_networks(
    name: str, raw: str
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Parse comma-separated addresses or CIDR networks (empty: none)."""
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(name, f"{item!r} is not an IP address or CIDR network") from None
    return tuple(networks)


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a whole number ({low}..{high})") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is out of range ({low}..{high})")
    return value


def _float(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"{raw!r} is not a number ({low}..{high})") from None
    if not low <= value <= high:
        raise ConfigError(name, f"{value} is out of range ({low}..{high})")
    return value


def _choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    if raw not in allowed:
        raise ConfigError(name, f"{raw!r} is not one of {', '.join(allowed)}")
    return raw


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parsed = urlparse(raw)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ConfigError(name, f"expected a {'/'.join(schemes)}:// URL with a host")
    return raw


def _mongo_uri(raw: str) -> str | None:
    if not raw:
        return None
    if not raw.startswith(("mongodb://", "mongodb+srv://")):
        raise ConfigError("MONGO_URI", "expected a mongodb:// or mongodb+srv:// URI, or unset")
    return raw


def _db_name(raw: str) -> str:
    if not re.match(r"^[A-Za-z0-9_-]{1,63}$", raw):
        raise ConfigError("MONGO_DB", "expected 1-63 letters, digits, '_' or '-'")
    return raw


def _channel(raw: str) -> str:
    if len(raw) > 200 or any(ch.isspace() for ch in raw):
        raise ConfigError("REDIS_CHANNEL", "expected a name of at most 200 characters, no spaces")
    return raw
