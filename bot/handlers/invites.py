"""/invite <cohort> <student|supervisor> [uses] [days]: a link to share with a group."""

from __future__ import annotations

from html import escape

from telegram import Update

from bot.context import BotContext
from bot.handlers.common import reply, role_name
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.invites import invite_link
from bot.storage.models import Role

ROLE_WORDS = {
    "student": Role.STUDENT,
    "students": Role.STUDENT,
    "студент": Role.STUDENT,
    "студенты": Role.STUDENT,
    "talaba": Role.STUDENT,
    "supervisor": Role.SUPERVISOR,
    "руководитель": Role.SUPERVISOR,
    "rahbar": Role.SUPERVISOR,
}
MAX_INVITE_USES = 10_000
MAX_INVITE_DAYS = 365


def parse_role(word: str) -> Role | None:
    return ROLE_WORDS.get(word.strip().lower())


async def invite(update: Update, context: BotContext) -> None:
    tr = context.tr
    usage = escape(tr("Usage: /invite <cohort code> <student|supervisor> [uses] [days]"))
    args = context.args or []
    if not context.actor.is_coordinator and not any(
        r is Role.SUPERVISOR for r in context.actor.roles.values()
    ):
        await reply(update, tr("Sorry, you are not allowed to do that."))
        return
    if len(args) not in (2, 3, 4):
        await reply(update, usage)
        return
    role = parse_role(args[1])
    numbers = args[2:]
    if role is None or not all(is_number(n) and 0 < int(n) for n in numbers):
        await reply(update, usage)
        return
    max_uses = min(int(numbers[0]), MAX_INVITE_USES) if numbers else None
    days = min(int(numbers[1]), MAX_INVITE_DAYS) if len(numbers) > 1 else None
    services = context.services
    cohort = await services.storage.cohorts.by_code(args[0])
    permission = (
        Permission.INVITE_STUDENT if role is Role.STUDENT else Permission.INVITE_SUPERVISOR
    )
    if cohort is None:
        if context.actor.is_coordinator:
            await reply(
                update,
                tr("There is no group with the code {code}.").format(code=escape(args[0][:40])),
            )
        else:
            await reply(update, tr("Sorry, you are not allowed to do that."))
        return
    if not allowed(context.actor, permission, cohort.id):
        await reply(update, tr("Sorry, you are not allowed to do that."))
        return
    created = await services.invites.create(
        cohort, role, context.actor.user_id, days=days, max_uses=max_uses
    )
    link = invite_link(context.bot.username, created.code)
    expires = created.expires_at.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
    uses = (
        tr.ngettext(
            "Up to {n} person can join with it.", "Up to {n} people can join with it.", max_uses
        ).format(n=max_uses)
        if max_uses
        else tr("Any number of people can join with it.")
    )
    await reply(
        update,
        tr("Invite link for {cohort} ({role}):").format(
            cohort=escape(cohort.name.get(tr.language)), role=role_name(role, tr)
        )
        + f"\n{link}\n\n"
        + tr("Valid until {date} ({zone} time).").format(date=expires, zone=cohort.timezone)
        + f" {uses} "
        + tr("Post it once in the group's chat."),
    )
