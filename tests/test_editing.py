"""Coordinators' edits end to end: /move's bounds, /restore, /sessions' ranges, /audit in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.services.importer import Importer
from bot.storage.models import Session
from tests.conftest import COORDINATOR_ID, BotHarness, Chat, demo_files, edit_sessions


async def demo_session(harness: BotHarness, external_id: str) -> Session:
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    return next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == external_id
    )  # fmt: skip


async def member(harness: BotHarness, user_id: int, language: str, cohort: str = "TPI-2026"):  # type: ignore[no-untyped-def]
    chat = harness.user(user_id, language, name=f"Member{user_id}")
    await chat.join(await harness.invite_code(cohort))
    return chat


async def snapshot(harness: BotHarness) -> tuple[list, list, list]:  # type: ignore[type-arg]
    db = harness.storage.db
    return (
        [tuple(r) for r in await db.fetchall("SELECT * FROM sessions ORDER BY id")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM audit ORDER BY id")],
        [tuple(r) for r in await db.fetchall("SELECT * FROM session_changes ORDER BY id")],
    )


def sent_to(harness: BotHarness, user_id: int, after: int) -> list[str]:
    return [
        m.text or ""
        for m in harness.emulator.sent[after:]
        if m.chat_id == user_id and m.method == "sendMessage"
    ]


# -- /move refuses what cannot be right, and changes nothing -------------------------------


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("0026-11-28 10:00", "“0026-11-28” is not a date"),  # the typo that took the bot down
        ("9999-12-31 23:59", "“9999-12-31” is not a date"),  # OverflowError before
        ("0001-01-01 00:00", "“0001-01-01” is not a date"),
        ("2026-02-30 11:00", "“2026-02-30” is not a date"),
        ("2026-09-17 25:00", "“25:00” is not a time"),
        ("2026-09-17 9:75", "“9:75” is not a time"),
        ("2026-09-16 07:00", "already passed"),  # an hour ago in the frozen clock
        ("2026-09-14 10:00", "runs from 15 Sep 2026 to 3 Oct 2026"),  # before arrival
        ("2026-10-04 10:00", "runs from 15 Sep 2026 to 3 Oct 2026"),  # after departure
    ],
)
async def test_move_refuses_with_the_reason_and_changes_nothing(
    harness: BotHarness, when: str, expected: str
) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    await member(harness, 4100, "en")
    session = await demo_session(harness, "TPI-2026-S10")
    before = await snapshot(harness)
    start = len(harness.emulator.sent)
    reply = await coordinator.send(f"/move {session.id} {when}")
    assert expected in reply.text, reply.text
    assert "Saved" not in reply.text
    assert await snapshot(harness) == before
    await harness.services.reminders.process_changes()
    assert sent_to(harness, 4100, start) == []


async def test_move_refusals_use_the_readers_dates(harness: BotHarness) -> None:
    session = await demo_session(harness, "TPI-2026-S10")
    for language, arrives, departs in (
        ("ru", "15.09.2026", "03.10.2026"),
        ("uz", "15.09.2026", "03.10.2026"),
    ):
        coordinator = harness.user(COORDINATOR_ID, language)
        reply = await coordinator.send(f"/move {session.id} 2026-10-20 10:00")
        assert arrives in reply.text and departs in reply.text, reply.text
        assert "2026-09-15" not in reply.text
    assert (await harness.storage.sessions.get(session.id)) == session


async def test_move_on_the_last_day_is_accepted(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    session = await demo_session(harness, "TPI-2026-S10")
    reply = await coordinator.send(f"/move {session.id} 2026-10-03 10:00")
    assert "Saved" in reply.text
    moved = await harness.storage.sessions.get(session.id)
    assert moved.starts_at == datetime(2026, 10, 3, 5, 0, tzinfo=UTC)


YEAR_END = (
    "code,name,timezone,arrives,departs\n"
    "WIN-2026,Winter school,Asia/Almaty,2026-12-28,2027-01-08\n"
)
YEAR_END_SESSIONS = (
    "id,cohort,date,start,end,title_en,title_ru,title_uz,department_en,department_ru,"
    "department_uz,location,host,notes,latitude,longitude\n"
    "WIN-1,WIN-2026,2026-12-31,18:00,19:00,Winter lecture,Зимняя лекция,Qishki maʼruza,,,,"
    "Room 1,,,,\n"
)


async def test_a_notice_names_the_year_when_it_is_not_this_one(harness: BotHarness) -> None:
    importer = Importer(harness.storage)
    plan = await importer.plan_files(
        [("c.csv", YEAR_END.encode()), ("s.csv", YEAR_END_SESSIONS.encode())]
    )
    assert plan.ok, [p.render() for p in plan.problems]
    await importer.apply(plan)
    harness.clock.set(datetime(2026, 12, 31, 5, 0, tzinfo=UTC))  # 10:00 on 31 Dec, Almaty
    await member(harness, 4200, "en", "WIN-2026")
    await member(harness, 4201, "ru", "WIN-2026")
    coordinator = harness.user(COORDINATOR_ID, "en")
    cohort = await harness.storage.cohorts.by_code("WIN-2026")
    session = (await harness.storage.sessions.for_cohort(cohort.id))[0]
    start = len(harness.emulator.sent)
    reply = await coordinator.send(f"/move {session.id} 2027-01-01 10:00")
    assert "Friday, 1 January 2027" in reply.text
    en = await harness.emulator.wait_for_message(4200, after=start)
    ru = await harness.emulator.wait_for_message(4201, after=start)
    assert "Was: Thursday, 31 December, 18:00" in en.text
    assert "Now: Friday, 1 January 2027, 10:00" in en.text
    assert "четверг, 31 декабря, 18:00" in ru.text
    assert "пятница, 1 января 2027 г., 10:00" in ru.text


# -- /restore, and no second "Cancelled" for a cancelled session -----------------------------


async def test_cancel_then_restore_notifies_and_reschedules(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    await member(harness, 4300, "en")
    await member(harness, 4301, "uz")
    session = await demo_session(harness, "TPI-2026-S07")  # 17 Sep 09:00, tomorrow
    scheduler = harness.services.reminders._scheduler
    start = len(harness.emulator.sent)
    await coordinator.send(f"/cancel {session.id} Teacher ill")
    cancelled = await harness.emulator.wait_for_message(4300, after=start)
    assert cancelled.text.startswith("❌")
    assert scheduler.scheduled(f"reminder:{session.id}:") == {}
    start = len(harness.emulator.sent)
    reply = await coordinator.send(f"/restore {session.id}")
    assert "Saved" in reply.text and "<s>" not in reply.text
    restored = await harness.emulator.wait_for_message(4300, after=start)
    assert "Back on the schedule" in restored.text
    assert "Thursday, 17 September, 09:00" in restored.text
    uz = await harness.emulator.wait_for_message(4301, after=start)
    assert uz.text.startswith("✅") and "payshanba, 17-sentabr, 09:00" in uz.text
    back = await harness.storage.sessions.get(session.id)
    assert not back.cancelled and back.cancel_reason == ""
    assert list(scheduler.scheduled(f"reminder:{session.id}:")) == [f"reminder:{session.id}:30"]
    audit = await coordinator.send("/audit TPI-2026")
    assert f"Session #{session.id}" in audit.text and "restored" in audit.text
    # Restoring what is not cancelled is refused and changes nothing.
    before = await snapshot(harness)
    again = await coordinator.send(f"/restore {session.id}")
    assert "is not cancelled" in again.text
    assert await snapshot(harness) == before


async def test_restore_is_for_coordinators(harness: BotHarness) -> None:
    student = await member(harness, 4310, "en")
    supervisor = harness.user(4311, "en")
    await supervisor.join(await harness.invite_code(role="supervisor"))
    session = await demo_session(harness, "TPI-2026-S07")
    await harness.services.admin.cancel(COORDINATOR_ID, session, "")
    for chat in (student, supervisor):
        assert "not allowed" in (await chat.send(f"/restore {session.id}")).text
    assert (await harness.storage.sessions.get(session.id)).cancelled
    usage = await harness.user(COORDINATOR_ID, "en").send("/restore")
    assert "Usage: /restore <session #>" in usage.plain_text


async def test_moving_a_cancelled_session_is_refused_and_sends_nothing(
    harness: BotHarness,
) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    await member(harness, 4400, "en")
    session = await demo_session(harness, "TPI-2026-S07")
    start = len(harness.emulator.sent)
    await coordinator.send(f"/cancel {session.id}")
    await harness.emulator.wait_for_message(4400, after=start)
    before = await snapshot(harness)
    start = len(harness.emulator.sent)
    reply = await coordinator.send(f"/move {session.id} 2026-09-17 16:00")
    assert f"Restore it first with /restore {session.id}" in reply.text
    assert await snapshot(harness) == before
    await harness.services.reminders.process_changes()
    assert sent_to(harness, 4400, start) == []


def with_cancelled_column(text: str) -> str:
    lines = text.splitlines()
    return "\n".join([lines[0] + ",cancelled"] + [line + ",no" for line in lines[1:]]) + "\n"


async def test_a_cancelled_session_moved_by_import_sends_no_second_cancellation(
    harness: BotHarness,
) -> None:
    await member(harness, 4500, "en")
    name, content = demo_files()[1]
    text = edit_sessions(with_cancelled_column(content.decode()), "TPI-2026-S07", cancelled="yes")
    importer = harness.services.importer
    await importer.apply(await importer.plan_files([(name, text.encode())]))
    start = len(harness.emulator.sent)
    await harness.services.reminders.process_changes()
    first = await harness.emulator.wait_for_message(4500, after=start)
    assert first.text.startswith("❌")
    # The cancelled session is moved (and re-placed) in the next file: nothing to tell.
    moved = edit_sessions(text, "TPI-2026-S07", start="16:00", end="17:30", location="Hall 3")
    plan = await importer.plan_files([(name, moved.encode())])
    assert [c.kind for c in plan.sessions] == ["changed"]
    await importer.apply(plan)
    start = len(harness.emulator.sent)
    await harness.services.reminders.process_changes()
    assert sent_to(harness, 4500, start) == []
    # Taking it back in through the file announces it as back on the schedule.
    back = edit_sessions(moved, "TPI-2026-S07", cancelled="no")
    await importer.apply(await importer.plan_files([(name, back.encode())]))
    await harness.services.reminders.process_changes()
    notice = await harness.emulator.wait_for_message(4500, after=start)
    assert "Back on the schedule" in notice.text and "16:00" in notice.text


# -- /sessions ------------------------------------------------------------------------------


async def test_sessions_shows_heading_range_and_what_lies_beyond(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    reply = await coordinator.send("/sessions TPI-2026")  # Wednesday 16 Sep: a week from today
    text = reply.text
    assert "Sessions of TPIER medical students" in text
    assert "16 Sep 2026 – 22 Sep 2026" in text
    assert "Wednesday, 16 September" in text and "Tuesday, 22 September" in text
    assert "Wednesday, 23 September" not in text
    # 43 lines of the demo file: 42 sessions; 3 before today, 15 in the week, 24 after it.
    assert "24 more sessions after 22 Sep 2026" in text
    assert "<code>/sessions TPI-2026 2026-09-23 2026-09-29</code>" in text
    ru = await harness.user(COORDINATOR_ID, "ru").send("/sessions TPI-2026 2026-09-23 2026-09-29")
    assert "23.09.2026 – 29.09.2026" in ru.text
    assert "Среда, 23 сентября" in ru.text and "2026-09-23" not in ru.text.split("\n")[1]
    assert "2026-09-30 2026-10-06" in ru.text


async def test_sessions_before_and_after_the_programme(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    harness.clock.set(datetime(2026, 8, 1, 6, 0, tzinfo=UTC))
    early = await coordinator.send("/sessions TPI-2026")
    assert "has not started yet" in early.text and "15 Sep 2026 – 21 Sep 2026" in early.text
    assert "Tuesday, 15 September" in early.text and "Monday, 21 September" in early.text
    harness.clock.set(datetime(2026, 11, 1, 6, 0, tzinfo=UTC))
    late = await coordinator.send("/sessions TPI-2026")
    assert "is over" in late.text and "27 Sep 2026 – 3 Oct 2026" in late.text
    assert "Friday, 2 October" in late.text and "more session" not in late.text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/sessions TPI-2026 9999-12-31", "“9999-12-31” is not a date"),
        ("/sessions TPI-2026 0026-11-28", "“0026-11-28” is not a date"),
        ("/sessions TPI-2026 soon", "“soon” is not a date"),
        ("/sessions TPI-2026 2026-09-20 2099-13-01", "“2099-13-01” is not a date"),
        ("/sessions TPI-2026 2026-09-20 2026-09-10", "must not be later"),
        ("/sessions", "Usage: /sessions <cohort code> [YYYY-MM-DD | from-date to-date]"),
    ],
)
async def test_sessions_bad_dates_get_a_clear_answer(
    harness: BotHarness, command: str, expected: str
) -> None:
    reply = await harness.user(COORDINATOR_ID, "en").send(command)
    assert expected in reply.plain_text, reply.plain_text


async def test_sessions_one_day_and_the_widest_range(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "uz")
    day = await coordinator.send("/sessions TPI-2026 2026-09-27")
    assert "27.09.2026" in day.text and "Bu davrda mashgʻulotlar yoʻq." in day.text
    assert "2026-09-28 2026-10-04" in day.text  # the next sessions are on Monday
    everything = await coordinator.send("/sessions TPI-2026 2000-01-01 2099-12-31")
    assert "01.01.2000 – 31.12.2099" in everything.text


async def test_a_long_range_is_split_into_several_messages(harness: BotHarness) -> None:
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    from bot.storage.models import Localized
    from bot.storage.repositories import SessionFields

    first = datetime(2026, 9, 19, 3, 0, tzinfo=UTC)
    for i in range(80):
        at = first + timedelta(days=i % 2, minutes=5 * i)
        await harness.storage.sessions.insert(
            cohort.id,
            SessionFields(
                f"extra-{i}", at, at + timedelta(minutes=4),
                Localized("Extra practice with a rather long title, number " + str(i)),
                Localized(), location="Simulation centre, room " + str(i),
            ),
        )  # fmt: skip
    harness.user(COORDINATOR_ID, "en")
    start = len(harness.emulator.sent)
    await harness.emulator.send_text(COORDINATOR_ID, "/sessions TPI-2026 2026-09-15 2026-10-03")
    last = await harness.emulator.wait_for_message(
        COORDINATOR_ID, after=start, predicate=lambda m: "Change one with" in (m.text or "")
    )
    parts = [m for m in harness.emulator.sent[start:] if m.chat_id == COORDINATOR_ID]
    assert len(parts) >= 2 and parts[-1] is last
    assert all(len(p.text) <= 4096 for p in parts)
    assert sum(p.text.count("<code>#") for p in parts) == 42 + 80


# -- /audit, readable by a person ---------------------------------------------------------------


async def test_audit_reads_as_sentences_in_the_readers_language(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en", name="Aliya")
    await coordinator.send("/today")  # the bot learns the coordinator's name
    grantee = harness.user(4600, "en", name="Bekzod")
    await grantee.send("/start")
    s7 = await demo_session(harness, "TPI-2026-S07")
    s8 = await demo_session(harness, "TPI-2026-S08")
    await coordinator.send(f"/cancel {s7.id} Teacher ill")
    await coordinator.send(f"/restore {s7.id}")
    await coordinator.send(f"/move {s8.id} 2026-09-18 16:00")
    await coordinator.send(f"/room {s8.id} Hall 3")
    invite = await harness.invite_code()
    await coordinator.send(f"/revoke {invite}")
    storage = harness.storage
    cohort = await storage.cohorts.by_code("TPI-2026")
    now = harness.clock.now()
    # Role changes as /grant and /revoke_role record them (target "user <id>").
    await storage.audit.record(now, COORDINATOR_ID, None, "grant", "user 4600", "", "coordinator")
    await storage.audit.record(
        now, COORDINATOR_ID, cohort.id, "revoke_role", "user 4600",
        "coordinator, supervisor@TPI-2026", "student",
    )  # fmt: skip
    # An older entry named the group by its number.
    await storage.audit.record(
        now, COORDINATOR_ID, cohort.id, "revoke_role", "user 4600", f"supervisor@{cohort.id}", ""
    )
    # What the integrator records when someone becomes a supervisor through a link, an import
    # by the command line (no person), and a row written before the audit stored data.
    await storage.audit.record(
        now, 4600, cohort.id, "supervisor_joined", "user 4600", "student", "supervisor"
    )
    await storage.audit.record(
        now, None, cohort.id, "import", "sessions.csv", "",
        '{"added": 3, "changed": 2, "cancelled": 1, "contact_lists": 0}',
    )  # fmt: skip
    await storage.audit.record(
        now, COORDINATOR_ID, cohort.id, "room", "#5", "2026-09-16 09:15–10:45, Room 1",
        "2026-09-16 09:15–10:45, Room 2",
    )  # fmt: skip
    en = (await coordinator.send("/audit TPI-2026")).text
    for expected in (
        f"Session #{s7.id} <i>{s7.title.en}</i> cancelled",
        "Reason: Teacher ill",
        f"Session #{s7.id} <i>{s7.title.en}</i> restored",
        f"Session #{s8.id} <i>{s8.title.en}</i> moved",
        "17 Sep 2026, 10:45 → 18 Sep 2026, 16:00",
        f"Session #{s8.id} <i>{s8.title.en}</i>: place changed",
        "→ Hall 3",
        f"Invite link <code>{invite}</code> withdrawn",
        "Bekzod User made a coordinator",
        "Bekzod User: role taken away",
        "Before: coordinator, supervisor of group TPI-2026\nStays a student of the group",
        "Before: supervisor of group TPI-2026",
        "Before: student",
        "Bekzod User became a supervisor through an invite link",
        "👤 the import command",
        "Imported from <i>sessions.csv</i>",
        "Sessions: 3 new, 2 changed, 1 cancelled",
        "2026-09-16 09:15–10:45, Room 1 → 2026-09-16 09:15–10:45, Room 2",  # old row, as it is
        "👤 Aliya User",
        "🕘 16 Sep 2026, 08:00",
    ):
        assert expected in en, (expected, en)
    for internal in ("revoke_invite", "revoke_role", "supervisor_joined", '"starts"', "{"):
        assert internal not in en, internal
    assert f"👤 {COORDINATOR_ID}" not in en
    ru = (await harness.user(COORDINATOR_ID, "ru").send("/audit TPI-2026")).text
    assert "🕘 16.09.2026 08:00" in ru and "17.09.2026 10:45 → 18.09.2026 16:00" in ru
    assert "Занятия: добавлено 3, изменено 2, отменено 1" in ru


async def test_audit_of_a_person_who_left_names_no_bare_number(harness: BotHarness) -> None:
    storage = harness.storage
    await storage.audit.record(
        harness.clock.now(), 777001, None, "grant", "user 777002", "", "coordinator"
    )
    text = (await harness.user(COORDINATOR_ID, "en").send("/audit TPI-2026")).text
    assert "a former user (id 777001)" in text
    assert "a former user (id 777002) made a coordinator" in text


# -- /today and /next at the edges of the day ------------------------------------------------


async def joined_student(harness: BotHarness, user_id: int, language: str) -> Chat:
    return await member(harness, user_id, language)


async def test_today_marks_over_now_and_next(harness: BotHarness) -> None:
    chat = await joined_student(harness, 4700, "en")
    # 16 Sep: 08:00–09:00, 09:15–10:45, 13:30–15:00. At 09:30 Almaty (04:30 UTC):
    harness.clock.set(datetime(2026, 9, 16, 4, 30, tzinfo=UTC))
    text = (await chat.send("/today")).text
    assert "✔️ <i>08:00–09:00" in text
    assert "▶️ <b>09:15–10:45</b>" in text and "· <b>now</b>" in text
    assert "⏭ <b>13:30–15:00</b>" in text and "· <b>next</b>" in text
    # /tomorrow marks nothing.
    tomorrow = (await chat.send("/tomorrow")).text
    assert "✔️" not in tomorrow and "now" not in tomorrow and "next</b>" not in tomorrow


async def test_today_and_next_at_the_edges_of_the_day(harness: BotHarness) -> None:
    chat = await joined_student(harness, 4800, "en")
    ru = await joined_student(harness, 4801, "ru")
    # 23:59 on 16 Sep in Almaty (UTC+5): everything today is over, next is tomorrow.
    harness.clock.set(datetime(2026, 9, 16, 18, 59, tzinfo=UTC))
    today = (await chat.send("/today")).text
    assert "Wednesday, 16 September" in today
    assert today.count("✔️") == 3 and "next</b>" not in today and "now</b>" not in today
    text, _venue = await chat.send_all("/next", replies=2)
    assert "Next: tomorrow, starts in 9 hours 1 minute" in text.text, text.text
    # 00:01 on 17 Sep: a new day; nothing over, the first session is next.
    harness.clock.set(datetime(2026, 9, 16, 19, 1, tzinfo=UTC))
    today = (await chat.send("/today")).text
    assert "Thursday, 17 September" in today and "✔️" not in today
    assert today.count("next</b>") == 1 and "⏭ <b>09:00–10:30</b>" in today
    text, _venue = await chat.send_all("/next", replies=2)
    assert "Next: today, starts in 8 hours 59 minutes" in text.text, text.text
    # Two days ahead it is the date, in lower case inside the Russian sentence.
    harness.clock.set(datetime(2026, 9, 18, 19, 1, tzinfo=UTC))  # 00:01 Saturday 19 Sep
    reply = await ru.send_all("/next", replies=1)
    assert "понедельник, 21 сентября" in reply[0].text, reply[0].text
