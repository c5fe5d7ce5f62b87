"""Supervisors and coordinators: /broadcast with a preview, "Got it", /acks, /remind_unread."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import (
    action_and_id,
    edit,
    edit_markup,
    pressed,
    refuse,
    reply,
    usage,
)
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Permission, allowed
from bot.services.broadcasts import ACK_ACTION, MAX_TEXT
from bot.storage.models import Cohort, Role

BROADCAST_ACTION = "bc"
ALL = "all"


def _command_text(update: Update, words: int) -> str:
    """The message after the command and `words` more words, keeping the sender's line breaks."""
    text = update.effective_message.text if update.effective_message else ""
    parts = (text or "").split(None, words + 1)
    return parts[words + 1].strip() if len(parts) > words + 1 else ""


def _supervised(context: BotContext) -> list[int]:
    return [cid for cid, role in context.actor.roles.items() if role is Role.SUPERVISOR]


async def broadcast(update: Update, context: BotContext) -> None:
    tr = context.tr
    actor = context.actor
    supervised = _supervised(context)
    if not actor.is_coordinator and not supervised:
        await reply(update, refuse(context))
        return
    args = context.args or []
    storage = context.services.storage
    names_cohort = actor.is_coordinator or len(supervised) > 1
    target: Cohort | None = None
    everyone = False
    first = args[0] if args else ""
    if names_cohort:
        own = [c for c in [await storage.cohorts.get(i) for i in supervised] if c]
        if not args:
            await usage(update, tr("Usage: /broadcast <cohort code|all> <text>"))
            return
        if first.lower() == ALL and actor.is_coordinator:
            everyone = True
        else:
            named = await storage.cohorts.by_code(first[:64])
            if named is None or not allowed(actor, Permission.BROADCAST, named.id):
                # Not a group of theirs: say how to name one, and which are theirs. A group
                # that exists but is not theirs gets the same answer as one that does not.
                hint = tr("Usage: /broadcast <cohort code|all> <text>")
                if own and not actor.is_coordinator:
                    # "all" is for coordinators; anything else is not a group of theirs.
                    hint = (
                        refuse(context)
                        if first.lower() == ALL
                        else tr("Usage: /broadcast <cohort code> <text>")
                    )
                    hint += " " + tr("Your groups: {codes}.").format(
                        codes=", ".join(c.code for c in own)
                    )
                await usage(update, hint)
                return
            target = named
        text = _command_text(update, 1)
    else:
        # A supervisor of one group: the group is implied. Its own code or "all" in front of
        # the text is understood as naming it, never sent as part of the announcement; any
        # other first word is text (nothing is revealed about other groups).
        target = await storage.cohorts.get(supervised[0])
        if target is None or not allowed(actor, Permission.BROADCAST, target.id):
            await reply(update, refuse(context))
            return
        names_own = first.lower() in (ALL, target.code.lower())
        text = _command_text(update, 1 if names_own else 0)
    if not text:
        await usage(update, tr("Usage: /broadcast <text>") if not names_cohort else tr(
            "Usage: /broadcast <cohort code|all> <text>"
        ))  # fmt: skip
        return
    if len(text) > MAX_TEXT:
        await reply(
            update,
            tr("The announcement is too long: at most {limit} characters.").format(limit=MAX_TEXT),
        )
        return
    broadcasts = context.services.broadcasts
    announcement_id = await broadcasts.draft(actor.user_id, target, text)
    announcement = await storage.announcements.get(announcement_id)
    assert announcement is not None
    count = len(await broadcasts.recipients(announcement))
    where = (
        tr("every group") if everyone else escape(target.name.get(tr.language) if target else "")
    )
    uid = actor.user_id
    group_chats = await context.services.groups.groups_for(target.id if target else None)
    keyboard = InlineKeyboardMarkup(
        [
            *_also_in_groups(uid, announcement_id, len(group_chats), tr),
            [
                InlineKeyboardButton(
                    "📣 " + tr.pgettext("button", "Send"),
                    callback_data=CallbackData(BROADCAST_ACTION, uid, f"send:{announcement_id}")
                    .encode(),
                ),
                InlineKeyboardButton(
                    tr.pgettext("button", "Cancel"),
                    callback_data=CallbackData(BROADCAST_ACTION, uid, f"cancel:{announcement_id}")
                    .encode(),
                ),
            ]
        ]
    )  # fmt: skip
    header = tr.ngettext(
        "Preview: this goes to {n} person in {where}.",
        "Preview: this goes to {n} people in {where}.",
        count,
    ).format(n=count, where=where)
    await reply(update, f"👁 {header}\n\n{escape(text)}", keyboard)


