"""What every handler shares: loading the user once per update, replying, cohort lookup."""

from __future__ import annotations

from dataclasses import replace
from html import escape

from telegram import CallbackQuery, InlineKeyboardMarkup, LinkPreviewOptions, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.callbacks import CallbackData
from bot.commands import register_user_menu
from bot.context import BotContext
from bot.formatting import MAX_MESSAGE_UNITS, split_message, utf16_len
from bot.i18n import Translator
from bot.parsing import is_number
from bot.services.access import Actor, Permission, allowed
from bot.storage.models import Cohort, Role
from bot.storage.repositories import Seen

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def load_user(update: Update, context: BotContext) -> None:
    """Handler group -1: the user, their language, permissions and cohort, in one round trip.

    Nothing is written while answering, except the row of someone new to the bot (or back
    after blocking it): names, language and the time last seen go to `Presence`, which writes
    them in batches, so an answer never waits for another process's write.
    """
    tg_user = update.effective_user
    if tg_user is None or tg_user.is_bot:
        return
    services = context.services
    users = services.storage.users
    now = services.clock.now()
    seen = Seen(
        tg_user.id,
        tg_user.first_name or "",
        tg_user.last_name or "",
        tg_user.username or "",
        tg_user.language_code,
        now,
    )
    loaded = await users.load(tg_user.id)
    if loaded is None or not loaded.user.seen or not loaded.user.reachable:
        await users.touch(
            tg_user.id,
            first_name=seen.first_name,
            last_name=seen.last_name,
            username=seen.username,
            telegram_language=seen.telegram_language,
            now=now,
        )
        loaded = await users.load(tg_user.id)
        assert loaded is not None
    else:
        services.presence.saw(seen)
    user = replace(
        loaded.user,
        first_name=seen.first_name,
        last_name=seen.last_name,
        username=seen.username,
        telegram_language=seen.telegram_language,
        last_seen=now,
    )
    services.itinerary.plans.observe(loaded.user.cohort_id, loaded.feed_position)
    context.user = user
    context.cohort = loaded.cohort
    context.actor = Actor.of(
        user, {m.cohort_id: m.role for m in loaded.memberships}, services.settings.coordinators
    )
    context.use_language(user.language, tg_user.language_code)


