"""The bot in a cohort's group chat: the plan for everyone, settings for the cohort's staff,
a pointer to the private chat for everything else, and the group's lifecycle.

Which command may be answered in a group is decided in `bot.services.access`
(`allowed_in_group`); who may change the group's binding and settings by `allowed(...,
Permission.MANAGE_GROUPS, cohort)`. Replies go to the group in the group's language, in the
topic the command came from. Plain group talk reaches no handler (and with BotFather's privacy
mode on, Telegram does not even deliver it).
"""

from __future__ import annotations

import logging
from datetime import time
from html import escape

from telegram import (
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatType

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.formatting import contacts_text, countdown, day_text, hhmm, relative_day, session_block
from bot.handlers.common import edit, pressed, refuse, reply, reply_long
from bot.i18n import LANGUAGE_NAMES, LANGUAGES
from bot.parsing import is_number
from bot.services.access import (
    GROUP_PUBLIC,
    Permission,
    allowed,
    allowed_in_group,
    manages_group_settings,
)
from bot.services.groups import GROUP_ACK_ACTION, JOIN_ACTION
from bot.storage.groups import GroupChat
from bot.storage.models import Cohort

log = logging.getLogger(__name__)

GROUP_LANGUAGE_ACTION = "glang"
ANONYMOUS_ADMIN_ID = 1087968824  # GroupAnonymousBot: the `from` of an anonymous admin


def command_of(message: Message | None, bot_username: str) -> str | None:
    """The command a group message gives this bot; None for another bot's (`/x@otherbot`)."""
    if message is None or not message.text or not message.text.startswith("/"):
        return None
    word = message.text.split(maxsplit=1)[0][1:]
    name, _, addressee = word.partition("@")
    if addressee and addressee.lower() != bot_username.lower():
        return None
    return name.lower()


def _anonymous(message: Message | None) -> bool:
    """An anonymous admin writes as the group: there is no person to check a role of."""
    return message is not None and (
        message.sender_chat is not None
        or (message.from_user is not None and message.from_user.id == ANONYMOUS_ADMIN_ID)
    )


async def _bound(update: Update, context: BotContext) -> tuple[GroupChat, Cohort] | None:
    """The group's binding and cohort; the group's language from here on."""
    chat = update.effective_chat
    if chat is None:
        return None
    services = context.services
    group = await services.storage.groups.get(chat.id)
    if group is None:
        return None
    context.use_language(group.language)
    cohort = await services.storage.cohorts.get(group.cohort_id)
    return (group, cohort) if cohort is not None else None


def _not_linked(context: BotContext) -> str:
    return context.tr(
        "This chat is not linked to a programme yet. A supervisor or coordinator can link it "
        "by sending /link with the group's code here."
    )


# -- the plan, for everyone ---------------------------------------------------------------


async def plan_command(update: Update, context: BotContext) -> None:
    """/today /tomorrow /week /next /contacts /help in a group: the cohort's plan, the same
    for every member; nothing personal."""
    command = command_of(update.effective_message, context.bot.username)
    if command not in GROUP_PUBLIC:
        return
    bound = await _bound(update, context)
    if bound is None:
        await reply(update, _not_linked(context))
        return
    _, cohort = bound
    tr = context.tr
    services = context.services
    itinerary = services.itinerary
    # The group's cohort may not be the one the sender reads in private: its position first.
    await itinerary.refresh(cohort.id, context.user.cohort_id if context.user else None)
    if command in ("today", "tomorrow"):
        day = await (itinerary.today(cohort) if command == "today" else itinerary.tomorrow(cohort))
        header = tr("Today") if command == "today" else tr("Tomorrow")
        now = services.clock.now() if command == "today" else None
        await reply(update, f"📅 <b>{header}</b> · {itinerary.day_text(day, cohort, tr, now)}")
    elif command == "week":
        busy = [d for d in await itinerary.week(cohort) if d.sessions]
        if not busy:
            await reply(update, tr("Nothing is planned for the rest of this week."))
            return
        await reply_long(update, [day_text(d.date, d.sessions, cohort, tr) for d in busy], "\n\n")
    elif command == "next":
        await reply(update, await _next_text(context, cohort))
    elif command == "contacts":
        people = await services.storage.contacts.visible_to(cohort.id)
        await reply(update, contacts_text(people, tr))
    else:
        await reply(update, _group_help(context))


async def _next_text(context: BotContext, cohort: Cohort) -> str:
    tr = context.tr
    current, upcoming = await context.services.itinerary.next_session(cohort)
    now = context.services.clock.now()
    parts = []
    if current is not None:
        parts.append(
            tr("Going on now (until {time}):").format(time=hhmm(current.ends_at, cohort))
            + "\n"
            + session_block(current, cohort, tr)
        )
    if upcoming is None:
        parts.append(tr("There are no more sessions in your programme."))
        return "\n\n".join(parts)
    today = now.astimezone(cohort.tz).date()
    when = tr("Next: {day}, starts in {countdown}").format(
        day=escape(relative_day(upcoming.starts_at.astimezone(cohort.tz).date(), today, tr)),
        countdown=countdown(upcoming.starts_at - now, tr),
    )
    parts.append(f"⏭ <b>{when}</b>\n" + session_block(upcoming, cohort, tr))
    return "\n\n".join(parts)


def _group_help(context: BotContext) -> str:
    tr = context.tr
    return "\n".join(
        [
            "<b>" + tr("In this chat") + "</b>",
            "/today — " + tr("Today's sessions"),
            "/tomorrow — " + tr("Tomorrow's sessions"),
            "/week — " + tr("The rest of this week"),
            "/next — " + tr("The next session and how to get there"),
            "/contacts — " + tr("Whom to call: hosts, supervisor, emergency"),
            "",
            tr("Reminders, announcements and everything personal: in a private chat with me."),
        ]
    )


# -- everything else: a pointer to the private chat ----------------------------------------


def private_chat_button(context: BotContext) -> InlineKeyboardMarkup:
    url = f"https://t.me/{context.bot.username}"
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("💬 " + context.tr.pgettext("button", "Open the chat"), url=url)]]
    )


