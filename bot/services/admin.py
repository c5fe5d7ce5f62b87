"""Coordinators' changes to itineraries: every one audited, every one through the change feed
that the import uses, so reminders follow and members are told."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.services.importer import Importer, ImportPlan
from bot.services.reminders import ReminderService
from bot.storage import Storage
from bot.storage.models import Localized, Session
from bot.storage.repositories import SessionFields

MAX_LOCATION = 200
MAX_REASON = 300


def _summary(s: SessionFields | Session, zone: ZoneInfo) -> str:
    """What a coordinator reads in /audit: local date and time, place, state."""
    start, end = s.starts_at.astimezone(zone), s.ends_at.astimezone(zone)
    text = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}"
    if s.location:
        text += f", {s.location}"
    if s.cancelled:
        text += f", cancelled ({s.cancel_reason})" if s.cancel_reason else ", cancelled"
    return text


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

    async def move(self, actor_id: int, session: Session, starts_at: datetime) -> Session:
        duration = session.ends_at - session.starts_at
        fields = replace(
            SessionFields.of(session), starts_at=starts_at, ends_at=starts_at + duration
        )
        return await self._change(actor_id, session, fields, "move", "changed")

    async def room(self, actor_id: int, session: Session, location: str) -> Session:
        fields = replace(SessionFields.of(session), location=Localized(location[:MAX_LOCATION]))
        return await self._change(actor_id, session, fields, "room", "changed")

    async def _change(
        self, actor_id: int, session: Session, fields: SessionFields, action: str, kind: str
    ) -> Session:
        now = self._clock.now()
        cohort = await self._storage.cohorts.get(session.cohort_id)
        zone = cohort.tz if cohort else ZoneInfo("UTC")
        async with self._storage.transaction():
            await self._storage.sessions.update(session.id, fields)
            await self._storage.changes.record(session.id, kind, session, now)
            await self._storage.audit.record(
                now, actor_id, session.cohort_id, action, f"#{session.id}",
                _summary(session, zone), _summary(fields, zone),
            )  # fmt: skip
        await self._reminders.process_changes()
        updated = await self._storage.sessions.get(session.id)
        assert updated is not None
        return updated

    async def apply_import(self, actor_id: int, plan: ImportPlan, filename: str) -> None:
        await self._importer.apply(plan)
        now = self._clock.now()
        cohorts = {c.code.upper(): c.id for c in await self._storage.cohorts.all()}
        touched = {c.cohort_code.upper() for c in plan.sessions}
        touched |= {c.cohort_code.upper() for c in plan.contacts}
        touched |= {c.code.upper() for c in plan.cohorts_added}
        touched |= {c.code.upper() for _, c in plan.cohorts_changed}
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
