from __future__ import annotations

import pytest

from cryptostats.config import PRO_API_URL, PUBLIC_API_URL, Settings, TrackedCoin, parse_coins
from cryptostats.errors import ConfigError


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.redis_channel == "crypto.update"
    assert settings.mongo_uri is None and settings.embedded_store
    assert settings.mongo_db == "cryptostats"
    assert settings.coingecko_api_url == PUBLIC_API_URL
    assert settings.coingecko_api_key == ""
    assert settings.api_key_header == "x-cg-demo-api-key"
    assert settings.coin_names == ["bitcoin", "ethereum", "matic-network"]
    assert settings.coin("matic-network") == TrackedCoin("matic-network", "polygon-ecosystem-token")
    assert settings.update_interval_seconds == 900
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", 3000)


def test_overrides() -> None:
    settings = Settings.from_env(
        {
            "REDIS_URL": "redis://cache:6380/2",
            "MONGO_URI": "mongodb://mongo:27017",
            "COINS": " Bitcoin , solana ",
            "UPDATE_INTERVAL_SECONDS": "60",
            "API_PORT": "8080",
            "COINGECKO_API_URL": "http://127.0.0.1:9999/",
        }
    )
    assert settings.redis_url == "redis://cache:6380/2"
    assert settings.mongo_uri == "mongodb://mongo:27017" and not settings.embedded_store
    assert settings.coin_names == ["bitcoin", "solana"]
    assert settings.update_interval_seconds == 60
    assert settings.api_port == 8080
    assert settings.coingecko_api_url == "http://127.0.0.1:9999"


def test_pro_plan_picks_pro_host_and_header_when_url_left_default() -> None:
    settings = Settings.from_env({"COINGECKO_API_PLAN": "pro"})
    assert settings.coingecko_api_url == PRO_API_URL
    assert settings.api_key_header == "x-cg-pro-api-key"
    custom = Settings.from_env({"COINGECKO_API_PLAN": "pro", "COINGECKO_API_URL": "http://x:1"})
    assert custom.coingecko_api_url == "http://x:1"


def test_empty_values_mean_default() -> None:
    assert Settings.from_env({"REDIS_URL": "", "MONGO_URI": "  "}).mongo_uri is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("UPDATE_INTERVAL_SECONDS", "soon"),
        ("UPDATE_INTERVAL_SECONDS", "0"),
        ("API_PORT", "70000"),
        ("REDIS_URL", "http://localhost"),
        ("MONGO_URI", "postgres://x"),
        ("COINGECKO_API_PLAN", "enterprise"),
        ("COINGECKO_API_URL", "ftp://x"),
        ("COINS", "bitcoin,,bitcoin"),
        ("COINS", "bit coin"),
        ("COINS", ","),
        ("MONGO_DB", "a/b"),
        ("REDIS_CHANNEL", "two words"),
        ("LOG_LEVEL", "LOUD"),
        ("REQUEST_READ_TIMEOUT_SECONDS", "0"),
        ("REQUEST_READ_TIMEOUT_SECONDS", "forever"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")


def test_coin_aliases() -> None:
    assert parse_coins("a=b, c") == (TrackedCoin("a", "b"), TrackedCoin("c", "c"))


def test_redis_url_with_password_is_not_echoed() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"REDIS_URL": "http://user:hunter2@host"})
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(("value", "days"), [("", 30), ("0", 0), ("1", 1), ("365", 365)])
def test_backfill_days(value: str, days: int) -> None:
    assert Settings.from_env({"BACKFILL_DAYS": value}).backfill_days == days


@pytest.mark.parametrize("value", ["366", "-1", "7.5", "month"])
def test_bad_backfill_days_name_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BACKFILL_DAYS": value})
    assert caught.value.variable == "BACKFILL_DAYS"


def test_request_read_timeout_is_15_s_unless_set() -> None:
    assert Settings.from_env({}).request_read_timeout_seconds == 15.0
    lowered = Settings.from_env({"REQUEST_READ_TIMEOUT_SECONDS": "1.5"})
    assert lowered.request_read_timeout_seconds == 1.5
