"""The group chat's day card (issue 9): the real bot process against the emulator.

1. Time from a coordinator's /cancel (a private message) to the edited card in the group:
   median of 20, one every 6.5 s (each cancel is an edit and a notice in the group, and a group
   gets 20 messages a minute).
2. Messages the group gets when the import CLI, in another process, re-imports a file that
   changes 30 of today's sessions (the goal: 1 edited card and 1 notice).
3. A storm: 40 members send /today in the group at once; the most group sends seen in any
   60 s window (Telegram allows about 20; the emulator answers 429 beyond that).

    python -m bench.group_card
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.latency import launch, seed
from bot.emulator import BotApiEmulator, SentMessage
from bot.services.importer import Importer
from bot.storage import Database, Storage

ROOT = Path(__file__).resolve().parent.parent
COORDINATOR = 7_000_001
STORM_USERS = 40
FIRST_MEMBER = 7_100_000
EXTRA = 30
ZONE = ZoneInfo("Asia/Almaty")
HEADER = (
    "id,cohort,date,start,end,title_en,title_ru,title_uz,department_en,department_ru,"
    "department_uz,location"
)


def extra_sessions(code: str, location: str) -> bytes:
    """30 sessions of today (cohort time), every 20 minutes from 00:10, in the import format."""
    today = datetime.now(ZONE).date()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER.split(","))
    for i in range(EXTRA):
        start = datetime.combine(today, datetime.min.time(), tzinfo=ZONE) + timedelta(
            minutes=10 + 20 * i
        )
        end = start + timedelta(minutes=15)
        writer.writerow(
            [f"CARD-{i:02d}", code, today.isoformat(), f"{start:%H:%M}", f"{end:%H:%M}",
             f"Card bench {i:02d}", "", "", "Bench", "", "", f"{location} {i}"]
        )  # fmt: skip
    return out.getvalue().encode()


async def prepare(folder: Path) -> tuple[Path, str, list[int]]:
    database = await seed(folder, users=0)
    async with Database(database) as db:
        storage = Storage(db)
        cohort = (await storage.cohorts.all())[0]
        importer = Importer(storage)
        plan = await importer.plan_files([("sessions.csv", extra_sessions(cohort.code, "Room"))])
        assert plan.ok, [p.render() for p in plan.problems]
        await importer.apply(plan)
        rows = await db.fetchall(
            "SELECT id FROM sessions WHERE external_id LIKE 'CARD-%' ORDER BY external_id"
        )
        await storage.changes.mark_processed_many(
            [r["id"] for r in await db.fetchall("SELECT id FROM session_changes")]
        )
    return database, cohort.code, [r["id"] for r in rows]


def most_in_a_minute(times: list[float]) -> int:
    times = sorted(times)
    best = 0
    first = 0
    for last, t in enumerate(times):
        while t - times[first] >= 60:
            first += 1
        best = max(best, last - first + 1)
    return best


async def group_card() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        database, code, sessions = await prepare(folder)
        async with BotApiEmulator() as emu:
            emu.add_user(COORDINATOR, "Coordinator")
            members = [FIRST_MEMBER + i for i in range(STORM_USERS)]
            for uid in members:
                emu.add_user(uid, f"M{uid}")
            group = emu.add_group("Bench group", members=(COORDINATOR, *members))
            sends: list[float] = []

            def note(message: SentMessage) -> None:
                if message.chat_id == group:
                    sends.append(time.perf_counter())

            emu.subscribe(note)
            bot = launch(
                [sys.executable, "-m", "bot", "run"], emu, database, "29.5",
                {"BOT_COORDINATORS": str(COORDINATOR)},
            )  # fmt: skip
            try:
                await emu.wait_for_request("getUpdates", 1, timeout=120)
                emu.add_bot_to_group(group, COORDINATOR, admin=True, can_pin=True)
                start = len(emu.sent)
                await emu.send_group_text(group, COORDINATOR, f"/link {code}")
                await emu.wait_for_messages(
                    1, chat_id=group, after=start, timeout=30,
                    predicate=lambda m: (m.text or "").startswith("📌"),
                )  # fmt: skip

                # 1. /cancel -> the edited card.
                took: list[float] = []
                for session_id in sessions[:20]:
                    start = len(emu.sent)
                    began = time.perf_counter()
                    await emu.send_text(COORDINATOR, f"/cancel {session_id} bench")
                    await emu.wait_for_message(
                        group, after=start, timeout=60,
                        predicate=lambda m: m.method == "editMessageText",
                    )  # fmt: skip
                    took.append(time.perf_counter() - began)
                    await asyncio.sleep(6.5 - took[-1] if took[-1] < 6.5 else 0)

                # 2. A re-import changing 30 of today's sessions, from another process.
                await asyncio.sleep(60)  # the group's minute starts afresh
                changed = folder / "changed.csv"
                changed.write_bytes(extra_sessions(code, "Hall"))
                start = len(emu.sent)
                importer = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "import", str(changed), cwd=ROOT,
                    env={**os.environ, "BOT_DATABASE": str(database)},
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await importer.wait()
                await emu.wait_for_message(group, after=start, timeout=60)
                await asyncio.sleep(10)  # the change poll runs every 3 s: anything more shows
                reimport = len([m for m in emu.sent[start:] if m.chat_id == group])

                # 3. A storm of /today in the group.
                await asyncio.sleep(60)
                storm_began = time.perf_counter()
                for uid in members:
                    await emu.send_group_text(group, uid, "/today")
                await asyncio.sleep(75)
                storm = [t for t in sends if t >= storm_began]
            finally:
                bot.send_signal(signal.SIGTERM)
                await asyncio.to_thread(bot.wait, 60)
            return {
                "cancel_to_edit_median_ms": statistics.median(took) * 1000,
                "cancel_to_edit_max_ms": max(took) * 1000,
                "reimport_30_group_messages": reimport,
                "storm_answered_in_75_s": len(storm),
                "most_group_sends_in_60_s": most_in_a_minute(sends),
                "emulator_429s": emu.too_many_requests,
            }


if __name__ == "__main__":
    for key, value in asyncio.run(group_card()).items():
        print(f"{key}: {value:.0f}" if isinstance(value, float) else f"{key}: {value}")
