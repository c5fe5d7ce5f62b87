"""Coordinator rights and supervisor roles: granting and taking them back, said plainly.

Nobody the bot has never met is made a coordinator (a mistyped id would hand the rights to a
stranger who opens the bot later); taking a role back leaves the person in their groups unless
removal is asked for; the person is told what changed, in their own language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator
from bot.services.delivery import Outgoing, Sender
from bot.storage import Storage
from bot.storage.db import to_db
from bot.storage.models import Cohort, Role, User


@dataclass(frozen=True)
class RoleChange:
    """What taking roles away did (or, before confirming, would do)."""

    target: User
    coordinator: bool = False  # coordinator rights granted in chat are taken back
    coordinator_from_env: bool = False  # rights from BOT_COORDINATORS, which chat cannot undo
    demoted: list[Cohort] = field(default_factory=list)  # supervisor -> student there
    removed: list[Cohort] = field(default_factory=list)  # left these groups

    @property
    def anything(self) -> bool:
        return self.coordinator or bool(self.demoted or self.removed)


def cohort_names(cohorts: list[Cohort], tr: Translator) -> str:
    return ", ".join(escape(c.name.get(tr.language)) for c in cohorts)


class RoleService:
    def __init__(self, storage: Storage, clock: Clock, settings: Settings, sender: Sender) -> None:
        self._storage = storage
        self._clock = clock
        self._settings = settings
        self._sender = sender

    async def known_person(self, user_id: int) -> User | None:
        """The user if they have written to the bot at least once, else None."""
        user = await self._storage.users.get(user_id)
        return user if user is not None and user.seen else None

    async def grant_coordinator(self, actor_id: int, target: User) -> bool:
        """True when granted now; False when they already were one (a second press)."""
        now = self._clock.now()
        async with self._storage.transaction():
            if not await self._storage.users.grant_coordinator(target.telegram_id, actor_id):
                return False
            await self._storage.audit.record(
                now, actor_id, None, "grant", f"user {target.telegram_id}", "", "coordinator"
            )
        await self._sender.deliver(
            "role", f"{target.telegram_id}:grant:{to_db(now)}", target, _granted_text
        )
        return True

    async def plan_revoke(self, target: User, *, remove: bool) -> RoleChange:
        """What `revoke` would do, to show before the coordinator confirms."""
        memberships = await self._storage.users.memberships(target.telegram_id)
        cohorts = {c.id: c for c in await self._storage.cohorts.all()}
        from_env = target.telegram_id in self._settings.coordinators
        supervised = [cohorts[m.cohort_id] for m in memberships if m.role is Role.SUPERVISOR]
        return RoleChange(
            target=target,
            coordinator=target.is_coordinator and not from_env,
            coordinator_from_env=from_env,
            demoted=[] if remove else [c for c in supervised if c],
            removed=[cohorts[m.cohort_id] for m in memberships if m.cohort_id in cohorts]
            if remove
            else [],
        )

    async def revoke(self, actor_id: int, target: User, *, remove: bool) -> RoleChange:
        """Takes back chat-granted coordinator rights and supervisor roles (the person stays a
        student of those groups), or with `remove` every membership too. Idempotent."""
        now = self._clock.now()
        uid = target.telegram_id
        async with self._storage.transaction():
            plan = await self.plan_revoke(target, remove=remove)
            coordinator = plan.coordinator and await self._storage.users.revoke_coordinator(uid)
            if remove:
                await self._storage.users.leave_all(uid)
            else:
                await self._storage.users.demote_supervisor(uid)
            change = RoleChange(
                target, coordinator, plan.coordinator_from_env, plan.demoted, plan.removed
            )
            if change.anything:
                before = []
                if coordinator:
                    before.append("coordinator")
                before += [f"supervisor@{c.code}" for c in change.demoted]
                before += [f"member@{c.code}" for c in change.removed]
                after = "removed" if remove else "student" if change.demoted else ""
                for cohort_id in {c.id for c in change.demoted + change.removed} or {None}:
                    await self._storage.audit.record(
                        now, actor_id, cohort_id, "revoke_role", f"user {uid}",
                        ", ".join(before), after,
                    )  # fmt: skip
        if change.anything:
            await self._sender.deliver(
                "role", f"{uid}:revoke:{to_db(now)}", target, lambda tr: _revoked_text(change, tr)
            )
        return change


def _granted_text(tr: Translator) -> Outgoing:
    return Outgoing(
        "🔑 "
        + tr(
            "You are now a coordinator of Mobility Bot: you can manage every group, its "
            "itinerary, invite links and announcements. Send /help to see the commands."
        )
    )


def _revoked_text(change: RoleChange, tr: Translator) -> Outgoing:
    lines = []
    if change.coordinator:
        lines.append(tr("Your coordinator rights in Mobility Bot have been taken back."))
    if change.demoted:
        lines.append(
            tr(
                "You are no longer the supervisor of {groups}; you stay in the group and keep "
                "getting its schedule and reminders."
            ).format(groups=cohort_names(change.demoted, tr))
        )
    if change.removed:
        lines.append(
            tr("You have been removed from {groups}.").format(
                groups=cohort_names(change.removed, tr)
            )
        )
    lines.append(tr("If this is a mistake, please contact your coordinator."))
    return Outgoing("ℹ️ " + "\n".join(lines))
