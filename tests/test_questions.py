"""The question desk end to end: asking, routing, answering by reply, media both ways,
escalation exactly once across a restart, the FAQ offer, limits, privacy and permissions."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.callbacks import CallbackData
from bot.emulator import SentMessage
from bot.services.questions import QUESTION_ACTION, daytime_after, escalation_item
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness, Chat, stop_bot
from tests.test_clock import almaty
from tests.test_staff import REFUSAL, actors

ALMATY = ZoneInfo("Asia/Almaty")
SUPERVISOR, STUDENT, STUDENT_RU, STUDENT_UZ = 5100, 5201, 5202, 5203
PHOTO = b"\xff\xd8\xff\xe0 a small photo"


async def desk(harness: BotHarness, *supervisors: int) -> dict[int, Chat]:
    """Supervisors (Gafurov first) and three students in en, ru, uz."""
    chats: dict[int, Chat] = {}
    for i, uid in enumerate(supervisors or (SUPERVISOR,)):
        chats[uid] = harness.user(uid, "en", name=("Gafurov", "Karimova")[i])
        await chats[uid].join(await harness.invite_code(role="supervisor"))
    code = await harness.invite_code()
    for uid, lang, name in ((STUDENT, "en", "Aziz"), (STUDENT_RU, "ru", "Dilnoza"),
                            (STUDENT_UZ, "uz", "Jasur")):  # fmt: skip
        chats[uid] = harness.user(uid, lang, name=name)
        await chats[uid].join(code)
    return chats


def data(uid: int, arg: str) -> str:
    return CallbackData(QUESTION_ACTION, uid, arg).encode()


async def press_quietly(harness: BotHarness, chat: Chat, message: SentMessage, raw: str) -> str:
    """Presses a button whose answer may be only a callback answer; returns that answer."""
    emu = harness.emulator
    before = emu.request_count("answerCallbackQuery")
    await emu.press_button(chat.user_id, message.message_id, raw)
    await emu.wait_for_request("answerCallbackQuery", before + 1)
    await harness.idle()
    return harness.emulator.callback_answers[-1]["text"] or ""


async def settle(harness: BotHarness) -> None:
    """Every update handled and every timed item started so far finished."""
    await harness.idle()
    await asyncio.gather(*list(harness.services.scheduler._running))


def to(harness: BotHarness, uid: int, start: int) -> list[SentMessage]:
    return [m for m in harness.emulator.sent[start:] if m.chat_id == uid]


async def test_question_answered_by_reply_continued_and_solved(harness: BotHarness) -> None:
    chats = await desk(harness)
    student = chats[STUDENT]
    emu = harness.emulator
    start = len(emu.sent)
    receipt = await student.send("/ask Where is room 105? <b>urgent</b>")
    assert "#1" in receipt.text and "with the staff" in receipt.text
    header = await emu.wait_for_message(SUPERVISOR, after=start)
    assert "Question #1 from Aziz User (TPI-2026)" in header.plain_text
    assert "Where is room 105? <b>urgent</b>" in header.plain_text  # escaped, shown as typed
    assert "Nobody has taken it yet" in header.plain_text
    labels = [label for label, _ in header.buttons()]
    assert labels == ["✍️ Answer", "🙋 I'll take it", "✖️ Close"]
    assert not to(harness, STUDENT_RU, start)  # nobody else hears of it
    question = await harness.storage.questions.get(1)
    assert question is not None and question.escalate_at == question.created_at + timedelta(
        hours=2
    )
    assert escalation_item(1) in harness.services.scheduler.scheduled("escalation:")

    # The supervisor answers with a Telegram reply to the question.
    start = len(emu.sent)
    answer_text = "Second floor, <left> of the lift."
    await emu.send_text(SUPERVISOR, answer_text, reply_to=header.message_id)
    confirm = await emu.wait_for_message(
        SUPERVISOR, after=start, predicate=lambda m: m.method == "sendMessage"
    )
    assert "Sent to Aziz User (question #1)" in confirm.text
    answer = await emu.wait_for_message(STUDENT, after=start)
    assert "Answer to your question #1 from Gafurov User" in answer.plain_text
    assert "Where is room 105?" in answer.plain_text  # it quotes the question
    assert "Second floor, <left> of the lift." in answer.plain_text
    assert answer.params["reply_parameters"]["message_id"] == receipt_source(harness, STUDENT)
    assert any(e["type"] == "blockquote" for e in answer.entities)
    # Others see who answered: the header now says so.
    await harness.idle()
    edited = emu.get_message(SUPERVISOR, header.message_id)
    assert edited is not None and "Answered by Gafurov User" in edited["text"]
    assert escalation_item(1) not in harness.services.scheduler.scheduled("escalation:")

    # The student replies to the answer: the same thread goes to its owner.
    start = len(emu.sent)
    await emu.send_text(STUDENT, "And is there a lift?", reply_to=answer.message_id)
    follow = await emu.wait_for_message(SUPERVISOR, after=start)
    assert "Question #1: Aziz User (TPI-2026) adds:" in follow.plain_text
    assert "And is there a lift?" in follow.plain_text
    ok = await emu.wait_for_message(STUDENT, after=start)
    assert "Added to your question #1" in ok.text
    assert (await harness.storage.questions.get(1)).status == "open"  # waits for staff again

    # Solved, pressed twice: closed once, no error.
    solved = next(d for label, d in answer.buttons() if "Solved" in label)
    assert "solved" in (await press_quietly(harness, student, answer, solved)).lower()
    assert "already closed" in await press_quietly(harness, student, answer, solved)
    assert (await harness.storage.questions.get(1)).status == "closed"
    # Every staff header shows it; the follow-up in the staff's chat keeps its own text.
    assert "Closed." in emu.get_message(SUPERVISOR, header.message_id)["text"]
    assert "adds:" in emu.get_message(SUPERVISOR, follow.message_id)["text"]
    # An answer to a closed question is refused clearly and reaches nobody.
    start = len(emu.sent)
    await emu.send_text(SUPERVISOR, "One more thing", reply_to=follow.message_id)
    refused = await emu.wait_for_message(SUPERVISOR, after=start)
    assert "is closed" in refused.text and not to(harness, STUDENT, start)
    messages = await harness.storage.questions.messages(1)
    assert [(m.from_staff, m.text) for m in messages] == [
        (True, "Second floor, <left> of the lift."),
        (False, "And is there a lift?"),
    ]


def receipt_source(harness: BotHarness, uid: int) -> int:
    """The id of the student's /ask message (the one the answer quotes)."""
    return [
        mid for (chat, mid), m in harness.emulator._messages.items()
        if chat == uid and (m.get("text") or "").startswith("/ask")
    ][-1]  # fmt: skip


