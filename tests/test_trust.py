"""Issue 8, safety first: supervisor links, role changes, double presses, unreadable rows,
coordinators from the environment, long replies, and the smaller holes a hostile tester found.

Every test goes through the real bot and the emulator, and fails without its fix."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.emulator import SentMessage
from bot.storage import Database, Storage
from bot.storage.db import to_db
from bot.storage.migrations import MIGRATIONS
from bot.storage.models import Role
from tests.conftest import COORDINATOR_ID, BotHarness, Chat, seed_demo, stop_bot

APOLOGY = "something went wrong"


async def member(harness: BotHarness, user_id: int, role: str = "student", lang: str = "en",
                 name: str = "Test", cohort: str = "TPI-2026") -> Chat:  # fmt: skip
    chat = harness.user(user_id, lang, name=name)
    await chat.join(await harness.invite_code(cohort, role))
    return chat


async def role_in(harness: BotHarness, user_id: int, code: str = "TPI-2026") -> Role | None:
    cohort = await harness.storage.cohorts.by_code(code)
    roles = {m.cohort_id: m.role for m in await harness.storage.users.memberships(user_id)}
    return roles.get(cohort.id)


async def ask(chat: Chat, text: str, predicate: Callable[[SentMessage], bool]) -> SentMessage:
    """Sends `text`; the first later message to the chat that `predicate` accepts."""
    emu = chat.harness.emulator
    start = len(emu.sent)
    await emu.send_text(chat.user_id, text)
    return await emu.wait_for_message(chat.user_id, after=start, predicate=predicate)


async def settled(harness: BotHarness, chat: Chat) -> None:
    """Every update the chat sent before has been handled (updates run in order)."""
    await ask(
        chat, "/help", lambda m: m.method == "sendMessage" and "/forget_me" in (m.text or "")
    )


def no_trouble(harness: BotHarness, after: int) -> None:
    """No apology to anyone and no alert to the coordinator since `after`."""
    for message in harness.emulator.sent[after:]:
        text = message.text or ""
        assert APOLOGY not in text, text
        assert not (message.chat_id == COORDINATOR_ID and text.startswith("⚠️")), text


# -- 1. supervisor links ---------------------------------------------------------------------


async def test_supervisor_link_admits_one_and_says_what_it_grants(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    answer = await coordinator.send("/invite TPI-2026 supervisor")
    assert "supervisor link" in answer.plain_text and "Up to 1 person" in answer.plain_text
    assert "never post it in a group chat" in answer.plain_text
    link_code = answer.plain_text.split("?start=")[1].split()[0]
    many = await coordinator.send("/invite TPI-2026 supervisor --uses 3")
    assert "Up to 3 people" in many.plain_text
    students = await coordinator.send("/invite TPI-2026 student")
    assert "student link" in students.plain_text and "Any number" in students.plain_text

    first = harness.user(7001, "en", name="Real Supervisor")
    await first.join(link_code)
    assert await role_in(harness, 7001) is Role.SUPERVISOR
    second = harness.user(7002, "en", name="Latecomer")
    refused = await second.join(link_code)
    assert "used as many times as allowed" in refused.text
    assert await role_in(harness, 7002) is None


async def test_member_opening_a_supervisor_link_is_asked_and_the_maker_told(
    harness: BotHarness,
) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    answer = await coordinator.send("/invite TPI-2026 supervisor --uses 5")
    code = answer.plain_text.split("?start=")[1].split()[0]
    student = await member(harness, 7010, lang="ru", name="Sneaky")
    start = len(harness.emulator.sent)
    question = await student.join(code, confirm=False)
    assert await role_in(harness, 7010) is Role.STUDENT  # not promoted silently
    data = dict((d.split(":")[3], d) for _, d in question.buttons())
    cancelled = await student.press(question, data["no"])
    assert await role_in(harness, 7010) is Role.STUDENT
    invite = await harness.storage.invites.get(code)
    assert invite.uses == 0 and cancelled.text
    question = await student.join(code, confirm=False)
    confirm = next(d for _, d in question.buttons() if ":ok:" in d)
    await student.press(question, confirm)
    assert await role_in(harness, 7010) is Role.SUPERVISOR
    told = await harness.emulator.wait_for_message(
        COORDINATOR_ID, after=start, predicate=lambda m: "Sneaky" in (m.text or "")
    )
    assert "supervisor" in told.plain_text and "/revoke_role 7010" in told.plain_text
    entries = await harness.storage.db.fetchall(
        "SELECT * FROM audit WHERE action = 'supervisor_joined'"
    )
    assert len(entries) == 1


# -- 2. role changes -------------------------------------------------------------------------


async def test_grant_refuses_strangers_and_confirms_with_the_name(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    refused = await coordinator.send("/grant 5555 coordinator")
    assert "have not met" in refused.text
    assert await harness.storage.users.get(5555) is None
    person = await member(harness, 7020, lang="uz", name="Dilnoza")
    question = await coordinator.send("/grant 7020 coordinator")
    assert "Dilnoza" in question.plain_text
    assert not (await harness.storage.users.get(7020)).is_coordinator  # not before Confirm
    confirm = next(d for _, d in question.buttons() if ":g:" in d)
    start = len(harness.emulator.sent)
    done = await coordinator.press(question, confirm)
    assert "is now a coordinator" in done.plain_text
    assert (await harness.storage.users.get(7020)).is_coordinator
    told = await harness.emulator.wait_for_message(7020, after=start)
    assert "koordinator" in told.text.lower()  # in her language
    listing = await coordinator.send("/coordinators")
    assert (
        "Dilnoza" in listing.plain_text and "granted in chat by Coordinator" in listing.plain_text
    )
    del person


async def test_revoke_role_keeps_the_membership_unless_removal_is_asked(
    harness: BotHarness,
) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    await member(harness, 7030, role="supervisor", lang="ru", name="Timur")
    question = await coordinator.send("/revoke_role 7030")
    assert "Timur" in question.plain_text and "stays there as a student" in question.plain_text
    start = len(harness.emulator.sent)
    await coordinator.press(question, next(d for _, d in question.buttons() if ":r:" in d))
    assert await role_in(harness, 7030) is Role.STUDENT
    told = await harness.emulator.wait_for_message(7030, after=start)
    assert "руководител" in told.text  # told in Russian what changed
    question = await coordinator.send("/revoke_role 7030 remove")
    await coordinator.press(question, next(d for _, d in question.buttons() if ":R:" in d))
    assert await role_in(harness, 7030) is None
    env = await coordinator.send(f"/revoke_role {COORDINATOR_ID}")
    assert "BOT_COORDINATORS" in env.plain_text and not env.buttons()


# -- 3. double presses -----------------------------------------------------------------------


async def press_twice(chat: Chat, message_id: int, data: str) -> None:
    emu = chat.harness.emulator
    answers = emu.request_count("answerCallbackQuery")
    await emu.press_button(chat.user_id, message_id, data)
    await emu.press_button(chat.user_id, message_id, data)  # before the edit arrives
    await emu.wait_for_request("answerCallbackQuery", answers + 2)


async def test_every_button_survives_a_second_press(harness: BotHarness) -> None:
    emu = harness.emulator
    start = len(emu.sent)
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    supervisor = await member(harness, 7040, role="supervisor", name="Sup")
    student = await member(harness, 7041, name="Stu")

    # Language, reminders, forget-me "Keep".
    menu = await ask(
        student, "/language", lambda m: m.method == "sendMessage" and bool(m.buttons())
    )
    await press_twice(student, menu.message_id, next(d for _, d in menu.buttons() if "ru" in d))
    settings = await ask(student, "/reminders", lambda m: m.method == "sendMessage")
    toggle = settings.buttons()[0][1]
    await press_twice(student, settings.message_id, toggle)
    keep = await ask(
        student, "/forget_me", lambda m: m.method == "sendMessage" and bool(m.buttons())
    )
    await press_twice(student, keep.message_id, next(d for _, d in keep.buttons() if "no" in d))

    # Send, then "Got it" twice: one copy, one acknowledgement.
    await settled(harness, student)
    preview = await ask(
        supervisor,
        "/broadcast Bus at 8:15",
        lambda m: m.method == "sendMessage" and bool(m.buttons()),
    )
    send = next(d for _, d in preview.buttons() if ":send:" in d)
    before = len(emu.sent)
    await press_twice(supervisor, preview.message_id, send)
    copy = await emu.wait_for_message(7041, after=before, predicate=lambda m: "Bus" in m.text)
    await emu.wait_for_message(7040, after=before, predicate=lambda m: "report" in m.text.lower()
                               or "delivered" in m.text.lower(), timeout=10)  # fmt: skip
    await press_twice(student, copy.message_id, copy.buttons()[0][1])
    copies = [
        m
        for m in emu.sent[before:]
        if m.chat_id == 7041 and m.method == "sendMessage" and "Bus" in (m.text or "")
    ]
    assert len(copies) == 1
    acks = await harness.storage.db.fetchall(
        "SELECT * FROM announcement_deliveries WHERE acked_at IS NOT NULL"
    )
    assert len(acks) == 1

    # Confirm of /grant and of a supervisor link.
    question = await coordinator.send("/grant 7041 coordinator")
    await press_twice(coordinator, question.message_id, question.buttons()[0][1])
    link = (
        await ask(
            coordinator, "/invite TPI-2026 supervisor", lambda m: "?start=" in (m.text or "")
        )
    ).plain_text
    newcomer = harness.user(7042, "en", name="New")
    question = await newcomer.join(link.split("?start=")[1].split()[0], confirm=False)
    await press_twice(newcomer, question.message_id, question.buttons()[0][1])
    assert await role_in(harness, 7042) is Role.SUPERVISOR

    # Confirm of an import.
    from tests.conftest import DATA, edit_sessions

    text = edit_sessions(
        (DATA / "sessions.csv").read_text(encoding="utf-8"), "TPI-2026-S01", notes="Bring a gown"
    )
    upload = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "sessions.csv", text.encode(), caption="/import")
    preview = await emu.wait_for_message(
        COORDINATOR_ID, after=upload, predicate=lambda m: any(":ok:" in d for _, d in m.buttons())
    )
    ok = next(d for _, d in preview.buttons() if ":ok:" in d)
    await press_twice(coordinator, preview.message_id, ok)
    imports = await harness.storage.db.fetchall("SELECT * FROM audit WHERE action = 'import'")
    assert len(imports) == 1

    for chat in (student, supervisor, coordinator, newcomer):
        await settled(harness, chat)
    no_trouble(harness, start)
    errors = await harness.storage.db.fetchall("SELECT * FROM errors")
    assert errors == []


# -- 16. one bad row never takes the bot down --------------------------------------------------


async def test_an_unreadable_row_is_skipped_reported_once_and_the_bot_carries_on(
    bot_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    first = await bot_factory()
    first.user(COORDINATOR_ID, "en", name="Coordinator")
    await member(first, 7050, name="Stu")
    database = first.database
    cohort = await first.storage.cohorts.by_code("TPI-2026")
    await stop_bot(first.app)
    with sqlite3.connect(database) as raw:
        row = raw.execute("SELECT * FROM sessions WHERE cohort_id = ? LIMIT 1", (cohort.id,))
        columns = [d[0] for d in row.description]
        values = dict(zip(columns, row.fetchone(), strict=True))
        values.update(id=None, external_id="BROKEN", starts_at="garbage", ends_at="garbage")
        marks = ", ".join("?" for _ in values)
        raw.execute(f"INSERT INTO sessions ({', '.join(values)}) VALUES ({marks})",
                    list(values.values()))  # fmt: skip
    start = len(first.emulator.sent)
    second = await bot_factory()  # starts, schedules, and answers despite the row
    reply = await Chat(second, 7050).send("/today")
    assert reply.text.startswith("📅")
    alert = await second.emulator.wait_for_message(
        COORDINATOR_ID, after=start, predicate=lambda m: "garbage" in (m.text or "")
    )
    await Chat(second, 7050).send("/week")
    again = [m for m in second.emulator.sent[start:] if "garbage" in (m.text or "")]
    assert again == [alert]  # once


async def test_old_databases_get_their_short_years_padded(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as raw:
        for script in MIGRATIONS[:4]:
            for statement in script.split(";\n"):
                if statement.strip():
                    raw.execute(statement)
        raw.execute("PRAGMA user_version = 4")
        raw.execute(
            "INSERT INTO cohorts (code, name, timezone, arrives, departs)"
            " VALUES ('X', 'X', 'Asia/Almaty', '2026-09-01', '2026-09-30')"
        )
        raw.execute(
            "INSERT INTO sessions (cohort_id, external_id, starts_at, ends_at, title_en)"
            " VALUES (1, 'a', '26-11-28 05:00:00', '26-11-28 06:00:00', 'Bad year')"
        )
    async with Database(path) as db:
        sessions = await Storage(db).sessions.for_cohort(1)
    assert sessions[0].starts_at == datetime(26, 11, 28, 5, tzinfo=UTC)
    assert to_db(sessions[0].starts_at) == "0026-11-28 05:00:00"


# -- 17. BOT_COORDINATORS is the truth at every start -------------------------------------------


async def test_removing_a_coordinator_from_the_environment_removes_the_rights(
    emulator,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from bot.clock import FrozenClock
    from tests.conftest import DEMO_NOW, harness_settings, start_bot

    database = tmp_path / "bot.sqlite3"
    await seed_demo(database)
    clock = FrozenClock(DEMO_NOW)
    app = await start_bot(emulator, harness_settings(emulator, database,
                          coordinators=frozenset({900, 901})), clock)  # fmt: skip
    harness = BotHarness(app, emulator, clock, database)
    former = harness.user(901, "en", name="Former")
    assert "Groups" in (await former.send("/cohorts")).text
    await stop_bot(app)
    app = await start_bot(emulator, harness_settings(emulator, database,
                          coordinators=frozenset({900})), clock)  # fmt: skip
    harness = BotHarness(app, emulator, clock, database)
    try:
        assert "not allowed" in (await Chat(harness, 901).send("/cohorts")).text
        user = await harness.storage.users.get(901)
        assert not user.is_coordinator
    finally:
        await stop_bot(app)


# -- 20. long replies ---------------------------------------------------------------------------


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def test_roster_and_acks_of_230_members_fit_telegram(bot_factory) -> None:  # type: ignore[no-untyped-def]
    # The sizes of messages are the point here, not the pace: the send limiter is off (230
    # messages at 29.5 a second took 8 s of the suite).
    harness = await bot_factory(messages_per_second=0)
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    now = harness.clock.now()
    for i in range(230):
        uid = 80_000 + i
        await harness.storage.users.touch(
            uid, first_name=f"😀Student{i:03d}😀", last_name="Longfamilyname😀", username="",
            telegram_language="en", now=now,
        )  # fmt: skip
        await harness.storage.users.join(uid, cohort.id, Role.STUDENT, now)
        harness.emulator.add_user(uid, f"S{i}")
    supervisor = await member(harness, 7060, role="supervisor", name="Sup")
    start = len(harness.emulator.sent)
    await supervisor.send("/roster", replies=2)
    await settled(harness, supervisor)
    preview = await ask(
        supervisor,
        "/broadcast Meet at 9",
        lambda m: m.method == "sendMessage" and bool(m.buttons()),
    )
    await supervisor.press(preview, next(d for _, d in preview.buttons() if ":send:" in d))
    await harness.emulator.wait_for_messages(230, predicate=lambda m: "Meet at 9" in (m.text or "")
                                             and m.chat_id >= 80_000, timeout=30)  # fmt: skip
    await supervisor.send("/acks")
    for message in harness.emulator.sent[start:]:
        assert utf16(message.plain_text or "") <= 4096


async def test_a_session_with_huge_fields_still_reaches_members(harness: BotHarness) -> None:
    from dataclasses import replace

    from bot.storage.repositories import SessionFields

    student = await member(harness, 7070, name="Stu")
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    today = await harness.services.itinerary.today(cohort)
    session = today.sessions[0]
    huge = "🧪 " * 3000  # 6,000 UTF-16 units on its own
    await harness.storage.sessions.update(
        session.id, replace(SessionFields.of(session), notes=huge)
    )
    # Like every path that changes a session, through the change feed (cached plans follow it).
    await harness.storage.changes.record(session.id, "changed", session, harness.clock.now())
    start = len(harness.emulator.sent)
    await student.send("/today", replies=2)
    sent = [m for m in harness.emulator.sent[start:] if m.chat_id == 7070]
    assert sent and all(utf16(m.plain_text or "") <= 4096 for m in sent)
    no_trouble(harness, start)


# -- 22. the smaller holes -----------------------------------------------------------------------


async def test_a_supervisor_keeps_their_student_group_when_opening_their_own_link(
    harness: BotHarness,
) -> None:
    from tests.test_staff import add_other_cohort

    await add_other_cohort(harness)
    person = await member(harness, 7080, role="student", cohort="OTHER-1", name="Both")
    await person.join(await harness.invite_code("TPI-2026", "supervisor"))
    await person.join(await harness.invite_code("TPI-2026", "student"))
    assert await role_in(harness, 7080, "OTHER-1") is Role.STUDENT
    assert await role_in(harness, 7080, "TPI-2026") is Role.SUPERVISOR
    switch = await person.send("/group")
    assert len(switch.buttons()) == 2


async def test_a_student_is_asked_before_moving_to_another_group(harness: BotHarness) -> None:
    from tests.test_staff import add_other_cohort

    await add_other_cohort(harness)
    student = await member(harness, 7081, cohort="OTHER-1", name="Mover")
    question = await student.join(await harness.invite_code("TPI-2026", "student"), confirm=False)
    assert "Move to" in question.plain_text
    assert await role_in(harness, 7081, "TPI-2026") is None
    await student.press(question, next(d for _, d in question.buttons() if ":ok:" in d))
    assert await role_in(harness, 7081, "TPI-2026") is Role.STUDENT
    assert await role_in(harness, 7081, "OTHER-1") is None


async def test_an_edited_command_does_not_run_again(harness: BotHarness) -> None:
    student = await member(harness, 7090, name="Editor")
    start = len(harness.emulator.sent)
    sent = await harness.emulator.send_text(7090, "/tomorrow")
    await harness.emulator.wait_for_message(7090, after=start)
    start = len(harness.emulator.sent)
    harness.emulator._queue_update(
        {"edited_message": {**sent, "text": "/today", "edit_date": sent["date"] + 5}}
    )
    await settled(harness, student)
    answers = [m for m in harness.emulator.sent[start:] if m.chat_id == 7090]
    assert len(answers) == 1  # only the /help of `settled`


async def test_no_flood_warning_is_posted_in_a_group(bot_factory) -> None:  # type: ignore[no-untyped-def]
    harness = await bot_factory(throttle_burst=3, throttle_seconds=60.0)
    emu = harness.emulator
    harness.user(7091, "en", name="Chatty")
    group = {"id": -1001234, "type": "supergroup", "title": "TPI chat"}
    before = emu.request_count("sendMessage")
    for i in range(10):
        emu._queue_update(
            {
                "message": {
                    "message_id": 1000 + i, "date": 0, "chat": group, "text": f"hello {i}",
                    "from": {"id": 7091, "is_bot": False, "first_name": "Chatty"},
                }
            }
        )  # fmt: skip
    await asyncio.sleep(0)
    calm = harness.user(7092, "en", name="Calm")
    await calm.send("/help")
    assert emu.request_count("sendMessage") == before + 1  # only the answer to /help


async def test_names_with_bidi_overrides_are_shown_clean_to_staff(harness: BotHarness) -> None:
    await member(harness, 7095, name="\u202eilA\u200b\u2066")
    supervisor = await member(harness, 7096, role="supervisor", name="Sup")
    roster = await supervisor.send("/roster")
    assert "\u202e" not in roster.text and "\u200b" not in roster.text and "ilA" in roster.text


async def test_help_lists_only_what_each_role_can_do(harness: BotHarness) -> None:
    student = await member(harness, 7097, name="Stu")
    supervisor = await member(harness, 7098, role="supervisor", lang="ru", name="Sup")
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    student_help = (await student.send("/help")).plain_text
    assert "/broadcast" not in student_help and "/move" not in student_help
    supervisor_help = (await supervisor.send("/help")).plain_text
    assert "/broadcast" in supervisor_help and "/move" not in supervisor_help
    assert "supervisor" not in supervisor_help.split("/invite")[1].split("\n")[0]
    assert "<группа>" in supervisor_help or "<guruh>" in supervisor_help or "<" in supervisor_help
    coordinator_help = (await coordinator.send("/help")).plain_text
    assert "/move" in coordinator_help and "/coordinators" in coordinator_help


async def test_a_one_group_supervisor_broadcast_never_says_all_or_reveals_codes(
    harness: BotHarness,
) -> None:
    from tests.test_staff import add_other_cohort

    await add_other_cohort(harness)
    supervisor = await member(harness, 7099, role="supervisor", name="Sup")
    preview = await supervisor.send("/broadcast all Bus at 8:15")
    assert "all Bus" not in preview.plain_text and "Bus at 8:15" in preview.plain_text
    foreign = await supervisor.send("/broadcast OTHER-1 hello")
    unknown = await supervisor.send("/broadcast NOPE-9 hello")
    # Both previews go to their own group, with the word as part of the text: nothing tells
    # them which of the two codes exists.
    assert "OTHER-1 hello" in foreign.plain_text and "NOPE-9 hello" in unknown.plain_text


async def test_a_change_that_fails_does_not_stop_the_feed(harness: BotHarness) -> None:
    """One change that cannot be processed is logged, reported once and skipped; the next
    change is still applied and announced."""
    harness.user(COORDINATOR_ID, "en", name="Coordinator")
    student = await member(harness, 7100, name="Stu")
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    sessions = await harness.storage.sessions.for_cohort(cohort.id)
    upcoming = [s for s in sessions if s.starts_at > harness.clock.now() and not s.cancelled]
    first, second = upcoming[0], upcoming[1]
    now = harness.clock.now()
    async with harness.storage.transaction():
        # A change whose "before" is unreadable by the notice (a broken old location).
        await harness.storage.changes.record(first.id, "changed", first, now)
        await harness.storage.db.execute(
            "UPDATE session_changes SET old_starts_at = '2026-13-45 99:99:99'"
            " WHERE id = (SELECT max(id) FROM session_changes)"
        )
    start = len(harness.emulator.sent)
    await harness.services.admin.cancel(COORDINATOR_ID, second, "Teacher ill")
    notice = await harness.emulator.wait_for_message(7100, after=start)
    assert "Teacher ill" in notice.plain_text
    pending = await harness.storage.changes.pending()
    assert pending == []
    del student


async def test_invite_for_an_unknown_group_says_so_without_revealing_others(
    harness: BotHarness,
) -> None:
    from tests.test_staff import add_other_cohort

    await add_other_cohort(harness)
    coordinator = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    assert "no group with the code XYZ-1" in (await coordinator.send("/invite XYZ-1 student")).text
    supervisor = await member(harness, 7110, role="supervisor", name="Sup")
    unknown = await supervisor.send("/invite XYZ-1 student")
    foreign = await supervisor.send("/invite OTHER-1 student")
    assert unknown.text == foreign.text and "TPI-2026" in unknown.text
