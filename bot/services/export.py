"""A cohort's data as an XLSX workbook in the import format: an export re-imports to no change."""

from __future__ import annotations

import io

from openpyxl import Workbook

from bot.services.importer import COHORT_COLUMNS, COHORT_OPTIONAL, CONTACT_COLUMNS
from bot.storage import Storage
from bot.storage.models import Cohort

SESSION_EXPORT_COLUMNS = (
    "id", "cohort", "date", "start", "end", "title_en", "title_ru", "title_uz",
    "department_en", "department_ru", "department_uz", "location", "host", "notes",
    "latitude", "longitude", "cancelled",
)  # fmt: skip


async def export_cohort(storage: Storage, cohort: Cohort) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "cohorts"
    sheet.append([*COHORT_COLUMNS, *COHORT_OPTIONAL])
    sheet.append(
        [
            cohort.code, cohort.name, cohort.timezone, cohort.arrives.isoformat(),
            cohort.departs.isoformat(), cohort.home_institution, cohort.host_institution,
        ]
    )  # fmt: skip
    sessions = workbook.create_sheet("sessions")
    sessions.append(list(SESSION_EXPORT_COLUMNS))
    for s in await storage.sessions.for_cohort(cohort.id):
        start, end = s.starts_at.astimezone(cohort.tz), s.ends_at.astimezone(cohort.tz)
        sessions.append(
            [
                s.external_id, cohort.code, start.date().isoformat(), start.strftime("%H:%M"),
                end.strftime("%H:%M"), s.title.en, s.title.ru, s.title.uz, s.department.en,
                s.department.ru, s.department.uz, s.location, s.host, s.notes,
                "" if s.latitude is None else repr(s.latitude),
                "" if s.longitude is None else repr(s.longitude),
                "yes" if s.cancelled else "no",
            ]
        )  # fmt: skip
    contacts = workbook.create_sheet("contacts")
    contacts.append(list(CONTACT_COLUMNS))
    for c in await storage.contacts.owned_by(cohort.id):
        contacts.append(
            [cohort.code, c.name, c.role.en, c.role.ru, c.role.uz, c.phone, c.email, c.telegram]
        )
    # Text cells stay text: a phone or an id must not become a number in Excel.
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                cell.number_format = "@"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