async def test_photo_both_ways_through_the_button_and_answer(harness: BotHarness) -> None:
    chats = await desk(harness)
    emu = harness.emulator
    student = chats[STUDENT_UZ]
    start = len(emu.sent)
    await emu.send_photo(STUDENT_UZ, PHOTO, caption="Bu xonaga qanday boriladi?")
    pointer = await emu.wait_for_message(STUDENT_UZ, after=start)
    send = pointer.buttons()[0][1]
    assert send.startswith("v1:q:")
    receipt = await student.press(pointer, send)
    assert "#1" in receipt.text and receipt.method == "editMessageText"
    header = await emu.wait_for_message(SUPERVISOR, after=start)
    copied = await emu.wait_for_message(
        SUPERVISOR, after=start, predicate=lambda m: m.method == "copyMessage"
    )
    assert copied.document == PHOTO and copied.params["from_chat_id"] == STUDENT_UZ
    assert copied.params["reply_parameters"]["message_id"] == header.message_id
    assert "Bu xonaga qanday boriladi?" in header.plain_text and "photo or file" in header.text
    # A second press changes nothing.
    uz = harness.services.catalogs.get("uz")
    stale = await press_quietly(harness, student, pointer, send)
    assert stale == uz("This button is out of date.")
    assert len(await harness.storage.questions.of_student(STUDENT_UZ)) == 1

    # The supervisor presses Answer and sends a photo: it reaches the student as a copy.
    answer_button = header.buttons()[0][1]
    prompt = await chats[SUPERVISOR].press(header, answer_button)
    assert "next message" in prompt.text
    start = len(emu.sent)
    await emu.send_photo(SUPERVISOR, PHOTO + b"map", caption="Xarita")
    got = await emu.wait_for_messages(2, chat_id=STUDENT_UZ, after=start)
    assert "#1" in got[0].plain_text and got[1].method == "copyMessage"
    assert got[1].document == PHOTO + b"map" and got[1].text == "Xarita"
    # The student's header is in Uzbek (translated once the catalogs are filled); the copy
    # answers it and is a reply target too: a reply to the photo continues the thread.
    start = len(emu.sent)
    await emu.send_text(STUDENT_UZ, "Rahmat!", reply_to=got[1].message_id)
    await emu.wait_for_message(SUPERVISOR, after=start)
    # A document after /ask is a question too, passed on as a copy.
    await student.send("/ask")
    start = len(emu.sent)
    await emu.send_document(STUDENT_UZ, "spravka.pdf", b"%PDF-1.4 certificate")
    doc = await emu.wait_for_message(
        SUPERVISOR, after=start, predicate=lambda m: m.method == "copyMessage"
    )
    assert doc.filename == "spravka.pdf" and doc.document == b"%PDF-1.4 certificate"


