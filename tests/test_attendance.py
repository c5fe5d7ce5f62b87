"""Attendance end to end: check-in within the window (button, /here, location), absences, the
nudge and the supervisor's list exactly once across restarts, the roll-call with marks by hand,
the XLSX record against the database, privacy and permissions."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.clock import FrozenClock
from bot.storage.attendance import Status
from bot.storage.models import Localized
from bot.storage.repositories import SessionFields
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness, Chat, stop_bot
from tests.test_clock import almaty
from tests.test_staff import REFUSAL, actors, add_other_cohort
from tests.test_timed_queue import change_session

SUPERVISOR = 810
HERE = "✋"


async def join_group(harness: BotHarness) -> dict[int, Chat]:
    """Three students (en, ru, uz) and a supervisor of TPI-2026."""
    code = await harness.invite_code()
    chats = {}
    for uid, lang, name in ((801, "en", "Aziza"), (802, "ru", "Bobur"), (803, "uz", "Dilnoza")):
        chats[uid] = harness.user(uid, lang, name=name)
        await chats[uid].join(code)
    chats[SUPERVISOR] = harness.user(SUPERVISOR, "en", name="Nodir")
    await chats[SUPERVISOR].join(await harness.invite_code(role="supervisor"))
    return chats


async def session_id(harness: BotHarness, external: str) -> int:
    row = await harness.storage.db.fetchone(
        "SELECT id FROM sessions WHERE external_id = ?", (external,)
    )
    assert row is not None
    return int(row[0])


async def press(harness: BotHarness, uid: int, message_id: int, data: str) -> str:
    """Presses a button and returns the pop-up's text (empty when none)."""
    emu = harness.emulator
    before = len(emu.callback_answers)
    await emu.press_button(uid, message_id, data)
    for _ in range(500):
        if len(emu.callback_answers) > before:
            return emu.callback_answers[before]["text"] or ""
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no answer to {data}")


async def rows(harness: BotHarness, sql: str = "SELECT * FROM attendance") -> list[dict]:
    return [dict(r) for r in await harness.storage.db.fetchall(sql)]


def sent_to(harness: BotHarness, uid: int, mark: str, start: int = 0) -> list[str]:
    return [
        m.text or ""
        for m in harness.emulator.sent[start:]
        if m.chat_id == uid and (m.text or "").startswith(mark)
    ]


async def test_check_in_window_double_press_cancelled_and_foreign_sessions(
    harness: BotHarness,
) -> None:
    chats = await join_group(harness)
    scheduler = harness.services.scheduler
    lecture = await session_id(harness, "TPI-2026-S05")  # 09:15, check-in 09:00-09:45
    await scheduler.retime(almaty(16, 8, 50))
    reminder = harness.emulator.sent[-1]
    reminders = [m for m in harness.emulator.sent if m.chat_id == 801 and "osteology" in m.text]
    reminder = reminders[-1]
    here = [d for label, d in reminder.buttons() if label.startswith(HERE)]
    assert here == [f"v1:here:0:{lecture}"]  # the reminder carries "I'm here"
    # Too early: a pop-up, nothing recorded.
    assert "opens at 09:00" in await press(harness, 801, reminder.message_id, here[0])
    assert await rows(harness) == []
    await scheduler.retime(almaty(16, 9, 5))
    assert "checked in" in await press(harness, 801, reminder.message_id, here[0])
    first = await rows(harness)
    assert [(r["user_id"], r["status"], r["verdict"]) for r in first] == [(801, "present", "self")]
    # The second press: a clear pop-up, nothing changed.
    assert "already checked in" in await press(harness, 801, reminder.message_id, here[0])
    assert await rows(harness) == first
    # Late (after start + 5 min), in Russian: the pop-up names the Russian title.
    await scheduler.retime(almaty(16, 9, 25))
    ru = [m for m in harness.emulator.sent if m.chat_id == 802 and HERE in str(m.reply_markup)]
    popup = await press(harness, 802, ru[-1].message_id, here[0])
    assert "остеологи" in popup.lower()
    # /here for the Uzbek student after the window closed: no session is open.
    await scheduler.retime(almaty(16, 9, 50))
    answer = await chats[803].send("/here")
    assert "belgilanish ochiq boʻlgan mashgʻulot yoʻq" in answer.text  # uz
    statuses = {r["user_id"]: r["status"] for r in await rows(harness)}
    assert statuses == {801: "present", 802: "late"}
    # A press after the window closed: refused.
    assert "closed at 09:45" in await press(harness, 801, reminder.message_id, here[0])
    # A forged button bound to another user, a cancelled session, another group's session.
    practical = await session_id(harness, "TPI-2026-S06")
    await change_session(harness.storage, practical, cancelled=True)
    msg = reminder.message_id
    assert "not for you" in await press(harness, 801, msg, f"v1:here:802:{lecture}")
    assert "Cancelled" in await press(harness, 801, msg, f"v1:here:0:{practical}")
    await add_other_cohort(harness)
    other = await harness.storage.cohorts.by_code("OTHER-1")
    assert other is not None
    start = almaty(16, 10)
    foreign = await harness.storage.sessions.insert(
        other.id,
        SessionFields(
            "o1", start, start + timedelta(hours=1), Localized("Secret"), Localized("Dept")
        ),
    )
    popup = await press(harness, 801, msg, f"v1:here:0:{foreign}")
    assert "Only the students" in popup and "Secret" not in popup
    for junk in ("v1:here:0:abc", "v1:here:0:99999999", "v1:here:x:1", "v1:here:0:"):
        await press(harness, 801, msg, junk)
    assert {r["user_id"]: r["status"] for r in await rows(harness)} == statuses
    # The supervisor is not on the roll.
    assert "Only the students" in await press(harness, SUPERVISOR, msg, f"v1:here:0:{lecture}")


