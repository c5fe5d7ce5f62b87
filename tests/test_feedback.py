"""Feedback after sessions and the end-of-programme survey, end to end: prompts exactly once
per session and member (across a restart), the opt-out in /reminders, the anonymous /feedback,
the survey import, delivery, answers and XLSX export, permissions and privacy."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from bot.callbacks import CallbackData
from bot.services.feedback import FEEDBACK_ACTION
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness, stop_bot
from tests.test_clock import almaty
from tests.test_questions import STUDENT, STUDENT_RU, STUDENT_UZ, SUPERVISOR, desk, press_quietly
from tests.test_staff import REFUSAL, actors

SURVEY = (
    "cohort,question_id,type,text_en,text_ru,text_uz\n"
    "TPI-2026,overall,rating,How was the programme overall?,Как прошла программа в целом?,"
    "Dastur umuman qanday oʻtdi?\n"
    "TPI-2026,again,yes-no,Would you come again?,Приехали бы снова?,Yana kelarmidingiz?\n"
    "TPI-2026,better,text,What should we improve?,Что улучшить?,Nimani yaxshilash kerak?\n"
)


def prompts(harness: BotHarness, start: int) -> list[tuple[int, str]]:
    return [
        (m.chat_id, m.plain_text or "")
        for m in harness.emulator.sent[start:]
        if m.method == "sendMessage" and (m.text or "").startswith("📝")
    ]


async def settle(harness: BotHarness) -> None:
    from tests.test_questions import settle as settle_all

    await settle_all(harness)


async def test_prompts_once_per_session_and_member_and_an_anonymous_report(
    bot_factory: BotFactory, clock
) -> None:
    first = await bot_factory()
    chats = await desk(first)
    emu = first.emulator
    # The Uzbek student turns the prompts off in /reminders (twice: the same, no error).
    settings = await chats[STUDENT_UZ].send("/reminders")
    off = next(d for _, d in settings.buttons() if d.endswith(":prompts_off"))
    await chats[STUDENT_UZ].press(settings, off)
    await press_quietly(first, chats[STUDENT_UZ], settings, off)
    assert await first.storage.feedback.prompts_off([STUDENT_UZ]) == {STUDENT_UZ}
    # The 08:00-09:00 session ends: one prompt each to the students who want them.
    start = len(emu.sent)
    await first.services.scheduler.retime(almaty(16, 9, 1))
    await settle(first)
    got = prompts(first, start)
    assert sorted(uid for uid, _ in got) == [STUDENT, STUDENT_RU]
    english = next(text for uid, text in got if uid == STUDENT)
    assert "How was Introductory session" in english and "never names" in english
    prompt = next(m for m in emu.sent[start:] if m.chat_id == STUDENT and m.text.startswith("📝"))
    four = prompt.buttons()[3][1]
    rated = await chats[STUDENT].press(prompt, four)
    assert "Your rating: 4 of 5" in rated.plain_text
    assert await press_quietly(first, chats[STUDENT], prompt, four)  # same rating: no change
    comment = next(d for label, d in rated.buttons() if "comment" in label)
    asked = await chats[STUDENT].press(rated, comment)
    assert "next message" in asked.text
    saved = await chats[STUDENT].send("Too cold in the hall")
    assert "without your name" in saved.text
    ru_prompt = next(
        m for m in emu.sent[start:] if m.chat_id == STUDENT_RU and m.text.startswith("📝")
    )
    await chats[STUDENT_RU].press(ru_prompt, ru_prompt.buttons()[1][1])
    # A reply to the prompt is its comment.
    start_ru = len(emu.sent)
    await emu.send_text(STUDENT_RU, "Холодно, но интересно", reply_to=ru_prompt.message_id)
    await emu.wait_for_message(STUDENT_RU, after=start_ru)
    # Forged ratings: a session not over yet, a rating out of range, another's button.
    sessions = await first.storage.sessions.for_cohort(1)
    later = next(s for s in sessions if s.starts_at > almaty(16, 12))
    for arg in (f"{later.id}:5", f"{sessions[3].id}:9", "x:1", f"{sessions[3].id}:c"):
        forged = CallbackData(FEEDBACK_ACTION, STUDENT_UZ, arg).encode()
        answer = await press_quietly(first, chats[STUDENT_UZ], settings, forged)
        assert answer, arg
    assert await first.storage.feedback.rating_of(later.id, STUDENT_UZ) is None
    await stop_bot(first.app)

    # A restart within the session's reach sends nothing again; the next session's end does.
    clock.set(almaty(16, 9, 30))
    start = len(emu.sent)
    second = await bot_factory()
    await second.services.scheduler.retime(almaty(16, 10, 50))
    await settle(second)
    titles = [text.split("\n")[0] for _, text in prompts(second, start)]
    assert len(titles) == 2 and all("Introductory" not in t for t in titles)
    assert await second.storage.deliveries.counts("feedback") == {"sent": 4}

    report = await chats[SUPERVISOR].send("/feedback")
    text = report.plain_text
    assert "Introductory session: safety rules in the anatomy hall: ★ 3.0 (2)" in text
    assert "Department of Normal Anatomy: ★ 3.0 (2)" in text
    assert "«Too cold in the hall»" in text and "«Холодно, но интересно»" in text
    for name in ("Aziz", "Dilnoza", "Jasur", "User"):
        assert name not in text  # anonymous by design
    assert REFUSAL in (await chats[STUDENT].send("/feedback")).text


async def test_survey_import_delivery_answers_and_export(bot_factory: BotFactory, clock) -> None:
    first = await bot_factory()
    chats = await desk(first)
    emu = first.emulator
    coordinator = first.user(COORDINATOR_ID, "en", name="Coordinator")
    start = len(emu.sent)
    bad = SURVEY.replace("yes-no", "maybe") + "TPI-2026,overall,text,Again?,,\n"
    await emu.send_document(COORDINATOR_ID, "survey.csv", bad.encode(), caption="/import")
    problems = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert "maybe" in problems.plain_text and "appears twice" in problems.plain_text
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "survey.csv", SURVEY.encode(), caption="/import")
    preview = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert "Survey of TPI-2026: 3 questions" in preview.plain_text
    await coordinator.press(preview, preview.buttons()[0][1])
    assert len(await first.storage.feedback.survey(1)) == 3
    await stop_bot(first.app)

    # The departure day, 10:00 in Almaty: every student gets the first question, once.
    clock.set(almaty(30, 9, 0).replace(month=10, day=3))
    start = len(emu.sent)
    second = await bot_factory()
    await second.services.scheduler.retime(almaty(30, 10, 1).replace(month=10, day=3))
    await settle(second)
    firsts = [m for m in emu.sent[start:] if (m.text or "").startswith("📋")]
    assert sorted(m.chat_id for m in firsts) == [STUDENT, STUDENT_RU, STUDENT_UZ]
    mine = next(m for m in firsts if m.chat_id == STUDENT)
    assert "3 short questions" in mine.plain_text and "anonymous" in mine.plain_text
    await stop_bot(second.app)
    third = await bot_factory()
    await third.services.scheduler.retime(almaty(30, 12).replace(month=10, day=3))
    await settle(third)
    assert len([m for m in emu.sent[start:] if (m.text or "").startswith("📋")]) == 3

    student = chats[STUDENT]
    five = mine.buttons()[4][1]
    start = len(emu.sent)
    await student.press(mine, five)
    yes_no = await emu.wait_for_message(
        STUDENT, after=start, predicate=lambda m: m.method == "sendMessage"
    )
    assert "2/3. Would you come again?" in yes_no.plain_text
    assert "already" in await press_quietly(third, student, mine, five)  # answered: no change
    start = len(emu.sent)
    await student.press(yes_no, yes_no.buttons()[0][1])
    free = await emu.wait_for_message(
        STUDENT, after=start, predicate=lambda m: "3/3" in (m.text or "")
    )
    prompt = await student.press(free, free.buttons()[0][1])
    assert "next message" in prompt.text
    thanks = await student.send("=More time in the anatomy hall")
    assert "last question" in thanks.text
    ru = chats[STUDENT_RU]
    ru_first = next(m for m in firsts if m.chat_id == STUDENT_RU)
    await ru.press(ru_first, ru_first.buttons()[1][1])

    export = await coordinator.send("/survey TPI-2026")
    assert export.method == "sendDocument" and "2 respondents" in export.text
    book = load_workbook(io.BytesIO(export.document))
    rows = [[c.value for c in row] for row in book["answers"].iter_rows()]
    assert rows[0] == ["respondent", "overall", "again", "better"]
    assert rows[1] == ["1", "5", "yes", "=More time in the anatomy hall"]
    assert book["answers"]["D2"].data_type == "s"  # text, never a formula
    assert rows[2][:2] == ["2", "2"]
    assert all("Aziz" not in str(v) for row in rows for v in row)
    assert REFUSAL in (await chats[SUPERVISOR].send("/survey TPI-2026")).text


async def test_permission_matrix_and_privacy(harness: BotHarness) -> None:
    chats = await actors(harness)
    matrix = {
        "/feedback": {"supervisor_own", "supervisor_other"},
        "/feedback TPI-2026": {"supervisor_own", "coordinator"},
        "/survey TPI-2026": {"coordinator"},
    }
    failures = []
    for command, allowed_to in matrix.items():
        for actor, chat in chats.items():
            text = (await chat.send(command)).text or ""
            refused = REFUSAL in text or "not joined" in text or "Name the group" in text
            if refused == (actor in allowed_to):
                failures.append(f"{actor} {command!r}: {text[:80]!r}")
    assert not failures, "\n".join(failures)
    # Ratings, opt-outs and survey answers go with /forget_me and with purge.
    storage = harness.storage
    uid = chats["student_own"].user_id
    now = harness.clock.now()
    sessions = await storage.sessions.for_cohort(1)
    await storage.feedback.rate(sessions[0].id, uid, 5, now)
    await storage.feedback.rate(sessions[0].id, chats["supervisor_own"].user_id, 3, now)
    await storage.feedback.set_prompts(uid, False)
    await storage.feedback.answer(1, "overall", uid, "5", now)
    await storage.operations.forget_user(uid)
    db = storage.db
    for table in ("feedback", "feedback_optout", "survey_answers"):
        rows = await db.fetchall(f"SELECT * FROM {table} WHERE user_id = {uid}")
        assert not rows, table
    await storage.operations.purge_cohort(1, now)
    assert not await db.fetchall("SELECT * FROM feedback")


async def test_with_check_ins_only_those_who_were_there_are_asked(harness: BotHarness) -> None:
    """A group that checks in: the prompt goes to the students who were there (present or
    late), not to the one reported ill nor to the one who never came."""
    from bot.storage.attendance import AttendanceRecord, Source, Status

    await desk(harness)
    session = next(
        s for s in await harness.storage.sessions.for_cohort(1) if s.starts_at == almaty(16, 8)
    )
    for uid, status in ((STUDENT, Status.PRESENT), (STUDENT_RU, Status.EXCUSED)):
        await harness.storage.attendance.save(
            AttendanceRecord(session.id, uid, status, Source.CHECKIN, almaty(16, 8, 5))
        )
    start = len(harness.emulator.sent)
    await harness.services.scheduler.retime(almaty(16, 9, 1))
    await settle(harness)
    assert [uid for uid, _ in prompts(harness, start)] == [STUDENT]
