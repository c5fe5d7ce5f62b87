"""The send limiter: people before bulk within one global pace, 429s, groups' minute.

End to end through the emulator for the order people see; the limiter alone on a controlled
clock for what takes Telegram-sized time (a 429's pause, a group's 60 seconds).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from telegram import Bot
from telegram.error import RetryAfter

from bot.ratelimit import Priority, PriorityRateLimiter, group_key, priority_args
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness
from tests.test_staff import join_many

BULK_TEXT = "Bulk announcement for everyone"


async def test_a_reply_overtakes_a_broadcast_within_the_global_limit(
    harness: BotHarness,
) -> None:
    emu = harness.emulator
    members = await join_many(harness, 60)
    askers = [harness.user(7000 + i, "ru", name=f"Asker{i}") for i in range(5)]
    for asker in askers:
        await asker.join(await harness.invite_code())
    harness.user(COORDINATOR_ID, "en", name="Coordinator")
    # Telegram's limit, strictly: one 429 would mean the priority let through a second pace.
    emu.set_flood_control(global_per_second=30, per_chat_per_second=None)
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    broadcasts = harness.services.broadcasts
    announcement = await broadcasts.draft(COORDINATOR_ID, cohort, BULK_TEXT)
    start = len(emu.sent)

    assert await broadcasts.send(announcement) == 65
    await emu.wait_for_messages(5, predicate=lambda m: BULK_TEXT in (m.text or ""), after=start)
    asked = len(emu.sent)
    for asker in askers:
        await emu.send_text(asker.user_id, "/today")
    replies = [
        await emu.wait_for_message(
            asker.user_id, predicate=lambda m: BULK_TEXT not in (m.text or ""), after=asked
        )
        for asker in askers
    ]
    report = await emu.wait_for_message(
        COORDINATOR_ID, predicate=lambda m: (m.text or "").startswith("📬"), after=start,
        timeout=30,
    )  # fmt: skip

    sent = emu.sent[start:]
    last = max(emu.sent.index(reply) for reply in replies)
    ahead = sum(BULK_TEXT in (m.text or "") for m in emu.sent[asked:last])
    behind = sum(BULK_TEXT in (m.text or "") for m in emu.sent[last:])
    # First come, first served, each answer waited behind the ~25 broadcast sends queued
    # before it, and the next question was read only then; first in line, only the sends
    # granted while the bot read the updates (a few slots of 34 ms) go ahead of them.
    assert ahead <= 8, (ahead, behind)
    assert behind >= 20
    copies = Counter(m.chat_id for m in sent if BULK_TEXT in (m.text or ""))
    assert copies == Counter([*members, *(a.user_id for a in askers)])  # each exactly once
    assert "delivered to 65 of 65" in (report.text or "")
    assert emu.too_many_requests == 0


async def test_sends_without_a_limiter_carry_no_priority(harness: BotHarness) -> None:
    assert priority_args(harness.app.bot, Priority.BULK) == {"rate_limit_args": 2}
    assert priority_args(harness.app.bot, Priority.REPLY) == {}
    assert priority_args(Bot("123:abc"), Priority.BULK) == {}  # PTB refuses them without one


def test_group_keys_are_negative_ids_and_usernames() -> None:
    assert group_key(12345) is None
    assert group_key(-100123) == -100123
    assert group_key("-100123") == -100123
    assert group_key("777") is None
    assert group_key("@channel") == "@channel"


# -- the limiter alone, on a controlled clock ----------------------------------------------


class VirtualTime:
    """A clock that moves only when the limiter sleeps: 60 s of pacing in no real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


class Recorder:
    """Stands in for python-telegram-bot's HTTP call: notes when and what was sent."""

    def __init__(self, time: VirtualTime) -> None:
        self.time = time
        self.sent: list[tuple[float, Any]] = []
        self.fail_with: list[Exception] = []

    async def __call__(self, label: Any) -> bool:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.sent.append((self.time.now, label))
        return True


def limiter(time: VirtualTime, **options: Any) -> PriorityRateLimiter:
    return PriorityRateLimiter(29.5, clock=time.clock, sleep=time.sleep, **options)


async def send(
    rl: PriorityRateLimiter, recorder: Recorder, label: Any, chat_id: Any,
    priority: Priority | None = None, endpoint: str = "sendMessage",
) -> Any:  # fmt: skip
    data = {} if chat_id is None else {"chat_id": chat_id}
    return await rl.process_request(
        recorder, (label,), {}, endpoint, data, None if priority is None else int(priority)
    )


async def test_priority_order_and_the_pace_within_it() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time), Recorder(time)
    # Queued in this order, all before the first slot after bulk0's is handed out.
    bulk = [
        asyncio.create_task(send(rl, recorder, f"bulk{i}", 10 + i, Priority.BULK))
        for i in range(10)
    ]
    timed = asyncio.create_task(send(rl, recorder, "timed", 50, Priority.TIMED))
    reply = asyncio.create_task(send(rl, recorder, "reply", 60))
    await asyncio.gather(*bulk, timed, reply)
    await rl.shutdown()

    labels = [label for _, label in recorder.sent]
    # bulk0 took the free slot at once; the reply and the timed send, queued later, go next.
    assert labels[:3] == ["bulk0", "reply", "timed"]
    assert labels[3:] == [f"bulk{i}" for i in range(1, 10)]  # first come, first served
    times = [t for t, _ in recorder.sent]
    assert all(b - a >= 1 / 29.5 - 1e-9 for a, b in itertools.pairwise(times))


