"""Supervisors and coordinators end to end: permissions, broadcasts, admin edits, files."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.services.importer import Importer
from bot.storage.models import Role
from tests.conftest import (
    COORDINATOR_ID,
    DATA,
    ROOT,
    BotHarness,
    Chat,
    demo_files,
    edit_sessions,
    seed_outbox,
)

REFUSAL = "not allowed"
OTHER = (
    "code,name,timezone,arrives,departs\nOTHER-1,Other group,Europe/Moscow,2026-09-01,2026-09-30\n"
)


async def add_other_cohort(harness: BotHarness) -> None:
    importer = Importer(harness.storage)
    plan = await importer.plan_files([("other.csv", OTHER.encode())])
    assert plan.ok
    await importer.apply(plan)


async def actors(harness: BotHarness) -> dict[str, Chat]:
    await add_other_cohort(harness)
    people = {
        "student_own": (1101, "TPI-2026", "student"),
        "student_other": (1102, "OTHER-1", "student"),
        "supervisor_own": (1103, "TPI-2026", "supervisor"),
        "supervisor_other": (1104, "OTHER-1", "supervisor"),
    }
    chats: dict[str, Chat] = {}
    for key, (user_id, cohort, role) in people.items():
        chat = harness.user(user_id, "en", name=key)
        await chat.join(await harness.invite_code(cohort, role))
        chats[key] = chat
    chats["coordinator"] = harness.user(COORDINATOR_ID, "en", name="Coordinator")
    chats["stranger"] = harness.user(1199, "en", name="Stranger")
    return chats


def session_number(n: int) -> str:
    return str(n)


# Each staff command, and who may use it on the TPI-2026 group (the "own" cohort of the *_own
# actors, another cohort for the *_other ones).
MATRIX: dict[str, set[str]] = {
    "/invite TPI-2026 student": {"coordinator", "supervisor_own"},
    "/invite TPI-2026 supervisor": {"coordinator"},
    "/invites TPI-2026": {"coordinator"},
    "/revoke nonexistent-code-1": {"coordinator"},
    # A supervisor of one group never learns whether another code exists: for them a first
    # word that is not their group's code is part of the text, previewed to their own group.
    "/broadcast TPI-2026 Bus at 8:15": {"coordinator", "supervisor_own", "supervisor_other"},
    "/roster TPI-2026": {"coordinator", "supervisor_own"},
    "/acks": {"coordinator", "supervisor_own", "supervisor_other"},
    "/remind_unread": {"coordinator", "supervisor_own", "supervisor_other"},
    "/cohorts": {"coordinator"},
    "/sessions TPI-2026": {"coordinator"},
    "/cancel {s1} Teacher ill": {"coordinator"},
    "/move {s2} 2026-09-20 10:00": {"coordinator"},
    "/room {s3} Room 9": {"coordinator"},
    "/export TPI-2026": {"coordinator"},
    "/audit TPI-2026": {"coordinator"},
    "/grant 5555 coordinator": {"coordinator"},
    "/revoke_role 5555": {"coordinator"},
}
MEMBER_COMMANDS = ["/today", "/tomorrow", "/week", "/contacts", "/reminders", "/calendar"]


async def test_permission_matrix(harness: BotHarness) -> None:
    chats = await actors(harness)
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    ids = [s.id for s in await harness.storage.sessions.for_cohort(cohort.id)]
    failures = []
    for template, allowed_to in MATRIX.items():
        for actor, chat in chats.items():
            command = template.format(s1=ids[10], s2=ids[11], s3=ids[12])
            before = await harness.storage.db.fetchall("SELECT * FROM audit")
            reply = await chat.send(command)
            refused = REFUSAL in reply.text or "not joined" in reply.text
            if refused == (actor in allowed_to):
                failures.append(f"{actor} {command!r}: {reply.text[:80]!r}")
            if refused:  # a refusal changes nothing
                after = await harness.storage.db.fetchall("SELECT * FROM audit")
                assert len(after) == len(before), (actor, command)
    for command in MEMBER_COMMANDS:
        for actor, chat in chats.items():
            reply = await chat.send(command)
            text = reply.text or ""
            refused = "not joined" in text or REFUSAL in text
            if refused != (actor in ("stranger", "coordinator")):
                failures.append(f"{actor} {command!r}: {text[:80]!r}")
    assert not failures, "\n".join(failures)


async def test_students_never_see_other_students(harness: BotHarness) -> None:
    chats = await actors(harness)
    reply = await chats["student_own"].send("/roster")
    assert REFUSAL in reply.text and "student_other" not in reply.text
    roster = await chats["supervisor_own"].send("/roster")
    assert "student_own" in roster.text and "student_other" not in roster.text
    other = await chats["supervisor_other"].send("/roster TPI-2026")
    assert REFUSAL in other.text
    # A non-coordinator cannot even learn whether a cohort code exists.
    unknown = await chats["supervisor_own"].send("/roster NO-SUCH")
    assert unknown.text == other.text


async def join_many(harness: BotHarness, count: int, first: int = 20_000) -> list[int]:
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    now = harness.clock.now()
    ids = []
    for i in range(count):
        uid = first + i
        harness.emulator.add_user(uid, f"Member{i:02d}", language_code=("uz", "ru", "en")[i % 3])
        await harness.storage.users.touch(
            uid, first_name=f"Member{i:02d}", last_name="", username="",
            telegram_language=("uz", "ru", "en")[i % 3], now=now,
        )  # fmt: skip
        await harness.storage.users.join(uid, cohort.id, Role.STUDENT, now)
        ids.append(uid)
    return ids


async def test_broadcast_to_40_with_flood_control_and_blocked_members(
    harness: BotHarness,
) -> None:
    supervisor = harness.user(3100, "en", name="Gafurov")
    await supervisor.join(await harness.invite_code(role="supervisor"))
    members = await join_many(harness, 40)
    harness.emulator.block_user(members[3])
    harness.emulator.block_user(members[7])
    harness.emulator.set_flood_control(global_per_second=30, per_chat_per_second=1)
    preview = await supervisor.send("/broadcast The bus leaves at 08:15 from the dormitory")
    assert "40 people" in preview.text
    send = dict(preview.buttons())["📣 Send"]
    start = len(harness.emulator.sent)
    await supervisor.press(preview, send)
    report = await harness.emulator.wait_for_message(
        3100, predicate=lambda m: m.text.startswith("📬"), after=start, timeout=30
    )
    assert "delivered to 38 of 40" in report.text
    assert "Member03" in report.text and "Member07" in report.text
    received = Counter(
        m.chat_id
        for m in harness.emulator.sent[start:]
        if m.method == "sendMessage" and "The bus leaves" in (m.text or "")
    )
    assert set(received) == set(members) - {members[3], members[7]}
    assert set(received.values()) == {1}
    assert not (await harness.storage.users.get(members[3])).reachable
    # "Got it", then /acks and /remind_unread.
    first = next(m for m in harness.emulator.sent[start:] if m.chat_id == members[0])
    await Chat(harness, members[0]).press(first, first.buttons()[0][1])
    acks = await supervisor.send("/acks")
    assert "Confirmed (1): Member00" in acks.text
    assert "Not yet confirmed (37)" in acks.text and "Not delivered (2)" in acks.text
    again = await supervisor.send("/remind_unread")
    assert "37 people" in again.text


async def test_cancel_button_sends_nothing(harness: BotHarness) -> None:
    supervisor = harness.user(3200, "ru", name="Gafurov")
    await supervisor.join(await harness.invite_code(role="supervisor"))
    await join_many(harness, 3)
    preview = await supervisor.send("/broadcast Отмена")
    start = len(harness.emulator.sent)
    cancel = preview.buttons()[1][1]
    edited = await supervisor.press(preview, cancel)
    assert edited.method == "editMessageText"
    assert not [m for m in harness.emulator.sent[start:] if m.method == "sendMessage"]


async def test_crash_mid_broadcast_and_restart_completes_without_duplicates(
    emulator,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    database = tmp_path / "bot.sqlite3"
    members = list(range(30_000, 30_040))
    await seed_outbox(database, emulator, 3300, members, "Crash test")
    env = {
        **os.environ,
        "TELEGRAM_BOT_TOKEN": emulator.token,
        "TELEGRAM_BASE_URL": emulator.base_url,
        "BOT_DATABASE": str(database),
    }
    processes: list[subprocess.Popen[bytes]] = []

    def launch() -> None:
        processes.append(
            subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )  # fmt: skip

    seen = 0

    def crash_on_the_15th(method: str, params: dict) -> bool:  # type: ignore[type-arg]
        nonlocal seen
        if method != "sendMessage" or "Crash test" not in str(params.get("text")):
            return True
        seen += 1
        if seen == 15:
            processes[-1].send_signal(signal.SIGKILL)
            return False  # dropped: the process died before Telegram took it
        return True

    emulator.before_request = crash_on_the_15th
    launch()
    try:
        await asyncio.to_thread(processes[0].wait, 30)
        delivered_before = sum(1 for m in emulator.sent if m.text and "Crash test" in m.text)
        assert 0 < delivered_before < 40
        launch()
        report = await emulator.wait_for_message(
            3300, predicate=lambda m: m.text.startswith("📬"), timeout=30
        )
        assert "40 of 40" in report.text
        copies = Counter(m.chat_id for m in emulator.sent if m.text and "Crash test" in m.text)
        assert set(copies) == set(members) and set(copies.values()) == {1}
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(10)


async def test_import_preview_discard_and_confirm(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    member = harness.user(3400, "en")
    await member.join(await harness.invite_code())
    text = demo_files()[1][1].decode()
    changed = edit_sessions(text, "TPI-2026-S05", start="16:00", end="17:30")
    changed = edit_sessions(changed, "TPI-2026-S07", drop=True)
    emu = harness.emulator
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "sessions.csv", changed.encode(), caption="/import")
    preview = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert "0 new, 1 changed, 1 cancelled" in preview.text
    assert "Nothing is saved until you press Confirm" in preview.text
    before = await harness.storage.db.fetchall("SELECT * FROM sessions")
    discarded = await coordinator.press(preview, preview.buttons()[1][1])
    assert "nothing was changed" in discarded.text
    assert await harness.storage.db.fetchall("SELECT * FROM sessions") == before
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, "sessions.csv", changed.encode(), caption="/import")
    preview = await emu.wait_for_message(COORDINATOR_ID, after=start)
    confirmed = await coordinator.press(preview, preview.buttons()[0][1])
    assert "Imported" in confirmed.text
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    moved = next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == "TPI-2026-S05"
    )  # fmt: skip
    assert moved.starts_at == datetime(2026, 9, 16, 11, 0, tzinfo=UTC)
    notice = await emu.wait_for_message(3400, predicate=lambda m: "🔁" in m.text)
    assert "16:00" in notice.text
    audit = await coordinator.send("/audit TPI-2026")
    assert "Imported from <i>sessions.csv</i>" in audit.text
    assert "Sessions: 0 new, 1 changed, 1 cancelled" in audit.text


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("photo.jpg", b"\xff\xd8\xff", "Send a .csv or .xlsx"),
        ("huge.csv", b"x" * (2 * 1024 * 1024 + 1), "too large"),
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "not a valid .xlsx"),
        ("bad.csv", b"cohort,date\nTPI-2026,2026-13-01\n", "unrecognised header"),
        (
            "rows.csv",
            b"cohort,name,role_en,role_ru,role_uz,phone,email,telegram\nNOPE,X,,,,112,,\n",
            "line 2",
        ),
    ],
)
async def test_bad_import_files_get_clear_answers(
    harness: BotHarness, filename: str, content: bytes, expected: str
) -> None:
    emu = harness.emulator
    harness.user(COORDINATOR_ID, "en")
    start = len(emu.sent)
    await emu.send_document(COORDINATOR_ID, filename, content, caption="/import")
    answer = await emu.wait_for_message(COORDINATOR_ID, after=start)
    assert expected in answer.text


async def test_import_by_a_student_is_refused(harness: BotHarness) -> None:
    student = harness.user(3500, "en")
    await student.join(await harness.invite_code())
    emu = harness.emulator
    start = len(emu.sent)
    await emu.send_document(3500, "sessions.csv", (DATA / "sessions.csv").read_bytes(),
                            caption="/import")  # fmt: skip
    answer = await emu.wait_for_message(3500, after=start)
    assert REFUSAL in answer.text


async def test_export_reimports_to_no_change(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    document = await coordinator.send("/export TPI-2026")
    assert document.filename == "TPI-2026.xlsx"
    plan = await harness.services.importer.plan_files([("TPI-2026.xlsx", document.document)])
    assert plan.ok, [p.render() for p in plan.problems]
    assert plan.empty


async def test_move_notifies_members_and_reschedules(harness: BotHarness) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    member = harness.user(3600, "uz")
    await member.join(await harness.invite_code())
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    session = next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == "TPI-2026-S05"
    )  # fmt: skip
    start = len(harness.emulator.sent)
    reply = await coordinator.send(f"/move {session.id} 2026-09-17 11:00")
    assert "Saved" in reply.text and "11:00–" in reply.text
    notice = await harness.emulator.wait_for_message(3600, after=start)
    # The dates stand alone on their lines, weekdays in lower case inside them.
    assert "chorshanba, 16-sentabr, 09:15" in notice.text
    assert "payshanba, 17-sentabr, 11:00" in notice.text
    jobs = harness.services.reminders._scheduler.scheduled(f"reminder:{session.id}:")
    assert list(jobs) == [f"reminder:{session.id}:30"]
    moved = await harness.storage.sessions.get(session.id)
    assert moved.ends_at - moved.starts_at == session.ends_at - session.starts_at


@pytest.mark.parametrize(
    "command",
    ["/move", "/move 5", "/move x 2026-09-17 11:00", "/cancel", "/room 5",
     "/grant abc coordinator", "/grant 5 emperor", "/revoke_role", "/export", "/audit",
     "/invites", "/revoke", "/broadcast", "/move 99999999 2026-09-17 11:00",
     "/grant ² coordinator", "/move ² 2026-09-17 11:00", "/revoke_role ٣"],
)  # fmt: skip
async def test_wrong_arguments_get_one_line_usage(harness: BotHarness, command: str) -> None:
    coordinator = harness.user(COORDINATOR_ID, "ru")
    reply = await coordinator.send(command)
    assert ("Формат" in reply.text or "Занятия #" in reply.text) and "\n" not in reply.text


async def test_supervisor_of_two_cohorts_names_the_cohort(harness: BotHarness) -> None:
    await add_other_cohort(harness)
    supervisor = harness.user(3700, "en", name="Both")
    await supervisor.join(await harness.invite_code("TPI-2026", "supervisor"))
    await supervisor.join(await harness.invite_code("OTHER-1", "supervisor"))
    student = harness.user(3701, "en")
    await student.join(await harness.invite_code("OTHER-1", "student"))
    usage = (await supervisor.send("/broadcast hi")).plain_text
    assert "Usage: /broadcast <cohort code> <text>" in usage and "TPI-2026, OTHER-1" in usage
    assert REFUSAL in (await supervisor.send("/broadcast all hi")).text  # coordinators only
    preview = await supervisor.send("/broadcast OTHER-1 Meet at 9")
    assert "1 person in Other group" in preview.text and "Meet at 9" in preview.text
    assert "Other group" in (await supervisor.send("/roster OTHER-1")).text
