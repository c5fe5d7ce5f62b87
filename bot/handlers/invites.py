"""/invite <cohort> <student|supervisor> [--uses N] [--days N]: a link to share."""

from __future__ import annotations

from html import escape

from telegram import Update

from bot.context import BotContext
from bot.formatting import local_moment
from bot.handlers.common import reply
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.invites import invite_link
from bot.storage.models import Cohort, Invite, Role

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


def parse_limits(words: list[str]) -> tuple[int | None, int | None] | None:
    """`[uses] [days]` or `--uses N --days N` (in any order); None when malformed."""
    uses: int | None = None
    days: int | None = None
    positional: list[int] = []
    i = 0
    while i < len(words):
        word = words[i].lower()
        if word in ("--uses", "--days"):
            if i + 1 >= len(words) or not is_number(words[i + 1]) or int(words[i + 1]) < 1:
                return None
            if word == "--uses":
                uses = int(words[i + 1])
            else:
                days = int(words[i + 1])
            i += 2
            continue
        if not is_number(word) or int(word) < 1:
            return None
        positional.append(int(word))
        i += 1
    if len(positional) > 2 or (positional and (uses is not None or days is not None)):
        return None
    if positional:
        uses = positional[0]
        days = positional[1] if len(positional) > 1 else None
    return (
        min(uses, MAX_INVITE_USES) if uses else None,
        min(days, MAX_INVITE_DAYS) if days else None,
    )


async def invite(update: Update, context: BotContext) -> None:
    tr = context.tr
    usage = escape(tr("Usage: /invite <cohort code> <student|supervisor> [--uses N] [--days N]"))
    args = context.args or []
    actor = context.actor
    supervised = [cid for cid, r in actor.roles.items() if r is Role.SUPERVISOR]
    if not actor.is_coordinator and not supervised:
        await reply(update, tr("Sorry, you are not allowed to do that."))
        return
    role = parse_role(args[1]) if len(args) >= 2 else None
    limits = parse_limits(args[2:]) if len(args) >= 2 else None
    if role is None or limits is None:
        await reply(update, "ℹ️ " + usage)
        return
    max_uses, days = limits
    services = context.services
    cohort = await services.storage.cohorts.by_code(args[0][:64])
    permission = (
        Permission.INVITE_STUDENT if role is Role.STUDENT else Permission.INVITE_SUPERVISOR
    )
    if cohort is None or (not actor.is_coordinator and cohort.id not in supervised):
        if actor.is_coordinator:
            text = tr("There is no group with the code {code}.").format(code=escape(args[0][:40]))
        else:
            # The same answer for a group that does not exist and for someone else's: a
            # supervisor learns nothing about other groups.
            own = [await services.storage.cohorts.get(i) for i in supervised]
            codes = [c.code for c in own if c]
            text = (
                tr("Sorry, you are not allowed to do that.")
                + " "
                + tr("Your groups: {codes}.").format(codes=escape(", ".join(codes)))
            )
        await reply(update, text)
        return
    if not allowed(actor, permission, cohort.id):
        await reply(
            update,
            tr("Sorry, you are not allowed to do that.")
            + " "
            + tr("Only coordinators can make supervisor links."),
        )
        return
    created = await services.invites.create(
        cohort, role, actor.user_id, days=days, max_uses=max_uses
    )
    link = invite_link(context.bot.username, created.code)
    text = invite_text(created, cohort, link, tr)
    if allowed(actor, Permission.MANAGE_GROUPS, cohort.id):  # the group chat, for staff
        text += "\n\n" + tr(
            "To add me to the group's chat (I pin the day's plan there), open: {link}"
        ).format(link=f"https://t.me/{context.bot.username}?startgroup={cohort.code}")
    await reply(update, text)


def invite_text(created: Invite, cohort: Cohort, link: str, tr: Translator) -> str:
    """Says plainly what the link grants, to how many people, until when."""
    name = escape(cohort.name.get(tr.language))
    if created.role is Role.SUPERVISOR:
        grants = tr(
            "🔑 A supervisor link for {cohort}: whoever opens it can become a supervisor of "
            "the group (see its members, send announcements to all of them, invite students)."
        ).format(cohort=name)
        where = tr("Send it privately to the supervisor only; never post it in a group chat.")
    else:
        grants = tr(
            "🎓 A student link for {cohort}: whoever opens it joins the group as a student "
            "(schedule, contacts, reminders)."
        ).format(cohort=name)
        where = tr("Post it once in the group's chat.")
    uses = (
        tr.ngettext(
            "Up to {n} person can use it.", "Up to {n} people can use it.", created.max_uses
        ).format(n=created.max_uses)
        if created.max_uses
        else tr("Any number of people can use it.")
    )
    valid = tr("Valid until {date} ({zone} time).").format(
        date=local_moment(created.expires_at, cohort.tz, tr), zone=escape(cohort.timezone)
    )
    return f"{grants}\n\n{link}\n\n{uses} {valid}\n{where}"
