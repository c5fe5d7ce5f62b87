"""Attendance: check-in within each cohort's window, reported absences, the nudge and the
supervisor's list of the missing (timed, exactly once), staff marks, and each student's record.

Only students are on the roll: supervisors travel with the cohort and answer for it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from html import escape

from telegram import InlineKeyboardMarkup

from bot.clock import Clock
from bot.formatting import hhmm
from bot.i18n import Translator
from bot.scheduling import JobScheduler
from bot.services.checkin import cannot_come_button, checkin_button
from bot.services.delivery import Outgoing, Sender
from bot.services.reminders import TimedPlanner, session_group
from bot.storage import Storage
from bot.storage.attendance import AttendanceRecord, AttendanceSettings, Source, Status
from bot.storage.models import Cohort, Role, Session, User

LATE_AFTER = timedelta(minutes=5)  # a check-in this long after the start counts as late
MIN_REACH = timedelta(minutes=30)
EARTH_RADIUS_M = 6_371_000
BUCKET_M = 100  # distances are kept only as the upper bound of a 100 m bucket
REASONS = ("ill", "late", "other")
MAX_NOTE = 200
LIMITS = {  # what a coordinator may set, in minutes (radius in metres)
    "opens": (0, 180),
    "closes": (5, 240),
    "nudge": (1, 120),
    "missing": (1, 240),
    "radius": (50, 5000),
}


class CheckIn(StrEnum):
    PRESENT = "present"
    LATE = "late"
    ASK_LOCATION = "ask_location"
    TOO_EARLY = "too_early"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    ALREADY = "already"
    STAFF_MARKED = "staff_marked"
    NOT_ON_ROLL = "not_on_roll"  # not a student of the session's cohort (or no such session)
    FAR = "far"


@dataclass(frozen=True)
class CheckInOutcome:
    result: CheckIn
    session: Session | None = None
    opens: datetime | None = None
    closes: datetime | None = None
    distance_m: float | None = None
    record: AttendanceRecord | None = None


class Mark(StrEnum):
    DONE = "done"
    UNCHANGED = "unchanged"
    NOT_ON_ROLL = "not_on_roll"


@dataclass(frozen=True)
class RollCall:
    session: Session
    cohort: Cohort
    students: list[tuple[User, AttendanceRecord | None]]
    started: bool

    def count(self, status: Status | None) -> int:
        return sum(1 for _, r in self.students if (r.status if r else None) == status)


@dataclass(frozen=True)
class StudentRecord:
    """One student's attendance over the past sessions of a cohort."""

    sessions: list[Session]  # past sessions, not cancelled, in order
    records: dict[int, AttendanceRecord]  # session id -> record
    hours: dict[str, float]  # department (in the reader's language) -> hours attended

    @property
    def attended(self) -> int:
        return sum(1 for s in self.sessions if letter(self.records.get(s.id)) in ("P", "L"))

    @property
    def total_hours(self) -> float:
        return sum(self.hours.values())


def letter(record: AttendanceRecord | None) -> str:
    """P, L, E or A for a session that has begun (no record: absent)."""
    if record is None:
        return "A"
    return {Status.PRESENT: "P", Status.LATE: "L", Status.EXCUSED: "E"}.get(record.status, "A")


def on_record(
    session: Session, record: AttendanceRecord | None, joined: datetime | None, now: datetime
) -> bool:
    """Whether a session counts in a student's record: it has begun, and it had not ended
    when they joined (unless something was recorded for it anyway)."""
    if session.cancelled or session.starts_at > now:
        return False
    return record is not None or joined is None or session.ends_at > joined


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def hours_of(session: Session) -> float:
    return max(0.0, (session.ends_at - session.starts_at).total_seconds() / 3600)


def member_link(user: User) -> str:
    """A tappable name for staff: the @username when there is one, else Telegram's own link."""
    name = escape(user.display_name)
    if user.username:
        handle = escape(user.username)
        return f'<a href="https://t.me/{handle}">{name}</a> (@{handle})'
    return f'<a href="tg://user?id={user.telegram_id}">{name}</a>'


