"""Import of cohorts, sessions and contacts: validate everything, then write all or nothing.

Identity of a session: the `id` column when the file has one; otherwise the natural key
"<date> <start> <title>" (title in English, else Russian, else Uzbek). A sessions file is the
whole itinerary of every cohort it names: a session of that cohort missing from the file is
marked cancelled (never deleted). A contacts file is the whole contact list of every cohort it
names (and of the shared list when it has `*` rows).
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.i18n import N_
from bot.parsing import EARLIEST_DATE, LATEST_DATE, parse_date
from bot.services.spreadsheets import (
    MAX_CELL_CHARS,
    FileProblem,
    Problem,
    Table,
    problem,
    read_tables_off_loop,
)
from bot.storage import Storage
from bot.storage.feedback import SurveyQuestion
from bot.storage.models import Cohort, Localized, Session
from bot.storage.repositories import CohortFields, ContactFields, Prepared, SessionFields
from bot.storage.tasks import TaskFields

COHORT_COLUMNS = ("code", "name", "timezone", "arrives", "departs")
COHORT_OPTIONAL = ("name_ru", "name_uz", "home_institution", "host_institution")
SESSION_COLUMNS = (
    "cohort", "date", "start", "end", "title_en", "title_ru", "title_uz",
    "department_en", "department_ru", "department_uz", "location",
)  # fmt: skip
SESSION_OPTIONAL = (
    "location_ru", "location_uz", "host", "host_ru", "host_uz", "notes", "notes_ru", "notes_uz",
    "latitude", "longitude", "id", "cancelled",
)  # fmt: skip
CONTACT_COLUMNS = ("cohort", "name", "role_en", "role_ru", "role_uz", "phone", "email", "telegram")
CONTACT_OPTIONAL = ("name_ru", "name_uz")
# The end-of-programme survey of a cohort (issue 11): the whole survey of every cohort named.
SURVEY_COLUMNS = ("cohort", "question_id", "type", "text_en", "text_ru", "text_uz")
SURVEY_TYPE_NAMES = {
    "rating": "rating", "1-5": "rating", "scale": "rating", "yesno": "yesno", "yes-no": "yesno",
    "yes/no": "yesno", "text": "text", "free text": "text", "free": "text",
}  # fmt: skip
_QUESTION_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
TASK_COLUMNS = ("cohort", "id", "title_en", "title_ru", "title_uz", "due")
TASK_OPTIONAL = ("details_en", "details_ru", "details_uz", "link", "needs_proof")
# The export's sheet of who did which task: a report, skipped when the workbook comes back.
PROGRESS_COLUMNS = ("student", "telegram_id")
KNOWN_COLUMNS = {
    "cohorts": set(COHORT_COLUMNS + COHORT_OPTIONAL),
    "sessions": set(SESSION_COLUMNS + SESSION_OPTIONAL),
    "contacts": set(CONTACT_COLUMNS + CONTACT_OPTIONAL),
    "survey": set(SURVEY_COLUMNS),
    "tasks": set(TASK_COLUMNS + TASK_OPTIONAL),
}
SHARED = "*"
LANGS = ("ru", "uz")
CANCELLED_REASON_REMOVED = "removed from the itinerary"

# Telegram allows 4,096 characters a message, counted in UTF-16 units (an emoji counts two).
# With these limits a session's details (title, department, place, host, notes and the icons)
# or a contact stay well below one message; the rest of a cell may be up to MAX_CELL_CHARS.
FIELD_LIMITS = {
    "name": 200, "title": 200, "department": 200, "location": 200, "host": 200, "notes": 1000,
    "role": 200, "email": 254, "home_institution": 200, "host_institution": 200, "id": 64,
    "text": 500,
    "details": 1000, "link": 500,
}  # fmt: skip
# A session this far outside its cohort's stay is a typo (a wrong year), not a plan.
SESSION_DATE_MARGIN = timedelta(days=366)
NIGHT_STARTS, NIGHT_ENDS = time(22, 0), time(6, 0)
_FAR_FROM_STAY = N_(
    "date: {value} is over a year outside the group's stay ({arrives} – {departs})"
)

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})(?::00)?$")
_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()\-]{1,30}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HANDLE_RE = re.compile(r"^@?[A-Za-z][A-Za-z0-9_]{3,31}$")
_TRUE = {"1", "yes", "true", "y", "x", "cancelled", "да", "ha"}
_FALSE = {"", "0", "no", "false", "n", "нет", "yoʻq"}


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass
class SessionChange:
    before: Session | None  # None: added
    after: SessionFields
    cohort_code: str
    timezone: str = "UTC"  # the cohort's zone: previews show local dates

    @property
    def local_start(self) -> datetime:
        return self.after.starts_at.astimezone(ZoneInfo(self.timezone))

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after.cancelled and not self.before.cancelled:
            return "cancelled"
        return "changed"


@dataclass
class ContactsChange:
    cohort_code: str  # "*" for the shared list
    cohort_id: int | None
    before: list[ContactFields]
    after: list[ContactFields]

    @property
    def added(self) -> int:
        return len([c for c in self.after if c not in self.before])

    @property
    def removed(self) -> int:
        return len([c for c in self.before if c not in self.after])


@dataclass
class SurveyPlan:
    """A cohort's survey as the file has it: it replaces the survey the cohort had."""

    cohort_code: str
    questions: list[SurveyQuestion]


