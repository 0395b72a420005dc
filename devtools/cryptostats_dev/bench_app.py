"""The API with a preloaded price history, for `make bench` only.

The embedded store lives inside the API process, so a history of N records per coin must be
loaded inside it. This factory builds the production app (`api_server.create_app()`), inserts N
synthetic records per tracked coin through the real `Store`, rebuilds each coin's snapshot with
the real `rebuild_snapshot`, and returns the app. gunicorn serves it with the production config:

    python -m gunicorn -c python:api_server.gunicorn_conf 'cryptostats_dev.bench_app:create_app()'
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from datetime import UTC, datetime, timedelta

from flask import Flask

import api_server
from api_server.app_state import AppState, state_of
from api_server.domain import CoinLabel, Observation
from api_server.snapshots import rebuild_snapshot
from cryptostats.config import Settings

log = logging.getLogger(__name__)

HISTORY_ENV = "BENCH_HISTORY_PER_COIN"
"""Environment variable: how many synthetic records to load per tracked coin (default 0)."""

RECORD_SPACING = timedelta(minutes=1)
"""Time between two synthetic records of a coin."""

HISTORY_END_AGO = timedelta(hours=1)
"""The newest synthetic record is this old, so every live observation is newer."""

SOURCE = "bench-synthetic"
"""The `source` of synthetic records, so they are never mistaken for market data."""


def create_app() -> Flask:
    """Build the production app, then load the synthetic history into its store."""
    settings = Settings.from_env()
    app = api_server.create_app(settings)
    records = int(os.environ.get(HISTORY_ENV, "0"))
    if records > 0:
        load_history(state_of(app), settings, records)
    return app


def load_history(state: AppState, settings: Settings, records: int) -> None:
    """Insert `records` synthetic observations per tracked coin and rebuild the snapshots."""
    started = time.monotonic()
    newest = datetime.now(UTC) - HISTORY_END_AGO
    for coin in settings.coin_names:
        stored = []
        for observed_at, price in synthetic_walk(coin, records, newest):
            obs = Observation(coin, observed_at, price, price * 1e7, 0.0, SOURCE, price * 1e5)
            if state.store.add_observation(obs):
                stored.append(obs)
        state.ingestor.buckets.add_many(stored)  # as the ingest does, record by record
        state.store.touch_series([coin], datetime.now(UTC))
        rebuild_snapshot(state.store, coin, CoinLabel(), datetime.now(UTC))
    state.read_model.refresh()
    log.warning(
        "BENCH: loaded %d SYNTHETIC records per coin for %d coins in %.1f s",
        records,
        len(settings.coin_names),
        time.monotonic() - started,
    )


def synthetic_walk(coin: str, records: int, newest: datetime) -> list[tuple[datetime, float]]:
    """Return `records` (observedAt, price) points of a seeded random walk, oldest first."""
    rng = random.Random(f"bench:{coin}")
    price = 100.0
    points = []
    for i in range(records):
        price *= math.exp(rng.gauss(0.0, 0.004))
        points.append((newest - (records - 1 - i) * RECORD_SPACING, price))
    return points
