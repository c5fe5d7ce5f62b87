"""Operating the bot: webhook mode, the container, check/backup/stats/purge, errors, privacy,
floods and graceful shutdown."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bot.app import build_application, start_polling, stop_polling
from bot.context import SERVICES_KEY
from bot.storage import Database, Storage
from bot.storage.models import Role
from tests.conftest import (
    COORDINATOR_ID,
    ROOT,
    BotHarness,
    harness_settings,
    seed_demo,
    seed_outbox,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, database: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "BOT_DATABASE": str(database), **env},
    )  # fmt: skip


async def test_webhook_mode_checks_the_secret(emulator, tmp_path: Path, clock) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    settings = harness_settings(emulator, database, webhook_secret="s3cret-Token_1")
    app = build_application(settings, clock=clock)
    port = free_port()
    await app.initialize()
    await app.post_init(app)  # type: ignore[misc]
    await app.start()
    assert app.updater is not None
    await app.updater.start_webhook(
        listen="127.0.0.1", port=port, url_path="hook/abc",
        webhook_url=f"http://127.0.0.1:{port}/hook/abc", secret_token=settings.webhook_secret,
    )  # fmt: skip
    try:
        assert emulator.webhook_url == f"http://127.0.0.1:{port}/hook/abc"
        emulator.add_user(5001, "Hook", language_code="ru")
        start = len(emulator.sent)
        await emulator.send_text(5001, "/start")  # delivered by POST with the right secret
        reply = await emulator.wait_for_message(5001, after=start, timeout=10)
        assert "Mobility Bot" in reply.text
        forged = {
            "update_id": 999_999,
            "message": {
                "message_id": 1, "date": int(time.time()),
                "chat": {"id": 5001, "type": "private"},
                "from": {"id": 5001, "is_bot": False, "first_name": "Forged"},
                "text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }  # fmt: skip
        assert await emulator.deliver_raw_webhook(forged, "wrong-secret") == 403
        assert await emulator.deliver_raw_webhook(forged, None) == 403
        await asyncio.sleep(0.3)  # nothing may come of it (an absence cannot be awaited)
        assert len([m for m in emulator.sent[start:] if m.chat_id == 5001]) == 1
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)  # type: ignore[misc]


def test_webhook_mode_requires_a_secret(tmp_path: Path) -> None:
    result = run_cli(
        "run", "--webhook", "https://example.org/hook", database=tmp_path / "x.sqlite3",
        TELEGRAM_BOT_TOKEN="123:abc", TELEGRAM_WEBHOOK_SECRET="",
    )  # fmt: skip
    assert result.returncode == 2 and "TELEGRAM_WEBHOOK_SECRET" in result.stderr


def test_dockerfile_has_the_properties_we_rely_on() -> None:
    text = (ROOT / "Dockerfile").read_text()
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert re.match(r"FROM python:3\.11-slim", lines[0])
    copy_deps = next(i for i, line in enumerate(lines) if line.startswith("COPY pyproject.toml"))
    install = next(i for i, line in enumerate(lines) if "pip install -r" in line)
    copy_code = next(i for i, line in enumerate(lines) if line.startswith("COPY bot"))
    assert copy_deps < install < copy_code  # dependencies in their own cached layer
    assert "COPY locales" in text and "pip install --no-deps ." in text  # catalogs compiled
    assert "Catalogs()" in text
    user = next(line for line in lines if line.startswith("USER "))
    assert user.split()[1] not in ("root", "0")
    assert 'VOLUME ["/data"]' in text and "BOT_DATABASE=/data/" in text
    assert re.search(r"HEALTHCHECK .*\n?.*python\", \"-m\", \"bot\", \"check", text)
    assert "tzdata" in (ROOT / "pyproject.toml").read_text()


async def test_check_backup_stats_and_purge(tmp_path: Path) -> None:
    database = tmp_path / "ops.sqlite3"
    await seed_demo(database)
    now = datetime.now(UTC)
    async with Database(database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code("TPI-2026")
        for uid in (1, 2, 3):
            await storage.users.touch(uid, first_name=f"S{uid}", last_name="", username="",
                                      telegram_language="en", now=now)  # fmt: skip
            await storage.users.join(uid, cohort.id, Role.STUDENT, now)
        await storage.deliveries.claim("reminder", "x", 1, now)
        await storage.deliveries.finish("reminder", "x", 1, "sent", now)
    checked = run_cli("check", database=database).stdout.strip().splitlines()
    assert checked[-1] == "ok"
    broken = tmp_path / "broken.sqlite3"
    broken.write_bytes(b"this is not a database" * 100)
    result = run_cli("check", database=broken)
    assert result.returncode == 1 and "database" in result.stderr
    stats = run_cli("stats", database=database).stdout
    assert (
        "members:                    3 (3 reachable)" in stats
        and "reminders sent:             1" in stats
    )
    purged = run_cli("purge", "TPI-2026", database=database)
    assert purged.returncode == 0 and "3 members" in purged.stdout
    async with Database(database) as db:
        assert await db.fetchall("SELECT * FROM users") == []
        assert (await db.fetchone("SELECT COUNT(*) FROM sessions"))[0] == 42  # itinerary kept
    stats = run_cli("stats", database=database).stdout
    assert "members:                    0" in stats and "reminders sent:             1" in stats


async def test_backup_while_the_bot_writes(tmp_path: Path) -> None:
    database = tmp_path / "live.sqlite3"
    await seed_demo(database)
    stop = asyncio.Event()

    async def writer() -> int:
        written = 0
        async with Database(database) as db:
            storage = Storage(db)
            while not stop.is_set():
                await storage.operations.record_error(datetime.now(UTC), "Load", f"row {written}")
                written += 1
                await asyncio.sleep(0)
        return written

    task = asyncio.create_task(writer())
    await asyncio.sleep(0.2)
    target = tmp_path / "backup.sqlite3"
    result = await asyncio.to_thread(run_cli, "backup", str(target), database=database)
    stop.set()
    written = await task
    assert result.returncode == 0, result.stderr
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = copy.execute("SELECT COUNT(*) FROM errors").fetchone()[0]
        assert 0 < rows <= written
        assert copy.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 42
    finally:
        copy.close()


async def test_errors_apologise_and_alert_coordinators_once(harness: BotHarness) -> None:
    from bot.services import itinerary

    student = harness.user(6001, "uz")
    await student.join(await harness.invite_code())
    coordinator_chat = harness.user(COORDINATOR_ID, "en")
    del coordinator_chat
    original = itinerary.ItineraryService.today

    async def broken(self, cohort):  # type: ignore[no-untyped-def]
        raise RuntimeError("database on fire")

    itinerary.ItineraryService.today = broken  # type: ignore[method-assign]
    try:
        start = len(harness.emulator.sent)
        apology = await student.send("/today")
        assert "Kechirasiz" in apology.text
        alert = await harness.emulator.wait_for_message(COORDINATOR_ID, after=start)
        assert "RuntimeError" in alert.text and "database on fire" in alert.text
        await student.send("/today")  # a second apology, but no second alert
        await student.send("/help")
        alerts = [m for m in harness.emulator.sent[start:] if m.chat_id == COORDINATOR_ID]
        assert len(alerts) == 1
    finally:
        itinerary.ItineraryService.today = original  # type: ignore[method-assign]
    assert (await student.send("/today")).text.startswith("📅")  # still running
    stats = await harness.storage.operations.stats(harness.clock.now())
    assert stats.last_errors[0][1] == "RuntimeError"


async def test_forget_me_deletes_after_confirmation(harness: BotHarness) -> None:
    chat = harness.user(6100, "ru")
    await chat.join(await harness.invite_code())
    question = await chat.send("/forget_me")
    kept = await chat.press(question, question.buttons()[1][1])
    assert "ничего не удалено" in kept.text.lower()
    assert await harness.storage.users.get(6100) is not None
    question = await chat.send("/forget_me")
    done = await chat.press(question, question.buttons()[0][1])
    assert "удалены" in done.text
    rows = await harness.storage.db.fetchall(
        "SELECT * FROM memberships WHERE user_id = ? UNION ALL"
        " SELECT user_id, 0, '', '' FROM deliveries WHERE user_id = ?",
        (6100, 6100),
    )
    assert rows == [] and await harness.storage.users.get(6100) is None


async def test_flood_from_one_user_does_not_starve_others(bot_factory) -> None:  # type: ignore[no-untyped-def]
    from bot.config import Settings

    defaults = Settings()
    harness = await bot_factory(
        throttle_burst=defaults.throttle_burst, throttle_seconds=defaults.throttle_seconds
    )
    emu = harness.emulator
    flooder = harness.user(6200, "en")
    await flooder.join(await harness.invite_code())
    calm = harness.user(6201, "en")
    await calm.join(await harness.invite_code())
    start = len(emu.sent)
    for _ in range(500):
        await emu.send_text(6200, "/today")
    began = time.monotonic()
    reply = await calm.send("/today", timeout=10)
    calm_latency = time.monotonic() - began
    assert reply.text.startswith("📅")
    await emu.wait_for_message(6200, predicate=lambda m: "too fast" in m.text, after=start)
    to_flooder = Counter(m.chat_id for m in emu.sent[start:])[6200]
    assert to_flooder < 30  # a burst answered, then one polite warning, the rest dropped
    assert calm_latency < 5
    throttle = next(
        h.callback for h in harness.app.handlers[-2] if type(h.callback).__name__ == "Throttle"
    )
    await harness.idle()  # the calm user was answered while the flood was still being dropped
    assert throttle.dropped > 400
    assert Counter(m.chat_id for m in emu.sent[start:])[6200] < 30


async def test_sigterm_stops_gracefully_and_the_outbox_survives(
    emulator,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    database = tmp_path / "bot.sqlite3"
    members = list(range(40_000, 40_060))
    await seed_outbox(database, emulator, 4100, members, "Graceful")
    env = {**os.environ, "TELEGRAM_BOT_TOKEN": emulator.token,
           "TELEGRAM_BASE_URL": emulator.base_url, "BOT_DATABASE": str(database)}  # fmt: skip
    emulator.set_flood_control(global_per_second=10, per_chat_per_second=1)  # slow it down
    process = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        await emulator.wait_for_messages(5, predicate=lambda m: "Graceful" in (m.text or ""),
                                         timeout=30)  # fmt: skip
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    async with Database(database) as db:
        rows = await db.fetchall(
            "SELECT status, COUNT(*) FROM announcement_deliveries GROUP BY status"
        )
    states = {r[0]: r[1] for r in rows}
    assert "sending" not in states  # nothing left half-done
    sent_copies = Counter(m.chat_id for m in emulator.sent if "Graceful" in (m.text or ""))
    assert states.get("sent", 0) == len(sent_copies) and set(sent_copies.values()) == {1}
    assert states.get("pending", 0) == 60 - len(sent_copies) > 0  # the rest waits in SQLite
    # Restart: the remaining ones go out, nobody twice.
    emulator.set_flood_control(global_per_second=None, per_chat_per_second=None)
    app = build_application(harness_settings(emulator, database))
    await start_polling(app, poll_timeout=1)
    try:
        await emulator.wait_for_message(4100, predicate=lambda m: m.text.startswith("📬"),
                                        timeout=30)  # fmt: skip
    finally:
        await stop_polling(app)
    copies = Counter(m.chat_id for m in emulator.sent if "Graceful" in (m.text or ""))
    assert set(copies) == set(members) and set(copies.values()) == {1}
    assert SERVICES_KEY not in app.bot_data


# -- issue 8, item 14: command-line mistakes get one line and exit 1, and create nothing -----


def one_line_error(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


async def test_backup_to_a_path_that_cannot_be_written(tmp_path: Path) -> None:
    database = tmp_path / "ops.sqlite3"
    await seed_demo(database)
    (tmp_path / "a-file").write_text("not a folder")
    before = files_under(tmp_path)
    for target in (tmp_path / "missing" / "copy.sqlite3", tmp_path / "a-file" / "copy.sqlite3"):
        line = one_line_error(run_cli("backup", str(target), database=database))
        assert line.startswith(f"error: cannot write the backup to {target}"), line
    line = one_line_error(run_cli("backup", str(tmp_path / "a-file"), database=database))
    assert "exists; choose a new file" in line
    assert files_under(tmp_path) == before  # no half-written copy, no folder made


async def test_commands_that_read_the_database_never_create_one(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-such-folder" / "bot.sqlite3"
    for command in (["check"], ["stats"], ["purge", "TPI-2026"], ["backup", "x.sqlite3"],
                    ["invite", "TPI-2026", "student", "--bot-username", "demo_bot"]):  # fmt: skip
        line = one_line_error(run_cli(*command, database=nowhere))
        assert f"the folder of BOT_DATABASE ({nowhere.parent}) does not exist" in line, line
    missing = tmp_path / "missing.sqlite3"
    for command in (["check"], ["stats"]):
        line = one_line_error(run_cli(*command, database=missing))
        assert f"there is no database at {missing}" in line, line
    assert files_under(tmp_path) == []


async def test_check_says_what_it_checked(tmp_path: Path) -> None:
    database = tmp_path / "ops.sqlite3"
    await seed_demo(database)
    result = run_cli("check", database=database, TELEGRAM_BOT_TOKEN="")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "time zones", "translations", "database", "telegram", "ok",
    ]  # fmt: skip
    assert f"database: {database} opens" in result.stdout and "1 cohorts" in result.stdout
    assert "telegram: not checked (TELEGRAM_BOT_TOKEN is not set)" in result.stdout


async def test_check_with_a_token_asks_telegram(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "ops.sqlite3"
    await seed_demo(database)
    result = await asyncio.to_thread(
        run_cli, "check", database=database, TELEGRAM_BOT_TOKEN=emulator.token,
        TELEGRAM_BASE_URL=emulator.base_url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"telegram: getMe answers @{emulator.bot_username}" in result.stdout


async def test_invite_takes_the_bot_username_with_or_without_at(tmp_path: Path) -> None:
    database = tmp_path / "ops.sqlite3"
    await seed_demo(database)
    env = {"TELEGRAM_BOT_TOKEN": ""}
    for given in ("mobility_demo_bot", "@mobility_demo_bot"):
        result = run_cli(
            "invite", "TPI-2026", "student", "--bot-username", given, database=database, **env
        )
        assert result.returncode == 0, result.stderr
        assert re.fullmatch(
            r"https://t\.me/mobility_demo_bot\?start=[A-Za-z0-9_-]+", result.stdout.strip()
        ), result.stdout
    bad = run_cli("invite", "TPI-2026", "student", "--bot-username", "@@x y", database=database)
    line = one_line_error(bad, 2)
    assert "is not a Telegram username" in line
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Command line")[1].split("\n## ")[0]
    assert "--bot-username" in table


def test_bulk_commands_give_way_to_the_bot_for_the_cpu() -> None:
    """import / export / purge run beside the bot: they lower their own CPU priority."""
    code = (
        "import os; from bot.cli import batch_priority, BATCH_NICENESS; before = os.nice(0); "
        "batch_priority(); print(os.nice(0) - before, BATCH_NICENESS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    raised, wanted = result.stdout.split()
    assert int(raised) == int(wanted) > 0 or os.nice(0) + int(wanted) > 19  # capped at 19
    source = (ROOT / "bot" / "cli.py").read_text()
    for command in ("def import_files", "def export", "def purge"):
        body = source.split(command, 1)[1].split("\ndef ", 1)[0]
        assert "batch_priority()" in body, command
