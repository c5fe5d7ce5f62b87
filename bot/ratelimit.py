"""Telegram's send limits with people first: one global pace, a queue ordered by priority.

Telegram lets a bot send about 30 messages a second in all and about 20 a minute to one group.
python-telegram-bot's `AIORateLimiter` keeps to both but serves requests first come, first
served, so an answer to a person waited behind every broadcast message queued before it. This
limiter keeps the same limits (one budget, never a second limiter beside it) and hands each
free slot to the most urgent request waiting:

* `Priority.REPLY` (0, the default): answers and edits for the person who just wrote;
* `Priority.TIMED` (1): reminders, evening plans and notices, passed by `Sender`;
* `Priority.BULK` (2): broadcasts, passed by their drainer.

Within a priority, first come, first served. Requests are told apart as `AIORateLimiter` does:
only a request with a `chat_id` is paced (sends, edits, chat actions); a negative or `@name`
chat id is a group or channel and also gets its own 20-a-minute window. Requests without a
chat (getMe, setMyCommands, answerCallbackQuery, getFile…) go straight through, even during a
429 pause: Telegram's flood limits count messages, and a pressed button that waited behind a
broadcast for its answerCallbackQuery would spin for seconds. getUpdates never reaches a rate
limiter at all. A 429 (`RetryAfter`) pauses every paced request for the time Telegram asks,
then the request retries ahead of its priority, up to `max_retries` times, as `AIORateLimiter`
did.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from telegram import Bot
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

JSON = bool | dict[str, Any] | list[dict[str, Any]]
# A group's minute is counted here from each send's grant, at Telegram from its arrival: a send
# granted 60 s after the first of 20 may still land within that minute there (the first one
# late, this one fast), which meets a 429 that pauses every send. This slack covers it.
GROUP_SLACK = 1.0
GroupKey = int | str


class Priority(IntEnum):
    REPLY = 0
    TIMED = 1
    BULK = 2


def priority_args(bot: Bot, priority: Priority) -> dict[str, Any]:
    """Keyword arguments that give a send its priority; none when the bot has no limiter
    (python-telegram-bot refuses `rate_limit_args` without one)."""
    if getattr(bot, "rate_limiter", None) is None or priority == Priority.REPLY:
        return {}
    return {"rate_limit_args": int(priority)}


def group_key(chat_id: object) -> GroupKey | None:
    """The group or channel a chat id names, None for a private chat (positive ids)."""
    if isinstance(chat_id, int) and not isinstance(chat_id, bool):
        return chat_id if chat_id < 0 else None
    if isinstance(chat_id, str):
        with contextlib.suppress(ValueError):
            number = int(chat_id)
            return number if number < 0 else None
        return chat_id  # "@channelname": only supergroups and channels have one
    return None


@dataclass(order=True)
class _Waiter:
    priority: int
    seq: int
    group: GroupKey | None = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class PriorityRateLimiter(BaseRateLimiter[int]):
    """One token every 1/`messages_per_second` s, given to the most urgent waiting request.

    `clock` and `sleep` are the monotonic clock and the sleep the pacing uses; tests pass a
    controlled pair. Only one task (the pump) ever sleeps, so a controlled clock stays simple.
    """

    def __init__(
        self,
        messages_per_second: float = 29.5,
        *,
        group_max_rate: int = 20,
        group_time_period: float = 60.0,
        max_retries: int = 3,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if messages_per_second <= 0:
            raise ValueError("messages_per_second must be positive")
        self._interval = 1.0 / messages_per_second
        # A slot granted a little late keeps the next one on the grid (no drift over a long
        # drain); later than this, the grid restarts from now.
        self._late_tolerance = min(0.005, self._interval / 4)
        # And fewer than `messages_per_second` in any second at Telegram's end. The grid alone
        # puts 30 sends within 983 ms at 29.5/s, so one that reaches Telegram 20 ms late (a
        # busy event loop, a busy network or server) would make 31 and meet a 429, which
        # pauses everything for over a second. So a send counts from its grant until a second
        # after the latest it can have arrived (its answer, less half the shortest round trip
        # seen): however late it lands, it is counted while Telegram counts it.
        self._per_second = max(1, math.ceil(messages_per_second) - 1)
        self._in_flight = 0
        self._counted_until: list[float] = []  # sorted; sends answered, still counted
        self._round_trips: deque[float] = deque(maxlen=64)
        self._group_max = group_max_rate
        self._group_period = group_time_period
        self._max_retries = max_retries
        self._clock = clock
        self._sleep = sleep
        self._next_slot = float("-inf")
        self._paused_until = float("-inf")
        self._group_sends: dict[GroupKey, deque[float]] = {}
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    async def initialize(self) -> None:
        """Nothing to open: the pump starts with the first request that has to wait."""

    async def shutdown(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for waiter in self._waiting:
            waiter.future.cancel()
        self._waiting.clear()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,  # the chat id, not the method, decides
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSON:
        chat_id = data.get("chat_id")
        if chat_id is None:
            return await callback(*args, **kwargs)
        priority = int(rate_limit_args or Priority.REPLY)
        group = group_key(chat_id)
        seq = next(self._seq)  # kept across retries: a retry is first of its priority
        for attempt in range(self._max_retries + 1):
            await self._acquire(priority, seq, group)
            sent_at = self._clock()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt == self._max_retries:
                    log.warning("429 after %d retries; giving up on this request", attempt)
                    raise
                pause = _seconds(exc.retry_after) + 0.1
                log.info("429 from Telegram: every send pauses for %.1f s", pause)
                self._paused_until = max(self._paused_until, self._clock() + pause)
            finally:
                self._answered(sent_at)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- slots -----------------------------------------------------------------------------

    async def _acquire(self, priority: int, seq: int, group: GroupKey | None) -> None:
        now = self._clock()
        if not self._waiting and self._slot_free(now) and self._group_has_room(group, now):
            self._grant(group, now)  # nobody ahead and the slot is free: no task switch
            return
        waiter = _Waiter(priority, seq, group, asyncio.get_running_loop().create_future())
        heapq.heappush(self._waiting, waiter)
        self._wake.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._run_pump(), name="rate-limiter")
        try:
            await waiter.future  # cancelled while waiting: the pump skips it
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled():
                self._answered(self._clock())  # granted, then cancelled: nothing was sent
            raise

    def _slot_free(self, now: float) -> bool:
        return now >= self._due(now)

    def _due(self, now: float) -> float:
        """When the next slot opens, whoever takes it; infinity until a send is answered."""
        due = max(self._next_slot, self._paused_until)
        counted = self._counted_until
        while counted and counted[0] <= now:
            counted.pop(0)
        excess = self._in_flight + len(counted) - self._per_second
        if excess >= 0:
            due = max(due, counted[excess] if excess < len(counted) else math.inf)
        return due

    def _answered(self, sent_at: float) -> None:
        now = self._clock()
        self._round_trips.append(now - sent_at)
        bisect.insort(self._counted_until, now + 1.0 - min(self._round_trips) / 2)
        self._in_flight -= 1
        self._wake.set()

    def _grant(self, group: GroupKey | None, now: float) -> None:
        on_grid = now - self._next_slot <= self._late_tolerance
        self._next_slot = (self._next_slot if on_grid else now) + self._interval
        self._in_flight += 1
        if group is not None:
            self._record_group_send(group, now)

    async def _run_pump(self) -> None:
        """Hands out one slot at a time until nobody waits, then ends (restarted on demand)."""
        while self._waiting:
            now = self._clock()
            due = self._due(now)
            if due == math.inf:
                await self._sleep_or_wake(None)  # until a send is answered
                continue
            if now < due:
                await self._sleep(due - now)
                continue
            waiter, opens = self._pick(now)
            if waiter is not None:
                self._grant(waiter.group, now)
                waiter.future.set_result(None)
                await asyncio.sleep(0)  # let the request start before the next grant
            elif self._waiting:
                # Everyone waiting is held by a group's minute: sleep until one opens or a
                # new request arrives.
                await self._sleep_or_wake(opens - now)

    def _pick(self, now: float) -> tuple[_Waiter | None, float]:
        """Pops the most urgent waiter whose group has room; else (None, the next opening)."""
        held: list[_Waiter] = []
        chosen = None
        while self._waiting:
            waiter = heapq.heappop(self._waiting)
            if waiter.future.done():
                continue  # its request was cancelled
            if self._group_has_room(waiter.group, now):
                chosen = waiter
                break
            held.append(waiter)
        for waiter in held:
            heapq.heappush(self._waiting, waiter)
        opens = min((self._group_opens(w.group) for w in held), default=now)
        return chosen, opens

    async def _sleep_or_wake(self, delay: float | None) -> None:
        self._wake.clear()
        if delay is None:
            await self._wake.wait()
            return
        sleeper = asyncio.ensure_future(self._sleep(max(delay, 0.0)))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    # -- groups ----------------------------------------------------------------------------

    def _group_has_room(self, group: GroupKey | None, now: float) -> bool:
        if group is None or not self._group_max:
            return True
        sends = self._group_sends.get(group)
        return (
            sends is None
            or len(sends) < self._group_max
            or now >= sends[0] + self._group_period + GROUP_SLACK
        )

    def _group_opens(self, group: GroupKey | None) -> float:
        sends = self._group_sends.get(group) if group is not None else None
        return sends[0] + self._group_period + GROUP_SLACK if sends else float("-inf")

    def _record_group_send(self, group: GroupKey, now: float) -> None:
        if not self._group_max:
            return
        if len(self._group_sends) > 512:  # forget groups quiet for a whole period
            for key in [
                k for k, s in self._group_sends.items() if now >= s[-1] + self._group_period
            ]:
                del self._group_sends[key]
        sends = self._group_sends.setdefault(group, deque(maxlen=self._group_max))
        sends.append(now)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    return float(total()) if callable(total) else float(value)  # type: ignore[arg-type]
