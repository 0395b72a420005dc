"""The dashboard's alerts panel in a real browser: create, see it fire (a notification), delete.

Same set-up as test_dashboard.py (Debian's Chromium through Playwright, a real API fed by the
simulator), whose fixtures and helpers this module uses.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import wait_until
from tests.integration.test_dashboard import (  # noqa: F401 (fixtures)
    browser,
    open_page,
    screenshot,
)

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("width", [1440, 375])
def test_alerts_panel_creates_fires_and_deletes(
    stack: Lab,
    open_page: Any,  # noqa: F811 (the fixture imported above)
    width: int,
) -> None:
    sim = stack.simulator()
    api = stack.api(sim)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    price = api.stats("bitcoin")["price"]
    watched = open_page(f"{api.url}/", width)
    page = watched.page
    page.locator("#alert-coin option[value=bitcoin]").wait_for(state="attached")
    page.locator("#alert-list").filter(has_text="No alerts yet.").wait_for()

    page.select_option("#alert-coin", "bitcoin")
    page.select_option("#alert-direction", "above")
    page.fill("#alert-threshold", str(round(price * 0.9, 2)))
    page.click("#alert-add")
    item = page.locator("#alert-list .alert-item")
    item.filter(has_text="bitcoin above").wait_for()
    assert item.get_attribute("data-state") == "armed"
    assert api.get("/api/alerts").json()["alerts"][0]["above"] == round(price * 0.9, 2)

    time.sleep(0.6)  # past the claim window of the start-up fetch
    assert stack.publish() == 1
    toast = page.locator("#alert-toast")
    toast.filter(has_text="bitcoin went above").wait_for()
    page.locator("#alert-list .alert-item[data-state=fired]").wait_for()
    if width == 375:
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, f"alerts-fired-{width}")

    page.click("#alert-list .alert-delete")
    page.locator("#alert-list").filter(has_text="No alerts yet.").wait_for()
    assert api.get("/api/alerts").json() == {"alerts": []}
    watched.assert_clean()
