"""Attendance benchmarks (issue 10, closing note).

1. Timing error of the nudge and of the supervisor's list of the missing against their due
   instants, over 20 sessions each, on the real clock and the real JobQueue (the cohort's
   offsets are set to 1 minute so the run takes half a minute, not twenty).
2. /attendance <session #> answered for a supervisor of 40 students x 100 sessions, every
   session with its rows: p50 / p99 over 30 requests through the emulator (limiter off).
3. The XLSX record of 50 students x 100 sessions (every cell filled, audit of 200 marks):
   time to read and build it, and its size.

Run: `.venv/bin/python -m bench.attendance`.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import median, percentile, synthetic_programme
from bot.app import build_application, start_polling, stop_polling
from bot.config import Settings
from bot.emulator import BotApiEmulator
from bot.i18n import Catalogs
from bot.services.attendance_report import attendance_report
from bot.storage import Database, Storage
from bot.storage.attendance import AttendanceRecord, AttendanceSettings, Source, Status
from bot.storage.models import Localized, Role
from bot.storage.repositories import SessionFields

STUDENT, SUPERVISOR = 42, 43


def settings_for(emulator: BotApiEmulator, database: Path, **kw: object) -> Settings:
    return Settings(
        token=emulator.token,
        base_url=emulator.base_url,
        base_file_url=emulator.base_file_url,
        database=database,
        **kw,  # type: ignore[arg-type]
    )


async def _add_supervisor(storage: Storage, cohort_id: int, uid: int) -> None:
    now = datetime.now(UTC)
    await storage.users.touch(
        uid, first_name="Supervisor", last_name="", username="", telegram_language="en", now=now
    )
    await storage.users.join(uid, cohort_id, Role.SUPERVISOR, now)


async def due_time_error(count: int = 20) -> dict[str, float]:
    """`count` sessions that began ~50 s ago, one second apart; nudge and list due 1 minute
    after each start."""
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        await synthetic_programme(database, cohorts=1, sessions=0, members=1, first_user=STUDENT)
        now = datetime.now(UTC)
        dues: dict[str, datetime] = {}
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            await _add_supervisor(storage, cohort.id, SUPERVISOR)
            await storage.attendance.save_settings(
                AttendanceSettings(cohort.id, nudge_after=1, missing_after=1)
            )
            for i in range(count):
                starts = (now + timedelta(seconds=-50 + i)).replace(microsecond=0)
                title = f"Due test {i}"
                await storage.sessions.insert(
                    cohort.id,
                    SessionFields(f"D{i}", starts, starts + timedelta(minutes=30),
                                  Localized(title), Localized()),
                )  # fmt: skip
                dues[title] = starts + timedelta(minutes=1)
        async with BotApiEmulator() as emulator:
            emulator.add_user(STUDENT, "Student")
            emulator.add_user(SUPERVISOR, "Supervisor")
            nudges: dict[str, datetime] = {}
            lists: dict[str, datetime] = {}

            def on_message(message) -> None:  # type: ignore[no-untyped-def]
                text = message.text or ""
                for title in dues:
                    if f"<b>{title}</b>" in text:
                        target = nudges if message.chat_id == STUDENT else lists
                        target.setdefault(title, datetime.now(UTC))

            emulator.subscribe(on_message)
            app = build_application(settings_for(emulator, database))
            await start_polling(app, poll_timeout=1)
            await emulator.wait_for_messages(2 * count, timeout=count + 90)
            await stop_polling(app)
    nudge_errors = [(nudges[t] - dues[t]).total_seconds() for t in dues if t in nudges]
    list_errors = [(lists[t] - dues[t]).total_seconds() for t in dues if t in lists]
    return {
        "nudges": len(nudge_errors),
        "nudge_median_s": median(nudge_errors),
        "nudge_worst_s": max(nudge_errors),
        "lists": len(list_errors),
        "list_median_s": median(list_errors),
        "list_worst_s": max(list_errors),
    }


async def _fill(storage: Storage, cohort_id: int, students: list[int], marks: int = 0) -> None:
    """A row for ~90% of students at every session, and `marks` staff marks."""
    rng = random.Random(7)
    statuses = (Status.PRESENT,) * 6 + (Status.LATE, Status.EXCUSED, Status.ABSENT)
    sessions = await storage.sessions.for_cohort(cohort_id)
    rows = []
    for s in sessions:
        for uid in students:
            if rng.random() < 0.9:
                rows.append(
                    (s.id, uid, rng.choice(statuses).value, Source.CHECKIN.value, "self",
                     s.starts_at.strftime("%Y-%m-%d %H:%M:%S"))
                )  # fmt: skip
    async with storage.transaction():
        await storage.db.executemany(
            "INSERT OR REPLACE INTO attendance (session_id, user_id, status, source, verdict,"
            " at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        for i in range(marks):
            s = sessions[i % len(sessions)]
            record = AttendanceRecord(
                s.id, students[i % len(students)], Status.EXCUSED, Source.STAFF,
                s.starts_at + timedelta(minutes=30), marked_by=SUPERVISOR,
            )  # fmt: skip
            await storage.attendance.mark(cohort_id, record, "absent", SUPERVISOR)


async def roll_call_time(students: int = 40, sessions: int = 100, requests: int = 30) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        ids = await synthetic_programme(
            database, cohorts=1, sessions=sessions, members=students, first_user=1000
        )
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            await _add_supervisor(storage, cohort.id, SUPERVISOR)
            await _fill(storage, cohort.id, ids)
            session_ids = [s.id for s in await storage.sessions.for_cohort(cohort.id)]
        async with BotApiEmulator() as emulator:
            emulator.add_user(SUPERVISOR, "Supervisor")
            app = build_application(
                settings_for(emulator, database, messages_per_second=0, throttle_burst=10_000)
            )
            await start_polling(app, poll_timeout=1)
            timings = []
            rng = random.Random(3)
            for _ in range(requests):
                start = len(emulator.sent)
                began = time.perf_counter()
                await emulator.send_text(SUPERVISOR, f"/attendance {rng.choice(session_ids)}")
                answer = await emulator.wait_for_message(SUPERVISOR, after=start)
                timings.append(time.perf_counter() - began)
                assert "📋" in (answer.text or ""), answer.text
            await stop_polling(app)
    return {"p50_s": median(timings), "p99_s": percentile(timings, 99)}


async def report_time(students: int = 50, sessions: int = 100, runs: int = 5) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        database = Path(folder) / "bench.sqlite3"
        ids = await synthetic_programme(
            database, cohorts=1, sessions=sessions, members=students, first_user=1000
        )
        async with Database(database) as db:
            storage = Storage(db)
            cohort = (await storage.cohorts.all())[0]
            await _add_supervisor(storage, cohort.id, SUPERVISOR)
            await _fill(storage, cohort.id, ids, marks=200)
            later = datetime.now(UTC) + timedelta(days=60)  # every session has been held
            tr = Catalogs().get("en")
            timings = []
            size = 0
            for _ in range(runs):
                began = time.perf_counter()
                data = await attendance_report(storage, cohort, later, tr)
                timings.append(time.perf_counter() - began)
                size = len(data)
    return {"median_s": median(timings), "worst_s": max(timings), "bytes": size}


async def main() -> None:
    due = await due_time_error(20)
    roll = await roll_call_time()
    report = await report_time()
    print(
        f"nudge timing error over {due['nudges']:.0f}: median {due['nudge_median_s'] * 1000:.0f}"
        f" ms, worst {due['nudge_worst_s'] * 1000:.0f} ms"
    )
    print(
        f"supervisor's list timing error over {due['lists']:.0f}: median "
        f"{due['list_median_s'] * 1000:.0f} ms, worst {due['list_worst_s'] * 1000:.0f} ms"
    )
    print(
        f"/attendance, 40 students x 100 sessions: p50 {roll['p50_s'] * 1000:.1f} ms, "
        f"p99 {roll['p99_s'] * 1000:.1f} ms (30 requests, end to end through the emulator)"
    )
    print(
        f"XLSX record, 50 students x 100 sessions: median {report['median_s'] * 1000:.0f} ms, "
        f"worst {report['worst_s'] * 1000:.0f} ms, {report['bytes'] / 1024:.0f} KB"
    )


if __name__ == "__main__":
    asyncio.run(main())
