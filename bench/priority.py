"""People before bulk (issue 14, item 4): `/today` from 20 users while a broadcast drains.

The bot runs as its own process (`python -m bot run`) with its send limiter on (29.5 a second)
against the emulator with Telegram-like flood control (30 a sliding second per bot, 1 per
chat). A supervisor sends `/broadcast` to a 1,000-member cohort and presses Send; meanwhile 20
students of another cohort each send `/today`, wait for the answer, think 2-6 s and ask again.

Printed: `/today` p50 / p99 for the questions asked while the broadcast drained; the
broadcast's wall time (Send pressed to the supervisor's delivery report) against two floors:
1,000 / 29.5 s, the broadcast alone, and every message the bot sent meanwhile (the broadcast,
the answers, the report) / 29.5 s, which is what one shared limit allows: replies take slots
the broadcast would otherwise have used. And the 429s met (must be 0).

The askers are not among the broadcast's recipients: Telegram (and the emulator) allow about
one message a second per chat, so an answer landing within a second of the announcement to
the same person would meet a per-chat 429 whatever the global order.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import percentile, synthetic_programme
from bench.latency import FIRST_USER, OURS, launch, seed, settle
from bot.emulator import BotApiEmulator
from bot.storage import Database, Storage
from bot.storage.models import Role

RATE = 29.5
ASKERS = 20
SUPERVISOR = 9
FIRST_MEMBER = 10_000_000


async def seed_programme(folder: Path, members: int) -> Path:
    """The demo programme with the askers in it, and a cohort of `members` with a supervisor."""
    database = await seed(folder, users=ASKERS)
    await synthetic_programme(database, cohorts=1, sessions=0, members=members,
                              first_user=FIRST_MEMBER)  # fmt: skip
    now = datetime.now(UTC)
    async with Database(database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code("BENCH-000")
        assert cohort is not None
        await storage.users.touch(SUPERVISOR, first_name="Supervisor", last_name="",
                                  username="", telegram_language="en", now=now)  # fmt: skip
        await storage.users.join(SUPERVISOR, cohort.id, Role.SUPERVISOR, now)
    return database


async def ask_until(
    emulator: BotApiEmulator, uid: int, done: asyncio.Event, window: list[float],
    latencies: list[float], rng: random.Random,
) -> None:  # fmt: skip
    """Asks /today again and again; keeps the round trips of questions asked during the drain."""
    await asyncio.sleep(rng.uniform(0, 2))
    while not done.is_set():
        start = len(emulator.sent)
        began = time.perf_counter()
        await emulator.send_text(uid, "/today")
        await emulator.wait_for_message(uid, after=start, timeout=120)
        if window and began >= window[0] and not done.is_set():
            latencies.append(time.perf_counter() - began)
        await asyncio.sleep(rng.uniform(2, 6))


async def people_during_broadcast(members: int = 1000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        database = await seed_programme(Path(folder), members)
        async with BotApiEmulator() as emulator:
            emulator.add_user(SUPERVISOR, "Supervisor")
            for m in range(members):
                emulator.add_user(FIRST_MEMBER + m, f"M{m}")
            askers = [FIRST_USER + i for i in range(ASKERS)]
            for i, uid in enumerate(askers):
                emulator.add_user(uid, f"U{i}", language_code=("uz", "ru", "en")[i % 3])
            emulator.set_flood_control(global_per_second=30, per_chat_per_second=1)
            process = launch(OURS, emulator, database, str(RATE))
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=60)
                # What the bot sends on its own at start (the demo checklist's reminders due
                # today) is over before the askers begin: the askers are demo members, and a
                # reminder and an answer to the same person within a second would meet the
                # emulator's strict one-a-second-per-chat limit, which is not what is measured.
                await settle(emulator)
                done = asyncio.Event()
                window: list[float] = []  # [when Send was pressed]
                latencies: list[float] = []
                rng = random.Random(14)
                asking = [
                    asyncio.create_task(ask_until(emulator, uid, done, window, latencies, rng))
                    for uid in askers
                ]
                await asyncio.sleep(3)  # the askers are in their rhythm before the broadcast
                before = len(emulator.sent)
                await emulator.send_text(SUPERVISOR, "/broadcast Benchmark announcement")
                preview = await emulator.wait_for_message(SUPERVISOR, after=before, timeout=60)
                send = next(d for label, d in preview.buttons() if label.startswith("📣"))
                start = len(emulator.sent)
                window.append(time.perf_counter())
                await emulator.press_button(SUPERVISOR, preview.message_id, send)
                report = await emulator.wait_for_message(
                    SUPERVISOR, predicate=lambda m: (m.text or "").startswith("📬"),
                    after=start, timeout=members / 5 + 60,
                )  # fmt: skip
                elapsed = time.perf_counter() - window[0]
                done.set()
                await asyncio.gather(*asking)
                meanwhile = emulator.sent[start : emulator.sent.index(report) + 1]
                sent = [m for m in meanwhile if m.method == "sendMessage"]
                delivered = sum("Benchmark announcement" in (m.text or "") for m in sent)
                errors = emulator.too_many_requests
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)
    return {
        "members": members,
        "today_p50_s": percentile(latencies, 50),
        "today_p99_s": percentile(latencies, 99),
        "today_worst_s": max(latencies, default=float("nan")),
        "questions": len(latencies),
        "wall_s": elapsed,
        "floor_alone_s": members / RATE,
        "floor_shared_s": len(sent) / RATE,
        "sent_meanwhile": len(sent),
        "delivered": delivered,
        "429s": errors,
    }


def describe(r: dict[str, float]) -> str:
    return (
        f"/today p50 {r['today_p50_s'] * 1000:.0f} ms, p99 {r['today_p99_s'] * 1000:.0f} ms, "
        f"worst {r['today_worst_s'] * 1000:.0f} ms ({r['questions']:.0f} questions); "
        f"broadcast {r['delivered']:.0f} delivered in {r['wall_s']:.1f} s: "
        f"{r['wall_s'] / r['floor_shared_s']:.3f}x the floor for all {r['sent_meanwhile']:.0f} "
        f"messages sent meanwhile ({r['floor_shared_s']:.1f} s), "
        f"{r['wall_s'] / r['floor_alone_s']:.3f}x the broadcast's alone "
        f"({r['floor_alone_s']:.1f} s); {r['429s']:.0f} x 429"
    )


async def main(members: int = 1000) -> dict[str, float]:
    r = await people_during_broadcast(members)
    print(f"People during a {members}-member broadcast, {ASKERS} users asking /today")
    print("  " + describe(r))
    return r


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000)
    asyncio.run(main(parser.parse_args().members))