async def reply(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> Message | None:
    """Answers in the chat of the update; a text too long for one message goes as several
    (split between lines), the buttons under the last."""
    message = update.effective_message
    if message is None:
        return None
    chunks = split_message(text.split("\n")) if utf16_len(text) > MAX_MESSAGE_UNITS else [text]
    sent = None
    for i, chunk in enumerate(chunks):
        sent = await message.reply_text(
            chunk,
            parse_mode=ParseMode.HTML,
            reply_markup=markup if i == len(chunks) - 1 else None,
            link_preview_options=NO_PREVIEW,
        )
    return sent


def not_modified(exc: BadRequest) -> bool:
    """Telegram refuses an edit that changes nothing; after a double tap that is success."""
    return "message is not modified" in str(exc).lower()


async def edit(
    query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Edits the message a button belongs to; a second press that changes nothing is fine."""
    try:
        await query.edit_message_text(
            text, parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
        )
    except BadRequest as exc:
        if not not_modified(exc):
            raise


async def edit_markup(query: CallbackQuery, markup: InlineKeyboardMarkup | None) -> None:
    """Replaces (or removes) a message's buttons, tolerating a repeat."""
    try:
        await query.edit_message_reply_markup(reply_markup=markup)
    except BadRequest as exc:
        if not not_modified(exc):
            raise


async def reply_long(
    update: Update,
    parts: list[str],
    separator: str = "\n",
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Several messages when needed: Telegram refuses texts over 4,096 UTF-16 units. The
    buttons go under the last."""
    chunks = split_message(parts, separator)
    for i, chunk in enumerate(chunks):
        await reply(update, chunk, markup if i == len(chunks) - 1 else None)


async def pressed(update: Update, context: BotContext) -> CallbackData | None:
    """The data of the button pressed, if well-formed and shown to this very user.

    Buttons carry the id of the user they were shown to: forged or foreign data is refused
    here, once for every button of the bot.
    """
    query = update.callback_query
    if query is None or context.user is None:
        return None
    data = CallbackData.decode(query.data)
    if data is None or data.user_id != context.user.telegram_id:
        await query.answer(context.tr("This button is not for you."), show_alert=True)
        return None
    return data


def action_and_id(data: CallbackData) -> tuple[str, int | None]:
    """Splits an "<action>:<number>" argument."""
    action, _, raw = data.arg.partition(":")
    return action, int(raw) if is_number(raw) else None


def role_name(role: Role, tr: Translator) -> str:
    names = {
        Role.STUDENT: tr.pgettext("role", "student"),
        Role.SUPERVISOR: tr.pgettext("role", "supervisor"),
        Role.COORDINATOR: tr.pgettext("role", "coordinator"),
    }
    return names[role]


def highest_role(actor: Actor) -> Role | None:
    """The role whose commands a person's /help and menu show: what they can do anywhere."""
    if actor.is_coordinator:
        return Role.COORDINATOR
    if any(r is Role.SUPERVISOR for r in actor.roles.values()):
        return Role.SUPERVISOR
    return Role.STUDENT if actor.roles else None


async def refresh_menu(context: BotContext, user_id: int) -> None:
    """Sets a person's command menu for their role now, in their language (after a join, a
    role change or a language change, which may concern someone else than the sender)."""
    services = context.services
    user = await services.storage.users.get(user_id)
    if user is None:
        return
    memberships = await services.storage.users.memberships(user_id)
    actor = Actor.of(
        user, {m.cohort_id: m.role for m in memberships}, services.settings.coordinators
    )
    await register_user_menu(
        context.bot, user_id, highest_role(actor), services.sender.translator(user)
    )


def how_to_join(context: BotContext) -> str:
    return context.tr(
        "You have not joined a group yet. Open the invite link that your coordinator or "
        "supervisor shared with you (it looks like https://t.me/{bot}?start=…), then press "
        "Start."
    ).format(bot=context.bot.username)


async def current_cohort(
    update: Update, context: BotContext, permission: Permission = Permission.READ_ITINERARY
) -> Cohort | None:
    """The cohort the user reads, or None after telling them how to join or that they may not."""
    user = context.user
    cohort = None
    if user is not None and user.cohort_id is not None:
        cohort = context.cohort  # read with the user, unless the user switched since
        if cohort is None or cohort.id != user.cohort_id:
            cohort = await context.services.storage.cohorts.get(user.cohort_id)
    if cohort is None:
        await reply(update, how_to_join(context))
        return None
    if not allowed(context.actor, permission, cohort.id):
        await reply(update, context.tr("Sorry, you are not allowed to do that."))
        return None
    return cohort


def refuse(context: BotContext) -> str:
    return context.tr("Sorry, you are not allowed to do that.")


async def cohort_for(
    update: Update, context: BotContext, permission: Permission, code: str | None
) -> Cohort | None:
    """The cohort a staff command names (or the user's own), if the user may act on it.

    Every staff command goes through here, so the rules of `allowed` are applied the same way
    everywhere. A non-coordinator asking about a code that does not exist gets the same refusal
    as for a cohort that is not theirs: nothing of another cohort is revealed.
    """
    storage = context.services.storage
    cohort = None
    if code is not None:
        cohort = await storage.cohorts.by_code(code[:64])
    elif context.user is not None and context.user.cohort_id is not None:
        cohort = await storage.cohorts.get(context.user.cohort_id)
    if cohort is None:
        if code is not None and context.actor.is_coordinator:
            await reply(
                update,
                context.tr("There is no group with the code {code}.").format(
                    code=escape(code[:40])
                ),
            )
        elif code is None and allowed(context.actor, permission, None):
            await reply(update, context.tr("Name the group: add its code to the command."))
        else:
            await reply(update, refuse(context))
        return None
    if not allowed(context.actor, permission, cohort.id):
        await reply(update, refuse(context))
        return None
    return cohort


async def usage(update: Update, text: str) -> None:
    await reply(update, "ℹ️ " + escape(text))
