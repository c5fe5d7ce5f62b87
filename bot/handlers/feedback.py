"""Feedback after sessions: the 1-5 buttons, comments, /feedback for staff; the survey."""

from __future__ import annotations

from telegram import Update

from bot.context import BotContext
from bot.handlers.common import reply
from bot.storage.questions import PendingStep


async def comment_reply(update: Update, context: BotContext, session_id: int, content) -> None:  # type: ignore[no-untyped-def]
    await reply(update, context.tr("Thank you!"))


async def run_step(update: Update, context: BotContext, step: PendingStep, content) -> bool:  # type: ignore[no-untyped-def]
    return False