async def test_nudge_and_missing_list_exactly_once_across_a_kill_and_restart(
    bot_factory: BotFactory, clock: FrozenClock
) -> None:
    first = await bot_factory()
    chats = await join_group(first)
    # 08:00: the safety session starts. Aziza checks in, Bobur reports he is ill.
    ok = await chats[801].send("/here")
    assert "checked in" in ok.text and "Introductory session" in ok.text
    await chats[802].send("/absent ill Fever")
    assert first.emulator.sent[-1].chat_id in (802, SUPERVISOR)
    await first.services.scheduler.retime(almaty(16, 8, 11))
    nudges = sent_to(first, 803, "👋")
    assert len(nudges) == 1 and not sent_to(first, 801, "👋") and not sent_to(first, 802, "👋")
    assert "Kirish mashgʻuloti" in nudges[0]  # in the student's language (Uzbek)
    nudge = [
        m for m in first.emulator.sent if m.chat_id == 803 and (m.text or "").startswith("👋")
    ]
    labels = [label for label, _ in nudge[0].buttons()]
    assert labels[0].startswith(HERE) and len(labels) == 2
    # A moved session's items follow it; a cancelled one has none.
    scheduler, storage = first.services.scheduler, first.storage
    lecture = await session_id(first, "TPI-2026-S05")
    practical = await session_id(first, "TPI-2026-S06")
    assert scheduler.due_of(f"nudge:{lecture}") == almaty(16, 9, 25)
    assert scheduler.due_of(f"missing:{lecture}") == almaty(16, 9, 35)
    await change_session(storage, lecture, cancelled=True)
    later = almaty(16, 14, 30)
    await change_session(storage, practical, starts_at=later, ends_at=later + timedelta(hours=1))
    await first.services.reminders.process_changes()
    assert scheduler.due_of(f"nudge:{lecture}") is None
    assert scheduler.due_of(f"missing:{lecture}") is None
    assert scheduler.due_of(f"nudge:{practical}") == almaty(16, 14, 40)
    await stop_bot(first.app)  # killed between the nudge and the list
    clock.set(almaty(16, 8, 15))
    second = await bot_factory()
    await second.services.scheduler.retime(almaty(16, 8, 25))
    await stop_bot(second.app)
    third = await bot_factory()  # due again on paper: the records say no
    await third.services.scheduler.retime(almaty(16, 8, 40))
    await stop_bot(third.app)
    assert len(sent_to(third, 803, "👋")) == 1
    lists = sent_to(third, SUPERVISOR, "🔔")
    assert len(lists) == 1
    assert "Dilnoza" in lists[0] and 'href="tg://user?id=803"' in lists[0]
    assert "Aziza" not in lists[0] and "Bobur" not in lists[0]
    assert "1 student is still missing" in lists[0]
    assert not any(m.chat_id < 0 for m in third.emulator.sent)  # never in a group