@dataclass
class TasksChange:
    """A cohort's checklist as the file gives it (the whole list, in order)."""

    cohort_code: str
    before: list[TaskFields]
    after: list[TaskFields]

    @property
    def added(self) -> int:
        known = {t.external_id.upper() for t in self.before}
        return len([t for t in self.after if t.external_id.upper() not in known])

    @property
    def removed(self) -> int:
        kept = {t.external_id.upper() for t in self.after}
        return len([t for t in self.before if t.external_id.upper() not in kept])

    @property
    def changed(self) -> int:
        old = {t.external_id.upper(): t for t in self.before}
        return len([t for t in self.after if t.external_id.upper() in old
                    and old[t.external_id.upper()] != t])  # fmt: skip


@dataclass
class ImportPlan:
    """What an import would change; empty lists mean the file matches the database."""

    cohorts_added: list[CohortFields] = field(default_factory=list)
    cohorts_changed: list[tuple[Cohort, CohortFields]] = field(default_factory=list)
    sessions: list[SessionChange] = field(default_factory=list)
    contacts: list[ContactsChange] = field(default_factory=list)
    tasks: list[TasksChange] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Written anyway, but worth a look: unknown columns, sessions at night or outside the stay.
    warnings: list[Problem] = field(default_factory=list)
    surveys: list[SurveyPlan] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def empty(self) -> bool:
        return not (
            self.cohorts_added or self.cohorts_changed or self.sessions or self.contacts
            or self.surveys
            or self.tasks
        )  # fmt: skip

    def count(self, kind: str) -> int:
        return sum(1 for c in self.sessions if c.kind == kind)

    def of_kind(self, kind: str) -> list[SessionChange]:
        return [c for c in self.sessions if c.kind == kind]


@dataclass
class ImportResult:
    plan: ImportPlan
    changed_session_ids: list[int] = field(default_factory=list)


def _kind(table: Table) -> str | None:
    columns = set(table.header)
    if set(SURVEY_COLUMNS) <= columns:
        return "survey"
    if set(SESSION_COLUMNS) <= columns:
        return "sessions"
    if set(CONTACT_COLUMNS) <= columns:
        return "contacts"
    if set(TASK_COLUMNS) <= columns:
        return "tasks"
    if set(PROGRESS_COLUMNS) <= columns:
        return "progress"
    if set(COHORT_COLUMNS) <= columns:
        return "cohorts"
    return None


def _missing_columns_hint(table: Table) -> str:
    columns = set(table.header)
    best = min(
        (COHORT_COLUMNS, SESSION_COLUMNS, CONTACT_COLUMNS, SURVEY_COLUMNS, TASK_COLUMNS),
        key=lambda required: len(set(required) - columns),
    )
    return ", ".join(c for c in best if c not in columns)


