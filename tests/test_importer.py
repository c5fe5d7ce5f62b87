"""Import: every file either lands whole or leaves the database exactly as it was."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from openpyxl import Workbook

from bot.services.importer import Importer
from bot.services.spreadsheets import MAX_FILE_BYTES
from bot.storage import Storage
from tests.conftest import demo_files, edit_sessions

SESSION_HEADER = (
    "cohort,date,start,end,title_en,title_ru,title_uz,department_en,department_ru,"
    "department_uz,location"
)


async def snapshot(storage: Storage) -> list[tuple]:
    rows = []
    for table in ("cohorts", "sessions", "contacts"):
        rows += [tuple(r) for r in await storage.db.fetchall(f"SELECT * FROM {table}")]
    return rows


async def test_demo_data_imports_and_reimport_changes_nothing(demo_storage: Storage) -> None:
    cohort = await demo_storage.cohorts.by_code("TPI-2026")
    assert cohort is not None and cohort.timezone == "Asia/Almaty"
    sessions = await demo_storage.sessions.for_cohort(cohort.id)
    assert len(sessions) >= 30
    assert all(s.title.en and s.title.ru and s.title.uz for s in sessions)
    before = await snapshot(demo_storage)
    plan = await Importer(demo_storage).plan_files(demo_files())
    assert plan.ok and plan.empty
    await Importer(demo_storage).apply(plan)
    assert await snapshot(demo_storage) == before


async def test_local_times_are_stored_as_utc_for_the_cohort_zone(demo_storage: Storage) -> None:
    cohort = await demo_storage.cohorts.by_code("TPI-2026")
    first = (await demo_storage.sessions.for_cohort(cohort.id))[0]
    # 15 September 15:00 in Almaty (UTC+5) is 10:00 UTC.
    assert first.starts_at == datetime(2026, 9, 15, 10, 0, tzinfo=UTC)


async def test_semicolons_bom_any_column_order_and_case(demo_storage: Storage) -> None:
    text = (
        "\ufeffLOCATION;Title_EN;cohort;Date;Start;End;title_ru;title_uz;department_en;"
        "department_ru;department_uz\n"
        "Room 1;Extra lecture;TPI-2026;2026-09-20;10:00;11:00;Лекция;Maʼruza;;;\n"
    )
    importer = Importer(demo_storage)
    plan = await importer.plan_files([("extra.csv", text.encode("utf-8"))])
    assert plan.ok, [p.render() for p in plan.problems]
    # A sessions file is the cohort's whole itinerary: the 1 new session is added and the
    # demo sessions it does not list would be cancelled; nothing is deleted.
    assert plan.count("added") == 1
    assert plan.count("cancelled") >= 30


async def test_every_bad_row_is_named_and_nothing_is_written(demo_storage: Storage) -> None:
    before = await snapshot(demo_storage)
    text = "\n".join(
        [
            SESSION_HEADER,
            "TPI-2026,2026-09-20,10:00,11:00,Good,Хорошо,Yaxshi,,,,Room 1",
            "NOPE,2026-09-20,10:00,11:00,Unknown cohort,,,,,,Room 1",
            "TPI-2026,2026-02-30,10:00,11:00,Bad date,,,,,,Room 1",
            "TPI-2026,2026-09-20,25:00,11:00,Bad time,,,,,,Room 1",
            "TPI-2026,2026-09-20,12:00,11:00,End before start,,,,,,Room 1",
            "TPI-2026,2026-09-20,12:00,13:00,,,,,,,Room 1",
        ]
    )
    plan = await Importer(demo_storage).plan_files([("s.csv", text.encode())])
    assert not plan.ok
    rendered = [p.render() for p in plan.problems]
    assert [p.line for p in plan.problems] == [3, 4, 5, 6, 7]
    assert "unknown cohort “NOPE”" in rendered[0]
    assert "not a real date" in rendered[1]
    assert "not a time" in rendered[2]
    assert "ends (11:00) before it starts (12:00)" in rendered[3]
    assert "title is empty in every language" in rendered[4]
    with pytest.raises(ValueError):
        await Importer(demo_storage).apply(plan)
    assert await snapshot(demo_storage) == before


async def test_unknown_time_zone_and_bad_cohort_rows(storage: Storage) -> None:
    text = (
        "code,name,timezone,arrives,departs\n"
        "A-1,Group A,Asia/Almaty,2026-09-01,2026-09-10\n"
        "B-1,Group B,Mars/Olympus,2026-09-01,2026-09-10\n"
        "C 1,Group C,Asia/Almaty,2026-09-10,2026-09-01\n"
    )
    plan = await Importer(storage).plan_files([("c.csv", text.encode())])
    messages = [p.render() for p in plan.problems]
    assert any("line 3" in m and "Mars/Olympus" in m for m in messages)
    assert any("line 4" in m and "cohort code" in m for m in messages)
    assert any("line 4" in m and "before arrives" in m for m in messages)
    assert await storage.cohorts.all() == []


async def test_session_of_a_cohort_in_the_same_batch(storage: Storage) -> None:
    cohorts = "code,name,timezone,arrives,departs\nX-1,X,Europe/Berlin,2026-03-28,2026-04-02\n"
    # 29 March 2026 02:30 does not exist in Berlin (clocks jump from 02:00 to 03:00).
    sessions = (
        SESSION_HEADER + "\n"
        "X-1,2026-03-29,02:30,04:00,Night,,,,,,Hall\n"
        "X-1,2026-03-30,09:00,10:00,Morning,,,,,,Hall\n"
    )
    plan = await Importer(storage).plan_files(
        [("c.csv", cohorts.encode()), ("s.csv", sessions.encode())]
    )
    assert [p.line for p in plan.problems] == [2]
    assert "does not exist" in plan.problems[0].render()


async def test_moving_a_session_by_id_keeps_its_identity(demo_storage: Storage) -> None:
    name, content = demo_files()[1]
    text = content.decode()
    moved = edit_sessions(text, "TPI-2026-S05", start="13:30", end="14:45")
    plan = await Importer(demo_storage).plan_files([(name, moved.encode())])
    assert plan.ok, [p.render() for p in plan.problems]
    assert [c.kind for c in plan.sessions] == ["changed"]
    assert plan.sessions[0].before.external_id == "TPI-2026-S05"
    result = await Importer(demo_storage).apply(plan)
    assert result.changed_session_ids == [plan.sessions[0].before.id]


async def test_xlsx_with_one_sheet_per_kind(storage: Storage) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "Cohorts"
    ws.append(["code", "name", "timezone", "arrives", "departs"])
    ws.append(["XL-1", "Excel group", "Asia/Tashkent", datetime(2026, 9, 1), datetime(2026, 9, 9)])
    ws2 = wb.create_sheet("Sessions")
    ws2.append(SESSION_HEADER.split(","))
    from datetime import time

    ws2.append(
        [
            "XL-1",
            datetime(2026, 9, 2),
            time(9, 0),
            time(10, 30),
            "Anatomy",
            "Анатомия",
            "Anatomiya",
            "",
            "",
            "",
            "Room 5",
        ]
    )
    wb.create_sheet("Notes")  # an empty sheet is fine
    buffer = io.BytesIO()
    wb.save(buffer)
    importer = Importer(storage)
    plan = await importer.plan_files([("plan.xlsx", buffer.getvalue())])
    assert plan.ok, [p.render() for p in plan.problems]
    await importer.apply(plan)
    cohort = await storage.cohorts.by_code("XL-1")
    [session] = await storage.sessions.for_cohort(cohort.id)
    assert session.starts_at == datetime(2026, 9, 2, 4, 0, tzinfo=UTC)  # Tashkent is UTC+5


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("big.csv", b"a" * (MAX_FILE_BYTES + 1), "too large"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", "unsupported file type"),
        ("bin.csv", b"\x00\x01\x02code", "not a text file"),
        ("cp1251.csv", "code,name\nА,Б\n".encode("cp1251"), "not UTF-8"),
        ("broken.xlsx", b"PK\x03\x04garbage", "not a valid .xlsx"),
        ("empty.csv", b"", "empty"),
        ("header.csv", b"foo,bar\n1,2\n", "unrecognised header"),
    ],
)
async def test_files_that_cannot_be_read_get_a_clear_answer(
    storage: Storage, name: str, content: bytes, expected: str
) -> None:
    plan = await Importer(storage).plan_files([(name, content)])
    assert not plan.ok
    assert expected in plan.problems[0].render()


async def test_contacts_for_every_cohort_and_validation(demo_storage: Storage) -> None:
    text = (
        "cohort,name,role_en,role_ru,role_uz,phone,email,telegram\n"
        "*,Emergency,Emergency,Экстренная служба,Favqulodda,112,,\n"
        "TPI-2026,Nobody,,,,,,\n"
        "TPI-2026,Bad phone,,,,call me,,\n"
    )
    plan = await Importer(demo_storage).plan_files([("c.csv", text.encode())])
    assert [p.line for p in plan.problems] == [3, 4]
