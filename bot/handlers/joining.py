"""Joining a group through an invite link, confirming what a link grants, and /group.

A supervisor link is confirmed before it takes effect (the person reads what the role lets
them do), and so is a student link that would move a student out of their current group.
"""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import edit, how_to_join, pressed, refresh_menu, reply, role_name
from bot.i18n import Translator
from bot.services.delivery import Outgoing
from bot.services.invites import JoinOutcome, JoinResult
from bot.services.roles import cohort_names
from bot.storage.models import Role, User

JOIN_ACTION = "join"
GROUP_ACTION = "grp"


async def join_with_code(update: Update, context: BotContext, code: str) -> None:
    """/start <code>: join at once, or ask first when the link grants power or moves."""
    if context.user is None:
        return
    result = await context.services.invites.join(context.user.telegram_id, code)
    if result.outcome is JoinOutcome.CONFIRM:
        await reply(update, _question(result, context.tr), _confirm_keyboard(context, code))
        return
    text = await _settle(context, result)
    await reply(update, text)


async def join_pressed(update: Update, context: BotContext) -> None:
    """Confirm or Cancel under a supervisor link or a move; a second press changes nothing."""
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    await query.answer()
    action, _, code = data.arg.partition(":")
    if action != "ok" or not code:
        await edit(query, tr("Cancelled: nothing was changed."))
        return
    result = await context.services.invites.join(context.user.telegram_id, code, confirmed=True)
    await edit(query, await _settle(context, result))


def _confirm_keyboard(context: BotContext, code: str) -> InlineKeyboardMarkup:
    uid = context.actor.user_id
    tr = context.tr
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ " + tr.pgettext("button", "Confirm"),
                    callback_data=CallbackData(JOIN_ACTION, uid, f"ok:{code}").encode(),
                ),
                InlineKeyboardButton(
                    tr.pgettext("button", "Cancel"),
                    callback_data=CallbackData(JOIN_ACTION, uid, "no").encode(),
                ),
            ]
        ]
    )


def _question(result: JoinResult, tr: Translator) -> str:
    assert result.cohort is not None
    cohort = escape(result.cohort.name.get(tr.language))
    if result.role is Role.SUPERVISOR:
        lines = [
            "🔑 " + tr("This link makes you a supervisor of {cohort}.").format(cohort=cohort),
            tr(
                "A supervisor sees the names of the group's members, sends announcements to "
                "all of them and makes invite links for students. The person who made the link "
                "will be told that you used it."
            ),
        ]
        if result.previous_role is Role.STUDENT:
            lines.insert(
                0,
                tr("You are a student of {cohort}.").format(cohort=cohort),
            )
        lines.append(tr("Is that you? Press Confirm to become a supervisor."))
        return "\n\n".join(lines)
    return tr(
        "You are a student of {old}. Move to {new}? You will then get the schedule and "
        "reminders of {new} instead."
    ).format(old=cohort_names(result.leaving, tr), new=cohort)


async def _settle(context: BotContext, result: JoinResult) -> str:
    """After a join (or a refusal): the answer, the menu, reminders, and the link's maker told."""
    tr = context.tr
    services = context.services
    user = context.user
    if result.outcome not in (JoinOutcome.JOINED, JoinOutcome.ALREADY_MEMBER):
        return "⚠️ " + _refusal(result.outcome, tr)
    assert result.cohort is not None and result.role is not None and user is not None
    cohort = escape(result.cohort.name.get(tr.language))
    await services.reminders.reschedule_cohort(result.cohort.id)
    for left in result.leaving:
        await services.reminders.reschedule_cohort(left.id)
    if result.outcome is JoinOutcome.JOINED:
        if result.role is Role.SUPERVISOR:
            text = tr("Welcome! You are now a supervisor of {cohort}.").format(cohort=cohort)
            await _tell_link_maker(context, result)
        else:
            text = tr("Welcome to {cohort}! You joined as a student.").format(cohort=cohort)
    elif result.role is Role.SUPERVISOR:
        text = tr("You are already a supervisor of {cohort}.").format(cohort=cohort)
    else:
        text = tr("You are already a student of {cohort}.").format(cohort=cohort)
    text += "\n\n" + tr(
        "Try /today for today's plan, /next for the next session and /contacts for whom "
        "to call. /help lists everything."
    )
    if result.others:
        text += "\n\n" + tr(
            "You also belong to {groups}. To switch between your groups, send /group."
        ).format(groups=cohort_names(result.others, tr))
    await refresh_menu(context, user.telegram_id)
    return text


