"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against the API under
gunicorn fed by the simulator. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from cryptostats.messages import UpdateTrigger
from cryptostats_dev.lab import START_TIMEOUT, Api, Lab, SimulatorProcess
from cryptostats_dev.procs import python_module_cmd, wait_for_http, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm
]
WAIT_MS = 15_000
"""Longest any browser wait may take (the page polls every 5 s)."""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
COINS = ("bitcoin", "ethereum", "matic-network")
CHARTS = {
    "chart": ("price", (56, 189, 248)),
    "volume-chart": ("volume24h", (245, 158, 11)),
    "deviation-chart": ("deviation", (167, 139, 250)),
}
"""Chart field -> the history key it draws and its line colour (to find it on the canvas)."""
RANGES = {"1 day": 1, "7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365}
"""Range button -> the days it asks /api/history for."""

FIELDS = {
    "price": "price",
    "marketCap": "marketCap",
    "change": "24hChange",
    "deviation": "deviation",
    "volume24h": "volume24h",
}
"""Card field -> key of the coin in /api/coins."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed: run `sudo make system-deps`")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000
        )
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A page plus what went wrong in it: console errors, uncaught errors, CSP violations."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.set_default_timeout(WAIT_MS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.add_init_script(
            "window.__csp = [];"
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
        )

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def csp_violations(self) -> list[str]:
        return list(self.page.evaluate("window.__csp"))

    def assert_clean(self) -> None:
        assert self.csp_violations() == []
        assert self.page_errors == []
        assert self.console_errors == []


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Any]:
    contexts = []

    def open_at(url: str, width: int) -> Watched:
        context = browser.new_context(viewport={"width": width, "height": 900})
        contexts.append(context)
        watched = Watched(context.new_page())
        watched.page.goto(url)
        return watched

    try:
        yield open_at
    finally:
        for context in contexts:
            context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def fetches(sim: SimulatorProcess) -> int:
    return sum(1 for e in sim.served() if e["path"] == "/coins/markets" and e["status"] == 200)


def stack_with_history(stack: Lab, records: int) -> tuple[SimulatorProcess, Api]:
    """Start the system, let a fast worker store `records` prices per coin, then a normal one.

    The API backfills 30 days (hourly points), so every chart has a line to draw.
    """
    sim = stack.simulator()
    api = stack.api(sim, BACKFILL_DAYS="30", BACKFILL_CALLS_PER_MINUTE="600")
    fast = stack.worker(name="fast-worker", UPDATE_INTERVAL_SECONDS="1")
    wait_until(lambda: fetches(sim) >= records - 1, 20, f"{records - 1} fetches")
    fast.stop()
    time.sleep(0.6)  # past the claim window (0.5 s), so the next trigger is fetched
    stack.worker()  # the regular worker: one trigger at start, the next in an hour
    wait_until(lambda: fetches(sim) >= records, 10, "the regular worker's first fetch")
    for coin in COINS:
        wait_until(lambda c=coin: history(api, c, 7) >= 7 * 24, 10, f"{coin}'s backfill")
    wait_until(lambda: api.samples().get("bitcoin", 0) >= records, 10, "the triggers' records")
    return sim, api


def history(api: Api, coin: str, days: int) -> int:
    return len(history_points(api, coin, days))


def history_points(api: Api, coin: str, days: int) -> list[dict[str, Any]]:
    return list(api.get(f"/api/history?coin={coin}&days={days}").json()["points"])


def card(page: Page, coin: str, field: str) -> Any:
    return page.locator(f'.coin[data-coin="{coin}"] [data-field="{field}"]')


def series_pixels(page: Page, coin: str, field: str = "chart") -> int:
    """Count the canvas pixels of a chart drawn in its series colour (axes and grid are grey)."""
    return int(
        page.evaluate(
            """([coin, field, rgb]) => {
              const canvas = document.querySelector(
                `.coin[data-coin="${coin}"] [data-field="${field}"] canvas`);
              const data = canvas.getContext("2d")
                .getImageData(0, 0, canvas.width, canvas.height).data;
              let found = 0;
              for (let i = 0; i < data.length; i += 4) {
                const near = [0, 1, 2].every((k) => Math.abs(data[i + k] - rgb[k]) < 24);
                if (near && data[i + 3] > 200) found++;
              }
              return found;
            }""",
            [coin, field, list(CHARTS[field][1])],
        )
    )


def min_pixels(field: str) -> int:
    """The fewest pixels of a chart's colour that make a drawn line.

    The deviation exists only for buckets with trigger records (backfilled ones have none), and a
    test's triggers all fall in the newest bucket or two: its line is a step or a single dot.
    """
    return 10 if field == "deviation-chart" else 50


def assert_charts_match(page: Page, api: Api, coin: str, days: int) -> None:
    """Each chart draws every point /api/history returns for `days`, a value where it has one."""
    points = history_points(api, coin, days)
    assert points
    for field, (key, _) in CHARTS.items():
        chart = card(page, coin, field)
        chart.and_(page.locator(f'[data-points="{len(points)}"]')).wait_for()
        with_value = sum(1 for point in points if point[key] is not None)
        assert with_value > 0, (field, days)
        assert chart.get_attribute("data-values") == str(with_value), (field, days)
        assert series_pixels(page, coin, field) > min_pixels(field), (field, days)


def assert_csv_link(page: Page, api: Api, coin: str, days: int) -> None:
    """The card's CSV link downloads the range shown, as a spreadsheet file."""
    href = card(page, coin, "csv").get_attribute("href") or ""
    assert href == f"/api/history?coin={coin}&days={days}&format=csv"
    answer = api.get(href)
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert answer.headers["Content-Disposition"].startswith("attachment")
    rows = answer.text.splitlines()
    assert rows[0] == "time,open,high,low,close,marketCap,volume24h"
    assert len(rows) - 1 == history(api, coin, days)


def shown_number(text: str) -> float:
    return float(re.sub(r"[^0-9.]", "", text))


def test_dashboard_shows_what_the_api_serves(stack: Lab, open_page: Any) -> None:
    _, api = stack_with_history(stack, records=5)
    watched = open_page(f"{api.url}/", 1440)
    page = watched.page
    for coin in COINS:
        card(page, coin, "age").and_(page.locator("[data-state]")).wait_for()

    coins = {entry["coin"]: entry for entry in api.get("/api/coins").json()["coins"]}
    assert set(coins) == set(COINS)
    for coin, entry in coins.items():
        for field, key in FIELDS.items():
            assert float(card(page, coin, field).get_attribute("data-value") or "nan") == entry[key]
        stats = api.get(f"/api/stats?coin={coin}").json()
        assert stats["price"] == entry["price"]
        price_text = card(page, coin, "price").inner_text()
        if entry["price"] >= 1:
            assert shown_number(price_text) == round(entry["price"], 2)
        change = card(page, coin, "change")
        assert shown_number(change.inner_text().split("%")[0]) == round(abs(entry["24hChange"]), 2)
        sign = "up" if entry["24hChange"] > 0 else "down" if entry["24hChange"] < 0 else "flat"
        assert change.get_attribute("data-direction") == sign
        assert card(page, coin, "age").get_attribute("data-state") == "fresh", coin

    # Charts: each has as many points as /api/history returns and its line drawn on the canvas.
    for coin in COINS:
        assert_charts_match(page, api, coin, 7)
    # Every range refetches with its days, is remembered, and every chart follows.
    for name, days in RANGES.items():
        button = page.get_by_role("button", name=name, exact=True)
        pattern = re.compile(rf"/api/history\?coin=bitcoin&days={days}$")
        with page.expect_request(pattern, timeout=WAIT_MS):
            button.click()
        assert button.get_attribute("aria-pressed") == "true"
        card(page, "bitcoin", "caption").filter(has_text=f"over the last {name},").wait_for()
        assert_charts_match(page, api, "bitcoin", days)
        assert_csv_link(page, api, "bitcoin", days)
    assert page.evaluate("window.localStorage.getItem('cryptostats.days')") == "365"
    page.reload()
    page.locator('#range button[data-days="365"][aria-pressed="true"]').wait_for()

    # System status, from /api/status and /ready.
    page.locator("#ready-badge", has_text=re.compile("^Ready$")).wait_for()
    assert page.locator("#st-redis").inner_text() == "reachable"
    assert page.locator("#st-store").inner_text() == "reachable"
    assert page.locator("#st-subscriber").inner_text().startswith("listening")
    assert page.locator("#st-heartbeat").inner_text().endswith("ago")
    assert page.locator("#st-next").inner_text().startswith("in ")
    newest = api.get("/api/status").json()["ingests"][0]
    first = page.locator("#ingests li.ingest").first
    assert newest["source"] in first.inner_text()
    assert f"{len(newest['stored'])} stored" in first.inner_text()
    # The simulator feeds this stack: the footer must not claim the data is CoinGecko's.
    footer = page.locator("#data-source.synthetic")
    footer.wait_for()
    assert "SYNTHETIC" in footer.inner_text() and newest["source"] in footer.inner_text()

    # The assistant answers what the API answers.
    question = "What is the price of bitcoin?"
    expected_answer = requests.post(f"{api.url}/api/ask", json={"query": question}, timeout=10)
    page.locator("#ask-input").fill(question)
    page.locator("#ask-submit").click()
    page.locator('#ask-result[data-state="answer"]').wait_for()
    tags = page.locator("#ask-result .answer-tags").inner_text().lower()
    assert expected_answer.json()["coin"] in tags
    assert expected_answer.json()["type"].replace("_", " ") in tags.replace("_", " ")
    assert page.locator("#ask-result .answer-text").inner_text().strip()

    page.get_by_role("button", name="30 days", exact=True).click()
    card(page, "bitcoin", "caption").filter(has_text="over the last 30 days,").wait_for()
    page.wait_for_timeout(300)  # let the redrawn charts settle for the picture
    screenshot(page, "dashboard-1440")
    watched.assert_clean()

    # The same page on a phone: one column, nothing wider than the screen.
    phone = open_page(f"{api.url}/", 375)
    card(phone.page, "bitcoin", "chart").and_(phone.page.locator("[data-points]")).wait_for()
    phone.page.locator("#ready-badge:not([hidden])").wait_for()
    for field in CHARTS:
        card(phone.page, "bitcoin", field).and_(phone.page.locator("[data-points]")).wait_for()
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways at 375 px ({width} px wide)"
    for field in CHARTS:
        assert series_pixels(phone.page, "bitcoin", field) > min_pixels(field), field
    screenshot(phone.page, "dashboard-375")
    phone.assert_clean()


def test_outage_banner_shows_while_the_api_is_down(stack: Lab, open_page: Any) -> None:
    sim = stack.simulator()
    api = stack.api(sim)
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    watched = open_page(f"{api.url}/?refresh=1", 1440)  # poll every second, not every 5 s
    page = watched.page
    price = card(page, "bitcoin", "price")
    price.and_(page.locator("[data-value]:not([data-value=''])")).wait_for()
    shown = price.get_attribute("data-value")
    assert page.locator("#outage-banner").is_hidden()

    api.process.stop()
    page.locator("#outage-banner").wait_for(state="visible")
    assert "unreachable" in page.locator("#outage-banner").inner_text()
    assert "Retrying every 1 s" in page.locator("#outage-banner").inner_text()
    assert page.locator("#live").get_attribute("data-state") == "offline"
    assert price.get_attribute("data-value") == shown  # the last figures stay on screen
    screenshot(page, "outage-1440")

    port = api.url.rsplit(":", 1)[1]
    env = stack.env({"API_HOST": "127.0.0.1", "API_PORT": port}, sim)
    stack.start("api-again", python_module_cmd("api_server"), env)
    wait_for_http(f"{api.url}/health", timeout=START_TIMEOUT)
    page.locator("#outage-banner").wait_for(state="hidden")
    assert page.locator("#live").get_attribute("data-state") == "live"
    assert watched.csp_violations() == []
    assert watched.page_errors == []
    # The only console errors are failed loads while the API was down or starting (refused
    # connections, 503 from /ready before the first ingest), never an error of the page's code.
    unexpected = [e for e in watched.console_errors if not e.startswith("Failed to load resource")]
    assert unexpected == []
    assert any("ERR_CONNECTION_REFUSED" in e for e in watched.console_errors)


def test_page_follows_new_data_and_warns_when_it_is_old(stack: Lab, open_page: Any) -> None:
    sim = stack.simulator()
    api = stack.api(sim, UPDATE_INTERVAL_SECONDS="3")  # no worker: the data ages
    wait_until(lambda: api.get("/api/stats?coin=bitcoin").status_code == 200, 15, "first data")
    watched = open_page(f"{api.url}/?refresh=1", 1440)
    page = watched.page
    price = card(page, "bitcoin", "price")
    price.and_(page.locator("[data-value]:not([data-value=''])")).wait_for()
    # Polls are conditional: unchanged coins and histories come back as 304.
    with page.expect_response(
        lambda r: r.url.endswith("/api/coins") and r.status == 304, timeout=WAIT_MS
    ):
        pass
    with page.expect_response(
        lambda r: "/api/history?coin=bitcoin&days=7" in r.url and r.status == 304, timeout=WAIT_MS
    ) as revalidated:
        pass
    assert revalidated.value.request.headers.get("if-none-match")
    age = card(page, "bitcoin", "age")
    age.and_(page.locator('[data-state="stale"]')).wait_for()
    assert age.inner_text().startswith("⚠")
    screenshot(page, "stale-1440")

    before = float(price.get_attribute("data-value") or "nan")
    time.sleep(0.6)  # past the claim window of the start-up fetch
    redis.Redis.from_url(stack.redis.url).publish("crypto.update", UpdateTrigger().encode())
    newest = wait_until(
        lambda: (p := api.get("/api/stats?coin=bitcoin").json()["price"]) != before and p,
        10,
        "the triggered fetch to be served",
    )
    price.and_(page.locator(f'[data-value="{newest!r}"]')).wait_for()
    assert age.get_attribute("data-state") == "fresh"  # set together with the price
    assert watched.csp_violations() == []
    assert watched.page_errors == []