async def other_command(update: Update, context: BotContext) -> None:
    """Personal and staff commands in a group get only a pointer: a group is public."""
    command = command_of(update.effective_message, context.bot.username)
    if command is None or allowed_in_group(command):
        return  # another bot's command, or one answered by its own handler
    await _bound(update, context)  # the group's language, if it has one
    await reply(
        update,
        "🔒 "
        + context.tr(
            "I answer that in a private chat only: this group is public. Open our chat and send "
            "the command there."
        ),
        private_chat_button(context),
    )


async def private_hint(update: Update, context: BotContext) -> None:
    """/link, /unlink or /settings sent in the private chat: they belong in the group."""
    await reply(
        update,
        context.tr(
            "Send this in your group chat: add me to the group, then send /link with your "
            "group's code there. /unlink and /settings also work there."
        ),
    )


# -- the group's own settings, for the cohort's staff --------------------------------------


async def _staff_only(update: Update, context: BotContext, command: str) -> bool:
    """Anonymous admins cannot be identified; everyone else's role is checked per cohort."""
    if not manages_group_settings(command):
        return False
    if _anonymous(update.effective_message):
        await reply(
            update,
            "🕶 "
            + context.tr(
                "You are writing anonymously as the group, so I cannot tell who you are or "
                "check your role. Send this from your own account (turn off “Remain anonymous” "
                "in your admin rights)."
            ),
        )
        return False
    return True


async def link(update: Update, context: BotContext, code: str | None = None) -> None:
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or not await _staff_only(update, context, "link"):
        return
    tr = context.tr
    words = context.args or []
    code = code if code is not None else (words[0] if words else None)
    if not code:
        await reply(update, "ℹ️ " + escape(tr("Usage: /link <group code>")))
        return
    storage = context.services.storage
    cohort = await storage.cohorts.by_code(code[:64])
    if cohort is None or not allowed(context.actor, Permission.MANAGE_GROUPS, cohort.id):
        # A wrong code and another cohort's code get the same answer: nothing is revealed.
        await reply(
            update,
            refuse(context)
            + " "
            + tr("Only a supervisor or coordinator of a group can link it, with its code."),
        )
        return
    current = await storage.groups.get(chat.id)
    if current is not None and not allowed(
        context.actor, Permission.MANAGE_GROUPS, current.cohort_id
    ):
        await reply(update, refuse(context))
        return
    thread_id = message.message_thread_id if message.is_topic_message else None
    group = await context.services.groups.link(
        chat.id,
        cohort,
        thread_id=thread_id,
        title=chat.title or "",
        language=tr.language,
        linked_by=context.actor.user_id,
    )
    at = context.services.groups.card_time(group).strftime("%H:%M")
    await reply(
        update,
        "✅ "
        + tr(
            "This chat is now linked to {cohort}. Every morning at {time} ({zone} time) I post "
            "the day's plan here and keep it up to date. Everyone can use /today, /tomorrow, "
            "/week, /next and /contacts here."
        ).format(
            cohort=escape(cohort.name.get(tr.language)), time=at, zone=escape(cohort.timezone)
        ),
    )
    today = context.services.itinerary.local_today(cohort)
    await context.services.groups.post_card(group, today)