async def test_never_more_than_29_in_any_second() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time), Recorder(time)
    await asyncio.gather(*(send(rl, recorder, i, 10 + i, Priority.BULK) for i in range(100)))
    await rl.shutdown()

    times = [t for t, _ in recorder.sent]
    assert len(times) == 100
    assert all(times[i + 29] - times[i] >= 1.0 - 1e-6 for i in range(len(times) - 29))


async def test_requests_without_a_chat_do_not_wait_behind_bulk() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time), Recorder(time)
    bulk = [
        asyncio.create_task(send(rl, recorder, f"bulk{i}", 10 + i, Priority.BULK))
        for i in range(40)
    ]
    await asyncio.sleep(0)
    began = time.now
    await send(rl, recorder, "answerCallbackQuery", None, endpoint="answerCallbackQuery")
    assert time.now == began  # no slot was waited for
    await asyncio.gather(*bulk)
    await rl.shutdown()
    assert [label for _, label in recorder.sent][:2] == ["bulk0", "answerCallbackQuery"]


async def test_retry_after_pauses_every_send_then_retries_first() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time, max_retries=2), Recorder(time)
    recorder.fail_with = [RetryAfter(timedelta(seconds=3))]
    began = time.now
    first = asyncio.create_task(send(rl, recorder, "reminder", 10, Priority.TIMED))
    await asyncio.sleep(0)
    others = [
        asyncio.create_task(send(rl, recorder, f"later{i}", 20 + i, Priority.TIMED))
        for i in range(3)
    ]
    assert await first is True
    await asyncio.gather(*others)
    await rl.shutdown()

    assert [label for _, label in recorder.sent] == ["reminder", "later0", "later1", "later2"]
    assert recorder.sent[0][0] >= began + 3.1  # Telegram's 3 s and a margin, for everyone
    assert all(t >= began + 3.1 for t, _ in recorder.sent)


async def test_retry_after_gives_up_after_max_retries() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time, max_retries=1), Recorder(time)
    recorder.fail_with = [RetryAfter(timedelta(seconds=1)) for _ in range(2)]
    with pytest.raises(RetryAfter):
        await send(rl, recorder, "doomed", 10)
    assert await send(rl, recorder, "next", 11) is True  # the limiter is not left stuck
    await rl.shutdown()


async def test_a_group_gets_20_a_minute_and_holds_no_one_else() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time), Recorder(time)
    group = -1001234567890
    began = time.now
    to_group = [asyncio.create_task(send(rl, recorder, ("g", i), group)) for i in range(45)]
    await asyncio.sleep(0)
    to_people = [
        asyncio.create_task(send(rl, recorder, ("p", i), 10 + i, Priority.BULK)) for i in range(10)
    ]
    await asyncio.gather(*to_group, *to_people)
    await rl.shutdown()

    group_times = [t for t, (kind, _) in recorder.sent if kind == "g"]
    assert [i for _, (kind, i) in recorder.sent if kind == "g"] == list(range(45))
    assert all(
        group_times[i + 20] - group_times[i] >= 60 - 1e-6 for i in range(len(group_times) - 20)
    )
    assert group_times[-1] - began >= 120 - 1e-6  # 45 messages: the third minute
    # The people's messages, lower in priority, went while the group waited for its minute.
    people_times = [t for t, (kind, _) in recorder.sent if kind == "p"]
    assert max(people_times) < began + 60


async def test_a_cancelled_wait_gives_its_slot_to_the_next() -> None:
    time = VirtualTime()
    rl, recorder = limiter(time), Recorder(time)
    first = asyncio.create_task(send(rl, recorder, "first", 10))
    waiting = [asyncio.create_task(send(rl, recorder, f"w{i}", 20 + i)) for i in range(3)]
    await asyncio.sleep(0)
    waiting[0].cancel()
    await asyncio.gather(first, *waiting[1:])
    await rl.shutdown()
    assert [label for _, label in recorder.sent] == ["first", "w1", "w2"]


async def test_an_answer_finds_a_connection_while_notices_hold_the_others(
    bot_factory: BotFactory,
) -> None:
    """Timed and bulk sends take at most BACKGROUND_CONNECTIONS of the bot's 8 HTTP
    connections: with the send limiter off (nothing else orders them) and Telegram slow to
    take 40 notices, someone's /today still finds a free connection at once."""
    from bot.services.delivery import BACKGROUND_CONNECTIONS, Outgoing

    harness = await bot_factory(messages_per_second=0)
    emu = harness.emulator
    student = harness.user(8800, "en")
    await student.join(await harness.invite_code())
    for uid in range(9000, 9040):
        emu.add_user(uid, f"N{uid}")

    def held() -> list[dict[str, Any]]:
        return [p for m, p in emu.calls if m == "sendMessage" and int(p["chat_id"]) >= 9000]

    emu.hold("sendMessage", lambda params: int(params["chat_id"]) >= 9000)
    sender = harness.services.sender
    notices = [
        asyncio.create_task(sender.send_once(uid, Outgoing(f"notice {uid}")))
        for uid in range(9000, 9040)
    ]
    try:
        for _ in range(200):  # until the notices stop arriving at the (held) emulator
            before = len(held())
            await asyncio.sleep(0.02)
            if before and len(held()) == before:
                break
        answer = await student.send("/today", timeout=5)  # through a free connection
        assert answer.text.startswith("📅")
        assert len(held()) == BACKGROUND_CONNECTIONS  # the other 34 wait in the bot
    finally:
        emu.release()
    assert {s for s, _, _ in await asyncio.gather(*notices)} == {"sent"}
