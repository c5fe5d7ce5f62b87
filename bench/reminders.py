"""Reminder benchmarks (issue 3, item 7 and the closing note).

1. Start-up with 50 cohorts x 100 sessions x 40 members: time to open, migrate, reconcile and
   schedule every job; peak RSS of the process.
2. Due-time error over N reminders on the real clock and the real JobQueue.
3. One reminder to a 40-member cohort against an emulator with Telegram-like flood control
   (30 messages/s per bot, 1/s per chat): wall time and 429s met.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import median, rss_mb, synthetic_programme
from bot.app import build_application, start_polling, stop_polling
from bot.config import Settings
from bot.context import SERVICES_KEY
from bot.emulator import BotApiEmulator
from bot.services.reminders import ReminderJob
from bot.storage import Database, Storage
from bot.storage.models import Localized
from bot.storage.repositories import SessionFields


def settings_for(emulator: BotApiEmulator, database: Path, **kw: object) -> Settings:
    return Settings(
        token=emulator.token,
        base_url=emulator.base_url,
        base_file_url=emulator.base_file_url,
        database=database,
        **kw,  # type: ignore[arg-type]
    )


async def startup(cohorts: int = 50, sessions: int = 100, members: int = 40) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        await synthetic_programme(database, cohorts=cohorts, sessions=sessions, members=members)
        rss_before = rss_mb()
        async with BotApiEmulator() as emulator:
            app = build_application(settings_for(emulator, database))
            started = time.perf_counter()
            await start_polling(app, poll_timeout=1)
            elapsed = time.perf_counter() - started
            jobs = len(app.bot_data[SERVICES_KEY].reminders._scheduler.scheduled())
            rss_after = rss_mb()
            await stop_polling(app)
    return {
        "startup_s": elapsed,
        "jobs": jobs,
        "rss_mb": rss_after,
        "rss_growth_mb": rss_after - rss_before,
    }


async def due_time_error(count: int = 20) -> dict[str, float]:
    """`count` sessions starting 61..61+count seconds from now, each reminded 1 minute before."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        await synthetic_programme(database, cohorts=1, sessions=0, members=1, first_user=42)
        now = datetime.now(UTC)
        dues: dict[str, datetime] = {}
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            for i in range(count):
                starts = (now + timedelta(seconds=62 + i)).replace(microsecond=0)
                title = f"Due test {i}"
                await storage.sessions.insert(
                    cohort.id,
                    SessionFields(f"D{i}", starts, starts + timedelta(minutes=30),
                                  Localized(title), Localized()),
                )  # fmt: skip
                dues[title] = starts - timedelta(minutes=1)
        async with BotApiEmulator() as emulator:
            emulator.add_user(42, "Bench")
            arrivals: dict[str, datetime] = {}

            def on_message(message) -> None:  # type: ignore[no-untyped-def]
                for title in dues:
                    if f"<b>{title}</b>" in (message.text or ""):
                        arrivals[title] = datetime.now(UTC)

            emulator.subscribe(on_message)
            app = build_application(settings_for(emulator, database, reminder_minutes=(1,)))
            await start_polling(app, poll_timeout=1)
            await emulator.wait_for_messages(count, chat_id=42, timeout=count + 90)
            await stop_polling(app)
    errors = [(arrivals[t] - dues[t]).total_seconds() for t in dues if t in arrivals]
    return {
        "reminders": len(errors),
        "due_error_median_s": median(errors),
        "due_error_worst_s": max(errors),
    }


async def flood_controlled_cohort(members: int = 40) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        users = await synthetic_programme(database, cohorts=1, sessions=0, members=members)
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            starts = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
            session_id = await storage.sessions.insert(
                cohort.id,
                SessionFields("F", starts, starts + timedelta(hours=1), Localized("Flood"),
                              Localized()),
            )  # fmt: skip
        async with BotApiEmulator() as emulator:
            for uid in users:
                emulator.add_user(uid, f"U{uid}")
            emulator.set_flood_control(global_per_second=30, per_chat_per_second=1)
            app = build_application(settings_for(emulator, database))
            await start_polling(app, poll_timeout=1)
            reminders = app.bot_data[SERVICES_KEY].reminders
            started = time.perf_counter()
            tally = await reminders.send_reminders(ReminderJob(session_id, 30, starts))
            elapsed = time.perf_counter() - started
            await stop_polling(app)
            too_many = emulator.too_many_requests
    return {"members": members, "sent": tally.get("sent", 0), "wall_s": elapsed, "429s": too_many}


async def main(quick: bool = False) -> None:
    print("Reminders")
    s = await startup()
    print(
        f"  start-up, 50 cohorts x 100 sessions x 40 members: {s['startup_s']:.2f} s, "
        f"{s['jobs']:.0f} jobs scheduled, peak RSS {s['rss_mb']:.0f} MB"
    )
    f = await flood_controlled_cohort()
    print(
        f"  one reminder to a {f['members']:.0f}-member cohort under flood control: "
        f"{f['sent']:.0f} sent in {f['wall_s']:.2f} s, {f['429s']:.0f} x 429"
    )
    d = await due_time_error(5 if quick else 20)
    print(
        f"  due-time error over {d['reminders']:.0f} reminders (real clock): median "
        f"{d['due_error_median_s'] * 1000:.0f} ms, worst {d['due_error_worst_s'] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