def _refusal(outcome: JoinOutcome, tr: Translator) -> str:
    messages = {
        JoinOutcome.EXPIRED: tr(
            "This invite link has expired. Ask your coordinator for a new one."
        ),
        JoinOutcome.USED_UP: tr(
            "This invite link has already been used as many times as allowed. Ask your "
            "coordinator for a new one."
        ),
        JoinOutcome.REVOKED: tr(
            "This invite link has been withdrawn. Ask your coordinator for a new one."
        ),
    }
    return messages.get(
        outcome,
        tr(
            "This invite link is not valid. Check that you opened the whole link, or ask your "
            "coordinator for a new one."
        ),
    )


async def _tell_link_maker(context: BotContext, result: JoinResult) -> None:
    """Whoever made a supervisor link hears who took it (once, even after a restart)."""
    invite, user, cohort = result.invite, context.user, result.cohort
    if invite is None or invite.created_by is None or user is None or cohort is None:
        return
    services = context.services
    maker = await services.storage.users.get(invite.created_by)
    if maker is None or maker.telegram_id == user.telegram_id:
        return
    left = None if invite.max_uses is None else max(0, invite.max_uses - invite.uses - 1)

    def render(tr: Translator) -> Outgoing:
        text = "🔑 " + tr(
            "{person} used your supervisor link and is now a supervisor of {cohort}."
        ).format(person=_who(user), cohort=escape(cohort.name.get(tr.language)))
        if left == 0:
            text += " " + tr("The link cannot be used again.")
        elif left is not None:
            text += " " + tr.ngettext(
                "It can be used {n} more time.", "It can be used {n} more times.", left
            ).format(n=left)
        text += "\n" + tr("Not who you meant? Take the role back with /revoke_role {id}.").format(
            id=user.telegram_id
        )
        return Outgoing(text)

    await services.sender.deliver(
        "invite_used", f"{invite.code}:{user.telegram_id}", maker, render
    )


def _who(user: User) -> str:
    text = f"<b>{escape(user.display_name)}</b>"
    return text + (f" @{escape(user.username)}" if user.username else "")


async def switch_group(update: Update, context: BotContext) -> None:
    """/group: which of their groups a person reads (schedule, contacts, reminders stay on)."""
    tr = context.tr
    user = context.user
    if user is None:
        return
    storage = context.services.storage
    memberships = await storage.users.memberships(user.telegram_id)
    cohorts = [(await storage.cohorts.get(m.cohort_id), m.role) for m in memberships]
    cohorts = [(c, r) for c, r in cohorts if c is not None]
    if not cohorts:
        await reply(update, how_to_join(context))
        return
    current = next((c for c, _ in cohorts if c.id == user.cohort_id), None)
    text = (
        tr("You are reading {cohort}.").format(cohort=escape(current.name.get(tr.language)))
        if current
        else ""
    )
    if len(cohorts) == 1:
        await reply(update, text)
        return
    buttons = [
        [
            InlineKeyboardButton(
                ("• " if c.id == user.cohort_id else "")
                + f"{c.name.get(tr.language)} ({role_name(r, tr)})"[:60],
                callback_data=CallbackData(GROUP_ACTION, user.telegram_id, str(c.id)).encode(),
            )
        ]
        for c, r in cohorts
    ]
    await reply(
        update,
        (text + "\n" if text else "") + tr("Which group do you want to read?"),
        InlineKeyboardMarkup(buttons),
    )


async def group_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    storage = context.services.storage
    cohort = await storage.cohorts.get(int(data.arg)) if data.arg.isdigit() else None
    if cohort is None or not await storage.users.set_current(context.user.telegram_id, cohort.id):
        await query.answer(tr("This button is out of date."))
        return
    await query.answer()
    await edit(
        query, tr("You are reading {cohort}.").format(cohort=escape(cohort.name.get(tr.language)))
    )
    await refresh_menu(context, context.user.telegram_id)