async def test_escalation_once_across_a_restart_and_not_at_night(
    bot_factory: BotFactory, clock
) -> None:
    # Two hours of daytime: 21:30 + 30 min, then from 08:00 the next day.
    assert daytime_after(almaty(16, 21, 30), 120, ALMATY) == almaty(17, 9, 30)
    assert daytime_after(almaty(16, 23, 0), 120, ALMATY) == almaty(17, 10, 0)
    assert daytime_after(almaty(16, 6, 0), 30, ALMATY) == almaty(16, 8, 30)
    first = await bot_factory()
    chats = await desk(first)
    coordinator = first.user(COORDINATOR_ID, "ru", name="Koordinator")
    clock.set(almaty(16, 21, 0))
    await chats[STUDENT_RU].send("/ask В общежитии нет горячей воды")
    question = await first.storage.questions.get(1)
    assert question is not None and question.escalate_at == almaty(17, 9, 0).astimezone(UTC)
    await stop_bot(first.app)
    # Down over night; back at 09:30: the escalation fell due at 09:00 and goes out now, once.
    clock.set(almaty(17, 9, 30))
    start = len(first.emulator.sent)
    second = await bot_factory()
    escalated = await second.emulator.wait_for_message(COORDINATOR_ID, after=start)
    assert "#1" in escalated.plain_text and "горячей" in escalated.plain_text
    await settle(second)
    assert (await second.storage.questions.get(1)).escalated_at is not None
    assert await second.storage.deliveries.counts("escalation") == {"sent": 1}
    await stop_bot(second.app)
    third = await bot_factory()
    await third.services.scheduler.retime(almaty(18, 12))
    await third.idle()
    assert len(to(third, COORDINATOR_ID, start)) == 1  # never again
    # The coordinator can take it from the escalated message (and a take stops nothing twice).
    take = next(d for _, d in escalated.buttons() if ":take:" in d)
    await coordinator.press(escalated, take)
    assert (await third.storage.questions.get(1)).owner_id == COORDINATOR_ID
    assert chats  # the students stay in the cohort


