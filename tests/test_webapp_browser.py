"""The Mini App in a real headless Chromium (Debian's, driven by Playwright): what a student
sees, a coordinator's move arriving as the students' notice, and a student kept out of the
console. Screenshots at phone size, light and dark, go to .artifacts/webapp/."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from tests.conftest import COORDINATOR_ID, ROOT, BotFactory
from tests.webapp_support import DARK, LIGHT, MiniApp, start_mini_app

CHROMIUM = os.environ.get("BOT_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / ".artifacts" / "webapp"
PHONE = {"width": 390, "height": 844}

try:
    from playwright.async_api import Browser, Page, async_playwright
except ImportError:  # the dev extras not installed
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(
        async_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"
    ),
    pytest.mark.skipif(
        shutil.which(CHROMIUM) is None,
        reason=f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium when run as "
        "root (apt-get install -y chromium)",
    ),
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        # The sandbox refuses to run as root; the page is our own, on loopback.
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def mini(bot_factory: BotFactory) -> AsyncIterator[MiniApp]:
    harness = await start_mini_app(bot_factory)
    async with aiohttp.ClientSession() as http:
        yield MiniApp(harness, http)


async def phone_page(browser: Browser) -> tuple[Page, list[str]]:
    """A phone-sized page and the script errors it will have raised."""
    page = await browser.new_page(viewport=PHONE, device_scale_factor=2, locale="en-US")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def record(name: str, value: Any) -> None:
    """Figures the issue asks for, kept next to the screenshots."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "figures.json"
    figures = json.loads(path.read_text()) if path.exists() else {}
    figures[name] = value
    path.write_text(json.dumps(figures, indent=2, sort_keys=True))


async def no_horizontal_scroll(page: Page) -> bool:
    return await page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


async def test_a_student_sees_today_and_cannot_reach_the_console(
    mini: MiniApp, browser: Browser
) -> None:
    harness = mini.harness
    student = harness.user(5100, "en", name="Aziza")
    await student.join(await harness.invite_code())
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    microscope = next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == "TPI-2026-S06"
    )  # fmt: skip
    await harness.services.admin.cancel(COORDINATOR_ID, microscope, "Teacher ill")
    safety = next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == "TPI-2026-S04"
    )  # fmt: skip
    hostile = "<img src=x onerror=alert(1)> Hall <b>2</b>"
    await harness.services.admin.room(COORDINATOR_ID, safety, hostile)
    page, errors = await phone_page(browser)

    await page.goto(mini.page_url(5100, theme=LIGHT))
    await page.wait_for_selector("#today .session")
    rendered = int(await page.get_attribute("body", "data-rendered") or 0)
    record("week first render (ms from navigation start, loopback)", rendered)
    assert 0 < rendered < 1500, rendered  # the goal is 300 ms; the figure is reported
    today = page.locator("#today")
    assert "Wednesday, 16 September" in await today.inner_text()
    sessions = today.locator(".session")
    assert await sessions.count() == 3
    assert "now" in await sessions.nth(0).inner_text()
    assert hostile in await sessions.nth(0).inner_text()  # shown as text, never as markup
    assert await page.locator("main img, main b").count() == 0
    assert "next" in await sessions.nth(1).inner_text()
    assert "Cancelled" in await sessions.nth(2).inner_text()
    struck = (
        await sessions.nth(2)
        .locator(".title")
        .evaluate("node => getComputedStyle(node).textDecorationLine")
    )
    assert struck == "line-through"
    assert await page.locator(".day.today").count() == 1
    assert await no_horizontal_scroll(page)
    await page.wait_for_selector("#reminders")
    await page.screenshot(path=ARTIFACTS / "student-week-light.png")

    # The arrows move between weeks, within the programme.
    await page.click("#later")
    await page.wait_for_selector("#week-label >> text=21 Sep 2026 – 27 Sep 2026")
    assert await page.locator("#today").count() == 0
    await page.click("#earlier")
    await page.wait_for_selector("#today .session")
    assert await page.is_disabled("#earlier")

    # A session's details, then back; the reminders card saves.
    await sessions.nth(1).click()
    await page.wait_for_selector("#session")
    assert "Lecture: general osteology" in await page.inner_text("#session h1")
    await page.screenshot(path=ARTIFACTS / "student-session-light.png")
    await page.get_by_role("button", name="‹ Back").click()
    await page.wait_for_selector("#today")
    await page.locator("#reminders .chips button", has_text="60 min").click()
    await page.wait_for_selector("#reminders .chips button[aria-pressed=true] >> text=60 min")
    assert sorted((await harness.storage.users.get(5100)).reminder_leads) == [30, 60]

    # Dark theme, and the narrowest and widest phones.
    await page.goto(mini.page_url(5100, theme=DARK))
    await page.reload()
    await page.wait_for_selector("#today .session")
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(23, 33, 43)"
    await page.screenshot(path=ARTIFACTS / "student-week-dark.png")
    for width in (360, 430):
        await page.set_viewport_size({"width": width, "height": 800})
        assert await no_horizontal_scroll(page), width

    # Editing the address: the console view and the staff API are refused by the server.
    await page.goto(mini.page_url(5100, query="?view=console"))
    await page.reload()
    await page.wait_for_selector("#refused")
    assert "not allowed" in await page.inner_text("#refused")
    assert await page.locator("#sessions").count() == 0
    status = await page.evaluate(
        """async () => (await fetch("api/cohorts/TPI-2026/sessions",
            {headers: {Authorization: "tma " + Telegram.WebApp.initData}})).status"""
    )
    assert status == 403
    response = await page.goto(mini.base + "api/cohorts/TPI-2026/roster")
    assert response is not None and response.status == 401
    assert errors == []

    # Outside Telegram the page says how to open it.
    await page.goto(mini.base)
    assert await page.locator("#outside").is_visible()
    assert "open it in Telegram" in await page.inner_text("#outside")