async def test_nudge_buttons_and_absence_flow_tell_the_supervisor(harness: BotHarness) -> None:
    chats = await join_group(harness)
    await harness.services.scheduler.retime(almaty(16, 8, 10))
    nudge = next(
        m for m in harness.emulator.sent if m.chat_id == 802 and (m.text or "").startswith("👋")
    )
    cannot = next(d for label, d in nudge.buttons() if not label.startswith(HERE))
    reasons = await chats[802].press(nudge, cannot)
    late = next(d for _, d in reasons.buttons() if d.endswith(":late"))
    minutes = await chats[802].press(reasons, late)
    twenty = next(d for _, d in minutes.buttons() if d.endswith(":20"))
    start = len(harness.emulator.sent)
    done = await chats[802].press(minutes, twenty)
    assert "Руководитель группы предупреждён" in done.text
    told = await harness.emulator.wait_for_message(SUPERVISOR, after=start)
    assert "Bobur" in told.text and "20 minutes" in told.text
    # The same button again: no second notice, the row as it was.
    before = await rows(harness)
    await harness.emulator.press_button(802, minutes.message_id, twenty)
    await harness.idle()
    assert await rows(harness) == before
    assert len([m for m in harness.emulator.sent[start:] if m.chat_id == SUPERVISOR]) == 1
    assert [(r["status"], r["reason"], r["late_minutes"]) for r in before] == [
        ("late", "late", 20)
    ]
    # In one line, in Uzbek, for every session left today, with a note.
    reply = await chats[803].send("/absent ill Isitma, shifokorga boraman")
    assert reply.text.count("•") == 3  # 08:00 (still going on), 09:15 and 13:30
    assert "Kirish mashgʻuloti" in reply.text
    text = await harness.emulator.wait_for_message(
        SUPERVISOR, predicate=lambda m: "Dilnoza" in (m.text or "")
    )
    assert "Isitma, shifokorga boraman" in text.text and "ill" in text.text
    bad = await chats[803].send("/absent 99999 ill")
    assert "bugungi qolgan mashgʻulotlaringiz orasida yoʻq" in bad.text
    usage = await chats[801].send("/absent sleepy")
    assert "Usage: /absent" in usage.text
    # A hostile, huge note: escaped and cut short, never markup.
    start = len(harness.emulator.sent)
    await chats[801].send("/absent 9999999999999999999999 other x")
    await chats[801].send("/absent other <b>boss</b> " + "z" * 5000)
    hostile = await harness.emulator.wait_for_message(SUPERVISOR, after=start)
    assert "&lt;b&gt;boss&lt;/b&gt;" in hostile.text and "<b>boss" not in hostile.text
    assert hostile.text.count("z") <= 200
    # A student reading another's absence: impossible, and excused shows in their own record.
    mine = await chats[803].send("/my_attendance")
    assert "Bobur" not in mine.text and "Aziza" not in mine.text


async def test_roll_call_manual_marks_are_audited_and_refused_across_groups(
    harness: BotHarness,
) -> None:
    chats = await join_group(harness)
    await chats[801].send("/here")
    await harness.services.scheduler.retime(almaty(16, 8, 25))
    safety = await session_id(harness, "TPI-2026-S04")
    roll = await chats[SUPERVISOR].send("/attendance")
    assert f"#{safety}" in roll.text and "3 students" in roll.text
    assert "✅ present: 1" in roll.text and "❓ missing: 2" in roll.text
    assert "Aziza" in roll.text and "self-reported" in roll.text
    card_data = next(d for label, d in roll.buttons() if label == "Dilnoza User")
    card = await chats[SUPERVISOR].press(roll, card_data)
    assert "Dilnoza" in card.text and "Mark as" in card.text
    excused = next(d for _, d in card.buttons() if d.endswith(":E"))
    after = await chats[SUPERVISOR].press(card, excused)
    assert "🟡 excused: 1" in after.text and "marked by staff" in after.text
    marks = await rows(harness, "SELECT * FROM attendance_marks")
    assert [(m["user_id"], m["before"], m["after"], m["by_id"]) for m in marks] == [
        (803, "missing", "excused", SUPERVISOR)
    ]
    # Pressed again (a stale copy of the card): no second audit entry.
    popup = await press(harness, SUPERVISOR, card.message_id, excused)
    assert "Already marked" in popup
    assert len(await rows(harness, "SELECT * FROM attendance_marks")) == 1
    # The teacher's word overrides the app: the student's own check-in is refused now.
    late = await chats[803].send("/here")
    assert "masʼul xodimlar allaqachon belgilagan" in late.text
    # Another group's supervisor, a student of another group, a forged user id: refused.
    others = harness.user(1104, "en", name="OtherSup")
    await add_other_cohort(harness)
    await others.join(await harness.invite_code("OTHER-1", "supervisor"))
    stranger_student = harness.user(1102, "en", name="OtherStudent")
    await stranger_student.join(await harness.invite_code("OTHER-1", "student"))
    own = [m for m in harness.emulator.sent if m.chat_id == 1104][-1].message_id
    assert REFUSAL in await press(harness, 1104, own, f"v1:att:1104:m:{safety}:801:A")
    assert "not in the group" in await press(
        harness, SUPERVISOR, roll.message_id, f"v1:att:{SUPERVISOR}:m:{safety}:1102:P"
    )
    assert "not for you" in await press(
        harness, 1104, own, f"v1:att:{SUPERVISOR}:m:{safety}:801:A"
    )
    other_roll = await others.send(f"/attendance {safety}")
    assert REFUSAL in other_roll.text and "Aziza" not in other_roll.text
    assert len(await rows(harness, "SELECT * FROM attendance_marks")) == 1
    # The coordinator sees any group's roll-call, by session number or by group.
    coordinator = harness.user(COORDINATOR_ID, "en", name="Saule")
    by_number = await coordinator.send(f"/attendance {safety}")
    assert "Dilnoza" in by_number.text
    by_group = await coordinator.send("/attendance TPI-2026")
    assert f"#{safety}" in by_group.text
    assert "There is no session #424242" in (await coordinator.send("/attendance 424242")).text