async def test_taking_ownership_forgery_undelivered_and_lists(harness: BotHarness) -> None:
    chats = await desk(harness, SUPERVISOR, SUPERVISOR + 1)
    everyone = await actors(harness)  # another cohort and its supervisor
    emu = harness.emulator
    start = len(emu.sent)
    await chats[STUDENT].send("/ask Can I skip tomorrow's lecture?")
    first = await emu.wait_for_message(SUPERVISOR, after=start)
    second = await emu.wait_for_message(SUPERVISOR + 1, after=start)
    take = data(SUPERVISOR, "take:1")
    assert "yours" in await press_quietly(harness, chats[SUPERVISOR], first, take)
    assert "yours" in await press_quietly(harness, chats[SUPERVISOR], first, take)  # again: fine
    await harness.idle()
    copy = emu.get_message(SUPERVISOR + 1, second.message_id)
    assert "Taken by Gafurov User" in copy["text"]
    labels = [b["text"] for row in copy["reply_markup"]["inline_keyboard"] for b in row]
    assert labels == ["✍️ Answer", "✖️ Close"]  # "I'll take it" is gone once someone owns it
    other = data(SUPERVISOR + 1, "take:1")
    assert "already taken" in await press_quietly(harness, chats[SUPERVISOR + 1], second, other)
    # A supervisor of another cohort forges "I'll take it" (and Close) for this question.
    foreign = everyone["supervisor_other"]
    anchor = await foreign.send("/help")
    for arg in ("take:1", "close:1", "ans:1", "faq:1", "take:999999", "take:x"):
        answer = await press_quietly(harness, foreign, anchor, data(foreign.user_id, arg))
        assert REFUSAL in answer or "out of date" in answer, arg
    forged = await press_quietly(harness, foreign, anchor, "v1:q:5100:take:1")  # not theirs
    assert "not for you" in forged
    q = await harness.storage.questions.get(1)
    assert q.owner_id == SUPERVISOR and q.status == "open"
    # An answer while the student has blocked the bot is kept and shown as undelivered.
    harness.clock.set(harness.clock.now() + timedelta(hours=2, minutes=5))
    emu.block_user(STUDENT)
    start = len(emu.sent)
    await emu.send_text(SUPERVISOR, "Yes, if you tell the dean.", reply_to=first.message_id)
    warned = await emu.wait_for_message(
        SUPERVISOR, after=start, predicate=lambda m: m.method == "sendMessage"
    )
    assert "not delivered" in warned.text
    listing = await chats[SUPERVISOR].send("/questions")
    assert "#1 · 2 h 5 min · Aziz User · owner: Gafurov User · answered" in listing.plain_text
    assert "answer undelivered" in listing.plain_text
    # The other cohort's staff see nothing of it; a student sees only their own.
    assert "Aziz" not in (await foreign.send("/questions")).plain_text
    assert REFUSAL in (await foreign.send("/questions TPI-2026")).text
    emu.unblock_user(STUDENT)
    mine = await chats[STUDENT].send("/questions")
    assert "Can I skip" in mine.plain_text and "Yes, if you tell the dean." in mine.plain_text
    assert "You have not asked" in (await chats[STUDENT_RU].send("/questions")).text or (
        "#1" not in (await chats[STUDENT_RU].send("/questions")).plain_text
    )
    coordinator = everyone["coordinator"]
    assert "#1 ·" in (await coordinator.send("/questions TPI-2026")).plain_text