async def start_in_group(update: Update, context: BotContext) -> None:
    """/start <code> is what a t.me/<bot>?startgroup=<code> link sends: it links the group."""
    if context.args:
        await link(update, context, context.args[0])
        return
    bound = await _bound(update, context)
    await reply(update, _group_help(context) if bound else _not_linked(context))


async def _staff_of_group(update: Update, context: BotContext, command: str) -> GroupChat | None:
    if not await _staff_only(update, context, command):
        return None
    actor = context.actor
    bound = await _bound(update, context)
    if bound is None:
        await reply(update, _not_linked(context))
        return None
    group, _ = bound
    if not allowed(actor, Permission.MANAGE_GROUPS, group.cohort_id):
        await reply(update, refuse(context))
        return None
    return group


async def unlink(update: Update, context: BotContext) -> None:
    group = await _staff_of_group(update, context, "unlink")
    if group is None:
        return
    await context.services.groups.unlink(group.chat_id)
    await reply(
        update,
        context.tr("Unlinked. I will post nothing more here; /link links the chat again."),
    )


def _settings_text(context: BotContext, group: GroupChat, cohort_zone: str) -> str:
    tr = context.tr
    at = context.services.groups.card_time(group).strftime("%H:%M")
    joins = tr("on") if group.join_approval else tr("off")
    return "\n".join(
        [
            "⚙️ <b>" + tr("Settings of this chat") + "</b>",
            tr("Daily plan card: {time} ({zone} time)").format(time=at, zone=escape(cohort_zone)),
            tr("Approve join requests of the group's members: {state}").format(state=joins),
            "",
            escape(tr("Change: /settings card HH:MM | card default | joins on | joins off")),
        ]
    )


def _parse_time(text: str) -> time | None:
    hours, _, minutes = text.partition(":")
    if is_number(hours) and is_number(minutes) and len(minutes) == 2:
        if int(hours) < 24 and int(minutes) < 60:
            return time(int(hours), int(minutes))
    return None


async def settings(update: Update, context: BotContext) -> None:
    group = await _staff_of_group(update, context, "settings")
    if group is None:
        return
    services = context.services
    cohort = await services.storage.cohorts.get(group.cohort_id)
    zone = cohort.timezone if cohort else ""
    args = [a.lower() for a in (context.args or [])][:4]
    tr = context.tr
    while args:
        key = args.pop(0)
        value = args.pop(0) if args else ""
        if key == "card" and value == "default":
            group = await services.groups.set_card_time(group, None)
        elif key == "card" and (at := _parse_time(value)) is not None:
            group = await services.groups.set_card_time(group, at)
        elif key == "joins" and value in ("on", "off"):
            await services.storage.groups.set_join_approval(group.chat_id, value == "on")
            updated = await services.storage.groups.get(group.chat_id)
            assert updated is not None
            group = updated
        else:
            await reply(
                update,
                "ℹ️ "
                + escape(tr("Change: /settings card HH:MM | card default | joins on | joins off")),
            )
            return
    await reply(update, _settings_text(context, group, zone))


async def group_language(update: Update, context: BotContext) -> None:
    group = await _staff_of_group(update, context, "language")
    if group is None or context.user is None:
        return
    uid = context.user.telegram_id
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    LANGUAGE_NAMES[lang],
                    callback_data=CallbackData(GROUP_LANGUAGE_ACTION, uid, lang).encode(),
                )
                for lang in LANGUAGES
            ]
        ]
    )
    await reply(update, context.tr("Choose the language of this chat:"), keyboard)


