"""The end-of-programme attendance record as an XLSX workbook.

Three sheets: students × sessions (P / L / E / A), hours attended per department and in total
(from each session's real duration), and the audit of staff marks. Real date and number cells,
a frozen header and set column widths, so it reads well in Excel and LibreOffice alike.
"""

from __future__ import annotations

import asyncio
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.i18n import Translator
from bot.services.attendance import hours_of, letter, on_record
from bot.services.export import FORMULA_STARTS
from bot.storage import Storage
from bot.storage.attendance import AttendanceRecord, ManualMark
from bot.storage.models import Cohort, Role, Session, User

DATE_FORMAT = "yyyy-mm-dd hh:mm"
HOURS_FORMAT = "0.00"
BOLD = Font(bold=True)
CENTER = Alignment(horizontal="center")  # one object: openpyxl dedupes styles by hashing
WRAP_TOP = Alignment(wrap_text=True, vertical="top")


@dataclass(frozen=True)
class ReportData:
    cohort: Cohort
    sessions: list[Session]  # not cancelled, in order
    students: list[User]
    records: dict[tuple[int, int], AttendanceRecord]  # (session, student) -> record
    marks: list[ManualMark]
    names: dict[int, str]  # user id -> name, for the audit's "by"
    now: datetime
    joined: dict[int, datetime]  # student -> when they joined the cohort


async def collect(storage: Storage, cohort: Cohort, now: datetime) -> ReportData:
    sessions = [s for s in await storage.sessions.for_cohort(cohort.id) if not s.cancelled]
    members = await storage.users.members_of(cohort.id)
    students = sorted(
        (u for u, m in members if m.role is Role.STUDENT), key=lambda u: u.display_name.lower()
    )
    records = {
        (r.session_id, r.user_id): r for r in await storage.attendance.for_cohort(cohort.id)
    }
    marks = await storage.attendance.marks(cohort.id)
    names = {u.telegram_id: u.display_name for u, _ in members}
    for mark in marks:
        for uid in (mark.by_id, mark.user_id):
            if uid is not None and uid not in names:
                user = await storage.users.get(uid)
                names[uid] = user.display_name if user else str(uid)
    joined = {u.telegram_id: m.joined_at for u, m in members}
    return ReportData(cohort, sessions, students, records, marks, names, now, joined)


def letters(data: ReportData) -> dict[tuple[int, int], str]:
    """(session, student) -> P/L/E/A for every session on the student's record (begun, and
    not over before they joined); the others stay blank."""
    grid = {}
    for s in data.sessions:
        for u in data.students:
            record = data.records.get((s.id, u.telegram_id))
            if on_record(s, record, data.joined.get(u.telegram_id), data.now):
                grid[(s.id, u.telegram_id)] = letter(record)
    return grid


def hours_by_department(
    data: ReportData, lang: str
) -> tuple[list[str], dict[int, dict[str, float]]]:
    """The departments in order of first session, and student -> department -> hours."""
    grid = letters(data)
    departments: list[str] = []
    hours: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in data.sessions:
        department = s.department.get(lang) or "—"
        if department not in departments:
            departments.append(department)
        for u in data.students:
            if grid.get((s.id, u.telegram_id)) in ("P", "L"):
                hours[u.telegram_id][department] += hours_of(s)
    return departments, hours


def _put(sheet: Worksheet, row: int, column: int, value: object, number_format: str = "") -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever a name or a title starts with
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True
    if number_format:
        cell.number_format = number_format


def _local(moment: datetime, cohort: Cohort) -> datetime:
    """A naive local datetime: spreadsheets have no time zones."""
    return moment.astimezone(cohort.tz).replace(tzinfo=None)


def _widths(sheet: Worksheet, widths: list[int]) -> None:
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width