async def test_faq_entry_from_an_answer_and_the_offer(harness: BotHarness) -> None:
    chats = await desk(harness)
    emu = harness.emulator
    start = len(emu.sent)
    await chats[STUDENT].send("/ask Is there hot water in the dormitory?")
    header = await emu.wait_for_message(SUPERVISOR, after=start)
    start = len(emu.sent)
    await emu.send_text(SUPERVISOR, "Yes, from 18:00 to 23:00.", reply_to=header.message_id)
    confirm = await emu.wait_for_message(
        SUPERVISOR, after=start, predicate=lambda m: "Sent to" in (m.text or "")
    )
    add = confirm.buttons()[0][1]
    added = await chats[SUPERVISOR].press(confirm, add)
    assert "Added to the FAQ as #1" in added.text
    assert "already" in await press_quietly(harness, chats[SUPERVISOR], confirm, add)
    assert len(await harness.storage.questions.faq(1)) == 1
    # Staff add Russian; students read the FAQ in their language (English otherwise).
    saved = await chats[SUPERVISOR].send(
        "/faq 1 ru Есть ли горячая вода в общежитии? | Да, с 18:00 до 23:00."
    )
    assert "saved" in saved.text
    assert "Есть ли горячая вода" in (await chats[STUDENT_RU].send("/faq")).plain_text
    assert "hot water" in (await chats[STUDENT].send("/faq")).plain_text
    assert "(en, ru)" in (await chats[SUPERVISOR].send("/faq")).plain_text
    # A new question with the same words is offered the entry first.
    offer = await chats[STUDENT_RU].send("/ask В общежитии сегодня есть горячая вода?")
    assert "Да, с 18:00 до 23:00." in offer.plain_text
    yes, _ = (d for _, d in offer.buttons())
    done = await chats[STUDENT_RU].press(offer, yes)
    assert done.method == "editMessageText"
    assert len(await harness.storage.questions.of_student(STUDENT_RU)) == 0
    offer = await chats[STUDENT_RU].send("/ask Горячая вода в общежитии не работает!")
    start = len(emu.sent)
    sent = await chats[STUDENT_RU].press(offer, [d for _, d in offer.buttons()][1])
    assert "#2" in sent.text
    await emu.wait_for_message(SUPERVISOR, after=start)
    stale = await press_quietly(harness, chats[STUDENT_RU], offer, yes)
    assert stale == harness.services.catalogs.get("ru")("This button is out of date.")
    # Bad edits of the FAQ are refused; students may not edit it.
    assert "ℹ️" in (await chats[SUPERVISOR].send("/faq 1 de Frage | Antwort")).text
    assert REFUSAL in (await chats[STUDENT].send("/faq 1 delete")).text
    assert "deleted" in (await chats[SUPERVISOR].send("/faq 1 delete")).text


async def test_limits_and_bad_input(harness: BotHarness) -> None:
    chats = await desk(harness)
    emu = harness.emulator
    student = chats[STUDENT]
    long = await student.send("/ask " + "x" * 5000)
    assert "too long (5000 characters)" in long.text
    start = len(emu.sent)
    asked = await student.send("/ask")
    assert "next message" in asked.text
    await emu.send_sticker(STUDENT)
    sticker = await emu.wait_for_message(STUDENT, after=start + 1)
    assert "sticker can't be a question" in sticker.text
    # The step still waits: the next real message is the question.
    assert "#1" in (await student.send("The projector in room 105 is broken")).text
    # A reply to a message that is not a question: a clear answer and the offer.
    start = len(emu.sent)
    await emu.send_text(STUDENT, "what is this?", reply_to=long.message_id)
    pointer = await emu.wait_for_message(STUDENT, after=start)
    assert "not part of a question" in pointer.text and pointer.buttons()
    for n in range(2, 6):
        assert f"#{n}" in (await student.send(f"/ask Question number {n} about lockers")).text
    refused = await student.send("/ask A sixth question about parking")
    assert "5 open questions" in refused.text
    assert len(await harness.storage.questions.of_student(STUDENT)) == 5
    # Ten an hour: closing questions does not lift that limit.
    for q in await harness.storage.questions.of_student(STUDENT):
        await harness.storage.questions.close(q.id, harness.clock.now())
    for n in range(6, 11):
        assert f"#{n}" in (await student.send(f"/ask Another thing {n} about lockers")).text
        await harness.storage.questions.close(n, harness.clock.now())
    assert "last hour" in (await student.send("/ask Eleventh question")).text
    harness.clock.set(harness.clock.now() + timedelta(hours=1, minutes=1))
    assert "#11" in (await student.send("/ask Eleventh question")).text
    # Supervisors do not ask; strangers are told how to join; garbage buttons change nothing.
    assert REFUSAL in (await chats[SUPERVISOR].send("/ask Hello")).text
    junk = await press_quietly(harness, student, long, "v1:q:5201:solved:999999")
    assert REFUSAL in junk
    plain = await chats[SUPERVISOR].send("hello there")
    assert "commands, not messages" in plain.text and not plain.buttons()


