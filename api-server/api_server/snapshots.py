"""Each coin's snapshot: rolled forward from the previous one at every ingest, or rebuilt.

The snapshot carries the newest DEVIATION_WINDOW prices, so rolling it forward costs the same
whatever the size of the history; only a coin without a usable snapshot reads the history back.
"""

from __future__ import annotations

from datetime import datetime

from api_server.deviation import DEVIATION_WINDOW, price_deviation, roll_window
from api_server.domain import CoinLabel, Observation, PricePoint, Snapshot
from api_server.store import Store


def next_snapshot(
    previous: Snapshot, obs: Observation, *, added: bool, label: CoinLabel, now: datetime
) -> Snapshot:
    """Return the snapshot after an observation (a duplicate leaves the window alone)."""
    window = previous.window
    newest = previous.newest
    if added:
        window = roll_window(window, obs.observed_at, obs.price)
        if obs.observed_at > previous.observed_at:
            newest = obs
    return build_snapshot(newest, window, merge_labels(label, previous.label), now)


def build_snapshot(
    newest: Observation, window: tuple[PricePoint, ...], label: CoinLabel, now: datetime
) -> Snapshot:
    """Return the snapshot of a coin from its newest observation and price window."""
    return Snapshot(
        newest=newest,
        deviation=price_deviation([price for _, price in window]),
        samples=len(window),
        updated_at=now,
        label=label,
        window=window,
    )


def rebuild_snapshot(store: Store, coin: str, label: CoinLabel, now: datetime) -> Snapshot | None:
    """Recompute a coin's snapshot from its newest stored records and save it; None if none."""
    recent = store.recent_observations(coin, DEVIATION_WINDOW)
    if not recent:
        return None
    window = tuple((obs.observed_at, obs.price) for obs in recent)
    snapshot = build_snapshot(recent[0], window, label, now)
    store.save_snapshot(snapshot)
    return snapshot


def merge_labels(new: CoinLabel, old: CoinLabel) -> CoinLabel:
    """Keep what upstream said last, field by field, falling back to what was known."""
    return CoinLabel(symbol=new.symbol or old.symbol, name=new.name or old.name)
