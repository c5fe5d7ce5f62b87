"""Reminders, change notices, the digest, /reminders and /calendar, end to end."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from icalendar import Calendar

from bot.clock import Clock
from bot.services.reminders import ReminderJob
from bot.storage import Database, Storage
from bot.storage.models import Localized, Role
from bot.storage.repositories import SessionFields
from tests.conftest import (
    ROOT,
    BotFactory,
    BotHarness,
    demo_files,
    edit_sessions,
    seed_demo,
    stop_bot,
)

REMINDER = "⏰"


HOUR = timedelta(hours=1)


async def add_session(storage: Storage, starts_at: datetime, minutes: int = 60, **kw) -> int:  # type: ignore[no-untyped-def]
    cohort = await storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    fields = SessionFields(
        external_id=kw.pop("external_id", f"test-{starts_at.timestamp()}"),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        title=Localized("Histology practical", "Практикум по гистологии", "Gistologiya amaliyoti"),
        department=Localized("Department of Histology", "Кафедра гистологии"),
        location="Room 214",
        notes="Bring a white coat",
        latitude=43.2566,
        longitude=76.9286,
        **kw,
    )
    return await storage.sessions.insert(cohort.id, fields)


async def member(storage: Storage, user_id: int, language: str, joined: datetime) -> None:
    cohort = await storage.cohorts.by_code("TPI-2026")
    await storage.users.touch(
        user_id, first_name=f"S{user_id}", last_name="", username="", telegram_language=language,
        now=joined,
    )  # fmt: skip
    await storage.users.join(user_id, cohort.id, Role.STUDENT, joined)


async def test_reminder_on_the_real_clock_arrives_on_time_once_even_after_restart(
    bot_factory: BotFactory,
    emulator,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    clock = Clock()
    now = clock.now()
    starts = (now + timedelta(seconds=64)).replace(microsecond=0)
    async with Database(tmp_path / "bot.sqlite3") as db:  # the factory's database
        storage = Storage(db)
        for user_id, language in ((501, "en"), (502, "ru"), (503, "uz")):
            emulator.add_user(user_id, f"S{user_id}", language_code=language)
            await member(storage, user_id, language, now)
        session_id = await add_session(storage, starts)
    first = await bot_factory(clock, reminder_minutes=(1,))
    due = starts - timedelta(minutes=1)
    messages = await emulator.wait_for_messages(
        3, predicate=lambda m: m.text.startswith(REMINDER), timeout=15
    )
    arrived = datetime.now(UTC)
    assert (arrived - due).total_seconds() < 2.0
    by_chat = {m.chat_id: m.text for m in messages}
    assert "Histology practical</b> starts in 1 minute" in by_chat[501]
    assert "Практикум по гистологии" in by_chat[502] and "через 1 минуту" in by_chat[502]
    assert "Gistologiya amaliyoti" in by_chat[503]
    assert "Bring a white coat" in by_chat[501]
    assert any("openstreetmap" in url for _, url in messages[0].buttons())
    # A restart after sending repeats nothing: the delivery rows say it was sent.
    await stop_bot(first.app)
    count = len(emulator.sent)
    second = await bot_factory(clock, reminder_minutes=(1,))
    tally = await second.services.reminders.send_reminders(ReminderJob(session_id, 1, starts))
    assert tally == {"duplicate": 3}
    assert len(emulator.sent) == count


async def test_kill_9_before_due_then_restart_delivers_once(emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    now = datetime.now(UTC)
    starts = (now + timedelta(seconds=75)).replace(microsecond=0)
    async with Database(database) as db:
        storage = Storage(db)
        await member(storage, 601, "en", now)
        session_id = await add_session(storage, starts)
    emulator.add_user(601, "Killed", language_code="en")
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "TELEGRAM_BASE_URL": emulator.base_url,
        "TELEGRAM_BASE_FILE_URL": emulator.base_file_url,
        "BOT_DATABASE": str(database),
        "BOT_REMINDER_MINUTES": "1",
    }

    def launch() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    bot = launch()
    try:
        await emulator.wait_for_request("getUpdates", 1, timeout=30)
        bot.send_signal(signal.SIGKILL)  # before the reminder is due (in ~15 s)
        bot.wait(timeout=10)
        assert not [m for m in emulator.sent if m.chat_id == 601]
        # The reminder falls due while the bot is down. Rather than wait 15 s for it on the
        # real clock, the session comes closer: its 1-minute reminder is now due 1 s after the
        # member joined, which has passed by now. (Straight into the table, as a stand-in for
        # the passing time, not a change members should hear about.)
        sooner = now + timedelta(seconds=61)
        async with Database(database) as db:
            sessions = Storage(db).sessions
            session = await sessions.get(session_id)
            assert session is not None
            await sessions.update(
                session_id,
                replace(SessionFields.of(session), starts_at=sooner, ends_at=sooner + HOUR),
            )
        due = sooner - timedelta(minutes=1)
        await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 0.1)
        bot = launch()  # the reminder fell due while the bot was down: sent at start
        message = await emulator.wait_for_message(
            601, predicate=lambda m: m.text.startswith(REMINDER), timeout=30
        )
        assert "Histology practical" in message.text
        await emulator.wait_for_request("getUpdates", 2, timeout=30)
        assert len([m for m in emulator.sent if m.chat_id == 601]) == 1
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)


async def joined_member(harness: BotHarness, user_id: int, language: str = "en") -> None:
    chat = harness.user(user_id, language)
    await chat.join(await harness.invite_code())


async def test_moving_and_cancelling_reschedule_and_notify(harness: BotHarness) -> None:
    await joined_member(harness, 701)
    await joined_member(harness, 702, "ru")
    name, content = demo_files()[1]
    text = content.decode()
    assert "TPI-2026-S05,TPI-2026,2026-09-16," in text  # today in the frozen clock
    moved = edit_sessions(text, "TPI-2026-S05", start="16:00", end="17:30")
    importer = harness.services.importer
    plan = await importer.plan_files([(name, moved.encode())])
    assert [c.kind for c in plan.sessions] == ["changed"]
    await importer.apply(plan)
    start = len(harness.emulator.sent)
    await harness.services.reminders.process_changes()
    notices = await harness.emulator.wait_for_messages(2, after=start)
    by_chat = {m.chat_id: m.text for m in notices}
    assert "🔁" in by_chat[701]
    assert (
        "Was: Wednesday, 16 September, 09:15\nNow: Wednesday, 16 September, 16:00"
        in (by_chat[701])
    )
    # Each date stands alone on its line (no «с»/«на» to agree with), the weekday in lower
    # case inside the line, and no year: it is this year's.
    assert "среда, 16 сентября, 09:15" in by_chat[702]
    assert "среда, 16 сентября, 16:00" in by_chat[702] and "Среда" not in by_chat[702]
    assert "2026" not in by_chat[702]
    session = plan.sessions[0].before
    jobs = harness.services.reminders._scheduler.scheduled(f"reminder:{session.id}:")
    assert list(jobs) == [f"reminder:{session.id}:30"]
    # Re-importing the same file again sends nothing.
    again = await importer.plan_files([(name, moved.encode())])
    assert again.empty
    # Cancel it by leaving it out of the file: a notice, and no reminder left.
    cancelled = edit_sessions(moved, "TPI-2026-S05", drop=True)
    plan = await importer.plan_files([(name, cancelled.encode())])
    assert [c.kind for c in plan.sessions] == ["cancelled"]
    await importer.apply(plan)
    start = len(harness.emulator.sent)
    await harness.services.reminders.process_changes()
    notices = await harness.emulator.wait_for_messages(2, after=start)
    assert all(m.text.startswith("❌") for m in notices)
    assert harness.services.reminders._scheduler.scheduled(f"reminder:{session.id}:") == {}


async def test_change_by_another_process_is_picked_up_without_restart(
    harness: BotHarness,
) -> None:
    await joined_member(harness, 711)
    text = demo_files()[1][1].decode()
    moved = edit_sessions(text, "TPI-2026-S06", location="Room 999 (new)")
    path = harness.database.parent / "sessions.csv"
    path.write_text(moved, encoding="utf-8")
    start = len(harness.emulator.sent)
    result = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "import", str(path), cwd=ROOT,
        env={**os.environ, "BOT_DATABASE": str(harness.database)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await result.communicate()
    assert result.returncode == 0, err.decode()
    notice = await harness.emulator.wait_for_message(711, after=start, timeout=10)
    assert "Room 999 (new)" in notice.text


async def test_evening_digest_at_20_local(bot_factory: BotFactory) -> None:
    from bot.clock import FrozenClock

    clock = FrozenClock(datetime(2026, 9, 16, 14, 59, 59, tzinfo=UTC))  # 19:59:59 in Almaty
    harness = await bot_factory(clock)
    await joined_member(harness, 801, "uz")
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    await harness.storage.users.set_reminder_prefs(
        801, reminders_on=False, digest_on=True, leads=None
    )
    start = len(harness.emulator.sent)
    harness.services.reminders._schedule_digest(cohort)
    digest = await harness.emulator.wait_for_message(801, after=start, timeout=5)
    assert "Ertangi reja" in digest.text or "ertangi" in digest.text.lower()
    assert "Payshanba, 17-sentabr" in digest.text


async def test_reminders_buttons_persist(harness: BotHarness) -> None:
    chat = harness.user(901, "en")
    await chat.join(await harness.invite_code())
    menu = await chat.send("/reminders")
    assert "Before each session: on" in menu.text and "30 minutes" in menu.text
    buttons = dict(menu.buttons())
    edited = await chat.press(menu, buttons["🔔 Turn reminders off"])
    assert "Before each session: off" in edited.text
    edited = await chat.press(edited, dict(edited.buttons())["60 min"])
    assert "30 minutes, 60 minutes" in edited.text
    user = await harness.storage.users.get(901)
    assert not user.reminders_on and user.reminder_leads == (30, 60)
    edited = await chat.press(edited, dict(edited.buttons())["🌙 Turn the evening plan off"])
    assert not (await harness.storage.users.get(901)).digest_on


async def test_calendar_file_parses_back_with_utc_instants(harness: BotHarness) -> None:
    chat = harness.user(950, "ru")
    await chat.join(await harness.invite_code())
    document = await chat.send("/calendar")
    assert document.method == "sendDocument" and document.filename == "TPI-2026.ics"
    calendar = Calendar.from_ical(document.document)
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 42
    first = next(e for e in events if str(e["UID"]).startswith("TPI-2026-TPI-2026-S01"))
    assert first.decoded("DTSTART") == datetime(2026, 9, 15, 10, 0, tzinfo=UTC)
    assert str(first["SUMMARY"]) == "Приветственная встреча в деканате"
    alarms = list(first.walk("VALARM"))
    assert [a.decoded("TRIGGER") for a in alarms] == [timedelta(minutes=-30)]
    uids = {str(e["UID"]) for e in events}
    again = Calendar.from_ical((await chat.send("/calendar")).document)
    assert {str(e["UID"]) for e in again.walk("VEVENT")} == uids  # stable: updates, no dupes


async def test_blocked_member_is_marked_unreachable_and_not_retried(harness: BotHarness) -> None:
    await joined_member(harness, 960)
    await joined_member(harness, 961)
    harness.emulator.block_user(960)
    session_id = await add_session(
        harness.storage, harness.clock.now() + timedelta(hours=2), external_id="blocked"
    )
    session = await harness.storage.sessions.get(session_id)
    job = ReminderJob(session_id, 30, session.starts_at)
    tally = await harness.services.reminders.send_reminders(job)
    assert tally == {"unreachable": 1, "sent": 1}
    assert not (await harness.storage.users.get(960)).reachable
    assert await harness.services.reminders.send_reminders(job) == {"duplicate": 1}


async def test_network_errors_and_429_are_retried(harness: BotHarness) -> None:
    await joined_member(harness, 970)
    harness.services.sender._backoff = (0.05,)
    harness.emulator.fail_next("sendMessage", 2, status=502, description="Bad Gateway")
    session_id = await add_session(
        harness.storage, harness.clock.now() + timedelta(hours=3), external_id="flaky"
    )
    session = await harness.storage.sessions.get(session_id)
    tally = await harness.services.reminders.send_reminders(
        ReminderJob(session_id, 30, session.starts_at)
    )
    assert tally == {"sent": 1}
    harness.emulator.fail_next("sendMessage", 1, status=429, description="Too Many Requests")
    session_id = await add_session(
        harness.storage, harness.clock.now() + timedelta(hours=4), external_id="flood"
    )
    session = await harness.storage.sessions.get(session_id)
    started = time.monotonic()
    tally = await harness.services.reminders.send_reminders(
        ReminderJob(session_id, 30, session.starts_at)
    )
    assert tally == {"sent": 1} and time.monotonic() - started >= 0.9  # waited retry_after


async def test_member_who_joins_after_due_gets_no_stale_reminder(harness: BotHarness) -> None:
    now = harness.clock.now()
    session_id = await add_session(
        harness.storage, now + timedelta(minutes=20), external_id="late"
    )
    await member(harness.storage, 980, "en", now)  # joined after the 30-minute reminder was due
    harness.emulator.add_user(980, "Late")
    session = await harness.storage.sessions.get(session_id)
    tally = await harness.services.reminders.send_reminders(
        ReminderJob(session_id, 30, session.starts_at)
    )
    assert tally == {}


async def test_reminder_writes_the_weekday_in_lower_case_inside_the_line(
    harness: BotHarness,
) -> None:
    for user_id, language in ((761, "ru"), (762, "uz"), (763, "en")):
        await joined_member(harness, user_id, language)
    starts = harness.clock.now() + timedelta(minutes=30)  # 08:30 on Wednesday 16 September
    session_id = await add_session(harness.storage, starts)
    start = len(harness.emulator.sent)
    await harness.services.reminders.send_reminders(ReminderJob(session_id, 30, starts))
    texts = {
        m.chat_id: m.text
        for m in await harness.emulator.wait_for_messages(3, after=start)
        if m.method == "sendMessage"
    }
    assert "08:30–09:30, среда, 16 сентября" in texts[761]
    assert "08:30–09:30, chorshanba, 16-sentabr" in texts[762]
    assert "08:30–09:30, Wednesday, 16 September" in texts[763]
