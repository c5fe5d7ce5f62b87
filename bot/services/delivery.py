"""Sending one message to one user exactly once, whatever Telegram answers.

The `deliveries` row is claimed before the send and finished after it, so a restart never
repeats what was sent. 403 (blocked) marks the user unreachable; 429 waits `retry_after`;
network errors are retried with backoff, a bounded number of times. Everything sent here
queues behind answers to people in the rate limiter (`Priority.TIMED`, or `BULK` for
broadcasts): nobody waits for their /today while a cohort's reminders go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.clock import Clock
from bot.formatting import fit_message
from bot.i18n import Catalogs, Translator, choose_language
from bot.ratelimit import Priority, priority_args
from bot.storage import Storage
from bot.storage.models import User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
CONCURRENT_SENDS = 30
# Sends that are not answers to a person take at most this many of the bot's 8 HTTP
# connections (`bot.app.CONNECTIONS`) at once: two always stay free for answers, so a burst
# of notices (a catch-up after a big import, with the send limiter off) never makes someone's
# /today wait for a connection. Six in flight still carry far more than Telegram's 30/s.
BACKGROUND_CONNECTIONS = 6
BACKOFF_SECONDS = (1, 2, 4, 8)


@dataclass(frozen=True)
class Outgoing:
    text: str
    markup: InlineKeyboardMarkup | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Render = Callable[[Translator], Outgoing]


class Sender:
    def __init__(
        self,
        bot: Bot,
        storage: Storage,
        clock: Clock,
        catalogs: Catalogs,
        *,
        backoff: tuple[float, ...] = BACKOFF_SECONDS,
    ) -> None:
        self._bot = bot
        self._storage = storage
        self._clock = clock
        self._catalogs = catalogs
        self._backoff = backoff
        self._background = asyncio.Semaphore(BACKGROUND_CONNECTIONS)

    def translator(self, user: User) -> Translator:
        return self._catalogs.get(choose_language(user.language, user.telegram_language))

    async def deliver(self, kind: str, ref: str, user: User, render: Render) -> str:
        """Returns the final status: sent, unreachable, failed or duplicate."""
        deliveries = self._storage.deliveries
        if not await deliveries.claim(kind, ref, user.telegram_id, self._clock.now()):
            return "duplicate"
        outgoing = render(self.translator(user))
        status, error, _ = await self.send_once(user.telegram_id, outgoing)
        await deliveries.finish(kind, ref, user.telegram_id, status, self._clock.now(), error)
        if status == "unreachable":
            await self._storage.users.set_reachable(user.telegram_id, False)
        return status

    async def deliver_all(
        self, kind: str, ref: str, users: list[User], render: Render
    ) -> dict[str, int]:
        """Sends to many users at once; the rate limiter keeps it within Telegram's limits."""
        return await self.deliver_many((kind, ref, user, render) for user in users)

    async def deliver_many(self, sends: Iterable[tuple[str, str, User, Render]]) -> dict[str, int]:
        """Each (kind, ref, user, render) as `deliver` does, side by side (the rate limiter
        paces them); a tally of the final statuses."""
        semaphore = asyncio.Semaphore(CONCURRENT_SENDS)

        async def one(kind: str, ref: str, user: User, render: Render) -> str:
            async with semaphore:
                return await self.deliver(kind, ref, user, render)

        tally: dict[str, int] = {}
        for status in await asyncio.gather(*(one(*send) for send in sends)):
            tally[status] = tally.get(status, 0) + 1
        return tally

    async def send_once(
        self, chat_id: int, outgoing: Outgoing, priority: Priority = Priority.TIMED
    ) -> tuple[str, str, int | None]:
        """(status, error, message id) after retrying what is worth retrying."""
        limit = priority_args(self._bot, priority)
        lane = self._background if priority is not Priority.REPLY else contextlib.nullcontext()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with lane:
                    message = await self._bot.send_message(
                        chat_id,
                        fit_message(outgoing.text),
                        parse_mode=ParseMode.HTML,
                        reply_markup=outgoing.markup,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                        **outgoing.extra,
                        **limit,
                    )
                return "sent", "", message.message_id
            except Forbidden as exc:
                return "unreachable", str(exc), None
            except RetryAfter as exc:
                # The rate limiter has already retried; Telegram insists: wait as told.
                if attempt >= MAX_ATTEMPTS:
                    return "failed", str(exc), None
                await asyncio.sleep(_seconds(exc.retry_after))
            except BadRequest as exc:  # a subclass of NetworkError: catch it first
                if "chat not found" in str(exc).lower():
                    return "unreachable", str(exc), None
                return "failed", str(exc), None
            except (TimedOut, NetworkError) as exc:
                if attempt >= MAX_ATTEMPTS:
                    return "failed", str(exc), None
                delay = self._backoff[min(attempt - 1, len(self._backoff) - 1)]
                log.warning("send to a chat failed (%s); retry %d in %ss", exc, attempt, delay)
                await asyncio.sleep(delay)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