async def test_location_check_inside_outside_and_without_coordinates(
    harness: BotHarness,
) -> None:
    chats = await join_group(harness)
    coordinator = harness.user(COORDINATOR_ID, "en", name="Saule")
    reply = await coordinator.send(
        "/attendance_settings TPI-2026 location on radius 300 nudge 12 missing 25"
    )
    assert "location check: on (within 300 m)" in reply.text
    lecture = await session_id(harness, "TPI-2026-S05")  # 09:15: re-planned at once
    assert harness.services.scheduler.due_of(f"nudge:{lecture}") == almaty(16, 9, 27)
    assert harness.services.scheduler.due_of(f"missing:{lecture}") == almaty(16, 9, 40)
    bad = await coordinator.send("/attendance_settings TPI-2026 radius 999999")
    assert "Usage" in bad.text
    await harness.services.scheduler.retime(almaty(16, 9, 5))
    prompt = await chats[801].send("/here")
    assert "share your location" in prompt.text
    assert prompt.reply_markup["keyboard"][0][0]["request_location"] is True
    emu = harness.emulator
    # About 1.1 km away: refused, nothing recorded.
    start = len(emu.sent)
    await emu.send_location(801, 43.2659, 76.9279)
    far = await emu.wait_for_message(801, after=start)
    assert "about 1.1 km away" in far.text and far.reply_markup is None  # try again nearer
    assert await rows(harness) == []
    # About 100 m away: verified, with a bucket; the location itself is not stored.
    start = len(emu.sent)
    await emu.send_location(801, 43.2568, 76.9279)
    near = await emu.wait_for_message(801, after=start)
    assert "checked in" in near.text and "Location confirmed" in near.text
    assert near.reply_markup == {"remove_keyboard": True}
    (row,) = await rows(harness)
    assert (row["verdict"], row["distance_bucket"]) == ("verified", 200)
    assert "43.25" not in str(row) and "76.92" not in str(row)
    assert await rows(harness, "SELECT * FROM attendance_pending") == []
    # A location nobody asked for.
    start = len(emu.sent)
    await emu.send_location(802, 43.2568, 76.9279)
    assert "геопозиция сейчас не нужна" in (await emu.wait_for_message(802, after=start)).text
    # No location on this device: /here a second time checks in self-reported.
    prompt = await chats[803].send("/here")
    assert "tasdiqlash uchun" in prompt.text
    second = await chats[803].send("/here")
    assert "Kelganingiz belgilandi" in second.text and "Joylashuv tasdiqlandi" not in second.text
    # A session without coordinates needs no location.
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    start_at = almaty(16, 9, 10)
    await harness.storage.sessions.insert(
        cohort.id,
        SessionFields(
            "nocoords",
            start_at,
            start_at + timedelta(hours=1),
            Localized("Library hour"),
            Localized("Library"),
        ),
    )
    direct = await chats[802].send("/here")
    assert "Вы отметились" in direct.text
    verdicts = {r["user_id"]: r["verdict"] for r in await rows(harness)}
    assert verdicts == {801: "verified", 802: "self", 803: "self"}
    # A location that comes after check-in closed (the prompt left from before): refused.
    await harness.storage.attendance.ask_location(802, lecture, harness.clock.now())
    await harness.services.scheduler.retime(almaty(16, 9, 50))
    start = len(emu.sent)
    await emu.send_location(802, 43.2559, 76.9279)
    closed = await emu.wait_for_message(802, after=start)
    assert "закрылась в 09:45" in closed.text and closed.reply_markup == {"remove_keyboard": True}
    assert len(await rows(harness)) == 3
    assert await rows(harness, "SELECT * FROM attendance_pending") == []


