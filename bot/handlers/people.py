"""Staff and people: /roster, /invites, /revoke, /grant, /revoke_role, /coordinators."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.formatting import local_moment
from bot.handlers.common import (
    action_and_id,
    cohort_for,
    edit,
    pressed,
    refresh_menu,
    refuse,
    reply,
    reply_long,
    role_name,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.roles import RoleChange, cohort_names
from bot.storage.models import User

ROLE_ACTION = "role"


async def roster(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) > 1:
        await usage(update, tr("Usage: /roster <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.VIEW_ROSTER, args[0] if args else None)
    if cohort is None:
        return
    members = await context.services.storage.users.members_of(cohort.id)
    lines = [
        "<b>"
        + escape(tr("Members of {cohort}").format(cohort=cohort.name.get(tr.language)))
        + f"</b> ({len(members)})"
    ]
    for user, membership in members:
        seen = local_moment(user.last_seen, cohort.tz, tr) if user.last_seen else "—"
        state = "✅" if user.reachable else "🚫 " + tr("has blocked the bot")
        language = escape((user.language or user.telegram_language or "?")[:5])
        last_seen = tr("last seen {time}").format(time=seen)
        role = role_name(membership.role, tr)
        handle = f" @{escape(user.username)}" if user.username else ""
        lines.append(
            f"• {escape(user.display_name)}{handle} — {role}, {language}, {state}, {last_seen}"
        )
    await reply_long(update, lines)


async def invites_list(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /invites <cohort code>"))
        return
    cohort = await cohort_for(update, context, Permission.MANAGE_INVITES, args[0])
    if cohort is None:
        return
    now = context.services.clock.now()
    lines = [
        "<b>"
        + escape(tr("Invite links of {cohort}").format(cohort=cohort.name.get(tr.language)))
        + "</b>"
    ]
    for invite in await context.services.storage.invites.for_cohort(cohort.id):
        if invite.revoked:
            state = tr("withdrawn")
        elif invite.expires_at <= now:
            state = tr("expired")
        elif invite.max_uses is not None and invite.uses >= invite.max_uses:
            state = tr("used up")
        else:
            state = tr("active until {date}").format(
                date=local_moment(invite.expires_at, cohort.tz, tr)
            )
        limit = f"/{invite.max_uses}" if invite.max_uses else ""
        lines.append(
            f"• <code>{escape(invite.code)}</code> {role_name(invite.role, tr)}, "
            f"{invite.uses}{limit} — {state}"
        )
    if len(lines) == 1:
        lines.append(tr("No invite links yet."))
    else:
        lines.append("\n" + escape(tr("Withdraw one with /revoke <code>.")))
    await reply_long(update, lines)


async def revoke_invite(update: Update, context: BotContext) -> None:
    tr = context.tr
    args = context.args or []
    if len(args) != 1:
        await usage(update, tr("Usage: /revoke <invite code>"))
        return
    storage = context.services.storage
    invite = await storage.invites.get(args[0][:64])
    if invite is None or not allowed(context.actor, Permission.MANAGE_INVITES, invite.cohort_id):
        if context.actor.is_coordinator:
            await reply(update, tr("There is no such invite link."))
        else:
            await reply(update, refuse(context))
        return
    if await storage.invites.revoke(invite.code):
        await storage.audit.record(
            context.services.clock.now(), context.actor.user_id, invite.cohort_id,
            "revoke_invite", invite.code,
        )  # fmt: skip
    await reply(update, tr("Done: the link no longer works. People who joined with it stay."))


def person(user: User) -> str:
    """Name, @username and id: enough for staff to be sure who is meant (HTML)."""
    text = f"<b>{escape(user.display_name)}</b>"
    if user.username:
        text += f" @{escape(user.username)}"
    return text + f" (<code>{user.telegram_id}</code>)"


def _confirm_keyboard(uid: int, arg: str, tr: Translator) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "✅ " + tr.pgettext("button", "Confirm"),
                    callback_data=CallbackData(ROLE_ACTION, uid, arg).encode(),
                ),
                InlineKeyboardButton(
                    tr.pgettext("button", "Cancel"),
                    callback_data=CallbackData(ROLE_ACTION, uid, "x:0").encode(),
                ),
            ]
        ]
    )


async def _known_target(update: Update, context: BotContext, raw: str) -> User | None:
    target = await context.services.roles.known_person(int(raw))
    if target is None:
        await reply(
            update,
            context.tr(
                "I have not met the user {id}: they must open the bot and press Start first. "
                "Check the id (the person can see it in /start of @userinfobot)."
            ).format(id=escape(raw)),
        )
    return target


async def grant(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    if len(args) != 2 or not is_number(args[0]) or args[1].lower() != "coordinator":
        await usage(update, tr("Usage: /grant <Telegram user id> coordinator"))
        return
    target = await _known_target(update, context, args[0])
    if target is None:
        return
    if target.is_coordinator or target.telegram_id in context.services.settings.coordinators:
        await reply(update, tr("{person} is already a coordinator.").format(person=person(target)))
        return
    await reply(
        update,
        tr(
            "Make {person} a coordinator? They will be able to change every group's itinerary, "
            "see every roster, make invite links and send announcements to everyone."
        ).format(person=person(target)),
        _confirm_keyboard(context.actor.user_id, f"g:{target.telegram_id}", tr),
    )


async def revoke_role(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    remove = len(args) == 2 and args[1].lower().lstrip("-") == "remove"
    if len(args) not in (1, 2) or not is_number(args[0]) or (len(args) == 2 and not remove):
        await usage(update, tr("Usage: /revoke_role <Telegram user id> [remove]"))
        return
    target = await context.services.storage.users.get(int(args[0]))
    if target is None:
        await reply(
            update, tr("I do not know anyone with the id {id}.").format(id=escape(args[0]))
        )
        return
    change = await context.services.roles.plan_revoke(target, remove=remove)
    lines = []
    if change.coordinator_from_env:
        lines.append(
            tr(
                "{person} is a coordinator through BOT_COORDINATORS: remove the id there and "
                "restart the bot to take those rights away."
            ).format(person=person(target))
        )
    if not change.anything:
        lines.append(tr("{person} has no other role to take away.").format(person=person(target)))
        await reply(update, "\n".join(lines))
        return
    lines.append(tr("What will change for {person}:").format(person=person(target)))
    lines += _change_lines(change, tr)
    await reply(
        update,
        "\n".join(lines),
        _confirm_keyboard(
            context.actor.user_id, f"{'R' if remove else 'r'}:{target.telegram_id}", tr
        ),
    )


def _change_lines(change: RoleChange, tr: Translator) -> list[str]:
    lines = []
    if change.coordinator:
        lines.append("• " + tr("coordinator rights are taken back"))
    if change.demoted:
        lines.append(
            "• "
            + tr("no longer the supervisor of {groups}; stays there as a student").format(
                groups=cohort_names(change.demoted, tr)
            )
        )
    if change.removed:
        lines.append(
            "• " + tr("removed from {groups}").format(groups=cohort_names(change.removed, tr))
        )
    return lines


async def role_pressed(update: Update, context: BotContext) -> None:
    """Confirm or Cancel under /grant and /revoke_role; a second press changes nothing."""
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None:
        return
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await query.answer(refuse(context), show_alert=True)
        return
    action, target_id = action_and_id(data)
    await query.answer()
    if action == "x" or target_id is None:
        await edit(query, tr("Cancelled: nothing was changed."))
        return
    services = context.services
    target = (
        await services.roles.known_person(target_id)
        if action == "g"
        else await services.storage.users.get(target_id)
    )
    if target is None:
        await edit(query, tr("This button is out of date."))
        return
    if action == "g":
        if target.is_coordinator:
            text = tr("{person} is already a coordinator.")
        else:
            await services.roles.grant_coordinator(context.actor.user_id, target)
            text = "✅ " + tr("Done: {person} is now a coordinator and has been told.")
        await edit(query, text.format(person=person(target)))
        await refresh_menu(context, target.telegram_id)
        return
    change = await services.roles.revoke(context.actor.user_id, target, remove=action == "R")
    if not change.anything:
        await edit(
            query, tr("{person} has no other role to take away.").format(person=person(target))
        )
        return
    lines = [
        "✅ "
        + tr("Done. What changed for {person} (they have been told):").format(
            person=person(target)
        )
    ]
    await edit(query, "\n".join(lines + _change_lines(change, tr)))
    await refresh_menu(context, target.telegram_id)


async def coordinators(update: Update, context: BotContext) -> None:
    """Every coordinator and where their rights come from, so none is forgotten."""
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    storage = context.services.storage
    env = context.services.settings.coordinators
    lines = ["<b>" + escape(tr("Coordinators")) + "</b>"]
    for user in await storage.users.coordinators():
        if user.telegram_id in env:
            source = tr("from BOT_COORDINATORS")
        else:
            granter = (
                await storage.users.get(user.coordinator_granted_by)
                if user.coordinator_granted_by
                else None
            )
            source = (
                tr("granted in chat by {name}").format(name=escape(granter.display_name))
                if granter
                else tr("granted in chat")
            )
        lines.append(f"• {person(user)} — {source}")
    lines.append("\n" + escape(tr("Take rights granted in chat back with /revoke_role <id>.")))
    await reply_long(update, lines)
