"""Invite links: creating them and joining a cohort through one."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from bot.clock import Clock
from bot.storage import Storage
from bot.storage.models import Cohort, Invite, Role

CODE_BYTES = 12  # 16 URL-safe characters: unguessable, and well under the 64 of a deep link
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class JoinOutcome(StrEnum):
    JOINED = "joined"
    ALREADY_MEMBER = "already_member"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED_UP = "used_up"
    REVOKED = "revoked"


@dataclass(frozen=True)
class JoinResult:
    outcome: JoinOutcome
    cohort: Cohort | None = None
    role: Role | None = None


def invite_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


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
        if role not in (Role.STUDENT, Role.SUPERVISOR):
            raise ValueError(f"invites are for students and supervisors, not {role}")
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

    async def join(self, user_id: int, code: str) -> JoinResult:
        """Redeems a code for a user who has been seen (touched) in this update."""
        if not _CODE_RE.match(code):
            return JoinResult(JoinOutcome.UNKNOWN)
        now = self._clock.now()
        storage = self._storage
        async with storage.transaction():
            invite = await storage.invites.get(code)
            if invite is None:
                return JoinResult(JoinOutcome.UNKNOWN)
            cohort = await storage.cohorts.get(invite.cohort_id)
            roles = {m.cohort_id: m.role for m in await storage.users.memberships(user_id)}
            if roles.get(invite.cohort_id) in (invite.role, Role.SUPERVISOR):
                # Tapping the link again is harmless and uses nothing up.
                await storage.users.join(user_id, invite.cohort_id, invite.role, now)
                return JoinResult(JoinOutcome.ALREADY_MEMBER, cohort, roles[invite.cohort_id])
            if invite.revoked:
                return JoinResult(JoinOutcome.REVOKED, cohort)
            if invite.expires_at <= now:
                return JoinResult(JoinOutcome.EXPIRED, cohort)
            if not await storage.invites.count_use(code, now):
                return JoinResult(JoinOutcome.USED_UP, cohort)
            await storage.users.join(user_id, invite.cohort_id, invite.role, now)
            return JoinResult(JoinOutcome.JOINED, cohort, invite.role)