def _also_in_groups(
    uid: int, announcement_id: int, groups: int, tr: Translator
) -> list[list[InlineKeyboardButton]]:
    """The choice to also post in the cohort's group chat(s), when it has any."""
    if not groups:
        return []
    label = "📣 " + tr.ngettext(
        "Send, and post in {n} group chat", "Send, and post in {n} group chats", groups
    ).format(n=groups)
    data = CallbackData(BROADCAST_ACTION, uid, f"sendg:{announcement_id}").encode()
    return [[InlineKeyboardButton(label, callback_data=data)]]


async def broadcast_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    action, announcement_id = action_and_id(data)
    services = context.services
    announcement = (
        await services.storage.announcements.get(announcement_id) if announcement_id else None
    )
    if announcement is None or announcement.sender_id != context.user.telegram_id:
        await query.answer(tr("This button is not for you."), show_alert=True)
        return
    # Permission is checked again at the moment of sending: a role may have been revoked.
    if not (
        context.actor.is_coordinator
        if announcement.cohort_id is None
        else allowed(context.actor, Permission.BROADCAST, announcement.cohort_id)
    ):
        await query.answer(refuse(context), show_alert=True)
        return
    if action == "cancel":
        await services.broadcasts.cancel(announcement.id)
        await query.answer()
        await edit(query, tr("Cancelled: nothing was sent."))
        return
    count = await services.broadcasts.send(announcement.id)
    await query.answer()
    if count is None:
        return  # pressed twice: already on its way
    if action == "sendg":  # and its copy in the group chat(s), each posted once
        await services.groups.post_announcement(announcement)
    await edit(
        query,
        tr.ngettext(
            "Sending to {n} person. I will report when it is done.",
            "Sending to {n} people. I will report when it is done.",
            count,
        ).format(n=count)
        + f"\n\n{escape(announcement.text)}",
    )


async def got_it(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    if not is_number(data.arg):
        await query.answer(tr("This button is out of date."))
        return
    await context.services.broadcasts.acknowledge(int(data.arg), context.user.telegram_id)
    await query.answer(tr("Thank you! Marked as read."))
    await edit_markup(query, None)


async def _latest(update: Update, context: BotContext):  # type: ignore[no-untyped-def]
    if not context.actor.is_coordinator and not _supervised(context):
        await reply(update, refuse(context))
        return None
    announcement = await context.services.storage.announcements.latest_by(context.actor.user_id)
    if announcement is None:
        await reply(update, context.tr("You have not sent any announcement yet."))
        return None
    return announcement


async def acks(update: Update, context: BotContext) -> None:
    announcement = await _latest(update, context)
    if announcement is None:
        return
    tr = context.tr
    report = await context.services.broadcasts.report(announcement)
    confirmed = [escape(d.name) for d in report.deliveries if d.acked]
    waiting = [escape(d.name) for d in report.deliveries if d.status == "sent" and not d.acked]
    missing = [escape(d.name) for d in report.deliveries if d.status in ("unreachable", "failed")]
    pending = [escape(d.name) for d in report.deliveries if d.status in ("pending", "sending")]
    excerpt = escape(announcement.text[:80]) + ("…" if len(announcement.text) > 80 else "")
    title = tr("Your latest announcement")
    lines = [f"<b>{title}</b>: {excerpt}", ""]
    for label, names in (
        ("✅ " + tr("Confirmed"), confirmed),
        ("⏳ " + tr("Not yet confirmed"), waiting),
        ("🚫 " + tr("Not delivered"), missing),
        ("📤 " + tr("Still sending"), pending),
    ):
        if names:
            lines.append(f"{label} ({len(names)}): " + ", ".join(names))
    if not report.deliveries:
        lines.append(tr("Nobody to deliver to."))
    elif waiting:
        lines += ["", tr("Send /remind_unread to send it again to those who have not confirmed.")]
    await reply(update, "\n".join(lines))


async def remind_unread(update: Update, context: BotContext) -> None:
    announcement = await _latest(update, context)
    if announcement is None:
        return
    sent = await context.services.broadcasts.remind_unread(announcement)
    await reply(
        update,
        context.tr.ngettext(
            "Sent again to {n} person who has not confirmed.",
            "Sent again to {n} people who have not confirmed.",
            sent,
        ).format(n=sent),
    )


__all__ = ["ACK_ACTION", "BROADCAST_ACTION"]
