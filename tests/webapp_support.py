"""What the Mini App's tests share: a bot serving it, signed initData, people in roles."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.services.importer import Importer
from bot.storage.models import Role
from bot.webapp import WEBAPP_KEY
from bot.webapp.initdata import sign
from bot.webapp.server import WebApp
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness

PUBLIC_URL = "https://mini.example.org/app/"
WEBAPP_SETTINGS: dict[str, object] = {
    "webapp_url": PUBLIC_URL,
    "webapp_listen": ("127.0.0.1", 0),
    "webapp_shim": True,
}
OTHER = (
    "code,name,timezone,arrives,departs\nOTHER-1,Other group,Europe/Moscow,2026-09-01,2026-09-30\n"
)
PEOPLE = {
    "student_own": (1101, "TPI-2026", Role.STUDENT),
    "student_other": (1102, "OTHER-1", Role.STUDENT),
    "supervisor_own": (1103, "TPI-2026", Role.SUPERVISOR),
    "supervisor_other": (1104, "OTHER-1", Role.SUPERVISOR),
}
IDS = {key: uid for key, (uid, _, _) in PEOPLE.items()} | {
    "coordinator": COORDINATOR_ID,
    "stranger": 1199,  # signed in by Telegram, never wrote to the bot
}
LIGHT = {"bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#999999",
         "link_color": "#2481cc", "button_color": "#2481cc", "button_text_color": "#ffffff",
         "secondary_bg_color": "#efeff3"}  # fmt: skip
DARK = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
        "link_color": "#6ab3f3", "button_color": "#5288c1", "button_text_color": "#ffffff",
        "secondary_bg_color": "#232e3c"}  # fmt: skip


@dataclass
class MiniApp:
    harness: BotHarness
    http: aiohttp.ClientSession

    @property
    def server(self) -> WebApp:
        return self.harness.app.bot_data[WEBAPP_KEY]

    @property
    def base(self) -> str:
        return self.server.local_url

    def init_data(self, user_id: int, language: str = "en", at: datetime | None = None) -> str:
        user = {"id": user_id, "first_name": f"U{user_id}", "language_code": language}
        return sign(user, self.harness.emulator.token, at or self.harness.clock.now())

    def page_url(
        self, user_id: int, language: str = "en", theme: dict | None = None, query: str = ""
    ) -> str:  # type: ignore[type-arg]
        data = quote(self.init_data(user_id, language), safe="")
        themes = quote(json.dumps(theme or LIGHT), safe="")
        return f"{self.base}{query}#tgWebAppData={data}&tgWebAppThemeParams={themes}"

    async def call(
        self,
        method: str,
        path: str,
        user_id: int | None,
        language: str = "en",
        body: Any = None,
        data: Any = None,
        init_data: str | None = None,
    ) -> tuple[int, Any]:
        headers = {}
        if init_data is not None:
            headers["Authorization"] = f"tma {init_data}"
        elif user_id is not None:
            headers["Authorization"] = f"tma {self.init_data(user_id, language)}"
        async with self.http.request(
            method, self.base + path, headers=headers, json=body, data=data
        ) as response:
            if "json" in response.headers.get("Content-Type", ""):
                return response.status, await response.json()
            return response.status, await response.read()

    async def get(self, path: str, user_id: int | None, language: str = "en") -> tuple[int, Any]:
        return await self.call("GET", path, user_id, language)

    async def post(
        self, path: str, user_id: int | None, body: Any, language: str = "en"
    ) -> tuple[int, Any]:
        return await self.call("POST", path, user_id, language, body=body)


async def start_mini_app(bot_factory: BotFactory, **overrides: object) -> BotHarness:
    return await bot_factory(**(WEBAPP_SETTINGS | overrides))


async def add_people(harness: BotHarness, language: str = "en") -> None:
    """The other cohort and a student and a supervisor in each, written as joining would."""
    importer = Importer(harness.storage)
    plan = await importer.plan_files([("other.csv", OTHER.encode())])
    assert plan.ok
    await importer.apply(plan)
    storage = harness.storage
    now = harness.clock.now()
    for key, (uid, code, role) in PEOPLE.items():
        cohort = await storage.cohorts.by_code(code)
        assert cohort is not None
        await storage.users.touch(
            uid, first_name=key, last_name="", username="", telegram_language=language, now=now
        )
        await storage.users.join(uid, cohort.id, role, now)
        harness.emulator.add_user(uid, key, language_code=language)
    await storage.users.touch(
        COORDINATOR_ID, first_name="Coordinator", last_name="", username="",
        telegram_language=language, now=now,
    )  # fmt: skip
    harness.emulator.add_user(COORDINATOR_ID, "Coordinator", language_code=language)
