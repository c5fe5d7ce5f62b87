"""Who may do what: every permission check of the bot is answered here and only here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.storage.models import Role, User


class Permission(StrEnum):
    READ_ITINERARY = "read_itinerary"  # today, week, contacts, calendar of a cohort
    INVITE_STUDENT = "invite_student"
    INVITE_SUPERVISOR = "invite_supervisor"
    MANAGE_INVITES = "manage_invites"  # list and revoke invites of a cohort
    BROADCAST = "broadcast"
    VIEW_ROSTER = "view_roster"
    EDIT_ITINERARY = "edit_itinerary"  # cancel, move, room, import, export
    MANAGE_ROLES = "manage_roles"  # grant and revoke coordinators
    VIEW_AUDIT = "view_audit"
    ASK_QUESTION = "ask_question"  # students: /ask, their own /questions, feedback, survey
    READ_FAQ = "read_faq"
    ANSWER_QUESTIONS = "answer_questions"  # staff: see, take, answer, close; edit the FAQ
    VIEW_FEEDBACK = "view_feedback"
    MANAGE_SURVEY = "manage_survey"  # import the survey, export its answers
    MANAGE_TASKS = "manage_tasks"  # a group's checklist progress, proofs, ticking for a student
    CHECK_IN = "check_in"  # check in, report an absence, read one's own attendance
    VIEW_ATTENDANCE = "view_attendance"  # the roll-call and the record of a cohort
    MARK_ATTENDANCE = "mark_attendance"  # mark a student present, excused or absent by hand
    MANAGE_GROUPS = "manage_groups"  # link a group chat to a cohort, its language and settings


@dataclass(frozen=True)
class Actor:
    """A user with every cohort they belong to, as the permission rules need them."""

    user_id: int
    is_coordinator: bool = False
    roles: dict[int, Role] = field(default_factory=dict)  # cohort id -> role there

    @classmethod
    def of(cls, user: User | None, roles: dict[int, Role], coordinators: frozenset[int]) -> Actor:
        if user is None:
            return cls(user_id=0)
        return cls(
            user_id=user.telegram_id,
            is_coordinator=user.is_coordinator or user.telegram_id in coordinators,
            roles=roles,
        )

    def supervises(self, cohort_id: int | None) -> bool:
        return cohort_id is not None and self.roles.get(cohort_id) is Role.SUPERVISOR

    def member_of(self, cohort_id: int | None) -> bool:
        return cohort_id is not None and cohort_id in self.roles


_SUPERVISOR_MAY = {
    Permission.READ_ITINERARY,
    Permission.INVITE_STUDENT,
    Permission.BROADCAST,
    Permission.VIEW_ROSTER,
    Permission.READ_FAQ,
    Permission.ANSWER_QUESTIONS,
    Permission.VIEW_FEEDBACK,
    Permission.MANAGE_TASKS,
    Permission.VIEW_ATTENDANCE,
    Permission.MARK_ATTENDANCE,
    Permission.MANAGE_GROUPS,
}
_MEMBER_MAY = {
    Permission.READ_ITINERARY,
    Permission.ASK_QUESTION,
    Permission.READ_FAQ,
    Permission.CHECK_IN,
}


def allowed(actor: Actor, permission: Permission, cohort_id: int | None = None) -> bool:
    """The single answer to "may this actor do this (in this cohort)?"."""
    if actor.is_coordinator:
        return True
    if cohort_id is None:
        return False
    if actor.supervises(cohort_id):
        return permission in _SUPERVISOR_MAY
    if actor.member_of(cohort_id):
        return permission in _MEMBER_MAY
    return False


# Where a command may be answered when it is sent in a group chat. A group is public: only the
# cohort's plan (the same for every member) is answered there, and the group's own settings,
# for its staff. Everything else (personal, staff, anything naming people) gets only a pointer
# to the private chat.
GROUP_PUBLIC = frozenset({"today", "tomorrow", "week", "next", "contacts", "help"})
GROUP_SETTINGS = frozenset({"link", "unlink", "settings", "language", "start"})


def allowed_in_group(command: str) -> bool:
    """May this command be answered in a group chat (by anyone for the plan, by the cohort's
    staff for the group's settings)? False: a pointer to the private chat, nothing else."""
    name = command.lower()
    return name in GROUP_PUBLIC or name in GROUP_SETTINGS


def manages_group_settings(command: str) -> bool:
    """A command that changes the group itself: the cohort's staff only (MANAGE_GROUPS)."""
    return command.lower() in GROUP_SETTINGS and command.lower() != "start"
