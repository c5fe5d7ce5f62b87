"""/language: an inline keyboard that switches the language and confirms in the new one."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.callbacks import CallbackData
from bot.context import BotContext
from bot.handlers.common import edit, pressed, refresh_menu, reply
from bot.i18n import LANGUAGE_NAMES, LANGUAGES

LANGUAGE_ACTION = "lang"


def language_keyboard(user_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    LANGUAGE_NAMES[lang],
                    callback_data=CallbackData(LANGUAGE_ACTION, user_id, lang).encode(),
                )
                for lang in LANGUAGES
            ]
        ]
    )


async def language(update: Update, context: BotContext) -> None:
    if context.user is None:
        return
    await reply(
        update,
        context.tr("Choose your language:"),
        language_keyboard(context.user.telegram_id),
    )


async def language_chosen(update: Update, context: BotContext) -> None:
    data = await pressed(update, context)
    query = update.callback_query
    if data is None or query is None or context.user is None:
        return
    if data.arg not in LANGUAGES:
        await query.answer(context.tr("This button is out of date."))
        return
    await context.services.storage.users.set_language(context.user.telegram_id, data.arg)
    context.use_language(data.arg)
    tr = context.tr
    await query.answer()
    await edit(query, tr("Done! I will speak English with you."))
    await refresh_menu(context, context.user.telegram_id)
