"""Reminder benchmarks (issue 3, item 7 and the closing note; issue 14, items 1 and 2).

1. Start-up with 50 / 200 / 500 cohorts x 100 sessions x 40 members, each in a fresh process:
   time until post_init is done (open, migrate, reconcile, schedule), the items queued, and
   the peak RSS of that process.
1b. Catch-up: the running bot at 500 x 100 x 40; another process moves every session (rows
   and session_changes, as the import CLI writes them); time until the bot's timed queue holds
   exactly the reminders the database calls for, and /today p99 from 100 users meanwhile
   (send limiter off).
2. Due-time error over N reminders on the real clock and the real JobQueue.
3. One reminder to a 40-member cohort against an emulator with Telegram-like flood control
   (30 messages/s per bot, 1/s per chat): wall time and 429s met.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import median, percentile, programme, rss_mb, synthetic_programme
from bot.app import build_application, start_polling, stop_polling
from bot.cli import batch_priority
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


ROOT = Path(__file__).resolve().parent.parent
SIZES = (50, 200, 500)


async def startup(cohorts: int = 50, sessions: int = 100, members: int = 40) -> dict[str, float]:
    """Start-up of a fresh process (its own RSS, nothing imported or cached before)."""
    with tempfile.TemporaryDirectory() as folder:
        database = await programme(Path(folder), cohorts, sessions, members)
        async with BotApiEmulator() as emulator:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.reminders", "--child-startup",
                emulator.token, emulator.base_url, emulator.base_file_url, str(database),
                cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await process.communicate()
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["cohorts"] = cohorts
    return result


async def _child_startup(token: str, base_url: str, base_file_url: str, database: str) -> None:
    settings = Settings(token=token, base_url=base_url, base_file_url=base_file_url,
                        database=Path(database))  # fmt: skip
    app = build_application(settings)
    ready: list[float] = []
    post_init = app.post_init
    assert post_init is not None

    async def timed_post_init(application) -> None:  # type: ignore[no-untyped-def]
        await post_init(application)
        ready.append(time.perf_counter())

    app.post_init = timed_post_init
    started = time.perf_counter()
    await start_polling(app, poll_timeout=1)
    polling = time.perf_counter() - started
    jobs = len(app.bot_data[SERVICES_KEY].scheduler.scheduled("reminder:"))
    rss = rss_mb()
    await stop_polling(app)
    print(json.dumps({"ready_s": ready[0] - started, "startup_s": polling,
                      "jobs": jobs, "rss_mb": rss}))  # fmt: skip


# -- catch-up after an import that moves every session -----------------------------------


def expected_reminders(database: Path, now: datetime, horizon: datetime) -> dict[str, str]:
    """What the database calls for, computed apart from the bot: every session not cancelled
    starting in (now, horizon], reminded 30 minutes before (the synthetic members' default),
    or at once when that has passed."""
    fmt = "%Y-%m-%d %H:%M:%S"
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT id, starts_at FROM sessions WHERE cancelled = 0 AND starts_at > ?"
            " AND starts_at <= ?",
            (now.astimezone(UTC).strftime(fmt), horizon.astimezone(UTC).strftime(fmt)),
        ).fetchall()
    return {
        f"reminder:{sid}:30": (
            datetime.strptime(starts, fmt).replace(tzinfo=UTC) - timedelta(minutes=30)
        ).strftime(fmt)
        for sid, starts in rows
    }


async def _child_catch_up(token: str, base_url: str, base_file_url: str, database: str,
                          marker: str) -> None:  # fmt: skip
    """The bot, plus a checker that compares its queue with the database once the writer
    has finished (the marker file exists) and prints the wall time it first matches."""
    settings = Settings(token=token, base_url=base_url, base_file_url=base_file_url,
                        database=Path(database), messages_per_second=0)  # fmt: skip
    app = build_application(settings)
    await start_polling(app, poll_timeout=1)
    services = app.bot_data[SERVICES_KEY]
    print(json.dumps({"ready": time.time()}), flush=True)
    fmt = "%Y-%m-%d %H:%M:%S"
    while True:
        await asyncio.sleep(0.25)
        if not os.path.exists(marker):
            continue
        now = services.clock.now()
        # (a bot without a horizon, before issue 14, schedules everything)
        horizon = getattr(services.reminders, "horizon", None) or now + timedelta(days=3650)
        expected = await asyncio.to_thread(expected_reminders, Path(database), now, horizon)
        actual = {
            name: due.astimezone(UTC).strftime(fmt)
            for name, due in services.scheduler.scheduled("reminder:").items()
            if due is not None and due > now  # what already ran has left the queue
        }
        expected = {n: d for n, d in expected.items() if d > now.strftime(fmt)}
        if actual == expected:
            print(json.dumps({"correct": time.time(), "items": len(actual)}), flush=True)
            break
    await asyncio.sleep(3600)  # the parent kills this process


async def _child_move(database: str, hours: float) -> None:
    """Another process moves every session, a cohort per transaction, recording each change
    as the import does (the row and its session_changes record, in one transaction)."""
    batch_priority()  # as the import CLI runs: a batch job gives way to the bot for the CPU
    async with Database(Path(database)) as db:
        storage = Storage(db)
        now = datetime.now(UTC)
        for cohort in await storage.cohorts.all():
            sessions = await storage.sessions.for_cohort(cohort.id)
            async with storage.transaction():
                for session in sessions:
                    shifted = dataclasses.replace(
                        SessionFields.of(session),
                        starts_at=session.starts_at + timedelta(hours=hours),
                        ends_at=session.ends_at + timedelta(hours=hours),
                    )
                    await storage.sessions.update(session.id, shifted)
                    await storage.changes.record(session.id, "changed", session, now)


async def catch_up(cohorts: int = 500, sessions: int = 100, members: int = 40,
                   users: int = 100, shift_hours: float = 1.0) -> dict[str, float]:  # fmt: skip
    first_user = 10_000_000
    with tempfile.TemporaryDirectory() as folder:
        database = await programme(Path(folder), cohorts, sessions, members)
        marker = Path(folder) / "written"
        async with BotApiEmulator() as emulator:
            for i in range(cohorts * members):
                emulator.add_user(first_user + i, f"U{i}", language_code=("uz", "ru", "en")[i % 3])
            bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.reminders", "--child-catch-up", emulator.token,
                emulator.base_url, emulator.base_file_url, str(database), str(marker),
                cwd=ROOT, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            assert bot.stdout is not None
            try:
                json.loads(await bot.stdout.readline())  # ready
                latencies: list[float] = []
                stop = asyncio.Event()
                rng = random.Random(42)
                loops = [
                    asyncio.create_task(
                        _today_loop(emulator, first_user + i, latencies, rng, stop)
                    )
                    for i in range(users)
                ]
                await asyncio.sleep(5)  # the users settle into their rhythm
                latencies.clear()
                sent_before = len(emulator.sent)
                began = time.time()
                writer = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bench.reminders", "--child-move", str(database),
                    str(shift_hours), cwd=ROOT,
                )  # fmt: skip
                await writer.wait()
                written = time.time()
                marker.touch()
                line = json.loads(await asyncio.wait_for(bot.stdout.readline(), 900))
                stop.set()
                await asyncio.gather(*loops)
            finally:
                bot.send_signal(signal.SIGKILL)
                await bot.wait()
            notices = sum(1 for m in emulator.sent[sent_before:] if m.chat_id >= first_user
                          and not (m.text or "").startswith("📅"))  # fmt: skip
    return {
        "cohorts": cohorts,
        "changes": cohorts * sessions,
        "write_s": written - began,
        "correct_after_write_s": line["correct"] - written,
        "correct_after_start_s": line["correct"] - began,
        "items": line["items"],
        "today_p50_ms": percentile(latencies, 50) * 1000,
        "today_p99_ms": percentile(latencies, 99) * 1000,
        "today_answers": len(latencies),
        "notices_meanwhile": notices,
    }


async def _today_loop(emulator: BotApiEmulator, uid: int, latencies: list[float],
                      rng: random.Random, stop: asyncio.Event) -> None:  # fmt: skip
    await asyncio.sleep(rng.uniform(0, 4))
    while not stop.is_set():
        start = len(emulator.sent)
        began = time.perf_counter()
        await emulator.send_text(uid, "/today")
        await emulator.wait_for_message(
            uid, after=start, timeout=120, predicate=lambda m: (m.text or "").startswith("📅")
        )
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(rng.uniform(2, 6))


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
    for cohorts in SIZES[:1] if quick else SIZES:
        s = await startup(cohorts)
        print(
            f"  start-up, {cohorts} cohorts x 100 sessions x 40 members (fresh process): "
            f"ready in {s['ready_s']:.2f} s, {s['jobs']:.0f} reminders queued, "
            f"peak RSS {s['rss_mb']:.0f} MB"
        )
    c = await catch_up(50 if quick else 500)
    print(
        f"  catch-up, {c['cohorts']} cohorts: {c['changes']:.0f} sessions moved by another "
        f"process in {c['write_s']:.1f} s; every reminder correct {c['correct_after_write_s']:.1f}"
        f" s after its last commit; /today p50 / p99 meanwhile {c['today_p50_ms']:.0f} / "
        f"{c['today_p99_ms']:.0f} ms ({c['today_answers']:.0f} answers, "
        f"{c['notices_meanwhile']:.0f} notices sent meanwhile)"
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
    if len(sys.argv) > 1 and sys.argv[1] == "--child-startup":
        asyncio.run(_child_startup(*sys.argv[2:6]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-catch-up":
        asyncio.run(_child_catch_up(*sys.argv[2:7]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--child-move":
        asyncio.run(_child_move(sys.argv[2], float(sys.argv[3])))
    else:
        parser = argparse.ArgumentParser()
        parser.add_argument("--quick", action="store_true")
        parser.add_argument("--only", choices=["startup", "catch-up"])
        parser.add_argument("--cohorts", type=int, default=500)
        args = parser.parse_args()
        if args.only == "startup":
            print(json.dumps(asyncio.run(startup(args.cohorts))))
        elif args.only == "catch-up":
            print(json.dumps(asyncio.run(catch_up(args.cohorts))))
        else:
            asyncio.run(main(args.quick))
