"""Per-command round trip with 100 concurrent users, ours against a bare echo bot (issue 5).

Both bots run as their own process (`python -m bot run` and bench/echo_bot.py) against the
emulator in this process, over loopback. Each simulated user sends a command, waits for the
answer, thinks for 2-6 s and sends again: about 25 commands a second in all, under Telegram's
30 messages a second, as a busy morning of a large programme would be. The ratio of our
latency to the echo bot's is our overhead over the framework itself.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import percentile
from bot.emulator import BotApiEmulator
from bot.playground import DEMO_DIR, DEMO_FILES, shift_demo_files
from bot.services.importer import Importer
from bot.storage import Database, Storage
from bot.storage.models import Role

ROOT = Path(__file__).resolve().parent.parent
USERS = 100
FIRST_USER = 50_000


async def seed(folder: Path, users: int = USERS) -> Path:
    from zoneinfo import ZoneInfo

    database = folder / "latency.sqlite3"
    shift_demo_files(DEMO_DIR, folder, datetime.now(ZoneInfo("Asia/Almaty")).date())
    now = datetime.now(UTC)
    async with Database(database) as db:
        storage = Storage(db)
        importer = Importer(storage)
        await importer.apply(
            await importer.plan_files([(n, (folder / n).read_bytes()) for n in DEMO_FILES])
        )
        cohort = (await storage.cohorts.all())[0]
        for i in range(users):
            uid = FIRST_USER + i
            language = ("uz", "ru", "en")[i % 3]
            await storage.users.touch(
                uid, first_name=f"U{i}", last_name="", username="", telegram_language=language,
                now=now,
            )  # fmt: skip
            await storage.users.join(uid, cohort.id, Role.STUDENT, now)
    return database


def launch(
    command: list[str], emulator: BotApiEmulator, database: Path, rate: str,
    extra: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {
        **os.environ,
        **(extra or {}),
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "TELEGRAM_BASE_URL": emulator.base_url,
        "TELEGRAM_BASE_FILE_URL": emulator.base_file_url,
        "BOT_DATABASE": str(database),
        "BOT_MAX_MESSAGES_PER_SECOND": rate,
    }
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


async def user_loop(
    emulator: BotApiEmulator, uid: int, command: str, rounds: int, latencies: list[float],
    rng: random.Random,
) -> None:  # fmt: skip
    await asyncio.sleep(rng.uniform(0, 4))
    for _ in range(rounds):
        start = len(emulator.sent)
        began = time.perf_counter()
        await emulator.send_text(uid, command)
        await emulator.wait_for_message(uid, after=start, timeout=60)
        latencies.append(time.perf_counter() - began)
        await asyncio.sleep(rng.uniform(2, 6))


async def measure(command: list[str], texts: list[str], rounds: int, rate: str = "29.5",
                  ) -> dict[str, tuple[float, float]]:  # fmt: skip
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        database = await seed(Path(folder))
        async with BotApiEmulator() as emulator:
            for i in range(USERS):
                emulator.add_user(FIRST_USER + i, f"U{i}", language_code=("uz", "ru", "en")[i % 3])
            process = launch(command, emulator, database, rate)
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=60)
                await settle(emulator)  # the demo checklist's reminders due today go first
                for text in texts:
                    latencies: list[float] = []
                    rng = random.Random(42)
                    await asyncio.gather(*(
                        user_loop(emulator, FIRST_USER + i, text, rounds, latencies, rng)
                        for i in range(USERS)
                    ))  # fmt: skip
                    results[text] = (percentile(latencies, 50), percentile(latencies, 99))
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)
    return results


async def throughput(command: list[str], text: str, count: int = 1000) -> float:
    """Updates handled per second with the send limiter off: the process's own ceiling.

    One command from each of `count` members, all at once (one user's burst would be
    throttled, which is the point of the throttle, not of this figure).
    """
    with tempfile.TemporaryDirectory() as folder:
        database = await seed(Path(folder), users=count)
        async with BotApiEmulator() as emulator:
            for i in range(count):
                emulator.add_user(FIRST_USER + i, f"U{i}")
            process = launch(command, emulator, database, "0")
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=60)
                await settle(emulator)  # the demo checklist's reminders due today go first
                start = len(emulator.sent)
                began = time.perf_counter()
                for n in range(count):
                    await emulator.send_text(FIRST_USER + n, text)
                await emulator.wait_for_messages(count, after=start, timeout=300)
                return count / (time.perf_counter() - began)
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)


async def burst(
    command: list[str], text: str = "/today", bursts: int = 5, users: int = USERS,
    answer: str | None = None, sample: list[str] | None = None,
) -> tuple[float, float]:  # fmt: skip
    """p50 and p99 answer time when `users` people send `text` at the same moment, with the
    send limiter off (issue 14, item 3): what the process itself adds, update by update.
    Several bursts, 1 s apart, pooled. `answer`: the echo bot answers with this HTML; `sample`
    receives one answer as sent (to give the echo bot the same text)."""
    with tempfile.TemporaryDirectory() as folder:
        database = await seed(Path(folder), users=users)
        extra = {}
        if answer is not None:
            (Path(folder) / "answer.html").write_text(answer, encoding="utf-8")
            extra["BENCH_ECHO_ANSWER"] = str(Path(folder) / "answer.html")
        async with BotApiEmulator() as emulator:
            for i in range(users):
                emulator.add_user(FIRST_USER + i, f"U{i}", language_code=("uz", "ru", "en")[i % 3])
            process = launch(command, emulator, database, "0", extra)
            try:
                await emulator.wait_for_request("getUpdates", 1, timeout=60)
                await settle(emulator)  # the demo checklist's reminders due today go first
                latencies: list[float] = []
                for round_ in range(bursts + 1):
                    start = len(emulator.sent)
                    sent_at: dict[int, float] = {}
                    for i in range(users):
                        sent_at[FIRST_USER + i] = time.perf_counter()
                        await emulator.send_text(FIRST_USER + i, text)
                    # One watcher for the whole burst (a waiter per user would rescan every
                    # message for every user: this process, not the bot, would be measured).
                    answered: dict[int, float] = {}
                    seen = 0  # messages, not people: one more message each round, or it spins
                    while len(answered) < users:
                        got = await emulator.wait_for_messages(seen + 1, after=start, timeout=60)
                        seen = len(got)
                        at = time.perf_counter()
                        for message in got:
                            answered.setdefault(message.chat_id, at)
                            if sample is not None and not sample and message.text:
                                sample.append(message.text)
                    if round_ > 0:  # the first burst warms caches and connections
                        latencies += [answered[uid] - sent_at[uid] for uid in sent_at]
                    await asyncio.sleep(1)
                return percentile(latencies, 50), percentile(latencies, 99)
            finally:
                process.send_signal(signal.SIGTERM)
                await asyncio.to_thread(process.wait, 30)


OURS = [sys.executable, "-m", "bot", "run"]
ECHO = [sys.executable, "-m", "bench.echo_bot"]
COMMANDS = ["/today", "/week", "/contacts"]


async def main(
    rounds: int = 4, only_throughput: bool = False, only_burst: bool = False
) -> dict[str, object]:
    if only_burst:
        bursts = await all_bursts()
        print_burst(*bursts)
        return dict(zip(("ours_burst", "echo_burst", "plain_echo_burst"), bursts, strict=True))
    if only_throughput:
        ours_rate = await throughput(OURS, "/today")
        echo_rate = await throughput(ECHO, "/today")
        print(f"  updates handled per second (limiter off): ours {ours_rate:.0f}, "
              f"echo {echo_rate:.0f}")  # fmt: skip
        return {}
    ours = await measure(OURS, COMMANDS, rounds)
    echo = await measure(ECHO, COMMANDS, rounds)
    print("Latency, 100 concurrent users (seconds: p50 / p99), ours vs a bare PTB echo bot")
    for text in COMMANDS:
        (o50, o99), (e50, e99) = ours[text], echo[text]
        print(f"  {text:<10} ours {o50 * 1000:6.1f} / {o99 * 1000:6.1f} ms   "
              f"echo {e50 * 1000:6.1f} / {e99 * 1000:6.1f} ms   "
              f"ratio {o50 / e50:.2f}x / {o99 / e99:.2f}x")  # fmt: skip
    ours_rate = await throughput(OURS, "/today")
    echo_rate = await throughput(ECHO, "/today")
    print(
        f"  updates handled per second (limiter off): ours {ours_rate:.0f}, echo {echo_rate:.0f}"
    )
    ours_burst, echo_burst, plain_burst = await all_bursts()
    print_burst(ours_burst, echo_burst, plain_burst)
    return {
        "ours": ours, "echo": echo, "ours_rate": ours_rate, "echo_rate": echo_rate,
        "ours_burst": ours_burst, "echo_burst": echo_burst, "plain_echo_burst": plain_burst,
    }  # fmt: skip


async def settle(emulator: BotApiEmulator, quiet: float = 1.5) -> None:
    """Waits until the bot has sent nothing for `quiet` seconds (what it sends on its own at
    start is not an answer to be measured)."""
    while True:
        count = len(emulator.sent)
        await asyncio.sleep(quiet)
        if len(emulator.sent) == count:
            return


async def all_bursts() -> tuple[tuple[float, float], ...]:
    """Ours; the echo bot answering with the very text ours sent (the fair baseline: the same
    bytes for the emulator to parse); and the echo bot echoing the 6-byte command."""
    sample: list[str] = []
    # The benchmarks before this one leave the two cores busy for a moment (processes exiting,
    # SQLite checkpoints): let them settle so that neither side of the ratio pays for them.
    await asyncio.sleep(5)
    ours = await burst(OURS, sample=sample)
    same = await burst(ECHO, answer=sample[0] if sample else None)
    plain = await burst(ECHO)
    return ours, same, plain


def print_burst(
    ours: tuple[float, float], echo: tuple[float, float], plain: tuple[float, float]
) -> None:
    print(
        f"  /today burst from {USERS} users (limiter off): ours {ours[0] * 1000:.1f} / "
        f"{ours[1] * 1000:.1f} ms; echo bot with the same answer {echo[0] * 1000:.1f} / "
        f"{echo[1] * 1000:.1f} ms (p50 / p99), p99 ratio {ours[1] / echo[1]:.2f}x; echo bot "
        f"echoing the command {plain[0] * 1000:.1f} / {plain[1] * 1000:.1f} ms, "
        f"p99 ratio {ours[1] / plain[1]:.2f}x"
    )


if __name__ == "__main__":
    asyncio.run(main(only_throughput="--throughput" in sys.argv, only_burst="--burst" in sys.argv))
