"""Property-based tests: every parser faces arbitrary, hostile and huge input (Hypothesis)."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.callbacks import MAX_BYTES, CallbackData
from bot.clock import FrozenClock
from bot.config import ConfigError, parse_minutes, parse_user_ids
from bot.handlers.invites import parse_role
from bot.services.importer import Importer
from bot.services.invites import InviteService, JoinOutcome
from bot.services.spreadsheets import FileProblem, read_tables
from bot.storage import Database, Storage
from bot.storage.models import Role
from tests.conftest import demo_files

SESSION_HEADER = [
    "cohort", "date", "start", "end", "title_en", "title_ru", "title_uz", "department_en",
    "department_ru", "department_uz", "location", "latitude", "longitude", "id",
]  # fmt: skip
PROFILE = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["TPI-2026", "2026-09-16", "09:00", "24:00", "9.00", "-1", "1e309", "nan",
                     "2026-02-29", "Asia/Almaty", "=cmd|' /C calc'!A0", "'; DROP TABLE users;--"]),
)  # fmt: skip


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[asyncio.AbstractEventLoop, Storage]]:
    loop = asyncio.new_event_loop()
    db = Database(tmp_path_factory.mktemp("props") / "props.sqlite3")
    loop.run_until_complete(db.open())
    storage = Storage(db)
    importer = Importer(storage)
    plan = loop.run_until_complete(importer.plan_files(demo_files()))
    loop.run_until_complete(importer.apply(plan))
    yield loop, storage
    loop.run_until_complete(db.close())
    loop.close()


def snapshot(loop: asyncio.AbstractEventLoop, storage: Storage) -> list[tuple]:
    return [
        tuple(r)
        for table in ("cohorts", "sessions", "contacts")
        for r in loop.run_until_complete(storage.db.fetchall(f"SELECT * FROM {table}"))
    ]


@PROFILE
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=16), max_size=12),
       delimiter=st.sampled_from([",", ";"]))  # fmt: skip
def test_random_session_rows_are_all_or_nothing(world, rows, delimiter) -> None:  # type: ignore[no-untyped-def]
    loop, storage = world
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(SESSION_HEADER)
    writer.writerows(rows)
    before = snapshot(loop, storage)
    plan = loop.run_until_complete(
        Importer(storage).plan_files([("s.csv", buffer.getvalue().encode())])
    )
    if not plan.ok:
        assert all(p.render() for p in plan.problems)
        assert snapshot(loop, storage) == before
    physical_lines = buffer.getvalue().count("\n") + buffer.getvalue().count("\r") + 1
    for problem in plan.problems:  # the line a spreadsheet user would look at
        assert problem.line is None or 1 <= problem.line <= physical_lines


@PROFILE
@given(content=st.binary(max_size=3000), name=st.sampled_from(["a.csv", "b.xlsx", "c", "d.txt"]))
def test_arbitrary_bytes_never_crash_the_reader(content: bytes, name: str) -> None:
    try:
        tables = read_tables(name, content)
    except FileProblem as exc:
        assert exc.problem.render()
    else:
        assert isinstance(tables, list)


@PROFILE
@given(text=st.text(max_size=200))
def test_callback_data_decoding_never_raises(text: str) -> None:
    data = CallbackData.decode(text)
    if data is not None:
        assert data.encode() == text


@PROFILE
@given(action=st.text(alphabet="abcdefghij", min_size=1, max_size=8),
       user=st.integers(min_value=0, max_value=10**12), arg=st.text(max_size=40))  # fmt: skip
def test_callback_data_round_trips_or_refuses_oversize(action: str, user: int, arg: str) -> None:
    data = CallbackData(action, user, arg)
    try:
        encoded = data.encode()
    except ValueError:
        assert len(f"v1:{action}:{user}:{arg}".encode()) > MAX_BYTES
    else:
        assert len(encoded.encode()) <= MAX_BYTES
        assert CallbackData.decode(encoded) == data


@PROFILE
@given(code=st.text(max_size=100))
def test_random_invite_codes_are_refused_cleanly(world, code: str) -> None:  # type: ignore[no-untyped-def]
    loop, storage = world
    loop.run_until_complete(
        storage.users.touch(77, first_name="P", last_name="", username="",
                            telegram_language=None, now=datetime.now(UTC))
    )  # fmt: skip
    service = InviteService(storage, FrozenClock(datetime(2026, 9, 16, tzinfo=UTC)))
    result = loop.run_until_complete(service.join(77, code))
    assert result.outcome is JoinOutcome.UNKNOWN


@PROFILE
@given(raw=st.text(max_size=60))
def test_settings_parsers_accept_or_explain(raw: str) -> None:
    for parse in (parse_minutes, parse_user_ids):
        try:
            parse(raw)
        except ConfigError as exc:
            assert "BOT_" in str(exc)


@PROFILE
@given(word=st.text(max_size=30))
def test_role_words(word: str) -> None:
    role = parse_role(word)
    assert role is None or role.value in ("student", "supervisor")


# -- command arguments and buttons, through the real bot --------------------------------------

COMMANDS = sorted(
    ["start", "today", "week", "next", "contacts", "language", "invite", "broadcast", "acks",
     "sessions", "cancel", "move", "room", "roster", "invites", "revoke", "grant",
     "revoke_role", "audit", "export", "reminders", "calendar", "help", "forget_me"]
)  # fmt: skip
STUDENT, STRANGER = 7101, 7102


@pytest.fixture(scope="module")
def live_bot(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real bot against the emulator, in its own event loop, for many examples."""
    from bot.app import start_polling, stop_polling
    from bot.emulator import BotApiEmulator
    from tests.conftest import COORDINATOR_ID, build_application, harness_settings, seed_demo

    loop = asyncio.new_event_loop()
    database = tmp_path_factory.mktemp("live") / "live.sqlite3"
    loop.run_until_complete(seed_demo(database))
    emulator = BotApiEmulator()
    loop.run_until_complete(emulator.start())
    app = build_application(
        harness_settings(emulator, database),
        clock=FrozenClock(datetime(2026, 9, 16, 3, tzinfo=UTC)),
    )
    loop.run_until_complete(start_polling(app, poll_timeout=1))
    for uid in (COORDINATOR_ID, STUDENT, STRANGER):
        emulator.add_user(uid, f"U{uid}", language_code="ru")
    storage = app.bot_data["services"].storage
    cohort = loop.run_until_complete(storage.cohorts.by_code("TPI-2026"))
    invite = loop.run_until_complete(
        app.bot_data["services"].invites.create(cohort, Role.STUDENT, None)
    )
    loop.run_until_complete(emulator.send_text(STUDENT, f"/start {invite.code}"))
    loop.run_until_complete(emulator.wait_for_message(STUDENT))
    yield loop, emulator, storage
    loop.run_until_complete(stop_polling(app))
    loop.run_until_complete(emulator.stop())
    loop.close()