async def test_permission_matrix_and_menus(harness: BotHarness) -> None:
    chats = await actors(harness)
    await harness.storage.questions.create(
        1, chats["student_own"].user_id, "Seed", None, False, harness.clock.now(),
        harness.clock.now() + timedelta(hours=2),
    )  # fmt: skip
    matrix = {
        "/ask Where is the library?": {"student_own", "student_other"},
        "/questions": {"student_own", "student_other", "supervisor_own", "supervisor_other"},
        "/questions TPI-2026": {"supervisor_own", "coordinator"},
        "/faq": {"student_own", "student_other", "supervisor_own", "supervisor_other"},
        "/faq 1 delete": set(),  # no entry 1 exists: refused alike for everyone
    }
    failures = []
    for command, allowed_to in matrix.items():
        for actor, chat in chats.items():
            text = (await chat.send(command)).text or ""
            refused = REFUSAL in text or "not joined" in text or "Name the group" in text
            if refused == (actor in allowed_to):
                failures.append(f"{actor} {command!r}: {text[:80]!r}")
    assert not failures, "\n".join(failures)
    # /help lists the desk's commands for the right roles.
    assert "/ask" in (await chats["student_own"].send("/help")).text
    assert "/ask" not in (await chats["supervisor_own"].send("/help")).text
    assert "/questions <group>" in (await chats["coordinator"].send("/help")).plain_text


async def test_forget_me_and_purge_take_the_questions(harness: BotHarness) -> None:
    chats = await desk(harness)
    emu = harness.emulator
    start = len(emu.sent)
    await chats[STUDENT].send("/ask Mine")
    await chats[STUDENT_RU].send("/ask Моё")
    header = await emu.wait_for_message(SUPERVISOR, after=start)
    await emu.send_text(SUPERVISOR, "Answer", reply_to=header.message_id)
    await harness.idle()
    await harness.storage.operations.forget_user(STUDENT)
    db = harness.storage.db
    assert [r["student_id"] for r in await db.fetchall("SELECT * FROM questions")] == [STUDENT_RU]
    assert not await db.fetchall("SELECT * FROM question_messages")
    assert not await db.fetchall(f"SELECT * FROM reply_targets WHERE chat_id = {STUDENT}")
    await harness.storage.operations.purge_cohort(1, harness.clock.now())
    assert not await db.fetchall("SELECT * FROM questions")
    assert not await db.fetchall("SELECT * FROM reply_targets WHERE kind = 'question'")
    _ = datetime  # imported for annotations of helpers


async def test_playground_round_trip_between_student_and_supervisor(tmp_path) -> None:
    from bot.playground import run_playground

    script = tmp_path / "desk.txt"
    script.write_text(
        "/ask Where do I get a lab coat?\n:supervisor\n:reply Room 112, from 8:00.\n:student\n"
        ":photo No hot water in the dormitory\n:1\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    assert await run_playground(script=str(script), out=out) == 0
    transcript = out.getvalue()
    assert "Question #1 from Aziza Karimova" in transcript
    assert "Answer to your question #1 from Nodir Gafurov" in transcript
    assert "📷 (copied" in transcript  # the photo went to the supervisor as a copy
    assert "[to Nodir (supervisor)]\n  ❓ Question #2 from Aziza Karimova" in transcript
