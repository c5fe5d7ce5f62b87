"""The arrival checklist (issue 12) end to end: import, /tasks for students and staff, proofs,
reminders and the overdue list on the timed queue, export, personal data, permissions."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import load_workbook

from bot.clock import FrozenClock
from bot.emulator import SentMessage
from bot.services.export import export_cohort
from bot.services.importer import Importer
from bot.services.tasks import due_date
from bot.storage import Database, Storage
from bot.storage.models import Cohort
from tests.conftest import (
    COORDINATOR_ID,
    DATA,
    BotFactory,
    BotHarness,
    Chat,
    seed_demo,
    stop_bot,
)
from tests.test_clock import almaty, join_three
from tests.test_operations import run_cli
from tests.test_playground import play
from tests.test_staff import REFUSAL, actors

# At the harness's start (Wednesday 16 September 2026, 08:00 in Almaty; arrival was the 15th):
# PHOTO is overdue, PASS is due today (16 hours left), DORM tomorrow and needs a proof.
TASKS = (
    "cohort,id,title_en,title_ru,title_uz,due,details_en,link,needs_proof\n"
    "TPI-2026,PASS,Hand in your passport,Сдать паспорт,Pasportni topshiring,arrival+1d,"
    "Room 112,https://example.edu/intl,no\n"
    "TPI-2026,DORM,Dormitory check-in,Заселение в общежитие,Yotoqxonaga joylashish,arrival+2d,"
    ",,yes\n"
    "TPI-2026,PHOTO,Student card photo,Фото для билета,Guvohnoma uchun surat,2026-09-15,,,no\n"
)
SUPERVISOR = 810
STUDENTS = (801, 802, 803)  # en, ru, uz


async def import_text(storage: Storage, *files: tuple[str, str]) -> list[str]:
    importer = Importer(storage)
    plan = await importer.plan_files([(name, text.encode()) for name, text in files])
    if plan.ok:
        await importer.apply(plan)
    return [p.render() for p in plan.problems]


async def cohort_of(harness: BotHarness, code: str = "TPI-2026") -> Cohort:
    cohort = await harness.storage.cohorts.by_code(code)
    assert cohort is not None
    return cohort


async def task_id(harness: BotHarness, external: str) -> int:
    task = await harness.storage.tasks.by_external((await cohort_of(harness)).id, external)
    assert task is not None
    return task.id


async def setup(harness: BotHarness) -> Chat:
    """The tasks above, three students (en, ru, uz) and their supervisor."""
    assert await import_text(harness.storage, ("tasks.csv", TASKS)) == []
    await join_three(harness)
    supervisor = harness.user(SUPERVISOR, "en", name="Nodir")
    await supervisor.join(await harness.invite_code(role="supervisor"))
    return supervisor


def data_of(message: SentMessage, start: str) -> str:
    return next(d for label, d in message.buttons() if label.startswith(start))


async def pressed_answer(harness: BotHarness, chat: Chat, message: SentMessage, data: str) -> str:
    emu = harness.emulator
    answers = len(emu.callback_answers)
    await emu.press_button(chat.user_id, message.message_id, data)
    await emu.wait_for_request("answerCallbackQuery", emu.request_count("answerCallbackQuery") + 1)
    await harness.idle()
    return str(harness.emulator.callback_answers[answers:][-1].get("text", ""))


# -- the file ----------------------------------------------------------------------------------


async def test_bad_rows_are_named_by_line_and_nothing_is_imported(demo_storage: Storage) -> None:
    bad = (
        "cohort,id,title_en,title_ru,title_uz,due,link,needs_proof\n"
        "TPI-2026,A,One,,,arrival+-3d,,no\n"  # 2
        "TPI-2026,B,Two,,,arrival+999d,,no\n"  # 3: far outside the stay
        "TPI-2026,C,Three,,,2027-01-10,,no\n"  # 4: outside the programme
        "NOPE,D,Four,,,arrival+1d,,no\n"  # 5
        "TPI-2026,E,Five,,,arrival+1d,,no\n"  # 6: fine
        "TPI-2026,e,Six,,,arrival+2d,,no\n"  # 7: the same id
        "TPI-2026,F,Seven,,,arrival+1d,javascript:alert(1),no\n"  # 8
        "TPI-2026,G,Eight,,,departure-2d,,maybe\n"  # 9
        "TPI-2026,H,,,,arrival,,\n"  # 10: no title
    )
    problems = await import_text(demo_storage, ("tasks.csv", bad))
    lines = [int(p.split("line ")[1].split(":")[0]) for p in problems]
    assert lines == [2, 3, 4, 5, 7, 8, 9, 10], problems
    assert "arrival+-3d" in problems[0] and "2029-06-10" in problems[1]
    assert "outside the group's stay" in problems[2] and "unknown cohort" in problems[3]
    assert "appears twice" in problems[4] and "web address" in problems[5]
    assert "needs_proof" in problems[6] and "title is empty" in problems[7]
    assert await demo_storage.db.fetchall("SELECT * FROM tasks") == []


async def test_relative_due_dates_follow_each_cohorts_arrival(demo_storage: Storage) -> None:
    other = (
        "code,name,timezone,arrives,departs\nOTHER-1,Other,Europe/Moscow,2026-09-01,2026-09-30\n"
    )
    tasks = (
        "cohort,id,title_en,title_ru,title_uz,due\n"
        "TPI-2026,REG,Registration,Регистрация,Roʻyxatdan oʻtish,arrival+3d\n"
        "OTHER-1,REG,Registration,Регистрация,Roʻyxatdan oʻtish,arrival+3d\n"
        "OTHER-1,BYE,Farewell,Прощание,Xayrlashuv,departure-2d\n"
    )
    assert await import_text(demo_storage, ("c.csv", other), ("t.csv", tasks)) == []

    async def dues(code: str) -> dict[str, date | None]:
        cohort = await demo_storage.cohorts.by_code(code)
        assert cohort is not None
        return {
            t.external_id: due_date(t, cohort)
            for t in await demo_storage.tasks.for_cohort(cohort.id)
        }

    assert await dues("TPI-2026") == {"REG": date(2026, 9, 18)}
    assert await dues("OTHER-1") == {"REG": date(2026, 9, 4), "BYE": date(2026, 9, 28)}
    # The cohort's arrival moves: its checklist moves with it; the same file changes nothing.
    moved = other.replace("2026-09-01", "2026-09-05")
    assert await import_text(demo_storage, ("c.csv", moved)) == []
    assert (await dues("OTHER-1"))["REG"] == date(2026, 9, 8)
    plan = await Importer(demo_storage).plan_files([("t.csv", tasks.encode())])
    assert plan.ok and plan.empty
    # A task left out of the next file leaves the checklist (kept, with its progress).
    assert await import_text(demo_storage, ("t.csv", tasks.rsplit("OTHER-1,BYE", 1)[0])) == []
    assert "BYE" not in await dues("OTHER-1")


# -- students ----------------------------------------------------------------------------------


async def test_checklist_in_three_languages_done_twice_and_foreign_presses(
    harness: BotHarness,
) -> None:
    await setup(harness)
    en, ru, uz = (Chat(harness, uid) for uid in STUDENTS)
    checklist = await en.send("/tasks")
    text = checklist.text or ""
    assert "Your arrival checklist" in text and "0 of 3 done" in text
    assert "⏳ <b>Hand in your passport</b> — due Wednesday, 16 September · 16 hours left" in text
    assert (
        "⏳ <b>Dormitory check-in</b> — due Thursday, 17 September · 1 day 16 hours left" in text
    )
    assert "❗ <b>Student card photo</b> — was due Tuesday, 15 September" in text
    assert "Room 112" in text and "https://example.edu/intl" in text
    ru_text = (await ru.send("/tasks")).text or ""
    assert "Сдать паспорт" in ru_text and "16 часов" in ru_text
    uz_text = (await uz.send("/tasks")).text or ""
    assert "Pasportni topshiring" in uz_text and "16 soat" in uz_text

    done = data_of(checklist, "✅ Hand in")
    assert await pressed_answer(harness, en, checklist, done) == "✅ Done!"
    edited = harness.emulator.sent[-1]
    assert edited.method == "editMessageText" and "1 of 3 done" in (edited.text or "")
    assert "<s>Hand in your passport</s>" in (edited.text or "")
    # Pressed twice: no second effect, no error.
    rows = await harness.storage.db.fetchall("SELECT * FROM task_progress")
    assert await pressed_answer(harness, en, checklist, done) == "It was already done."
    assert len(await harness.storage.db.fetchall("SELECT * FROM task_progress")) == len(rows) == 1

    # Another student's button, a forged Done for a task of a group they are not in, Done on a
    # task that needs a proof, a proof for a task that needs none: refused, nothing written.
    assert "не для вас" in await pressed_answer(harness, ru, checklist, done)
    dorm, pass_ = await task_id(harness, "DORM"), await task_id(harness, "PASS")
    for data, answer in (
        (f"v1:tsk:801:d:{dorm}:l", "needs a proof"),
        (f"v1:tsk:801:p:{pass_}", "needs no proof"),
        ("v1:tsk:801:d:99999", "not on your checklist"),
        ("v1:tsk:801:d:x", "out of date"),
    ):
        assert answer in await pressed_answer(harness, en, checklist, data), data
    assert len(await harness.storage.db.fetchall("SELECT * FROM task_progress")) == 1
    assert await harness.storage.db.fetchall("SELECT * FROM task_waits") == []


async def test_proof_round_trip_reject_with_reason_then_accept(harness: BotHarness) -> None:
    await setup(harness)
    emu = harness.emulator
    ru = Chat(harness, 802)
    checklist = await ru.send("/tasks")
    ask = await ru.press(checklist, data_of(checklist, "📎"))
    assert "Заселение в общежитие" in (ask.text or "")
    start = len(emu.sent)
    await emu.send_photo(802, b"\xff\xd8 a photo of the form")
    copy, answer = await emu.wait_for_messages(2, after=start)
    assert copy.method == "copyMessage" and copy.chat_id == SUPERVISOR
    assert copy.document == b"\xff\xd8 a photo of the form"  # copied, not re-uploaded
    assert "Proof from" in (copy.text or "") and "Dormitory check-in" in (copy.text or "")
    assert answer.chat_id == 802 and "Заселение в общежитие" in (answer.text or "")
    again = (await ru.send("/tasks")).text or ""
    assert "📨" in again
    supervisor = Chat(harness, SUPERVISOR)
    # Reject: the reasons, then one of them reaches the student in Russian.
    await pressed_answer(harness, supervisor, copy, data_of(copy, "↩️"))
    reasons = emu.sent[-1]
    assert reasons.method == "editMessageReplyMarkup"
    start = len(emu.sent)
    reason = next(d for label, d in reasons.buttons() if label.startswith("The photo is blurred"))
    assert "student is told" in await pressed_answer(harness, supervisor, copy, reason)
    told = await emu.wait_for_message(802, after=start)
    assert "Заселение в общежитие" in (told.text or "") and "📎" in told.buttons()[0][0]
    # Decided: a second press changes nothing and tells nobody again.
    assert "already been decided" in await pressed_answer(harness, supervisor, copy, reason)
    assert [m for m in emu.sent[start:] if m.chat_id == 802] == [told]
    # A new proof, as a document this time, accepted.
    await ru.press(told, data_of(told, "📎"))
    start = len(emu.sent)
    await emu.send_document(802, "form.pdf", b"%PDF signed form")
    copy2, _ = await emu.wait_for_messages(2, after=start)
    assert copy2.method == "copyMessage" and copy2.filename == "form.pdf"
    # The first copy's Accept does not accept the new proof, which nobody has looked at yet.
    old_accept = data_of(copy, "✅")
    assert "already been decided" in await pressed_answer(harness, supervisor, copy, old_accept)
    row = await harness.storage.tasks.progress(await task_id(harness, "DORM"), 802)
    assert row is not None and row.status == "proof_sent"
    start = len(emu.sent)
    await pressed_answer(harness, supervisor, copy2, data_of(copy2, "✅"))
    accepted = await emu.wait_for_message(802, after=start)
    assert (accepted.text or "").startswith("✅") and "Заселение" in (accepted.text or "")
    assert "already been decided" in await pressed_answer(
        harness, supervisor, copy2, data_of(copy2, "✅")
    )
    assert len([m for m in emu.sent[start:] if m.chat_id == 802]) == 1
    row = await harness.storage.tasks.progress(await task_id(harness, "DORM"), 802)
    assert row is not None and row.status == "done" and row.marked_by == SUPERVISOR
    # A photo nobody asked for is left alone: no answer, nothing copied.
    start = len(emu.sent)
    await emu.send_photo(802, b"\xff\xd8 a holiday picture")
    await harness.idle()
    assert emu.sent[start:] == []
    actions = [r["action"] for r in await harness.storage.db.fetchall("SELECT action FROM audit")]
    assert "task_reject" in actions and "task_accept" in actions


# -- timed messages -----------------------------------------------------------------------------


def task_reminders(harness: BotHarness, start: int) -> list[tuple[int, str]]:
    return [
        (m.chat_id, m.text or "")
        for m in harness.emulator.sent[start:]
        if (m.text or "").startswith("⏳ ")
    ]


async def test_reminders_at_ten_exactly_once_across_restarts(
    bot_factory: BotFactory, clock: FrozenClock
) -> None:
    first = await bot_factory()
    await setup(first)
    await Chat(first, 803).send("/tasks")  # the Uzbek student reads it; nothing is sent yet
    # The 10:00 item is on the queue at 10:00 Almaty, i.e. 05:00 UTC.
    cohort = await cohort_of(first)
    due = first.services.scheduler.due_of(f"task_due:{cohort.id}:2026-09-16")
    assert due == datetime(2026, 9, 16, 5, 0, tzinfo=UTC)
    await stop_bot(first.app)
    # Down from 08:00 to 10:30: at start the reminders of 10:00 go out, once.
    clock.set(almaty(16, 10, 30))
    start = len(first.emulator.sent)
    second = await bot_factory()
    await second.emulator.wait_for_messages(
        6, after=start, predicate=lambda m: (m.text or "").startswith("⏳ ")
    )
    await second.idle()
    got = task_reminders(second, start)
    # Each student: PASS due today and DORM due tomorrow; PHOTO is overdue, not reminded.
    assert sorted(chat for chat, _ in got) == [801, 801, 802, 802, 803, 803]
    texts = dict((c, t) for c, t in got if "passport" in t.lower() or "паспорт" in t.lower()
                 or "pasport" in t.lower())  # fmt: skip
    assert "Due today" in texts[801] and "13 hours 30 minutes" not in texts[801]
    assert not any("SUPERVISOR" in t for _, t in got)
    assert SUPERVISOR not in [c for c, _ in got]
    await stop_bot(second.app)
    clock.set(almaty(16, 11))
    again = len(second.emulator.sent)
    third = await bot_factory()
    await third.services.scheduler.retime(almaty(16, 12))
    await third.idle()
    assert task_reminders(third, again) == []  # nothing twice
    # Thursday 10:00: DORM is due today for all three; PASS, done by 801 meanwhile, is
    # overdue for the others (no reminder after the deadline).
    before = len(third.emulator.sent)
    await third.services.scheduler.retime(almaty(17, 10, 1))
    await third.idle()
    thursday = task_reminders(third, before)
    assert sorted(c for c, _ in thursday) == [801, 802, 803]
    assert all("Dormitory" in t or "общежитие" in t or "Yotoqxona" in t for _, t in thursday)


async def test_overdue_list_on_the_morning_after_and_the_evening_plan(
    harness: BotHarness,
) -> None:
    await setup(harness)
    emu = harness.emulator
    en = Chat(harness, 801)
    listing = await en.send("/tasks")
    await en.press(listing, data_of(listing, "✅ Hand in"))  # 801 hands in the passport
    # 20:00: the evening plan names tomorrow's open tasks, to each student their own.
    start = len(emu.sent)
    await harness.services.scheduler.retime(almaty(16, 20, 1))
    await harness.idle()
    plans = {m.chat_id: m.text or "" for m in emu.sent[start:] if (m.text or "").startswith("🌙")}
    assert "Due tomorrow (1 task):" in plans[801] and "Dormitory check-in" in plans[801]
    assert "Заселение в общежитие" in plans[802]
    assert "Due tomorrow" not in plans.get(SUPERVISOR, "")
    # Thursday 09:00: the supervisor's one list of who missed Wednesday's PASS (tappable).
    start = len(emu.sent)
    await harness.services.scheduler.retime(almaty(17, 9, 5))
    await harness.idle()
    lists = [m for m in emu.sent[start:] if (m.text or "").startswith("❗")]
    assert [m.chat_id for m in lists] == [SUPERVISOR]
    text = lists[0].text or ""
    assert "Hand in your passport" in text and "tg://user?id=802" in text
    assert "tg://user?id=803" in text and "tg://user?id=801" not in text
    assert "Student card photo" not in text  # due on Tuesday: Wednesday's list
    # Exactly once: the item again (a restart re-plans it) sends nothing.
    await harness.services.tasks.send_overdue_list(
        (await cohort_of(harness)).id, date(2026, 9, 17)
    )
    await harness.idle()
    assert len([m for m in emu.sent[start:] if (m.text or "").startswith("❗")]) == 1


async def test_due_day_ends_at_midnight_in_almaty_not_in_utc(harness: BotHarness) -> None:
    await setup(harness)
    en = Chat(harness, 801)
    # 23:30 in Almaty on the 16th (18:30 UTC): PASS is still open, 30 minutes left.
    harness.clock.set(almaty(16, 23, 30))
    text = (await en.send("/tasks")).text or ""
    assert "due Wednesday, 16 September · 30 minutes left" in text
    # 00:30 in Almaty on the 17th, still the 16th in UTC (19:30): overdue.
    harness.clock.set(datetime(2026, 9, 16, 19, 30, tzinfo=UTC))
    text = (await en.send("/tasks")).text or ""
    assert "❗ <b>Hand in your passport</b> — was due Wednesday, 16 September" in text


# -- staff ----------------------------------------------------------------------------------------


async def test_staff_overview_detail_and_marking_done_by_hand(harness: BotHarness) -> None:
    supervisor = await setup(harness)
    overview = (await supervisor.send("/tasks")).text or ""
    assert "Checklist of" in overview and "3 students" in overview
    assert "0 of 3 done" in overview
    assert "Overdue:" in overview and 'href="tg://user?id=801"' in overview  # PHOTO
    detail = await supervisor.send("/tasks PHOTO")
    assert "Student card photo" in (detail.text or "") and len(detail.buttons()) == 3
    mark = next(d for label, d in detail.buttons() if d.endswith(":802"))
    start = len(harness.emulator.sent)
    assert await pressed_answer(harness, supervisor, detail, mark) == "Marked as done."
    told = await harness.emulator.wait_for_message(802, after=start)
    assert "Фото для билета" in (told.text or "")
    edited = harness.emulator.sent[-1]
    assert "1 of 3 done" in (edited.text or "") and len(edited.buttons()) == 2
    assert await pressed_answer(harness, supervisor, detail, mark) == "It was already done."
    assert len([m for m in harness.emulator.sent[start:] if m.chat_id == 802]) == 1
    audit = await harness.storage.db.fetchall("SELECT * FROM audit WHERE action = 'task_done'")
    assert len(audit) == 1 and audit[0]["actor_id"] == SUPERVISOR
    # The coordinator names the group; an unknown task id is said plainly.
    coordinator = harness.user(COORDINATOR_ID, "en")
    log = (await coordinator.send("/audit TPI-2026")).text or ""
    assert "Test User: a task ticked by hand" in log and "PHOTO · Student card photo" in log
    assert "1 of 3 done" in ((await coordinator.send("/tasks TPI-2026")).text or "")
    unknown = (await coordinator.send("/tasks TPI-2026 NOPE<b>")).text or ""
    assert "There is no task “NOPE&lt;b&gt;”" in unknown


async def test_permission_matrix(harness: BotHarness) -> None:
    assert await import_text(harness.storage, ("tasks.csv", TASKS)) == []
    chats = await actors(harness)
    photo = await task_id(harness, "PHOTO")
    matrix = {
        "/tasks TPI-2026": {"coordinator", "supervisor_own"},
        "/tasks TPI-2026 PHOTO": {"coordinator", "supervisor_own"},
    }
    failures = []
    for command, allowed_to in matrix.items():
        for actor, chat in chats.items():
            text = (await chat.send(command)).text or ""
            refused = REFUSAL in text or "not joined" in text or "no task" in text
            if refused == (actor in allowed_to):
                failures.append(f"{actor} {command!r}: {text[:80]!r}")
    # /tasks alone: a student's own checklist, a supervisor's group, a coordinator is asked
    # for the group, a stranger how to join.
    expected = {
        "student_own": "Your arrival checklist",
        "student_other": "no checklist yet",
        "supervisor_own": "Checklist of",
        "supervisor_other": "Checklist of",
        "coordinator": "Name the group",
        "stranger": "not joined",
    }
    for actor, chat in chats.items():
        text = (await chat.send("/tasks")).text or ""
        if expected[actor] not in text:
            failures.append(f"{actor} '/tasks': {text[:80]!r}")
    # Staff buttons pressed by someone without the right: refused, nothing written.
    for actor in ("student_own", "supervisor_other"):
        chat = chats[actor]
        message = await chat.send("/help")
        for op in ("m", "a", "x0"):
            data = f"v1:tsk:{chat.user_id}:{op}:{photo}:1101:7"
            if REFUSAL not in await pressed_answer(harness, chat, message, data):
                failures.append(f"{actor} pressed {op}")
    assert not failures, "\n".join(failures)
    assert await harness.storage.db.fetchall("SELECT * FROM task_progress") == []


# -- export, personal data, playground -----------------------------------------------------------


async def test_export_has_the_tasks_and_who_did_them_and_reimports_to_no_change(
    harness: BotHarness,
) -> None:
    await setup(harness)
    en = Chat(harness, 801)
    listing = await en.send("/tasks")
    await en.press(listing, data_of(listing, "✅ Hand in"))
    cohort = await cohort_of(harness)
    data = await export_cohort(harness.storage, cohort, harness.clock.now())
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames[-2:] == ["tasks", "task progress"]
    tasks = [[c.value for c in row] for row in book["tasks"].iter_rows()]
    assert tasks[1][:6] == ["TPI-2026", "PASS", "Hand in your passport", "Сдать паспорт",
                            "Pasportni topshiring", "arrival+1d"]  # fmt: skip
    report = {row[1].value: [c.value for c in row] for row in book["task progress"].iter_rows()}
    assert report["telegram_id"][2:] == ["PASS", "DORM", "PHOTO"]
    assert report["801"][2:] == ["2026-09-16", None, "overdue"]
    assert report["802"][2:] == [None, None, "overdue"]
    assert str(SUPERVISOR) not in report
    plan = await Importer(harness.storage).plan_files([("TPI-2026.xlsx", data)])
    assert plan.ok and plan.empty, [p.render() for p in plan.problems]


async def test_forget_me_and_purge_take_the_progress_along(harness: BotHarness) -> None:
    await setup(harness)
    now = harness.clock.now()
    pass_, dorm = await task_id(harness, "PASS"), await task_id(harness, "DORM")
    for uid in STUDENTS:
        await harness.storage.tasks.mark_done(pass_, uid, now)
    await harness.storage.tasks.await_proof(801, dorm, now)
    # Each write says whether it changed something, on a fresh row and on an existing one.
    tasks = harness.storage.tasks
    assert await tasks.proof_sent(dorm, 802, 41, now) and await tasks.proof_sent(
        dorm, 802, 42, now
    )
    assert not await tasks.decide(dorm, 802, 41, True, SUPERVISOR, "", now)  # an older proof
    assert await tasks.decide(dorm, 802, 42, False, SUPERVISOR, "why", now)
    assert await tasks.mark_done(dorm, 802, now, SUPERVISOR)
    assert not await tasks.mark_done(dorm, 802, now) and not await tasks.proof_sent(
        dorm, 802, 43, now
    )
    await harness.storage.operations.forget_user(801)
    rows = await harness.storage.db.fetchall("SELECT user_id FROM task_progress ORDER BY user_id")
    assert [r[0] for r in rows] == [802, 802, 803]
    await harness.storage.operations.forget_user(SUPERVISOR)
    marked = await harness.storage.db.fetchall("SELECT marked_by FROM task_progress")
    assert {r[0] for r in marked} == {None}
    assert await harness.storage.db.fetchall("SELECT * FROM task_waits") == []
    await harness.storage.operations.purge_cohort((await cohort_of(harness)).id, now)
    assert await harness.storage.db.fetchall("SELECT * FROM task_progress") == []
    assert len(await harness.storage.tasks.for_cohort((await cohort_of(harness)).id)) == 3


async def test_demo_checklist_imports_cleanly_in_three_languages(demo_storage: Storage) -> None:
    content = (DATA / "tasks.csv").read_text(encoding="utf-8")
    assert await import_text(demo_storage, ("tasks.csv", content)) == []
    cohort = await demo_storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    tasks = await demo_storage.tasks.for_cohort(cohort.id)
    assert len(tasks) >= 5
    for t in tasks:
        assert t.title.en and t.title.ru and t.title.uz and t.details.uz
        assert "'" not in t.title.uz + t.details.uz  # oʻ and gʻ with U+02BB, not '
        assert not t.link or t.link.startswith("https://example.")
        assert cohort.arrives <= (due_date(t, cohort) or date.min) <= cohort.departs
    assert any(t.needs_proof for t in tasks)


async def test_playground_shows_the_checklist_and_ticking_a_task(tmp_path: Path) -> None:
    transcript = await play(tmp_path, "/tasks\n:1\n", start=almaty(16, 8))
    assert "Your arrival checklist" in transcript and "0 of 6 done" in transcript
    assert "Hand your passport to the international office" in transcript
    assert "(pop-up) ✅ Done!" in transcript and "1 of 6 done" in transcript
    assert "<s>" not in transcript  # struck through as the terminal can, no raw tags


async def test_a_long_checklist_stays_one_message_that_a_press_can_edit(
    harness: BotHarness,
) -> None:
    rows = "".join(
        f"TPI-2026,T{i},Task {i},,,arrival+{i}d,{'Долгое описание. ' * 58}\n" for i in range(8)
    )
    text = "cohort,id,title_en,title_ru,title_uz,due,details_ru\n" + rows
    assert await import_text(harness.storage, ("tasks.csv", text)) == []
    ru = harness.user(802, "ru")
    await ru.join(await harness.invite_code())
    start = len(harness.emulator.sent)
    checklist = await ru.send("/tasks")
    await harness.idle()
    assert len([m for m in harness.emulator.sent[start:] if m.chat_id == 802]) == 1
    assert len(checklist.buttons()) == 8  # T0 (due on arrival) is overdue: still a button
    await pressed_answer(harness, ru, checklist, data_of(checklist, "✅ Task 3"))
    edited = harness.emulator.sent[-1]
    assert edited.method == "editMessageText" and "<s>Task 3</s>" in (edited.text or "")


async def test_command_line_export_writes_the_tasks_sheets(tmp_path: Path) -> None:
    database = tmp_path / "cli.sqlite3"
    await seed_demo(database)
    async with Database(database) as db:
        assert await import_text(Storage(db), ("tasks.csv", TASKS)) == []
    target = tmp_path / "out.xlsx"
    result = run_cli("export", "TPI-2026", str(target), database=database)
    assert result.returncode == 0 and "exported TPI-2026" in result.stdout, result.stderr
    book = load_workbook(target)
    assert "tasks" in book.sheetnames and book["tasks"].max_row == 4
    async with Database(database) as db:
        plan = await Importer(Storage(db)).plan_files([("out.xlsx", target.read_bytes())])
        assert plan.ok and plan.empty


async def test_tasks_file_sent_in_chat_is_previewed_then_confirmed(harness: BotHarness) -> None:
    await setup(harness)
    emu = harness.emulator
    coordinator = harness.user(COORDINATOR_ID, "en")
    bad = TASKS.replace("arrival+2d", "arrival+-2d")
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "tasks.csv", bad.encode(), caption="/import")
    refused = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert "1 problem" in (refused.text or "") and "line 3" in (refused.text or "")
    changed = TASKS.replace("TPI-2026,PHOTO,Student card photo", "TPI-2026,SIM,Local SIM card")
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "tasks.csv", changed.encode(), caption="/import")
    preview = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert "Checklist of TPI-2026: 1 new, 0 changed, 1 removed" in (preview.text or "")
    confirmed = await coordinator.press(preview, preview.buttons()[0][1])
    assert "Imported" in (confirmed.text or "")
    cohort = await cohort_of(harness)
    ids = [t.external_id for t in await harness.storage.tasks.for_cohort(cohort.id)]
    assert ids == ["PASS", "DORM", "SIM"]
    audit = await harness.storage.db.fetchall("SELECT * FROM audit WHERE action = 'import'")
    assert len(audit) == 1 and audit[0]["cohort_id"] == cohort.id