def render(data: ReportData, tr: Translator) -> bytes:
    lang = tr.language
    cohort = data.cohort
    book = Workbook()
    grid = letters(data)

    # 1. Students × sessions: a row of real dates, a row of titles, then P / L / E / A.
    sheet = book.active
    sheet.title = tr.pgettext("sheet", "Attendance")[:31]
    _put(sheet, 1, 1, tr("Student"))
    _put(sheet, 1, 2, tr("Telegram"))
    _put(sheet, 2, 1, tr("Session"))
    for j, s in enumerate(data.sessions, start=3):
        _put(sheet, 1, j, _local(s.starts_at, cohort), DATE_FORMAT)
        _put(sheet, 2, j, s.title.get(lang))
        sheet.cell(row=2, column=j).alignment = WRAP_TOP
    for i, u in enumerate(data.students, start=3):
        _put(sheet, i, 1, u.display_name)
        _put(sheet, i, 2, "@" + u.username if u.username else str(u.telegram_id))
        for j, s in enumerate(data.sessions, start=3):
            value = grid.get((s.id, u.telegram_id))
            if value is not None:
                _put(sheet, i, j, value)
                sheet.cell(row=i, column=j).alignment = CENTER
    for cell in sheet[1] + sheet[2]:
        cell.font = BOLD
    sheet.freeze_panes = "C3"
    _widths(sheet, [28, 18] + [16] * len(data.sessions))

    # 2. Hours attended per department and in total, per student.
    hours_sheet = book.create_sheet(tr.pgettext("sheet", "Hours")[:31])
    departments, hours = hours_by_department(data, lang)
    header = [tr("Student"), *departments, tr("Total hours"), tr("Sessions attended"),
              tr("Sessions held")]  # fmt: skip
    for j, title in enumerate(header, start=1):
        _put(hours_sheet, 1, j, title)
        hours_sheet.cell(row=1, column=j).font = BOLD
        hours_sheet.cell(row=1, column=j).alignment = WRAP_TOP
    for i, u in enumerate(data.students, start=2):
        held = sum(1 for s in data.sessions if (s.id, u.telegram_id) in grid)
        _put(hours_sheet, i, 1, u.display_name)
        mine = hours.get(u.telegram_id, {})
        for j, department in enumerate(departments, start=2):
            _put(hours_sheet, i, j, round(mine.get(department, 0.0), 2), HOURS_FORMAT)
        total_col = len(departments) + 2
        _put(hours_sheet, i, total_col, round(sum(mine.values()), 2), HOURS_FORMAT)
        attended = sum(1 for s in data.sessions if grid.get((s.id, u.telegram_id)) in ("P", "L"))
        _put(hours_sheet, i, total_col + 1, attended, "0")
        _put(hours_sheet, i, total_col + 2, held, "0")
    hours_sheet.freeze_panes = "B2"
    _widths(hours_sheet, [28] + [22] * len(departments) + [12, 12, 12])

    # 3. The audit of staff marks: who changed what, when.
    audit = book.create_sheet(tr.pgettext("sheet", "Manual marks")[:31])
    titles = {s.id: s for s in data.sessions}
    header = [tr("When"), tr("Session"), tr("Session starts"), tr("Student"), tr("Before"),
              tr("After"), tr("Marked by")]  # fmt: skip
    for j, title in enumerate(header, start=1):
        _put(audit, 1, j, title)
        audit.cell(row=1, column=j).font = BOLD
    for i, m in enumerate(data.marks, start=2):
        session = titles.get(m.session_id)
        _put(audit, i, 1, _local(m.at, cohort), DATE_FORMAT)
        _put(audit, i, 2, session.title.get(lang) if session else f"#{m.session_id}")
        if session is not None:
            _put(audit, i, 3, _local(session.starts_at, cohort), DATE_FORMAT)
        _put(audit, i, 4, data.names.get(m.user_id, str(m.user_id)))
        _put(audit, i, 5, tr.pgettext("attendance", m.before))  # a status: present, missing...
        _put(audit, i, 6, tr.pgettext("attendance", m.after))
        by = "" if m.by_id is None else data.names.get(m.by_id, str(m.by_id))
        _put(audit, i, 7, by)
    audit.freeze_panes = "A2"
    _widths(audit, [18, 36, 18, 28, 12, 12, 28])

    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def attendance_report(
    storage: Storage, cohort: Cohort, now: datetime, tr: Translator
) -> bytes:
    """Reads on the loop, builds the workbook in a worker thread (it can take a while)."""
    data = await collect(storage, cohort, now)
    return await asyncio.to_thread(render, data, tr)