async def test_report_matches_the_database_and_the_cli_writes_it(
    harness: BotHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chats = await join_group(harness)
    scheduler = harness.services.scheduler
    await chats[801].send("/here")  # 08:00 present
    await scheduler.retime(almaty(16, 9, 25))
    await chats[801].send("/here")  # 09:15 lecture, late
    await chats[802].send("/absent ill")  # lecture and practical excused
    await scheduler.retime(almaty(16, 13, 31))
    await chats[803].send("/here")  # practical, present
    await scheduler.retime(almaty(16, 16))
    lecture = await session_id(harness, "TPI-2026-S05")
    lecture_session = await harness.storage.sessions.get(lecture)
    assert lecture_session is not None
    await harness.services.attendance.mark(SUPERVISOR, lecture_session, 803, Status.PRESENT)
    document = await chats[SUPERVISOR].send("/attendance_report")
    assert document.filename == "attendance-TPI-2026.xlsx" and document.document
    book = load_workbook(io.BytesIO(document.document))
    grid, hours, audit = book.worksheets
    assert grid.freeze_panes == "C3" and hours.freeze_panes == "B2"
    assert grid["C1"].is_date and grid["C1"].value.hour == 15  # 15 Sep, 15:00 local
    sessions = [s for s in await harness.storage.sessions.for_cohort(
        (await harness.storage.cohorts.by_code("TPI-2026")).id) if not s.cancelled]  # fmt: skip
    names = {grid.cell(row=r, column=1).value: r for r in range(3, 6)}
    row801 = [grid.cell(row=names["Aziza User"], column=3 + i).value for i in range(6)]
    row802 = [grid.cell(row=names["Bobur User"], column=3 + i).value for i in range(6)]
    row803 = [grid.cell(row=names["Dilnoza User"], column=3 + i).value for i in range(6)]
    assert row801 == [None, None, None, "P", "L", "A"]  # joined on the 16th
    assert row802 == [None, None, None, "A", "E", "E"]
    assert row803 == [None, None, None, "A", "P", "P"]
    assert grid.cell(row=3, column=3 + 6).value is None  # not held yet: blank
    # Hours from the sessions' real durations, per department and in total.
    header = [c.value for c in hours[1]]
    by_student = {r[0].value: r for r in hours.iter_rows(min_row=2)}
    total = header.index("Total hours")
    assert by_student["Aziza User"][total].value == 2.5  # 1 h + 1.5 h
    assert by_student["Dilnoza User"][total].value == 3.0  # 1.5 h + 1.5 h
    assert by_student["Bobur User"][total].value == 0
    anatomy = header.index("Department of Normal Anatomy")
    assert by_student["Aziza User"][anatomy].value == 2.5
    assert by_student["Aziza User"][total].number_format == "0.00"
    # Every row of the database is the letter in its cell.
    db_rows = await rows(harness)
    assert len(db_rows) == 6
    column = {s.id: 3 + i for i, s in enumerate(sessions)}
    by_id = {801: names["Aziza User"], 802: names["Bobur User"], 803: names["Dilnoza User"]}
    codes = {"present": "P", "late": "L", "excused": "E", "absent": "A"}
    for r in db_rows:
        cell = grid.cell(row=by_id[r["user_id"]], column=column[r["session_id"]])
        assert cell.value == codes[r["status"]], r
    marks = list(audit.iter_rows(min_row=2, values_only=True))
    assert [(m[3], m[4], m[5], m[6]) for m in marks] == [
        ("Dilnoza User", "missing", "present", "Nodir User")
    ]
    assert audit["A2"].is_date
    # The student's own view: the same numbers.
    mine = await chats[801].send("/my_attendance")
    assert "Sessions attended: 2 of 3" in mine.text and "Hours attended: 2.5" in mine.text
    # The command line writes the same workbook.
    monkeypatch.setenv("BOT_DATABASE", str(harness.database))
    target = tmp_path / "record.xlsx"
    from bot.__main__ import main

    code = await asyncio.to_thread(main, ["attendance", "TPI-2026", "--xlsx", str(target)])
    assert code == 0
    again = load_workbook(target)
    assert [c.value for c in again.worksheets[0][names["Aziza User"]]][2:8] == row801
    assert len(sessions) >= 6


async def test_permission_matrix_for_attendance(harness: BotHarness) -> None:
    chats = await actors(harness)
    safety = await session_id(harness, "TPI-2026-S04")
    staff = {
        "/attendance TPI-2026": {"coordinator", "supervisor_own"},
        f"/attendance {safety}": {"coordinator", "supervisor_own"},
        "/attendance_report TPI-2026": {"coordinator", "supervisor_own"},
        "/attendance_settings TPI-2026": {"coordinator"},
    }
    failures = []
    for command, allowed_to in staff.items():
        for actor, chat in chats.items():
            before = await rows(harness)
            answer = await chat.send(command)
            refused = REFUSAL in (answer.text or "") or "not joined" in (answer.text or "")
            if refused == (actor in allowed_to):
                failures.append(f"{actor} {command!r}: {(answer.text or '')[:80]!r}")
            assert await rows(harness) == before
    for command in ("/here", "/absent", "/my_attendance"):
        for actor, chat in chats.items():
            answer = await chat.send(command)
            refused = REFUSAL in (answer.text or "") or "not joined" in (answer.text or "")
            if refused != (actor not in ("student_own", "student_other")):
                failures.append(f"{actor} {command!r}: {(answer.text or '')[:80]!r}")
    assert not failures, "\n".join(failures)
    help_text = (await chats["student_own"].send("/help")).text
    assert "/here" in help_text and "/attendance_report" not in help_text
    staff_help = (await chats["supervisor_own"].send("/help")).text
    assert "/attendance" in staff_help and "/here" not in staff_help


async def test_forget_me_and_purge_remove_attendance_keeping_counts(harness: BotHarness) -> None:
    chats = await join_group(harness)
    await chats[801].send("/here")
    await chats[802].send("/here")
    await harness.services.scheduler.retime(almaty(16, 8, 25))
    safety = await session_id(harness, "TPI-2026-S04")
    session = await harness.storage.sessions.get(safety)
    await harness.services.attendance.mark(SUPERVISOR, session, 803, Status.ABSENT)
    answer = await chats[801].send("/forget_me")
    await chats[801].press(answer, next(d for _, d in answer.buttons() if d.endswith(":yes")))
    assert [r["user_id"] for r in await rows(harness)] == [802, 803]
    # A staff member who leaves keeps the fact of their marks, not their name.
    answer = await chats[SUPERVISOR].send("/forget_me")
    await chats[SUPERVISOR].press(
        answer, next(d for _, d in answer.buttons() if d.endswith(":yes"))
    )
    marks = await rows(harness, "SELECT * FROM attendance_marks")
    assert [(m["user_id"], m["by_id"]) for m in marks] == [(803, None)]
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    async with harness.storage.transaction():
        counts = await harness.storage.operations.purge_cohort(cohort.id, harness.clock.now())
    assert counts["attendance_rows"] == 2
    assert (
        await rows(harness) == [] and await rows(harness, "SELECT * FROM attendance_marks") == []
    )
    assert await harness.storage.attendance.archived(cohort.id) == {
        "present": 1,
        "late": 0,
        "excused": 0,
        "absent": 1,
    }


async def test_playground_student_checks_in_and_supervisor_sees_the_roll_call(
    tmp_path: Path,
) -> None:
    from tests.test_playground import play

    transcript = await play(
        tmp_path,
        ":coordinator\n/attendance_settings TPI-2026 location on\n:student\n:clock 09:05\n"
        "/here\n:location 43.2659 76.9279\n:location 43.2562 76.9280\n/here\n"
        ":supervisor\n/attendance\n",
    )
    assert "<📍 Share my location>" in transcript  # the request-location keyboard
    assert "about 1.1 km away" in transcript
    assert "✅ Welcome! You are checked in: Lecture: general osteology" in transcript
    assert "You have already checked in at 09:05" in transcript  # a second try changes nothing
    roll = transcript.split("/attendance\n")[-1]
    assert "✅ present · Aziza Karimova (09:05, 📍 within 100 m)" in roll
