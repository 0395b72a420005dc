"""The served log keeps the newest entries within its bounds in entries and in chart points."""

from __future__ import annotations

from typing import Any

from cryptostats_dev.sim_served import ServedLog


def entry(n: int, points: int = 0) -> dict[str, Any]:
    logged: dict[str, Any] = {"path": f"/call/{n}", "status": 200, "fault": None, "coins": {}}
    if points:
        logged["chart"] = {"coin": "bitcoin", "days": 1, "points": points}
    return logged


def test_the_oldest_entries_go_beyond_the_entry_bound() -> None:
    log = ServedLog(max_entries=3, max_points=100)
    for n in range(5):
        log.append(entry(n))
    assert [e["path"] for e in log.entries()] == ["/call/2", "/call/3", "/call/4"]


def test_the_oldest_entries_go_beyond_the_point_bound() -> None:
    log = ServedLog(max_entries=100, max_points=1000)
    log.append(entry(0))
    log.append(entry(1, points=600))
    log.append(entry(2, points=300))
    assert len(log.entries()) == 3
    log.append(entry(3, points=200))
    assert [e["path"] for e in log.entries()] == ["/call/2", "/call/3"]
    log.clear()
    log.append(entry(4, points=900))
    assert len(log.entries()) == 1, "the count restarts after clear"


def test_one_chart_larger_than_the_bound_is_still_kept() -> None:
    log = ServedLog(max_entries=10, max_points=100)
    log.append(entry(0, points=5000))
    assert [e["path"] for e in log.entries()] == ["/call/0"]
