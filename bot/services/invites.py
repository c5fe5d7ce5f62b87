"""Invite links: creating them and joining a cohort through one.

A supervisor link grants power over a cohort (its roster, announcements to all of it), so it
admits one person unless more are asked for, and nobody becomes a supervisor without first
reading what the role means and confirming. A student who studies in another cohort is asked
before being moved. Uses are counted only when the person confirms.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.storage import Storage
from bot.storage.models import Cohort, Invite, Role

CODE_BYTES = 12  # 16 URL-safe characters: unguessable, and well under the 64 of a deep link
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SUPERVISOR_DEFAULT_USES = 1


class JoinOutcome(StrEnum):
    JOINED = "joined"
    ALREADY_MEMBER = "already_member"
    CONFIRM = "confirm"  # nothing done yet: the person must confirm first
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


@dataclass(frozen=True)
class JoinResult:
    outcome: JoinOutcome
    cohort: Cohort | None = None
    role: Role | None = None  # the role granted (or held, for ALREADY_MEMBER)
    invite: Invite | None = None
    previous_role: Role | None = None  # the role held in that cohort before, if any
    # Cohorts the person is a student of and would leave (CONFIRM) or has left (JOINED).
    leaving: list[Cohort] = field(default_factory=list)
    # Other cohorts they still belong to after joining (they can switch with /group).
    others: list[Cohort] = field(default_factory=list)


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


class InviteService:
    def __init__(self, storage: Storage, clock: Clock, default_days: int = 14) -> None:
        self._storage = storage
        self._clock = clock
        self._default_days = default_days

    async def create(
        self,
        cohort: Cohort,
        role: Role,
        created_by: int | None,
        *,
        days: int | None = None,
        max_uses: int | None = None,
    ) -> Invite:
        """A new link. A supervisor link admits one person unless `max_uses` says more."""
        if role not in (Role.STUDENT, Role.SUPERVISOR):
            raise ValueError(f"invites are for students and supervisors, not {role}")
        if role is Role.SUPERVISOR and max_uses is None:
            max_uses = SUPERVISOR_DEFAULT_USES
        now = self._clock.now()
        invite = Invite(
            code=secrets.token_urlsafe(CODE_BYTES),
            cohort_id=cohort.id,
            role=role,
            created_by=created_by,
            created_at=now,
            expires_at=now + timedelta(days=days or self._default_days),
            max_uses=max_uses,
            uses=0,
        )
        await self._storage.invites.insert(invite)
        return invite

    async def join(self, user_id: int, code: str, *, confirmed: bool = False) -> JoinResult:
        """Redeems a code for a user who has been seen (touched) in this update.

        Without `confirmed`, a join that grants the supervisor role or moves a student out of
        another cohort changes nothing and answers CONFIRM; the handler asks, then calls again.
        """
        if not _CODE_RE.match(code):
            return JoinResult(JoinOutcome.UNKNOWN)
        now = self._clock.now()
        storage = self._storage
        async with storage.transaction():
            invite = await storage.invites.get(code)
            cohort = await storage.cohorts.get(invite.cohort_id) if invite else None
            if invite is None or cohort is None:
                return JoinResult(JoinOutcome.UNKNOWN)
            roles = {m.cohort_id: m.role for m in await storage.users.memberships(user_id)}
            held = roles.get(cohort.id)
            others = [c for c in [await storage.cohorts.get(i) for i in roles] if c]
            others = [c for c in others if c.id != cohort.id]
            if held is Role.SUPERVISOR or (held is not None and invite.role is Role.STUDENT):
                # Tapping a link again, or a supervisor opening the student link: harmless,
                # uses nothing up, and takes no other membership away.
                await storage.users.set_current(user_id, cohort.id)
                return JoinResult(
                    JoinOutcome.ALREADY_MEMBER, cohort, held, invite, held, others=others
                )
            if invite.revoked:
                return JoinResult(JoinOutcome.REVOKED, cohort, invite=invite)
            if invite.expires_at <= now:
                return JoinResult(JoinOutcome.EXPIRED, cohort, invite=invite)
            if invite.max_uses is not None and invite.uses >= invite.max_uses:
                return JoinResult(JoinOutcome.USED_UP, cohort, invite=invite)
            leaving = []
            if invite.role is Role.STUDENT:
                leaving = [c for c in others if roles.get(c.id) is Role.STUDENT]
            if not confirmed and (invite.role is Role.SUPERVISOR or leaving):
                return JoinResult(
                    JoinOutcome.CONFIRM, cohort, invite.role, invite, held, leaving, others
                )
            if not await storage.invites.count_use(code, now):
                return JoinResult(JoinOutcome.USED_UP, cohort, invite=invite)
            if leaving:
                await storage.users.leave_student_cohorts(user_id, cohort.id)
            await storage.users.join(user_id, cohort.id, invite.role, now)
            if invite.role is Role.SUPERVISOR:
                await storage.audit.record(
                    now, user_id, cohort.id, "supervisor_joined", f"user {user_id}",
                    held.value if held else "", Role.SUPERVISOR.value,
                )  # fmt: skip
            remaining = [c for c in others if c not in leaving]
            return JoinResult(
                JoinOutcome.JOINED, cohort, invite.role, invite, held, leaving, remaining
            )
