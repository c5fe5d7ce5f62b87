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