async def test_a_coordinator_moves_a_session_and_the_students_are_told(
    mini: MiniApp, browser: Browser
) -> None:
    harness = mini.harness
    emu = harness.emulator
    student = harness.user(5200, "uz", name="Jasur")
    await student.join(await harness.invite_code())
    harness.emulator.add_user(COORDINATOR_ID, "Saule", language_code="en")
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    session = next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == "TPI-2026-S10"
    )  # fmt: skip
    page, errors = await phone_page(browser)
    await page.goto(mini.page_url(COORDINATOR_ID, query="?view=console"))
    row = page.locator(f"#sessions .row[data-id='{session.id}']")
    await row.locator("[data-edit]").click()
    await row.locator("input[name=date]").fill("2026-09-17")
    await row.locator("input[name=time]").fill("16:00")
    await row.locator("[data-action=move]").click()
    await page.wait_for_selector("#preview")
    assert "→ 17 Sep 2026, 16:00" in await page.inner_text("#preview")
    assert (await harness.storage.sessions.get(session.id)).starts_at == session.starts_at
    assert await no_horizontal_scroll(page)
    await page.screenshot(path=ARTIFACTS / "coordinator-preview-light.png")

    start = len(emu.sent)
    await page.click("#confirm")
    await page.wait_for_selector("#saved")
    assert "Saved" in await page.inner_text("#saved")
    notice = await emu.wait_for_message(5200, after=start)
    assert "16:00" in notice.text and "koʻchirildi" in notice.text.lower(), notice.text
    moved = await harness.storage.sessions.get(session.id)
    assert moved.starts_at == datetime(2026, 9, 17, 11, 0, tzinfo=UTC)

    await page.click("[data-tab=audit]")
    await page.wait_for_selector("#audit .row")
    assert "moved" in await page.locator("#audit .row").first.inner_text()

    # The cohort's supervisor: the roll-call (the student missing) and the open questions.
    supervisor = harness.user(5201, "en", name="Dilnoza")
    await supervisor.join(await harness.invite_code("TPI-2026", "supervisor"))
    await page.goto(mini.page_url(5201, query="?view=console"))
    await page.reload()
    await page.click("[data-tab=attendance]")
    await page.wait_for_selector("#attendance-counts")
    assert "Jasur" in await page.inner_text("#attendance [data-status=missing]")
    await page.screenshot(path=ARTIFACTS / "supervisor-attendance-light.png")
    await page.click("#attendance [data-status=missing] .summary")
    await page.click("#attendance .actions [data-status=present]")
    await page.wait_for_selector("#attendance .row[data-status=present]")
    await page.click("[data-tab=questions]")
    await page.wait_for_selector("#questions-hint")
    assert errors == []
