"""A cohort's data as an XLSX workbook in the import format: an export re-imports to no change."""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING

from bot.clock import Clock
from bot.services.importer import (
    COHORT_COLUMNS,
    COHORT_OPTIONAL,
    CONTACT_COLUMNS,
    PROGRESS_COLUMNS,
    TASK_COLUMNS,
    TASK_OPTIONAL,
)
from bot.storage import Storage
from bot.storage.models import Cohort, Localized

if TYPE_CHECKING:
    from openpyxl import Workbook
    from openpyxl.worksheet.worksheet import Worksheet

SESSION_EXPORT_COLUMNS = (
    "id", "cohort", "date", "start", "end", "title_en", "title_ru", "title_uz",
    "department_en", "department_ru", "department_uz", "location", "location_ru", "location_uz",
    "host", "host_ru", "host_uz", "notes", "notes_ru", "notes_uz", "latitude", "longitude",
    "cancelled",
)  # fmt: skip
CONTACT_EXPORT_COLUMNS = (*CONTACT_COLUMNS[:2], "name_ru", "name_uz", *CONTACT_COLUMNS[2:])

# A spreadsheet evaluates a cell that begins with one of these (=1+1, +cmd|..., @SUM(...)):
# "formula injection" from imported text. Such cells are written as plain strings with Excel's
# quote prefix, so they show as typed and stay text even when edited; the value itself is not
# changed, so the export still re-imports to no change.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _three(text: Localized) -> list[str]:
    return [text.en, text.ru, text.uz]


def _append(sheet: Worksheet, values: list[str]) -> None:
    sheet.append(values)
    for cell in sheet[sheet.max_row]:
        value = cell.value
        if not isinstance(value, str):
            continue
        # openpyxl turns a string starting with "=" into a formula and "#N/A" into an error:
        # every value here is text, so say so.
        cell.data_type = "s"
        if value.startswith(FORMULA_STARTS):
            cell.quotePrefix = True


async def export_cohort(storage: Storage, cohort: Cohort, now: datetime | None = None) -> bytes:
    from openpyxl import Workbook  # imported when needed: it costs a start-up 0.1 s

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "cohorts"
    sheet.append([*COHORT_COLUMNS, *COHORT_OPTIONAL])
    _append(
        sheet,
        [
            cohort.code, cohort.name.en, cohort.timezone, cohort.arrives.isoformat(),
            cohort.departs.isoformat(), cohort.name.ru, cohort.name.uz, cohort.home_institution,
            cohort.host_institution,
        ],
    )  # fmt: skip
    sessions = workbook.create_sheet("sessions")
    sessions.append(list(SESSION_EXPORT_COLUMNS))
    for s in await storage.sessions.for_cohort(cohort.id):
        start, end = s.starts_at.astimezone(cohort.tz), s.ends_at.astimezone(cohort.tz)
        _append(
            sessions,
            [
                s.external_id, cohort.code, start.date().isoformat(), start.strftime("%H:%M"),
                end.strftime("%H:%M"), *_three(s.title), *_three(s.department),
                *_three(s.location), *_three(s.host), *_three(s.notes),
                "" if s.latitude is None else repr(s.latitude),
                "" if s.longitude is None else repr(s.longitude),
                "yes" if s.cancelled else "no",
            ],
        )  # fmt: skip
    contacts = workbook.create_sheet("contacts")
    contacts.append(list(CONTACT_EXPORT_COLUMNS))
    for c in await storage.contacts.owned_by(cohort.id):
        _append(
            contacts,
            [
                cohort.code, c.name.en, c.name.ru, c.name.uz, *_three(c.role), c.phone, c.email,
                c.telegram,
            ],
        )  # fmt: skip
    await _tasks_sheets(workbook, storage, cohort, now or Clock().now())
    # Text cells stay text: a phone or an id must not become a number in Excel.
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                cell.number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def _tasks_sheets(
    workbook: Workbook, storage: Storage, cohort: Cohort, now: datetime
) -> None:
    """The checklist in the import format, then who did what (students × tasks: the day it
    was done, "proof sent" or "overdue"), a report the importer skips."""
    from bot.services.tasks import State, view_of

    tasks = await storage.tasks.for_cohort(cohort.id)
    sheet = workbook.create_sheet("tasks")
    sheet.append([*TASK_COLUMNS, *TASK_OPTIONAL])
    for t in tasks:
        _append(
            sheet,
            [
                cohort.code, t.external_id, *_three(t.title), t.due, *_three(t.details), t.link,
                "yes" if t.needs_proof else "no",
            ],
        )  # fmt: skip
    if not tasks:
        return
    progress = {(p.task_id, p.user_id): p for p in await storage.tasks.progress_in(cohort.id)}
    report = workbook.create_sheet("task progress")
    report.append([*PROGRESS_COLUMNS, *(t.external_id for t in tasks)])
    for user, membership in await storage.users.members_of(cohort.id):
        if membership.role != "student":
            continue
        cells = []
        for t in tasks:
            view = view_of(t, cohort, progress.get((t.id, user.telegram_id)), now)
            if view.state is State.DONE and view.progress and view.progress.done_at:
                cells.append(view.progress.done_at.astimezone(cohort.tz).date().isoformat())
            elif view.state is State.PROOF_SENT:
                cells.append("proof sent")
            elif view.state is State.OVERDUE:
                cells.append("overdue")
            else:
                cells.append("")
        _append(report, [user.display_name, str(user.telegram_id), *cells])