class AttendanceService(TimedPlanner):
    def __init__(
        self, storage: Storage, clock: Clock, sender: Sender, scheduler: JobScheduler
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._sender = sender
        self._scheduler = scheduler
        self._settings: dict[int, AttendanceSettings] = {}
        self.reach = MIN_REACH

    # -- each cohort's rules ------------------------------------------------------------------

    async def load_settings(self) -> None:
        """At start, before the timed queue is planned (plan_session cannot wait for SQL)."""
        self._settings = await self._storage.attendance.all_settings()
        self._update_reach()

    def settings_of(self, cohort_id: int) -> AttendanceSettings:
        return self._settings.get(cohort_id) or AttendanceSettings(cohort_id)

    async def change_settings(self, cohort: Cohort, **values: int | bool) -> AttendanceSettings:
        settings = replace(await self._storage.attendance.settings(cohort.id), **values)
        await self._storage.attendance.save_settings(settings)
        self._settings[cohort.id] = settings
        self._update_reach()
        # Today's nudges and lists follow the new offsets.
        now = self._clock.now()
        for session in await self._storage.sessions.starting_between(
            cohort.id, now - self.reach, now + timedelta(hours=48)
        ):
            if not session.cancelled:
                self.plan_session(session, now)
        return settings

    def _update_reach(self) -> None:
        longest = max(
            (max(s.closes_after, s.missing_after, s.nudge_after) for s in self._settings.values()),
            default=0,
        )
        self.reach = max(MIN_REACH, timedelta(minutes=longest))

    def window(self, session: Session) -> tuple[datetime, datetime]:
        s = self.settings_of(session.cohort_id)
        return (
            session.starts_at - timedelta(minutes=s.opens_before),
            session.starts_at + timedelta(minutes=s.closes_after),
        )

    # -- who is on the roll -------------------------------------------------------------------

    async def is_student(self, user_id: int, cohort_id: int) -> bool:
        return any(
            m.cohort_id == cohort_id and m.role is Role.STUDENT
            for m in await self._storage.users.memberships(user_id)
        )

    async def students(self, cohort_id: int) -> list[User]:
        members = await self._storage.users.members_of(cohort_id)
        return [u for u, m in members if m.role is Role.STUDENT]

    async def supervisors(self, cohort_id: int) -> list[User]:
        members = await self._storage.users.members_of(cohort_id)
        return [u for u, m in members if m.role is Role.SUPERVISOR and u.reachable]

    # -- check-in -----------------------------------------------------------------------------

    async def open_session(self, cohort: Cohort, user_id: int) -> Session | None:
        """The session going on or about to start whose check-in is open, preferring one the
        student has not checked in for, then the nearest start."""
        now = self._clock.now()
        longest = max(timedelta(hours=12), self.reach)
        candidates = [
            s
            for s in await self._storage.sessions.starting_between(
                cohort.id, now - longest, now + timedelta(hours=6)
            )
            if not s.cancelled and self.window(s)[0] <= now <= self.window(s)[1]
        ]
        if not candidates:
            return None
        records = await self._storage.attendance.for_user(user_id, cohort.id)

        def rank(s: Session) -> tuple[bool, float]:
            return s.id in records, abs((s.starts_at - now).total_seconds())

        return min(candidates, key=rank)

    async def check_in(
        self,
        user_id: int,
        session_id: int,
        *,
        location: tuple[float, float] | None = None,
        without_location: bool = False,
    ) -> CheckInOutcome:
        """Records the student's own check-in, or says why not (and changes nothing)."""
        session = await self._storage.sessions.get(session_id)
        if session is None or not await self.is_student(user_id, session.cohort_id):
            return CheckInOutcome(CheckIn.NOT_ON_ROLL)
        if session.cancelled:
            return CheckInOutcome(CheckIn.CANCELLED, session)
        now = self._clock.now()
        opens, closes = self.window(session)
        if now < opens:
            return CheckInOutcome(CheckIn.TOO_EARLY, session, opens, closes)
        if now > closes:
            return CheckInOutcome(CheckIn.CLOSED, session, opens, closes)
        repo = self._storage.attendance
        existing = await repo.get(session.id, user_id)
        if existing is not None and existing.source is Source.STAFF:
            return CheckInOutcome(CheckIn.STAFF_MARKED, session, record=existing)
        if existing is not None and existing.source is Source.CHECKIN:
            return CheckInOutcome(CheckIn.ALREADY, session, record=existing)
        settings = self.settings_of(session.cohort_id)
        verdict, bucket, distance = "self", None, None
        if settings.location and session.has_coordinates and not without_location:
            if location is None:
                await repo.ask_location(user_id, session.id, now)
                return CheckInOutcome(CheckIn.ASK_LOCATION, session, opens, closes)
            assert session.latitude is not None and session.longitude is not None
            distance = distance_m(location[0], location[1], session.latitude, session.longitude)
            if distance > settings.radius_m:
                return CheckInOutcome(CheckIn.FAR, session, opens, closes, distance)
            verdict = "verified"
            bucket = max(1, math.ceil(distance / BUCKET_M)) * BUCKET_M
        late = now > session.starts_at + LATE_AFTER
        record = AttendanceRecord(
            session.id, user_id, Status.LATE if late else Status.PRESENT, Source.CHECKIN, now,
            verdict=verdict, distance_bucket=bucket,
        )  # fmt: skip
        async with self._storage.transaction():
            await repo.save(record)
            await repo.location_done(user_id)
        result = CheckIn.LATE if late else CheckIn.PRESENT
        return CheckInOutcome(result, session, opens, closes, distance, record)

    # -- absences -----------------------------------------------------------------------------

    async def reportable(self, cohort: Cohort, user_id: int) -> list[Session]:
        """Today's sessions (cohort time) not over, not cancelled, not checked in or marked."""
        now = self._clock.now()
        today = now.astimezone(cohort.tz).date()
        start = datetime.combine(today, time(0), tzinfo=cohort.tz)
        sessions = await self._storage.sessions.starting_between(
            cohort.id, start, start + timedelta(days=1)
        )
        records = await self._storage.attendance.for_user(user_id, cohort.id)
        return [
            s
            for s in sessions
            if not s.cancelled
            and s.ends_at > now
            and (records.get(s.id) is None or records[s.id].source is Source.REPORT)
        ]

    async def report_absence(
        self,
        user: User,
        cohort: Cohort,
        sessions: list[Session],
        reason: str,
        minutes: int | None = None,
        note: str = "",
    ) -> list[Session]:
        """Records an absence (or lateness) for the student's own sessions and tells the
        supervisors at once; returns the sessions recorded."""
        if reason not in REASONS:
            return []
        allowed = {s.id for s in await self.reportable(cohort, user.telegram_id)}
        chosen = [s for s in sessions if s.id in allowed and s.cohort_id == cohort.id]
        if not chosen or not await self.is_student(user.telegram_id, cohort.id):
            return []
        now = self._clock.now()
        note = " ".join(note.split())[:MAX_NOTE]
        status = Status.LATE if reason == "late" else Status.EXCUSED
        async with self._storage.transaction():
            for s in chosen:
                await self._storage.attendance.save(
                    AttendanceRecord(
                        s.id, user.telegram_id, status, Source.REPORT, now, reason=reason,
                        late_minutes=minutes if reason == "late" else None, note=note,
                    )
                )  # fmt: skip
        ref = f"{user.telegram_id}:{','.join(str(s.id) for s in chosen)}:{now:%Y%m%d%H%M%S}"

        def render(tr: Translator) -> Outgoing:
            return Outgoing(self.absence_text(user, cohort, chosen, reason, minutes, note, tr))

        await self._sender.deliver_all("absence", ref, await self.supervisors(cohort.id), render)
        return chosen

    def reason_text(self, reason: str, minutes: int | None, tr: Translator) -> str:
        if reason == "ill":
            return "🤒 " + tr("ill")
        if reason == "late":
            if minutes:
                return "⏰ " + tr.ngettext(
                    "late by about {n} minute", "late by about {n} minutes", minutes
                ).format(n=minutes)
            return "⏰ " + tr("late")
        return "📝 " + tr("another reason")

    def absence_text(
        self,
        user: User,
        cohort: Cohort,
        sessions: list[Session],
        reason: str,
        minutes: int | None,
        note: str,
        tr: Translator,
    ) -> str:
        lines = [
            tr("{name} reports: {reason}").format(
                name=member_link(user), reason=self.reason_text(reason, minutes, tr)
            )
        ]
        lines += [
            f"• {hhmm(s.starts_at, cohort)} {escape(s.title.get(tr.language))}" for s in sessions
        ]
        if note:
            lines.append("💬 " + escape(note))
        return "\n".join(lines)

    # -- the nudge and the supervisor's list ----------------------------------------------------

    def plan_session(self, session: Session, now: datetime) -> int:
        s = self.settings_of(session.cohort_id)
        group = session_group(session.id)
        data = (session.id, session.starts_at)
        self._scheduler.at(
            f"nudge:{session.id}",
            session.starts_at + timedelta(minutes=s.nudge_after),
            self._nudge_item,
            data,
            group=group,
        )
        self._scheduler.at(
            f"missing:{session.id}",
            session.starts_at + timedelta(minutes=s.missing_after),
            self._missing_item,
            data,
            group=group,
        )
        return 2

    async def _current(self, data: tuple[int, datetime]) -> tuple[Session, Cohort] | None:
        session_id, starts_at = data
        session = await self._storage.sessions.get(session_id)
        if session is None or session.cancelled or session.starts_at != starts_at:
            return None  # cancelled or moved since: its new items are already planned
        cohort = await self._storage.cohorts.get(session.cohort_id)
        return (session, cohort) if cohort is not None else None

    async def _unaccounted(self, session: Session) -> list[User]:
        records = await self._storage.attendance.for_session(session.id)
        members = await self._storage.users.members_of(session.cohort_id)
        return [u for u, m in members if m.role is Role.STUDENT and u.telegram_id not in records]

    async def _nudge_item(self, data: tuple[int, datetime]) -> None:
        found = await self._current(data)
        if found is None:
            return
        session, cohort = found
        if self._clock.now() > self.window(session)[1]:
            return  # check-in has closed: "are you on your way?" would come too late
        recipients = [u for u in await self._unaccounted(session) if u.reachable]
        ref = f"{session.id}:{session.starts_at:%Y%m%d%H%M}"

        def render(tr: Translator) -> Outgoing:
            title = escape(session.title.get(tr.language))
            text = "👋 " + tr("<b>{title}</b> started at {time}. Are you on your way?").format(
                title=title, time=hhmm(session.starts_at, cohort)
            )
            markup = InlineKeyboardMarkup(
                [[checkin_button(session.id, tr), cannot_come_button(session.id, tr)]]
            )
            return Outgoing(text, markup)

        await self._sender.deliver_all("nudge", ref, recipients, render)

    async def _missing_item(self, data: tuple[int, datetime]) -> None:
        found = await self._current(data)
        if found is None:
            return
        session, cohort = found
        if self._clock.now() >= session.ends_at:
            return  # over: the roll-call and the record say the rest
        missing = await self._unaccounted(session)
        if not missing:
            return
        ref = f"{session.id}:{session.starts_at:%Y%m%d%H%M}"
        minutes = self.settings_of(session.cohort_id).missing_after

        def render(tr: Translator) -> Outgoing:
            title = escape(session.title.get(tr.language))
            head = "🔔 " + tr.ngettext(
                "{n} student is still missing at <b>{title}</b> ({time}, {minutes} min in):",
                "{n} students are still missing at <b>{title}</b> ({time}, {minutes} min in):",
                len(missing),
            ).format(
                n=len(missing), title=title, time=hhmm(session.starts_at, cohort),
                minutes=minutes,
            )  # fmt: skip
            lines = [head, *(f"• {member_link(u)}" for u in missing)]
            lines.append(tr("Mark them with /attendance {id}.").format(id=session.id))
            return Outgoing("\n".join(lines))

        await self._sender.deliver_all("missing", ref, await self.supervisors(cohort.id), render)

    # -- the roll-call ------------------------------------------------------------------------

    async def roll_call_session(self, cohort: Cohort) -> Session | None:
        """The session whose check-in is open (the latest begun first), else today's latest
        begun, else the next one."""
        now = self._clock.now()
        today = now.astimezone(cohort.tz).date()
        start = datetime.combine(today, time(0), tzinfo=cohort.tz)
        sessions = [
            s
            for s in await self._storage.sessions.starting_between(
                cohort.id, start, start + timedelta(days=1)
            )
            if not s.cancelled
        ]
        open_now = [s for s in sessions if self.window(s)[0] <= now <= self.window(s)[1]]
        if open_now:
            return max(open_now, key=lambda s: (s.starts_at <= now, s.starts_at))
        begun = [s for s in sessions if s.starts_at <= now]
        if begun:
            return begun[-1]
        return await self._storage.sessions.next_after(cohort.id, now)

    async def roll_call(self, session: Session, cohort: Cohort) -> RollCall:
        records = await self._storage.attendance.for_session(session.id)
        students = await self.students(cohort.id)
        return RollCall(
            session,
            cohort,
            [(u, records.get(u.telegram_id)) for u in students],
            started=session.starts_at <= self._clock.now(),
        )

    async def mark(self, staff_id: int, session: Session, student_id: int, status: Status) -> Mark:
        """A staff mark overrides what the app recorded; every change is audited."""
        if not await self.is_student(student_id, session.cohort_id):
            return Mark.NOT_ON_ROLL
        repo = self._storage.attendance
        existing = await repo.get(session.id, student_id)
        if existing is not None and existing.status is status:
            return Mark.UNCHANGED  # already so, whoever said it: nothing to audit
        now = self._clock.now()
        record = AttendanceRecord(
            session.id, student_id, status, Source.STAFF, now,
            reason=existing.reason if existing else "",
            note=existing.note if existing else "", marked_by=staff_id,
        )  # fmt: skip
        before = existing.status.value if existing else "missing"
        await repo.mark(session.cohort_id, record, before, staff_id)
        return Mark.DONE

    # -- each student's record ----------------------------------------------------------------

    async def student_record(self, user_id: int, cohort: Cohort, lang: str) -> StudentRecord:
        now = self._clock.now()
        records = await self._storage.attendance.for_user(user_id, cohort.id)
        joined = next(
            (
                m.joined_at
                for m in await self._storage.users.memberships(user_id)
                if m.cohort_id == cohort.id
            ),
            None,
        )
        sessions = [
            s
            for s in await self._storage.sessions.for_cohort(cohort.id)
            if on_record(s, records.get(s.id), joined, now)
        ]
        hours: dict[str, float] = defaultdict(float)
        for s in sessions:
            if letter(records.get(s.id)) in ("P", "L"):
                hours[s.department.get(lang) or "—"] += hours_of(s)
        return StudentRecord(sessions, records, dict(hours))
