"""/forget_me: a student deletes what the bot stores about them, after a confirm button."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import edit, pressed, reply

FORGET_ACTION = "forget"


async def forget_me(update: Update, context: BotContext) -> None:
    if context.user is None:
        return
    tr = context.tr
    uid = context.user.telegram_id
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    "🗑 " + tr.pgettext("button", "Delete my data"),
                    callback_data=CallbackData(FORGET_ACTION, uid, "yes").encode(),
                ),
                InlineKeyboardButton(
                    tr.pgettext("button", "Keep"),
                    callback_data=CallbackData(FORGET_ACTION, uid, "no").encode(),
                ),
            ]
        ]
    )
    await reply(
        update,
        tr(
            "This deletes everything I store about you: your name, language, group membership, "
            "reminder settings and the record of messages sent to you. You will stop getting "
            "reminders and announcements. You can join again later with an invite link."
        ),
        keyboard,
    )


async def forget_pressed(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    tr = context.tr
    await query.answer()
    if data.arg != "yes":
        await edit(query, tr("Nothing was deleted."))
        return
    services = context.services
    async with services.storage.transaction():
        await services.storage.operations.forget_user(context.user.telegram_id)
    await edit(
        query, tr("Done: your data has been deleted. Goodbye, and good luck with your studies!")
    )
