"""Staff and people: /roster, /invites, /revoke, /grant, /revoke_role."""

from __future__ import annotations

from html import escape

from telegram import Update

from bot.context import BotContext
from bot.handlers.common import (
    cohort_for,
    refuse,
    reply,
    reply_long,
    role_name,
    usage,
)
from bot.parsing import is_number
from bot.services.access import Permission, allowed


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
        seen = (
            user.last_seen.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
            if user.last_seen
            else "—"
        )
        state = "✅" if user.reachable else "🚫 " + tr("unreachable")
        language = escape((user.language or user.telegram_language or "?")[:5])
        last_seen = tr("last seen {time}").format(time=seen)
        role = role_name(membership.role, tr)
        lines.append(f"• {escape(user.display_name)} — {role}, {language}, {state}, {last_seen}")
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
                date=invite.expires_at.astimezone(cohort.tz).strftime("%Y-%m-%d %H:%M")
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


async def grant(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    if (
        len(args) != 2
        or not is_number(args[0])
        or len(args[0]) > 15
        or args[1].lower() != "coordinator"
    ):
        await usage(update, tr("Usage: /grant <Telegram user id> coordinator"))
        return
    services = context.services
    user_id = int(args[0])
    now = services.clock.now()
    await services.storage.users.set_coordinator(user_id, True, now)
    await services.storage.audit.record(
        now, context.actor.user_id, None, "grant", f"user {user_id}", "", "coordinator"
    )
    await reply(update, tr("User {id} is now a coordinator.").format(id=user_id))


async def revoke_role(update: Update, context: BotContext) -> None:
    tr = context.tr
    if not allowed(context.actor, Permission.MANAGE_ROLES):
        await reply(update, refuse(context))
        return
    args = context.args or []
    if len(args) != 1 or not is_number(args[0]):
        await usage(update, tr("Usage: /revoke_role <Telegram user id>"))
        return
    services = context.services
    user_id = int(args[0])
    if user_id in services.settings.coordinators:
        await reply(
            update,
            tr("User {id} is a coordinator through BOT_COORDINATORS; change it there.").format(
                id=user_id
            ),
        )
        return
    now = services.clock.now()
    removed = await services.storage.users.revoke_roles(user_id)
    await services.storage.audit.record(
        now, context.actor.user_id, None, "revoke_role", f"user {user_id}", removed, ""
    )
    await reply(
        update,
        tr("User {id} has no role any more: no coordinator rights and no group.").format(
            id=user_id
        ),
    )
