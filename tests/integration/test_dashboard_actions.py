"""The dashboard's actions in a real browser: "Refresh now" and the stars, with and without a key.

Same set-up as test_dashboard.py (Debian's Chromium through Playwright, the API under gunicorn fed
by the simulator), whose fixtures and helpers this module uses.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from cryptostats_dev.lab import Lab
from cryptostats_dev.procs import wait_until
from tests.integration.test_dashboard import (  # noqa: F401 (fixtures)
    COINS,
    browser,
    card,
    fetches,
    open_page,
    screenshot,
)

pytestmark = pytest.mark.integration

ADMIN_KEY = "dashboard-admin-key-0123456789abcdef"


def test_refresh_now_shows_the_window_and_the_new_data(
    stack: Lab,
    open_page: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    sim = stack.simulator()
    api = stack.api(sim, ADMIN_API_KEY=ADMIN_KEY, REFRESH_MIN_SECONDS="120")
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    time.sleep(0.6)  # past the claim window of the start-up fetch
    watched = open_page(f"{api.url}/", 1440)
    page = watched.page
    button = page.locator("#refresh-now")
    note = page.locator("#refresh-note")
    note.filter(has_text="Refresh allowed now.").wait_for()
    card(page, "bitcoin", "price").and_(page.locator("[data-value]")).wait_for()
    before = float(card(page, "bitcoin", "price").get_attribute("data-value") or "nan")
    assert fetches(sim) == 1

    button.click()
    note.filter(has_text="New data shown").wait_for()
    assert fetches(sim) == 2
    served = api.stats("bitcoin")["price"]
    assert served != before
    wait_until(
        lambda: (
            float(card(page, "bitcoin", "price").get_attribute("data-value") or "nan") == served
        ),
        10,
        "the new price on the card",
    )
    assert "Next refresh allowed in" in note.inner_text()
    assert button.is_disabled()
    screenshot(page, "refresh-done-1440")

    # Another visitor sees the same window, counted by the server, and cannot spend it.
    other = open_page(f"{api.url}/", 375)
    other.page.locator("#refresh-note").filter(has_text="Next refresh allowed in").wait_for()
    assert other.page.locator("#refresh-now").is_disabled()
    wide = other.page.evaluate("document.documentElement.scrollWidth")
    assert wide <= 375
    screenshot(other.page, "refresh-cooldown-375")
    assert requests.post(f"{api.url}/api/refresh", timeout=10).status_code == 429
    assert fetches(sim) == 2
    watched.assert_clean()
    other.assert_clean()


def test_stars_live_in_the_browser_or_on_the_server_with_a_key(
    stack: Lab,
    open_page: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    sim = stack.simulator()
    api = stack.api(sim, ADMIN_API_KEY=ADMIN_KEY)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    created = requests.post(
        f"{api.url}/api/keys",
        json={"name": "browser"},
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        timeout=10,
    ).json()
    key = created["key"]
    watched = open_page(f"{api.url}/", 1440)
    page = watched.page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))

    def star(coin: str) -> Any:
        return page.locator(f'.coin[data-coin="{coin}"] button.star')

    for coin in COINS:
        star(coin).wait_for()
    # Without a key: the stars are kept in this browser, across reloads.
    star("ethereum").click()
    page.locator('.coin[data-coin="ethereum"] button.star[aria-pressed="true"]').wait_for()
    page.reload()
    page.locator('.coin[data-coin="ethereum"] button.star[aria-pressed="true"]').wait_for()
    assert star("bitcoin").get_attribute("aria-pressed") == "false"

    # With a key: the server's watchlist (empty), changed by the stars.
    page.locator("#settings summary").click()
    page.locator("#key-input").fill(key)
    page.get_by_role("button", name="Save key").click()
    page.locator("#key-note").filter(has_text="server watchlist").wait_for()
    page.locator('.coin[data-coin="ethereum"] button.star[aria-pressed="false"]').wait_for()
    star("bitcoin").click()
    page.locator('.coin[data-coin="bitcoin"] button.star[aria-pressed="true"]').wait_for()
    auth = {"Authorization": f"Bearer {key}"}
    wait_until(
        lambda: api.get("/api/watchlist", headers=auth).json() == {"coins": ["bitcoin"]},
        5,
        "the star on the server",
    )
    screenshot(page, "stars-with-key-1440")

    # Forget the key: back to this browser's stars; the key is gone from the page's storage.
    page.get_by_role("button", name="Forget key").click()
    page.locator('.coin[data-coin="ethereum"] button.star[aria-pressed="true"]').wait_for()
    assert page.evaluate("window.localStorage.getItem('cryptostats.apiKey')") is None
    assert not any(key in url for url in urls)
    watched.assert_clean()


def test_refresh_needs_a_key_where_the_policy_says_so(
    stack: Lab,
    open_page: Any,  # noqa: F811 (the fixture imported above)
) -> None:
    sim = stack.simulator()
    api = stack.api(sim, ADMIN_API_KEY=ADMIN_KEY, ANONYMOUS_WRITES="none")
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    time.sleep(0.6)  # past the claim window of the start-up fetch
    watched = open_page(f"{api.url}/", 1440)
    page = watched.page
    note = page.locator("#refresh-note")
    note.filter(has_text="it needs a key").wait_for()
    page.locator("#refresh-now").click()
    note.filter(has_text="A key is needed to refresh").wait_for()
    assert fetches(sim) == 1

    page.locator("#settings summary").click()
    page.locator("#key-input").fill(ADMIN_KEY)
    page.get_by_role("button", name="Save key").click()
    note.filter(has_text="Refresh allowed now.").wait_for()
    assert "needs a key" not in note.inner_text()
    page.locator("#refresh-now").click()
    note.filter(has_text="New data shown").wait_for()
    assert fetches(sim) == 2
    # The browser logs the refused POST (401) as a console error; nothing else may fail.
    assert watched.page_errors == [] and watched.csp_violations() == []
    assert all("401" in message for message in watched.console_errors)
