"""A clock that moves: `JobScheduler.retime` runs what fell due, in order, once, each job at
its own instant, and re-times the rest (the playground's `:clock`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.clock import MovableClock
from tests.conftest import DEMO_NOW, BotFactory, BotHarness

ALMATY = ZoneInfo("Asia/Almaty")
REMINDER = "⏰"
DIGEST = "🌙"


def almaty(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 9, day, hour, minute, tzinfo=ALMATY)


async def join_three(harness: BotHarness) -> None:
    code = await harness.invite_code()
    for user_id, language in ((801, "en"), (802, "ru"), (803, "uz")):
        await harness.user(user_id, language).join(code)


def sent_after(harness: BotHarness, start: int, mark: str) -> list[tuple[int, str]]:
    return [
        (m.chat_id, m.text or "")
        for m in harness.emulator.sent[start:]
        if (m.text or "").startswith(mark)
    ]


async def test_retime_runs_what_fell_due_in_order_once_each_at_its_instant(
    harness: BotHarness,
) -> None:
    await join_three(harness)
    scheduler = harness.services.scheduler
    start = len(harness.emulator.sent)

    # 08:00 -> 09:00: the 09:15 lecture's reminder (due 08:45) goes to each member once.
    ran = await scheduler.retime(almaty(16, 9))
    assert ran >= 1
    assert harness.clock.now() == almaty(16, 9)
    first = sent_after(harness, start, REMINDER)
    assert sorted(chat for chat, _ in first) == [801, 802, 803]
    by_chat = dict(first)
    # The job ran with the clock at 08:45, its own instant: "in 30 minutes", not "in 15".
    assert "osteology" in by_chat[801] and "30 minutes" in by_chat[801]
    assert "30 минут" in by_chat[802]
    assert "30 daqiqa" in by_chat[803]

    # 09:00 -> 20:30: the 13:30 practical's reminder, then at 20:00 tomorrow's plan, in order.
    middle = len(harness.emulator.sent)
    await scheduler.retime(almaty(16, 20, 30))
    texts = [m.text or "" for m in harness.emulator.sent[middle:]]
    reminders = [i for i, t in enumerate(texts) if t.startswith(REMINDER)]
    digests = [i for i, t in enumerate(texts) if t.startswith(DIGEST)]
    assert len(reminders) == 3 and len(digests) == 3
    assert max(reminders) < min(digests)
    english = [
        m.text
        for m in harness.emulator.sent[middle:]
        if m.chat_id == 801 and not (m.text or "").startswith(("📝", "👋"))  # prompts, nudges
    ]
    assert "microscope" in (english[0] or "") and (english[1] or "").startswith(DIGEST)
    # Nothing that already ran runs again, and the next evening plan waits for tomorrow.
    assert len(sent_after(harness, start, REMINDER)) == 6
    again = len(harness.emulator.sent)
    await scheduler.retime(almaty(16, 20, 45))
    assert sent_after(harness, again, "") == []
    assert scheduler.scheduled("digest:") == {
        name: almaty(17, 20) for name in scheduler.scheduled("digest:")
    }


async def test_retime_refuses_to_go_back(harness: BotHarness) -> None:
    with pytest.raises(ValueError, match="forward"):
        await harness.services.scheduler.retime(DEMO_NOW - timedelta(minutes=1))


async def test_after_a_jump_the_rest_fire_at_their_new_real_time(
    bot_factory: BotFactory,
) -> None:
    clock = MovableClock()
    clock.set(DEMO_NOW)  # 08:00; the 09:15 lecture's reminder is due at 08:45
    harness = await bot_factory(clock)
    await join_three(harness)
    start = len(harness.emulator.sent)
    due = almaty(16, 8, 45).astimezone(UTC)
    await harness.services.scheduler.retime(due - timedelta(seconds=2))
    assert sent_after(harness, start, REMINDER) == []  # not yet due
    jumped = asyncio.get_running_loop().time()
    # Without re-timing, the job would still wait 45 real minutes.
    messages = await harness.emulator.wait_for_messages(
        3, after=start, predicate=lambda m: (m.text or "").startswith(REMINDER), timeout=10
    )
    waited = asyncio.get_running_loop().time() - jumped
    assert 1.0 <= waited < 8, waited
    assert sorted(m.chat_id for m in messages) == [801, 802, 803]


def test_movable_clock_runs_and_moves() -> None:
    clock = MovableClock()
    before = datetime.now(UTC)
    assert abs((clock.now() - before).total_seconds()) < 1
    clock.set(DEMO_NOW)
    assert abs((clock.now() - DEMO_NOW).total_seconds()) < 1
    clock.advance(timedelta(hours=2))
    assert abs((clock.now() - DEMO_NOW - timedelta(hours=2)).total_seconds()) < 1
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 9, 16, 8))  # naive