class Importer:
    def __init__(self, storage: Storage, clock: Clock | None = None) -> None:
        self._storage = storage
        self._clock = clock or Clock()

    async def plan_files(self, files: list[tuple[str, bytes]]) -> ImportPlan:
        """Reads and validates files against the database; writes nothing."""
        tables: list[Table] = []
        plan = ImportPlan()
        for name, content in files:
            try:
                tables.extend(await read_tables_off_loop(name, content))
            except FileProblem as exc:
                plan.problems.append(exc.problem)
        if plan.problems:
            return plan
        return await self.plan_tables(tables)

    async def plan_tables(self, tables: list[Table]) -> ImportPlan:
        plan = ImportPlan()
        by_kind: dict[str, list[Table]] = {
            "cohorts": [], "sessions": [], "contacts": [], "survey": [], "tasks": [],
            "progress": [],
        }  # fmt: skip
        for table in tables:
            kind = _kind(table)
            if kind is None:
                plan.problems.append(
                    problem(
                        table.source,
                        1,
                        N_("unrecognised header; missing columns: {columns}"),
                        columns=_missing_columns_hint(table),
                    )
                )
                continue
            by_kind[kind].append(table)
            if kind == "progress":
                continue  # a report of the export, not data to import
            for column in table.header:
                if column and column not in KNOWN_COLUMNS[kind]:
                    plan.warnings.append(
                        problem(
                            table.source,
                            1,
                            N_("unknown column “{column}” is ignored"),
                            column=column,
                        )
                    )
            for line, row in table.rows:
                if "\x00extra" in row:
                    plan.problems.append(
                        problem(table.source, line, N_("more cells than header columns"))
                    )
        existing = {c.code.upper(): c for c in await self._storage.cohorts.all()}
        stays = {code: _Stay(c.timezone, c.arrives, c.departs) for code, c in existing.items()}
        for table in by_kind["cohorts"]:
            self._plan_cohorts(table, existing, stays, plan)
        seen_sessions: dict[str, set[str]] = {}
        new_sessions: dict[str, list[SessionFields]] = {}
        origins: dict[tuple[str, str], tuple[str, int]] = {}  # (cohort, key) -> (file, line)
        for table in by_kind["sessions"]:
            self._plan_sessions(table, stays, seen_sessions, new_sessions, origins, plan)
        new_contacts: dict[str, list[ContactFields]] = {}
        for table in by_kind["contacts"]:
            self._plan_contacts(table, stays, new_contacts, plan)
        surveys: dict[str, list[SurveyQuestion]] = {}
        for table in by_kind["survey"]:
            self._plan_survey(table, stays, surveys, plan)
        plan.surveys = [SurveyPlan(code, questions) for code, questions in surveys.items()]
        new_tasks: dict[str, list[TaskFields]] = {}
        task_keys: set[tuple[str, str]] = set()  # (cohort, task id) of every tasks table
        for table in by_kind["tasks"]:
            self._plan_tasks(table, stays, task_keys, new_tasks, plan)
        if plan.problems:
            plan.problems.sort(key=lambda p: (p.source, p.line or 0))
            return plan
        await self._diff_sessions(existing, stays, new_sessions, origins, plan)
        plan.warnings.sort(key=lambda p: (p.source, p.line or 0))
        await self._diff_contacts(existing, new_contacts, plan)
        await self._diff_tasks(existing, new_tasks, plan)
        return plan

    # -- validation ------------------------------------------------------------------------

    def _plan_cohorts(
        self,
        table: Table,
        existing: dict[str, Cohort],
        stays: dict[str, _Stay],
        plan: ImportPlan,
    ) -> None:
        seen: set[str] = set()
        for line, row in table.rows:
            errors: list[Problem] = []

            def bad(message: str, _line: int = line, _errors: list = errors, **params: object):
                _errors.append(problem(table.source, _line, message, **params))

            code = row["code"]
            if not _CODE_RE.match(code):
                bad(N_("cohort code “{code}” must be 1–32 letters, digits, - or _"), code=code)
            elif code.upper() in seen:
                bad(N_("cohort {code} appears twice"), code=code)
            seen.add(code.upper())
            if not row["name"]:
                bad(N_("the cohort name is empty"))
            tz = row["timezone"]
            if tz not in known_timezones():
                bad(N_("unknown time zone “{tz}” (use an IANA name such as Asia/Almaty)"), tz=tz)
            arrives = _parse_date(row["arrives"], bad, "arrives")
            departs = _parse_date(row["departs"], bad, "departs")
            if arrives and departs and departs < arrives:
                bad(
                    N_("departs ({departs}) is before arrives ({arrives})"),
                    departs=departs,
                    arrives=arrives,
                )
            _check_lengths(row, bad)
            if errors:
                plan.problems.extend(errors)
                continue
            fields = CohortFields(
                code=code,
                name=Localized(row["name"], row.get("name_ru", ""), row.get("name_uz", "")),
                timezone=tz,
                arrives=arrives,  # type: ignore[arg-type]
                departs=departs,  # type: ignore[arg-type]
                home_institution=row.get("home_institution", ""),
                host_institution=row.get("host_institution", ""),
            )
            stays[code.upper()] = _Stay(tz, arrives, departs)  # type: ignore[arg-type]
            current = existing.get(code.upper())
            if current is None:
                plan.cohorts_added.append(fields)
            elif CohortFields(
                current.code, current.name, current.timezone, current.arrives,
                current.departs, current.home_institution, current.host_institution,
            ) != fields:  # fmt: skip
                plan.cohorts_changed.append((current, fields))

    def _plan_sessions(
        self,
        table: Table,
        stays: dict[str, _Stay],
        seen: dict[str, set[str]],
        result: dict[str, list[SessionFields]],
        origins: dict[tuple[str, str], tuple[str, int]],
        plan: ImportPlan,
    ) -> None:
        has_ids = "id" in table.header
        for line, row in table.rows:
            errors: list[Problem] = []

            def bad(message: str, _line: int = line, _errors: list = errors, **params: object):
                _errors.append(problem(table.source, _line, message, **params))

            def warn(message: str, _line: int = line, **params: object) -> None:
                plan.warnings.append(problem(table.source, _line, message, **params))

            code = row["cohort"].upper()
            stay = stays.get(code)
            tz_name = stay.timezone if stay else None
            if stay is None:
                bad(N_("unknown cohort “{code}”"), code=row["cohort"])
            day = _parse_date(row["date"], bad, "date")
            if day and stay and not _near(day, stay):
                bad(
                    _FAR_FROM_STAY,
                    value=day,
                    arrives=stay.arrives,
                    departs=stay.departs,
                )
                day = None
            start = _parse_time(row["start"], bad, "start")
            end = _parse_time(row["end"], bad, "end")
            title = Localized(row["title_en"], row["title_ru"], row["title_uz"])
            if not title.any():
                bad(N_("the title is empty in every language"))
            department = Localized(
                row["department_en"], row["department_ru"], row["department_uz"]
            )
            latitude_text, longitude_text = row.get("latitude", ""), row.get("longitude", "")
            latitude = _parse_coordinate(latitude_text, 90, bad, "latitude")
            longitude = _parse_coordinate(longitude_text, 180, bad, "longitude")
            if bool(latitude_text) != bool(longitude_text):
                bad(N_("give both latitude and longitude, or neither"))
            cancelled_text = row.get("cancelled", "").lower()
            if cancelled_text not in _TRUE | _FALSE:
                bad(N_("cancelled must be yes or no, not “{value}”"), value=row["cancelled"])
            _check_lengths(row, bad)
            starts_at = ends_at = None
            if tz_name and day and start and end:
                tz = ZoneInfo(tz_name)
                starts_at = _local_instant(day, start, tz, bad)
                ends_at = _local_instant(day, end, tz, bad)
                if starts_at and ends_at and ends_at <= starts_at:
                    bad(
                        N_("ends ({end}) before it starts ({start})"),
                        end=row["end"],
                        start=row["start"],
                    )
            key = row.get("id", "") if has_ids else ""
            if has_ids and not key:
                bad(N_("the id is empty"))
            if not has_ids and day and start:
                key = f"{day.isoformat()} {start.strftime('%H:%M')} {title.get('en')}"
            keys = seen.setdefault(code, set())
            if key and key.upper() in keys:
                bad(N_("session “{id}” appears twice for cohort {code}"), id=key, code=code)
            keys.add(key.upper())
            origins[(code, key.upper())] = (table.source, line)
            if errors:
                plan.problems.extend(errors)
                continue
            assert stay is not None and day is not None and start and end
            if not stay.arrives <= day <= stay.departs:
                warn(
                    N_("{day} is outside the group's stay ({arrives} – {departs})"),
                    day=day,
                    arrives=stay.arrives,
                    departs=stay.departs,
                )
            if start < NIGHT_ENDS or end > NIGHT_STARTS:
                warn(
                    N_("{day} {start}–{end} is at night (22:00–06:00); is the time right?"),
                    day=day,
                    start=row["start"],
                    end=row["end"],
                )
            result.setdefault(code, []).append(
                SessionFields(
                    external_id=key,
                    starts_at=starts_at,  # type: ignore[arg-type]
                    ends_at=ends_at,  # type: ignore[arg-type]
                    title=title,
                    department=department,
                    location=_localized(row, "location"),
                    host=_localized(row, "host"),
                    notes=_localized(row, "notes"),
                    latitude=latitude,
                    longitude=longitude,
                    cancelled=cancelled_text in _TRUE,
                )
            )

    def _plan_contacts(
        self,
        table: Table,
        stays: dict[str, _Stay],
        result: dict[str, list[ContactFields]],
        plan: ImportPlan,
    ) -> None:
        for line, row in table.rows:
            errors: list[Problem] = []

            def bad(message: str, _line: int = line, _errors: list = errors, **params: object):
                _errors.append(problem(table.source, _line, message, **params))

            code = row["cohort"].upper()
            if code != SHARED and code not in stays:
                bad(N_("unknown cohort “{code}”"), code=row["cohort"])
            if not row["name"]:
                bad(N_("the contact name is empty"))
            phone, email, handle = row["phone"], row["email"], row["telegram"]
            if not (phone or email or handle):
                bad(N_("give at least a phone, an e-mail or a Telegram handle"))
            if phone and not _PHONE_RE.match(phone):
                bad(N_("“{value}” is not a phone number"), value=phone)
            if email and not _EMAIL_RE.match(email):
                bad(N_("“{value}” is not an e-mail address"), value=email)
            if handle and not _HANDLE_RE.match(handle):
                bad(N_("“{value}” is not a Telegram username"), value=handle)
            _check_lengths(row, bad)
            if errors:
                plan.problems.extend(errors)
                continue
            if handle and not handle.startswith("@"):
                handle = "@" + handle
            result.setdefault(code, []).append(
                ContactFields(
                    name=_localized(row, "name"),
                    role=Localized(row["role_en"], row["role_ru"], row["role_uz"]),
                    phone=phone,
                    email=email,
                    telegram=handle,
                )
            )

    def _plan_survey(
        self,
        table: Table,
        stays: dict[str, _Stay],
        result: dict[str, list[SurveyQuestion]],
        plan: ImportPlan,
    ) -> None:
        for line, row in table.rows:
            errors: list[Problem] = []

            def bad(message: str, _line: int = line, _errors: list = errors, **params: object):
                _errors.append(problem(table.source, _line, message, **params))

            code = row["cohort"].upper()
            if code not in stays:
                bad(N_("unknown cohort “{code}”"), code=row["cohort"])
            qid = row["question_id"]
            if not _QUESTION_ID_RE.match(qid):
                bad(N_("question_id “{value}” must be 1–32 letters, digits, ., - or _"),
                    value=qid)  # fmt: skip
            elif qid in {q.qid for q in result.get(code, [])}:
                bad(N_("question {value} appears twice"), value=qid)
            kind = SURVEY_TYPE_NAMES.get(row["type"].lower())
            if kind is None:
                bad(N_("type “{value}” must be rating, yesno or text"), value=row["type"])
            text = Localized(row["text_en"], row["text_ru"], row["text_uz"])
            if not text.any():
                bad(N_("the question has no text"))
            _check_lengths(row, bad)
            if errors:
                plan.problems.extend(errors)
                continue
            questions = result.setdefault(code, [])
            questions.append(SurveyQuestion(0, qid, len(questions), text, kind or "text"))

    def _plan_tasks(
        self,
        table: Table,
        stays: dict[str, _Stay],
        seen: set[tuple[str, str]],
        result: dict[str, list[TaskFields]],
        plan: ImportPlan,
    ) -> None:
        """A tasks file is the whole checklist of each cohort it names, in its order."""
        from bot.services.tasks import parse_due

        for line, row in table.rows:
            errors: list[Problem] = []

            def bad(message: str, _line: int = line, _errors: list = errors, **params: object):
                _errors.append(problem(table.source, _line, message, **params))

            code = row["cohort"].upper()
            stay = stays.get(code)
            if stay is None:
                bad(N_("unknown cohort “{code}”"), code=row["cohort"])
            key = row["id"]
            if not key:
                bad(N_("the id is empty"))
            elif (code, key.upper()) in seen:
                bad(N_("task “{id}” appears twice for cohort {code}"), id=key, code=row["cohort"])
            seen.add((code, key.upper()))
            title = Localized(row["title_en"], row["title_ru"], row["title_uz"])
            if not title.any():
                bad(N_("the title is empty in every language"))
            rule = parse_due(row["due"])
            if rule is None:
                bad(
                    N_(
                        "due: “{value}” is not a date (YYYY-MM-DD) nor a day counted from the "
                        "arrival or the departure (arrival+3d, departure-2d)"
                    ),
                    value=row["due"],
                )
            elif stay is not None:
                day = rule.resolve(stay.arrives, stay.departs)
                if not stay.arrives <= day <= stay.departs:
                    bad(
                        N_("due: {value} falls on {day}, outside the group's stay "
                           "({arrives} – {departs})"),
                        value=row["due"], day=day, arrives=stay.arrives, departs=stay.departs,
                    )  # fmt: skip
            link = row.get("link", "")
            if link and not re.match(r"^https?://[^\s<>\"]+$", link):
                bad(N_("link: “{value}” is not a web address (http:// or https://)"), value=link)
            proof_text = row.get("needs_proof", "").lower()
            if proof_text not in _TRUE | _FALSE:
                bad(N_("needs_proof must be yes or no, not “{value}”"), value=row["needs_proof"])
            _check_lengths(row, bad)
            if errors:
                plan.problems.extend(errors)
                continue
            result.setdefault(code, []).append(
                TaskFields(
                    external_id=key,
                    title=title,
                    due=row["due"].strip().lower(),
                    details=Localized(
                        row.get("details_en", ""), row.get("details_ru", ""),
                        row.get("details_uz", ""),
                    ),
                    link=link,
                    needs_proof=proof_text in _TRUE,
                )
            )  # fmt: skip

    # -- differences against the database ---------------------------------------------------

    async def _diff_sessions(
        self,
        existing: dict[str, Cohort],
        stays: dict[str, _Stay],
        new_sessions: dict[str, list[SessionFields]],
        origins: dict[tuple[str, str], tuple[str, int]],
        plan: ImportPlan,
    ) -> None:
        for code, sessions in new_sessions.items():
            cohort = existing.get(code)
            stored = [] if cohort is None else await self._storage.sessions.for_cohort(cohort.id)
            current = {s.external_id.upper(): s for s in stored}
            cohort_code = cohort.code if cohort else code
            zone = stays[code].timezone
            for fields in sessions:
                before = current.pop(fields.external_id.upper(), None)
                if before is None:
                    plan.sessions.append(SessionChange(None, fields, cohort_code, zone))
                elif SessionFields.of(before) != _keep_reason(fields, before):
                    plan.sessions.append(
                        SessionChange(before, _keep_reason(fields, before), cohort_code, zone)
                    )
                    source, line = origins[(code, fields.external_id.upper())]
                    for column in _stale_translations(SessionFields.of(before), fields):
                        plan.warnings.append(
                            problem(
                                source,
                                line,
                                N_(
                                    "{column} changed but its Russian or Uzbek text did not; "
                                    "students reading those may see the old text"
                                ),
                                column=column,
                            )
                        )
            for left_out in current.values():
                if not left_out.cancelled:
                    after = SessionFields.of(left_out)
                    after = SessionFields(**{
                        **after.__dict__, "cancelled": True,
                        "cancel_reason": CANCELLED_REASON_REMOVED,
                    })  # fmt: skip
                    plan.sessions.append(SessionChange(left_out, after, cohort_code, zone))

    async def _diff_contacts(
        self,
        existing: dict[str, Cohort],
        new_contacts: dict[str, list[ContactFields]],
        plan: ImportPlan,
    ) -> None:
        for code, contacts in new_contacts.items():
            cohort = existing.get(code)
            cohort_id = cohort.id if cohort else None
            if code == SHARED:
                before = [ContactFields.of(c) for c in await self._storage.contacts.owned_by(None)]
            elif cohort is None:
                before = []
            else:
                before = [
                    ContactFields.of(c) for c in await self._storage.contacts.owned_by(cohort.id)
                ]
            if before != contacts:
                plan.contacts.append(
                    ContactsChange(cohort.code if cohort else code, cohort_id, before, contacts)
                )

    async def _diff_tasks(
        self,
        existing: dict[str, Cohort],
        new_tasks: dict[str, list[TaskFields]],
        plan: ImportPlan,
    ) -> None:
        for code, tasks in new_tasks.items():
            cohort = existing.get(code)
            before = (
                [] if cohort is None
                else [t.fields for t in await self._storage.tasks.for_cohort(cohort.id)]
            )  # fmt: skip
            if before != tasks:
                plan.tasks.append(TasksChange(cohort.code if cohort else code, before, tasks))

    # -- writing ----------------------------------------------------------------------------

    async def apply(self, plan: ImportPlan) -> ImportResult:
        """Writes a valid plan in one transaction; any failure leaves the database as it was.

        Everything is prepared before the transaction begins and written in a few statements
        of many rows each, so the write lock is held for a fraction of a second even for
        20,000 sessions: a bot in another process, which reads without waiting on it (WAL),
        never waits long for its own writes either.
        """
        if not plan.ok:
            raise ValueError("cannot apply an import plan with problems")
        result = ImportResult(plan)
        storage = self._storage
        now = self._clock.now()
        sessions, changes = storage.sessions, storage.changes
        # Every row is built before the transaction begins; inside it, only writing.
        known = {c.code.upper(): c.id for c in await storage.cohorts.all()}
        added = [c for c in plan.sessions if c.before is None]
        moved: list[tuple[Session, SessionFields]] = []
        for current, fields in plan.cohorts_changed:
            if current.timezone != fields.timezone:
                moved += await self._move_to_zone(current, fields.timezone, plan)
        updates = sessions.prepare_updates(
            [(c.before, c.after) for c in plan.sessions if c.before is not None] + moved
        )
        records = changes.prepare(
            [(c.before.id if c.before else None, c.kind, c.before) for c in plan.sessions]
            + [(s.id, "changed", s) for s, _ in moved],
            now,
        )

        def inserts(cohort_ids: dict[str, int]) -> Prepared:
            return sessions.prepare_inserts(
                [(cohort_ids[c.cohort_code.upper()], c.after) for c in added]
            )

        new_cohorts = bool(plan.cohorts_added)
        prepared_inserts = None if new_cohorts else inserts(known)
        async with storage.transaction():
            for fields in plan.cohorts_added:
                await storage.cohorts.insert(fields)
            for current, fields in plan.cohorts_changed:
                await storage.cohorts.update(current.id, fields)
            cohort_ids = known
            if new_cohorts:  # their ids exist from here on
                cohort_ids = {c.code.upper(): c.id for c in await storage.cohorts.all()}
                prepared_inserts = inserts(cohort_ids)
            assert prepared_inserts is not None
            new_ids = await sessions.insert_prepared(prepared_inserts)
            await sessions.update_prepared(updates)
            await changes.record_prepared(records, new_ids)
            fresh = iter(new_ids)
            result.changed_session_ids = [
                c.before.id if c.before else next(fresh) for c in plan.sessions
            ] + [s.id for s, _ in moved]
            for contacts in plan.contacts:
                cohort_id = (
                    None
                    if contacts.cohort_code == SHARED
                    else cohort_ids[contacts.cohort_code.upper()]
                )
                await storage.contacts.replace(cohort_id, contacts.after)
            for survey in plan.surveys:
                cohort_id = cohort_ids[survey.cohort_code.upper()]
                await storage.feedback.replace_survey(
                    cohort_id, [replace(q, cohort_id=cohort_id) for q in survey.questions]
                )
            for checklist in plan.tasks:
                await storage.tasks.replace(
                    cohort_ids[checklist.cohort_code.upper()], checklist.after
                )
        return result

    async def _move_to_zone(
        self, cohort: Cohort, zone: str, plan: ImportPlan
    ) -> list[tuple[Session, SessionFields]]:
        """Keeps the local wall-clock times of sessions this import does not mention."""
        mentioned = {c.before.id for c in plan.sessions if c.before is not None}
        old, new = ZoneInfo(cohort.timezone), ZoneInfo(zone)
        moved = []
        for s in await self._storage.sessions.for_cohort(cohort.id):
            if s.id in mentioned:
                continue
            fields = SessionFields.of(s)
            moved.append((s, SessionFields(**{
                **fields.__dict__,
                "starts_at": s.starts_at.astimezone(old).replace(tzinfo=new),
                "ends_at": s.ends_at.astimezone(old).replace(tzinfo=new),
            })))  # fmt: skip
        return moved


