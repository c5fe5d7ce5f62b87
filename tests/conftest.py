"""Shared fixtures: real SQLite files, the real Application, the emulator over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from telegram.ext import Application

from bot.app import build_application, start_polling, stop_polling
from bot.clock import Clock, FrozenClock
from bot.config import Settings
from bot.context import SERVICES_KEY
from bot.services import Services
from bot.services.importer import Importer
from bot.storage import Database, Storage

if TYPE_CHECKING:
    from bot.emulator import BotApiEmulator, SentMessage

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
DEMO_FILES = ("cohorts.csv", "sessions.csv", "contacts.csv")
COORDINATOR_ID = 900
# 16 September 2026, 08:00 in Almaty (UTC+5): the demo cohort's second day.
DEMO_NOW = datetime(2026, 9, 16, 3, 0, tzinfo=UTC)


def demo_files() -> list[tuple[str, bytes]]:
    return [(name, (DATA / name).read_bytes()) for name in DEMO_FILES]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "test.sqlite3")
    await database.open()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def storage(db: Database) -> Storage:
    return Storage(db)


@pytest.fixture
async def demo_storage(storage: Storage) -> Storage:
    importer = Importer(storage)
    plan = await importer.plan_files(demo_files())
    assert plan.ok, [p.render() for p in plan.problems]
    await importer.apply(plan)
    return storage


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(DEMO_NOW)


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    from bot.emulator import BotApiEmulator

    async with BotApiEmulator() as emu:
        yield emu


@dataclass
class BotHarness:
    """The running bot and the helpers tests talk through."""

    app: Application
    emulator: BotApiEmulator
    clock: FrozenClock
    database: Path

    @property
    def services(self) -> Services:
        return self.app.bot_data[SERVICES_KEY]

    @property
    def storage(self) -> Storage:
        return self.services.storage

    def user(self, user_id: int, language: str | None = "en", name: str = "Test") -> Chat:
        self.emulator.add_user(user_id, name, last_name="User", language_code=language)
        return Chat(self, user_id)

    async def idle(self, timeout: float = 10.0) -> None:
        """Waits until every update received so far has been handled (they run concurrently)."""
        import asyncio

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        processor = self.app.update_processor
        while not (self.app.update_queue.empty() and processor.current_concurrent_updates == 0):
            if loop.time() > deadline:
                raise TimeoutError("updates still being handled")
            await asyncio.sleep(0.01)

    async def invite_code(self, cohort_code: str = "TPI-2026", role: str = "student") -> str:
        from bot.storage.models import Role

        cohort = await self.storage.cohorts.by_code(cohort_code)
        assert cohort is not None
        invite = await self.services.invites.create(cohort, Role(role), None)
        return invite.code


@dataclass
class Chat:
    harness: BotHarness
    user_id: int

    async def send(self, text: str, *, replies: int = 1, timeout: float = 5.0) -> SentMessage:
        """Sends as the user; returns the first reply (waits for `replies` of them)."""
        emu = self.harness.emulator
        start = len(emu.sent)
        await emu.send_text(self.user_id, text)
        got = await emu.wait_for_messages(
            replies, chat_id=self.user_id, after=start, timeout=timeout
        )
        return got[0]

    async def send_all(self, text: str, replies: int, timeout: float = 5.0) -> list[SentMessage]:
        emu = self.harness.emulator
        start = len(emu.sent)
        await emu.send_text(self.user_id, text)
        return await emu.wait_for_messages(
            replies, chat_id=self.user_id, after=start, timeout=timeout
        )

    async def press(self, message: SentMessage, data: str) -> SentMessage:
        emu = self.harness.emulator
        start = len(emu.sent)
        await emu.press_button(self.user_id, message.message_id, data)
        return await emu.wait_for_message(self.user_id, after=start)

    async def join(self, code: str, *, confirm: bool = True) -> SentMessage:
        """/start <code>; a link that asks first (a supervisor link, a move between groups)
        is confirmed, as the person would, unless `confirm` is False."""
        answer = await self.send(f"/start {code}")
        confirm_data = [d for _, d in answer.buttons() if d.startswith("v1:join:") and ":ok:" in d]
        if confirm and confirm_data:
            return await self.press(answer, confirm_data[0])
        return answer


async def start_bot(emulator: BotApiEmulator, settings: Settings, clock: Clock) -> Application:
    app = build_application(settings, clock=clock)
    await start_polling(app, poll_timeout=2)
    return app


async def stop_bot(app: Application) -> None:
    if app.bot_data:  # not stopped yet (a test may stop a bot itself to restart it)
        await stop_polling(app)


def harness_settings(emulator: BotApiEmulator, database: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "token": emulator.token,
        "base_url": emulator.base_url,
        "base_file_url": emulator.base_file_url,
        "database": database,
        "coordinators": frozenset({COORDINATOR_ID}),
        # Tests type faster than people: the throttle has its own test with real limits.
        "throttle_burst": 1000,
        "throttle_seconds": 1.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


_DEMO_DATABASE: list[bytes] = []  # the demo, imported once per test process


async def seed_demo(database: Path) -> None:
    """The demo programme imported into `database`; a new file is a copy of one imported
    the same way before (an import per test cost ~50 ms, most tests start with it)."""
    if database.exists():
        await _import_demo(database)
        return
    if not _DEMO_DATABASE:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            template = Path(folder) / "demo.sqlite3"
            await _import_demo(template)  # closed: its write-ahead log is folded in
            assert not template.with_name("demo.sqlite3-wal").exists()
            _DEMO_DATABASE.append(template.read_bytes())
    database.parent.mkdir(parents=True, exist_ok=True)
    database.write_bytes(_DEMO_DATABASE[0])


async def _import_demo(database: Path) -> None:
    async with Database(database) as db:
        importer = Importer(Storage(db))
        plan = await importer.plan_files(demo_files())
        assert plan.ok
        await importer.apply(plan)


BotFactory = Callable[..., Awaitable[BotHarness]]


@pytest.fixture
async def bot_factory(
    emulator: BotApiEmulator, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[BotFactory]:
    """Starts bots on the same database (a restart is: stop one, make another)."""
    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    running: list[Application] = []

    async def make(clock_: Clock | None = None, **overrides: object) -> BotHarness:
        used = clock if clock_ is None else clock_
        app = await start_bot(emulator, harness_settings(emulator, database, **overrides), used)
        running.append(app)
        return BotHarness(app, emulator, used, database)  # type: ignore[arg-type]

    try:
        yield make
    finally:
        for app in running:
            await stop_bot(app)


@pytest.fixture
async def harness(bot_factory: BotFactory) -> BotHarness:
    return await bot_factory()


def edit_sessions(text: str, session_id: str, *, drop: bool = False, **changes: str) -> str:
    """The demo sessions CSV with one row changed (or dropped), written back as CSV."""
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
    writer.writeheader()
    for row in reader:
        if row["id"] == session_id:
            if drop:
                continue
            row.update(changes)
        writer.writerow(row)
    return out.getvalue()


async def seed_outbox(
    database: Path, emulator: BotApiEmulator, supervisor: int, members: list[int], text: str
) -> None:
    """The demo programme, a supervisor and members, and an announcement already queued (what
    pressing Send does): the starting point of the crash and shutdown tests."""
    from datetime import UTC, datetime

    from bot.storage.models import Role

    await seed_demo(database)
    now = datetime.now(UTC)
    async with Database(database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code("TPI-2026")
        assert cohort is not None
        for uid in [supervisor, *members]:
            await storage.users.touch(
                uid, first_name=f"M{uid}", last_name="", username="", telegram_language="en",
                now=now,
            )  # fmt: skip
            role = Role.SUPERVISOR if uid == supervisor else Role.STUDENT
            await storage.users.join(uid, cohort.id, role, now)
            emulator.add_user(uid, f"M{uid}")
        announcement = await storage.announcements.create_draft(cohort.id, supervisor, text, now)
        async with storage.transaction():
            await storage.announcements.queue(announcement, members, now)
