"""/contacts: whom to call, the cohort's own and the shared emergency numbers."""

from __future__ import annotations

from telegram import Update

from bot.context import BotContext
from bot.formatting import contacts_text
from bot.handlers.common import current_cohort, reply


async def contacts(update: Update, context: BotContext) -> None:
    cohort = await current_cohort(update, context)
    if cohort is None:
        return
    people = await context.services.storage.contacts.visible_to(cohort.id)
    await reply(update, contacts_text(people, context.tr))