def _stale_translations(before: SessionFields, after: SessionFields) -> list[str]:
    """Base columns edited while a translation stayed as it was (likely forgotten)."""
    stale = []
    for name, column in (
        ("title", "title_en"), ("department", "department_en"), ("location", "location"),
        ("host", "host"), ("notes", "notes"),
    ):  # fmt: skip
        old, new = getattr(before, name), getattr(after, name)
        if old.en != new.en and any(
            getattr(old, lang) and getattr(old, lang) == getattr(new, lang) for lang in LANGS
        ):
            stale.append(column)
    return stale


def _keep_reason(fields: SessionFields, before: Session) -> SessionFields:
    """A file cannot carry a cancel reason: keep the stored one while the session stays off."""
    if fields.cancelled and before.cancelled and not fields.cancel_reason:
        return SessionFields(**{**fields.__dict__, "cancel_reason": before.cancel_reason})
    return fields


def _parse_date(text: str, bad, column: str) -> date | None:  # type: ignore[no-untyped-def]
    """Through bot.parsing.parse_date, the one rule for every date a person or a file gives."""
    day = parse_date(text)
    if day is not None:
        return day
    if not _DATE_RE.match(text):
        bad(N_("{column}: “{value}” is not a date (use YYYY-MM-DD)"), column=column, value=text)
        return None
    try:
        date.fromisoformat(text)
    except ValueError:
        bad(N_("{column}: “{value}” is not a real date"), column=column, value=text)
        return None
    bad(
        N_("{column}: {value} is outside the years {first}–{last}"),
        column=column,
        value=text,
        first=EARLIEST_DATE.year,
        last=LATEST_DATE.year,
    )
    return None


