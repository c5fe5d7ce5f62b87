"""An import never stalls the bot (issue 14, item 6).

The bot runs as its own process (`python -m bot run`) against the emulator in this process,
with 200 cohorts x 100 sessions in its database. While `python -m bot import` re-imports all
20,000 sessions in a third process (every one changed), 20 students of one cohort send
/today, each again 0.5-1.5 s after their answer (about 20 a second, under the
send limit of 29.5 a second, which stays on). Reported: the worst and the 99th-percentile
answer time while the import ran (and for 3 s after it, while the bot takes in its changes),
the answers counted, any that never came, and how long the import took.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import ZONE, percentile, synthetic_programme
from bench.latency import ROOT, launch
from bot.emulator import BotApiEmulator
from bot.storage import Database, Storage

COHORTS = 200
SESSIONS = 100
STUDENTS = 20
FIRST_USER = 70_000_000
TODAY_MARK = "📅"
COHORTS_PER_FILE = 50


async def write_reimport(database: Path, folder: Path) -> tuple[list[Path], int]:
    """Every session of every cohort, its notes changed: a full re-import that touches each
    row (notes only, so no member is notified and the answers are all there is to wait for).
    Written as several files, each under the importer's 2 MB limit, imported at once."""
    tz = ZoneInfo(ZONE)
    header = [
        "cohort", "date", "start", "end", "title_en", "title_ru", "title_uz", "department_en",
        "department_ru", "department_uz", "location", "notes", "id",
    ]  # fmt: skip
    files: list[Path] = []
    rows = 0
    async with Database(database) as db:
        storage = Storage(db)
        cohorts = await storage.cohorts.all()
        for part in range(0, len(cohorts), COHORTS_PER_FILE):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            for cohort in cohorts[part : part + COHORTS_PER_FILE]:
                for s in await storage.sessions.for_cohort(cohort.id):
                    start, end = s.starts_at.astimezone(tz), s.ends_at.astimezone(tz)
                    writer.writerow([
                        cohort.code, f"{start:%Y-%m-%d}", f"{start:%H:%M}", f"{end:%H:%M}",
                        s.title.en, s.title.ru, s.title.uz, s.department.en, s.department.ru,
                        s.department.uz, s.location.en, f"Re-imported {rows}", s.external_id,
                    ])  # fmt: skip
                    rows += 1
            path = folder / f"sessions-{part // COHORTS_PER_FILE}.csv"
            path.write_text(out.getvalue(), encoding="utf-8")
            files.append(path)
    return files, rows


async def student(
    emulator: BotApiEmulator, uid: int, stop: asyncio.Event, answers: list[tuple[float, float]],
    rng: random.Random,
) -> None:  # fmt: skip
    await asyncio.sleep(rng.uniform(0, 0.5))
    while not stop.is_set():
        start = len(emulator.sent)
        began = time.perf_counter()
        await emulator.send_text(uid, "/today")
        try:
            await emulator.wait_for_message(
                uid, after=start, timeout=30, predicate=lambda m: m.text.startswith(TODAY_MARK)
            )
        except TimeoutError:  # never answered (or answered with an error): counted as 30 s
            pass
        answers.append((began, time.perf_counter() - began))
        await asyncio.sleep(rng.uniform(0.5, 1.5))


async def import_stall() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "import.sqlite3"
        await synthetic_programme(database, cohorts=COHORTS, sessions=SESSIONS, members=0)
        # The students: all of the first cohort (members are added apart, to keep it quick).
        await synthetic_members(database, STUDENTS)
        users = list(range(FIRST_USER, FIRST_USER + STUDENTS))
        files, rows = await write_reimport(database, Path(folder))
        async with BotApiEmulator() as emulator:
            for uid in users:
                emulator.add_user(uid, f"S{uid}", language_code="en")
            bot = launch([sys.executable, "-m", "bot", "run"], emulator, database, "29.5")
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=120)
                stop = asyncio.Event()
                answers: list[tuple[float, float]] = []
                rng = random.Random(7)
                loops = [
                    asyncio.create_task(student(emulator, uid, stop, answers, rng))
                    for uid in users
                ]
                await asyncio.sleep(2)  # warm: every student has been answered at least once
                import_began = time.perf_counter()
                importer = subprocess.Popen(
                    [sys.executable, "-m", "bot", "import", *map(str, files)],
                    cwd=ROOT, env={**os.environ, "BOT_DATABASE": str(database)},
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                )  # fmt: skip
                status = await asyncio.to_thread(importer.wait, 600)
                import_s = time.perf_counter() - import_began
                if status != 0:
                    raise RuntimeError(f"import failed: {importer.stderr.read().decode()[-500:]}")
                await asyncio.sleep(3)
                window_end = time.perf_counter()
                stop.set()
                await asyncio.gather(*loops)
            finally:
                bot.send_signal(signal.SIGTERM)
                await asyncio.to_thread(bot.wait, 30)
    during = [took for began, took in answers if import_began <= began <= window_end]
    idle = [took for began, took in answers if began < import_began]
    import_end = import_began + import_s
    after = [took for began, took in answers if import_end <= began <= window_end]
    return {
        "unanswered": sum(1 for took in during if took >= 30),
        "rows": rows,
        "import_s": import_s,
        "answers": len(during),
        "worst_s": max(during, default=float("nan")),
        "p99_s": percentile(during, 99),
        "p50_s": percentile(during, 50),
        "idle_p50_s": percentile(idle, 50),
        "after_worst_s": max(after, default=float("nan")),
    }


async def synthetic_members(database: Path, count: int) -> None:
    from bot.storage.models import Role

    now = datetime.now(UTC)
    async with Database(database) as db:
        storage = Storage(db)
        cohort = (await storage.cohorts.all())[0]
        async with storage.transaction():
            for uid in range(FIRST_USER, FIRST_USER + count):
                await storage.users.touch(
                    uid, first_name=f"S{uid}", last_name="", username="", telegram_language="en",
                    now=now,
                )  # fmt: skip
                await storage.users.join(uid, cohort.id, Role.STUDENT, now)


async def main() -> dict[str, float]:
    result = await import_stall()
    print(
        f"/today from {STUDENTS} students during a {result['rows']:.0f}-row re-import in another "
        f"process ({result['import_s']:.1f} s): worst {result['worst_s'] * 1000:.0f} ms, "
        f"p99 {result['p99_s'] * 1000:.0f} ms, p50 {result['p50_s'] * 1000:.0f} ms, "
        f"{result['answers']:.0f} answers, {result['unanswered']:.0f} unanswered; "
        f"p50 before the import {result['idle_p50_s'] * 1000:.0f} ms, worst in the 3 s after it "
        f"{result['after_worst_s'] * 1000:.0f} ms"
    )
    return result


if __name__ == "__main__":
    asyncio.run(main())
