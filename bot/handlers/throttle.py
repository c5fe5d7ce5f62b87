"""Per-user throttling: one user flooding the bot must not starve everyone else.

Runs first (handler group -2). A user may send a burst of `burst` updates (15), refilled
over `period` seconds (10); beyond that their updates are dropped before any database work,
with one polite answer per quiet period. aiolimiter (already used by python-telegram-bot's
rate limiter) does the token bucket.
"""

from __future__ import annotations

import time

from aiolimiter import AsyncLimiter
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop

from bot.context import SERVICES_KEY, BotContext
from bot.i18n import choose_language

WARN_EVERY = 10.0
MAX_TRACKED = 10_000


class Throttle:
    def __init__(self, burst: int, period: float) -> None:
        self._burst = burst
        self._period = period
        self._limiters: dict[int, AsyncLimiter] = {}
        self._warned: dict[int, float] = {}
        self.dropped = 0

    def _limiter(self, user_id: int) -> AsyncLimiter:
        limiter = self._limiters.get(user_id)
        if limiter is None:
            if len(self._limiters) >= MAX_TRACKED:  # forget the oldest: memory stays bounded
                for key in list(self._limiters)[: MAX_TRACKED // 10]:
                    del self._limiters[key]
            limiter = self._limiters[user_id] = AsyncLimiter(self._burst, self._period)
        return limiter

    async def __call__(self, update: Update, context: BotContext) -> None:
        user = update.effective_user
        if user is None:
            return
        limiter = self._limiter(user.id)
        if limiter.has_capacity():
            await limiter.acquire()  # immediate: capacity was just checked
            return
        self.dropped += 1
        now = time.monotonic()
        if now - self._warned.get(user.id, 0.0) >= WARN_EVERY and update.effective_chat:
            self._warned[user.id] = now
            services = context.application.bot_data[SERVICES_KEY]
            tr = services.catalogs.get(choose_language(None, user.language_code))
            if update.callback_query is not None:
                await update.callback_query.answer(tr("Too fast! Please wait a few seconds."))
            elif update.effective_chat.type == ChatType.PRIVATE:
                # Never in a group: the whole group would read a warning meant for one person.
                await context.bot.send_message(
                    update.effective_chat.id,
                    tr("You are sending messages too fast. Please wait a few seconds."),
                )
        raise ApplicationHandlerStop
