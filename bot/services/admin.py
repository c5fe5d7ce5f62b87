"""Coordinators' changes to itineraries: every one audited, every one through the change feed
that the import uses, so reminders follow and members are told."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.clock import Clock
from bot.services.importer import Importer, ImportPlan
from bot.services.reminders import ReminderService
from bot.storage import Storage
from bot.storage.models import AuditEntry, Cohort, Localized, Session
from bot.storage.repositories import SessionFields

MAX_LOCATION = 200
MAX_REASON = 300
SESSION_ACTIONS = frozenset({"cancel", "move", "room", "restore"})


class Refusal(StrEnum):
    """Why a change to a session was not made; the handler says it in the user's language."""

    PAST = "past"
    OUTSIDE_PROGRAMME = "outside_programme"
    CANCELLED = "cancelled"
    NOT_CANCELLED = "not_cancelled"
    STALE = "stale"  # changed by someone else since it was read (chat and console at once)


class ChangeRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class Snapshot:
    """A session as an audit entry stores it: data, never words, so any language can show it."""

    starts: datetime
    ends: datetime
    location: str
    cancelled: bool
    reason: str

    @classmethod
    def of(cls, s: SessionFields | Session) -> Snapshot:
        return cls(s.starts_at, s.ends_at, str(s.location), s.cancelled, s.cancel_reason)

    def dump(self) -> str:
        return json.dumps(
            {
                "starts": self.starts.astimezone(UTC).isoformat(),
                "ends": self.ends.astimezone(UTC).isoformat(),
                "location": self.location[:MAX_LOCATION],
                "cancelled": self.cancelled,
                "reason": self.reason[:MAX_REASON],
            },
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, text: str) -> Snapshot | None:
        """None for anything else, such as the plain text of entries written before."""
        data = _json_object(text)
        try:
            starts = datetime.fromisoformat(data["starts"])
            ends = datetime.fromisoformat(data["ends"])
            if starts.tzinfo is None or ends.tzinfo is None:
                return None
            return cls(
                starts, ends, str(data.get("location", "")), bool(data.get("cancelled")),
                str(data.get("reason", "")),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None


def _json_object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.startswith("{") else None
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class ImportCounts:
    added: int
    changed: int
    cancelled: int
    contact_lists: int

    @classmethod
    def load(cls, text: str) -> ImportCounts | None:
        data = _json_object(text)
        try:
            values = [int(data[k]) for k in ("added", "changed", "cancelled")]
            return cls(*values, int(data.get("contact_lists", 0)))
        except (KeyError, TypeError, ValueError):
            return None


_USER_TARGET = re.compile(r"user ([0-9]{1,15})")
_SESSION_TARGET = re.compile(r"#([0-9]{1,15})")


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str | None  # None: no longer known to the bot (forgot their data)


@dataclass(frozen=True)
class AuditView:
    """One audit entry with what a reader needs resolved: names, the session, stored data."""

    entry: AuditEntry
    actor: Person | None  # None: no person (the import command, the system)
    subject: Person | None  # the person a role entry is about
    session_id: int | None
    session_title: Localized | None
    before: Snapshot | None
    after: Snapshot | None
    counts: ImportCounts | None
    cohort_codes: dict[int, str]  # for entries that name groups by id


class AdminService:
    def __init__(
        self, storage: Storage, clock: Clock, importer: Importer, reminders: ReminderService
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._importer = importer
        self._reminders = reminders

    async def cancel(self, actor_id: int, session: Session, reason: str) -> Session:
        fields = replace(
            SessionFields.of(session), cancelled=True, cancel_reason=reason[:MAX_REASON]
        )
        return await self._change(actor_id, session, fields, "cancel", "cancelled")

    async def restore(self, actor_id: int, session: Session) -> Session:
        """Puts a cancelled session back; the change feed sees cancelled → not and announces
        it as back on the schedule."""
        if not session.cancelled:
            raise ChangeRefused(Refusal.NOT_CANCELLED)
        fields = replace(SessionFields.of(session), cancelled=False, cancel_reason="")
        return await self._change(actor_id, session, fields, "restore", "changed")

    async def move(
        self, actor_id: int, session: Session, cohort: Cohort, starts_at: datetime
    ) -> Session:
        """Refuses a moment that has passed, a day outside the programme, and a cancelled
        session (restore it first: moving it silently would leave members unaware)."""
        self.check_move(session, cohort, starts_at)
        duration = session.ends_at - session.starts_at
        fields = replace(
            SessionFields.of(session), starts_at=starts_at, ends_at=starts_at + duration
        )
        return await self._change(actor_id, session, fields, "move", "changed")

    def check_move(self, session: Session, cohort: Cohort, starts_at: datetime) -> None:
        """What `move` refuses, for a preview that must not change anything."""
        if session.cancelled:
            raise ChangeRefused(Refusal.CANCELLED)
        if not cohort.arrives <= starts_at.astimezone(cohort.tz).date() <= cohort.departs:
            raise ChangeRefused(Refusal.OUTSIDE_PROGRAMME)
        if starts_at <= self._clock.now():
            raise ChangeRefused(Refusal.PAST)

    async def room(self, actor_id: int, session: Session, location: str) -> Session:
        fields = replace(SessionFields.of(session), location=Localized(location[:MAX_LOCATION]))
        return await self._change(actor_id, session, fields, "room", "changed")

    async def _change(
        self, actor_id: int, session: Session, fields: SessionFields, action: str, kind: str
    ) -> Session:
        now = self._clock.now()
        async with self._storage.transaction():
            # The change was decided on `session` as read: if another change (from chat, the
            # console or an import) came in between, refuse rather than undo it.
            current = await self._storage.sessions.get(session.id)
            if current is None or current.revision != session.revision:
                raise ChangeRefused(Refusal.STALE)
            await self._storage.sessions.update(session.id, fields)
            await self._storage.changes.record(session.id, kind, session, now)
            await self._storage.audit.record(
                now, actor_id, session.cohort_id, action, f"#{session.id}",
                Snapshot.of(session).dump(), Snapshot.of(fields).dump(),
            )  # fmt: skip
        await self._reminders.process_changes()
        updated = await self._storage.sessions.get(session.id)
        assert updated is not None
        return updated

    async def audit_log(self, cohort: Cohort, limit: int = 20) -> list[AuditView]:
        """The latest entries, with the people and sessions they name looked up."""
        storage = self._storage
        names: dict[int, Person] = {}

        async def person(user_id: int) -> Person:
            if user_id not in names:
                user = await storage.users.get(user_id)
                names[user_id] = Person(user_id, user.display_name if user else None)
            return names[user_id]

        codes = {c.id: c.code for c in await storage.cohorts.all()}
        views = []
        for entry in await storage.audit.latest(cohort.id, limit):
            actor = await person(entry.actor_id) if entry.actor_id is not None else None
            subject = None
            if match := _USER_TARGET.fullmatch(entry.target):
                subject = await person(int(match[1]))
            session_id, title = None, None
            if entry.action in SESSION_ACTIONS and (
                match := _SESSION_TARGET.fullmatch(entry.target)
            ):
                session_id = int(match[1])
                session = await storage.sessions.get(session_id)
                title = session.title if session is not None else None
            views.append(
                AuditView(
                    entry, actor, subject, session_id, title, Snapshot.load(entry.before),
                    Snapshot.load(entry.after),
                    ImportCounts.load(entry.after) if entry.action == "import" else None,
                    codes,
                )
            )  # fmt: skip
        return views

    async def apply_import(self, actor_id: int, plan: ImportPlan, filename: str) -> None:
        await self._importer.apply(plan)
        now = self._clock.now()
        cohorts = {c.code.upper(): c.id for c in await self._storage.cohorts.all()}
        touched = {c.cohort_code.upper() for c in plan.sessions}
        touched |= {c.cohort_code.upper() for c in plan.contacts}
        touched |= {c.cohort_code.upper() for c in plan.tasks}
        touched |= {c.code.upper() for c in plan.cohorts_added}
        touched |= {c.code.upper() for _, c in plan.cohorts_changed}
        touched |= {s.cohort_code.upper() for s in plan.surveys}
        summary = json.dumps(
            {
                "added": plan.count("added"),
                "changed": plan.count("changed"),
                "cancelled": plan.count("cancelled"),
                "contact_lists": len(plan.contacts),
            }
        )
        for code in sorted(touched):
            await self._storage.audit.record(
                now, actor_id, cohorts.get(code), "import", filename[:100], "", summary
            )
        await self._reminders.process_changes()