def _protected(loop, storage) -> list[tuple]:  # type: ignore[no-untyped-def]
    """Everything a student or a stranger must never be able to change."""
    return [
        tuple(r)
        for table in ("sessions", "memberships", "invites", "announcements", "audit")
        for r in loop.run_until_complete(storage.db.fetchall(f"SELECT * FROM {table}"))
    ]


ARGUMENTS = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=80)
LIVE = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@LIVE
@given(command=st.sampled_from(COMMANDS), args=ARGUMENTS)
def test_random_arguments_from_a_student_get_an_answer_and_change_nothing(
    live_bot,
    command: str,
    args: str,  # type: ignore[no-untyped-def]
) -> None:
    loop, emulator, storage = live_bot
    before = _protected(loop, storage)
    start = len(emulator.sent)
    loop.run_until_complete(emulator.send_text(STUDENT, f"/{command} {args}".strip()))
    reply = loop.run_until_complete(emulator.wait_for_message(STUDENT, after=start, timeout=10))
    assert reply.text or reply.document
    if command != "start":  # /start with a code may join; nothing else a student sends may
        assert _protected(loop, storage) == before


@LIVE
@given(
    action=st.sampled_from(["lang", "rem", "bc", "ack", "imp", "forget", "zz"]),
    owner=st.sampled_from([STUDENT, 900, 1]),
    arg=st.text(max_size=20),
)
def test_forged_buttons_from_a_stranger_do_nothing(
    live_bot,
    action: str,
    owner: int,
    arg: str,  # type: ignore[no-untyped-def]
) -> None:
    loop, emulator, storage = live_bot
    raw = f"v1:{action}:{owner}:{arg}"
    if len(raw.encode()) > 64:
        return  # Telegram itself refuses such buttons
    start = len(emulator.sent)
    loop.run_until_complete(emulator.send_text(STRANGER, "/help"))
    message = loop.run_until_complete(emulator.wait_for_message(STRANGER, after=start))
    before = _protected(loop, storage)
    others = "SELECT * FROM users WHERE telegram_id != ?"
    users_before = loop.run_until_complete(storage.db.fetchall(others, (STRANGER,)))
    loop.run_until_complete(emulator.press_button(STRANGER, message.message_id, raw))
    mark = len(emulator.sent)
    loop.run_until_complete(emulator.send_text(STRANGER, "/help"))  # updates run in order:
    loop.run_until_complete(emulator.wait_for_message(STRANGER, after=mark))  # press handled
    assert _protected(loop, storage) == before
    assert loop.run_until_complete(storage.db.fetchall(others, (STRANGER,))) == users_before