@dataclass(frozen=True)
class _Stay:
    """What sessions are checked against: the cohort's zone and its arrival..departure."""

    timezone: str
    arrives: date
    departs: date


def _near(day: date, stay: _Stay) -> bool:
    return stay.arrives - SESSION_DATE_MARGIN <= day <= stay.departs + SESSION_DATE_MARGIN


def _localized(row: dict[str, str], column: str) -> Localized:
    """The column itself is the base (English) value; column_ru and column_uz are optional."""
    return Localized(row.get(column, ""), row.get(f"{column}_ru", ""), row.get(f"{column}_uz", ""))


def _parse_time(text: str, bad, column: str) -> time | None:  # type: ignore[no-untyped-def]
    match = _TIME_RE.match(text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        bad(
            N_("{column}: “{value}” is not a time (use HH:MM, 24-hour)"), column=column, value=text
        )
        return None
    return time(int(match[1]), int(match[2]))


def _parse_coordinate(text: str, limit: int, bad, column: str) -> float | None:  # type: ignore[no-untyped-def]
    if not text:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        value = float("nan")
    if not -limit <= value <= limit:  # also false for NaN and infinity
        bad(
            N_("{column} must be a number between {low} and {high}, not “{value}”"),
            column=column,
            low=-limit,
            high=limit,
            value=text,
        )
        return None
    return value


def _local_instant(day: date, at: time, tz: ZoneInfo, bad) -> datetime | None:  # type: ignore[no-untyped-def]
    local = datetime.combine(day, at, tzinfo=tz)
    # A wall-clock time skipped by a DST change does not survive the round trip through UTC.
    if local.astimezone(ZoneInfo("UTC")).astimezone(tz).replace(tzinfo=None) != local.replace(
        tzinfo=None
    ):
        bad(
            N_("{day} {time} does not exist in time zone {tz}"),
            day=day,
            time=at.strftime("%H:%M"),
            tz=tz.key,
        )
        return None
    return local.astimezone(ZoneInfo("UTC"))


def utf16_length(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def _check_lengths(row: dict[str, str], bad) -> None:  # type: ignore[no-untyped-def]
    for column, value in row.items():
        base = column.removesuffix("_en").removesuffix("_ru").removesuffix("_uz")
        limit = FIELD_LIMITS.get(base, MAX_CELL_CHARS)
        if utf16_length(value) > limit:
            bad(N_("{column} is longer than {limit} characters"), column=column, limit=limit)
