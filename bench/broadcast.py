"""Broadcast of one announcement to 1,000 members under Telegram-like flood control (issue 4).

Prints the wall time from "Send" to the delivery report against the floor that Telegram's
limit sets (members / 30 s), the 429s met, and duplicates and losses (both must be 0).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.common import synthetic_programme
from bot.app import build_application, start_polling, stop_polling
from bot.config import Settings
from bot.context import SERVICES_KEY
from bot.emulator import BotApiEmulator
from bot.storage import Database, Storage
from bot.storage.models import Role

TELEGRAM_LIMIT = 30  # messages per second per bot
SENDER = 9


async def broadcast(members: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        users = await synthetic_programme(database, cohorts=1, sessions=0, members=members)
        now = datetime.now(UTC)
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            await storage.users.touch(SENDER, first_name="Supervisor", last_name="",
                                      username="", telegram_language="en", now=now)  # fmt: skip
            await storage.users.join(SENDER, cohort.id, Role.SUPERVISOR, now)
            announcement = await storage.announcements.create_draft(
                cohort.id, SENDER, "Benchmark announcement", now
            )
        async with BotApiEmulator() as emulator:
            for uid in [SENDER, *users]:
                emulator.add_user(uid, f"U{uid}")
            emulator.set_flood_control(global_per_second=TELEGRAM_LIMIT, per_chat_per_second=1)
            app = build_application(
                Settings(token=emulator.token, base_url=emulator.base_url,
                         base_file_url=emulator.base_file_url, database=database)
            )  # fmt: skip
            await start_polling(app, poll_timeout=1)
            broadcasts = app.bot_data[SERVICES_KEY].broadcasts
            started = time.perf_counter()
            await broadcasts.send(announcement)
            await emulator.wait_for_message(
                SENDER, predicate=lambda m: m.text.startswith("📬"), timeout=members / 10 + 60
            )
            elapsed = time.perf_counter() - started
            await stop_polling(app)
            copies = Counter(
                m.chat_id for m in emulator.sent if "Benchmark announcement" in (m.text or "")
            )
    floor = members / TELEGRAM_LIMIT
    return {
        "members": members,
        "wall_s": elapsed,
        "floor_s": floor,
        "over_floor_pct": (elapsed / floor - 1) * 100,
        "429s": emulator.too_many_requests,
        "duplicates": sum(n - 1 for n in copies.values() if n > 1),
        "losses": len(set(users) - set(copies)),
    }


async def main(members: int = 1000) -> dict[str, float]:
    r = await broadcast(members)
    print("Broadcast")
    print(
        f"  {r['members']:.0f} members: {r['wall_s']:.1f} s against a floor of "
        f"{r['floor_s']:.1f} s ({r['over_floor_pct']:+.1f}%), {r['429s']:.0f} x 429, "
        f"{r['duplicates']:.0f} duplicates, {r['losses']:.0f} losses"
    )
    return r


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000)
    asyncio.run(main(parser.parse_args().members))