async def group_language_chosen(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)  # only the staff member who asked may choose
    query = update.callback_query
    chat = update.effective_chat
    if data is None or query is None or chat is None:
        return
    storage = context.services.storage
    group = await storage.groups.get(chat.id)
    if data.arg not in LANGUAGES or group is None:
        await query.answer(context.tr("This button is out of date."))
        return
    if not allowed(context.actor, Permission.MANAGE_GROUPS, group.cohort_id):
        await query.answer(refuse(context), show_alert=True)
        return
    await storage.groups.set_language(chat.id, data.arg)
    context.use_language(data.arg)
    await query.answer()
    await edit(query, context.tr("Done! I will speak English in this chat."))


# -- announcements' "Got it" in the group --------------------------------------------------


async def group_got_it(update: Update, context: BotContext) -> None:
    """A member's press records their acknowledgement (answered by a pop-up only they see);
    anyone else's press does nothing but the pop-up."""
    query = update.callback_query
    if query is None:
        return
    tr = context.tr
    data = CallbackData.decode(query.data)
    services = context.services
    announcement = (
        await services.storage.announcements.get(int(data.arg))
        if data is not None and is_number(data.arg)
        else None
    )
    if announcement is None or context.user is None:
        await query.answer(tr("This button is out of date."))
        return
    cohort_id = announcement.cohort_id
    if cohort_id is None and update.effective_chat is not None:  # sent to every group
        group = await services.storage.groups.get(update.effective_chat.id)
        cohort_id = group.cohort_id if group else None
    user_id = context.user.telegram_id
    if user_id == announcement.sender_id:
        await query.answer(tr("This is your own announcement."))
    elif context.actor.member_of(cohort_id):
        await services.groups.acknowledge(announcement.id, user_id)
        await query.answer(tr("Thank you! Marked as read."))
    else:
        await query.answer(tr("This announcement is for the members of the group."))


# -- join requests, decided by a supervisor in the private chat ------------------------------


async def join_request(update: Update, context: BotContext) -> None:
    request = update.chat_join_request
    if request is None:
        return
    await context.services.groups.join_requested(
        request.chat.id, request.from_user.id, request.from_user.full_name
    )


async def join_decided(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None:
        return
    tr = context.tr
    action, _, raw = data.arg.partition(":")
    services = context.services
    request = await services.storage.groups.request(int(raw)) if is_number(raw) else None
    group = await services.storage.groups.get(request.chat_id) if request else None
    if request is None or group is None or action not in ("a", "d"):
        await query.answer(tr("This button is out of date."))
        return
    if not allowed(context.actor, Permission.MANAGE_GROUPS, group.cohort_id):
        await query.answer(refuse(context), show_alert=True)
        return
    result = await services.groups.decide_join(request.id, action == "a")
    if result == "decided":
        await query.answer(tr("Already decided."))
        return
    if result == "gone":
        await query.answer(tr("This button is out of date."))
        return
    await query.answer()
    text = "✅ " + tr("Let in.") if result == "approved" else "🚫 " + tr("Declined.")
    await edit(query, text)


# -- lifecycle -----------------------------------------------------------------------------


async def my_chat_member(update: Update, context: BotContext) -> None:
    """Added: a hello with how to link. Removed or kicked: the binding is dropped and nothing
    more is sent there. A channel is not a group: it is left alone, silently."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None or change.chat.type not in (ChatType.GROUP, ChatType.SUPERGROUP):
        return
    services = context.services
    chat_id = change.chat.id
    new, old = change.new_chat_member.status, change.old_chat_member.status
    if new in ("left", "kicked"):
        if await services.groups.unlink(chat_id):
            log.info("removed from a group: its binding is dropped")
        return
    if old in ("left", "kicked") and await services.storage.groups.get(chat_id) is None:
        await context.bot.send_message(
            chat_id,
            "👋 "
            + context.tr(
                "Hello! I keep this chat's day plan pinned and up to date. A supervisor or "
                "coordinator links me by sending /link with the group's code here."
            ),
        )


async def migrated(update: Update, context: BotContext) -> None:
    """A group upgraded to a supergroup: the binding (and today's card) follow the new id."""
    message = update.effective_message
    if message is None:
        return
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    services = context.services
    group = await services.groups.migrated(old, new)
    if group is not None:
        cohort = await services.storage.cohorts.get(group.cohort_id)
        if cohort is not None:
            await services.groups.post_card(group, services.itinerary.local_today(cohort))


__all__ = ["GROUP_ACK_ACTION", "GROUP_LANGUAGE_ACTION", "JOIN_ACTION"]
