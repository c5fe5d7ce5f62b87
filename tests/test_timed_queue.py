"""The one timed queue and the reminders' near horizon: what is scheduled, what runs, and that
every reminder still goes out exactly once across restarts."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from bot.clock import FrozenClock
from bot.services.reminders import HORIZON, TimedPlanner, session_group
from bot.storage import Storage
from bot.storage.models import Localized, Session, SessionChangeRecord
from bot.storage.repositories import SessionFields
from tests.conftest import BotFactory, BotHarness, stop_bot
from tests.test_clock import REMINDER, almaty, join_three


def reminders_about(harness: BotHarness, title: str, start: int = 0) -> list[int]:
    return sorted(
        m.chat_id
        for m in harness.emulator.sent[start:]
        if (m.text or "").startswith(REMINDER) and title in (m.text or "")
    )


async def add_session(storage: Storage, title: str, starts_at: datetime) -> int:
    """A session written as another process would (the import): the row and its change."""
    cohort = await storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    fields = SessionFields(
        f"queue-{title}", starts_at, starts_at + timedelta(hours=1), Localized(title), Localized()
    )
    async with storage.transaction():
        session_id = await storage.sessions.insert(cohort.id, fields)
        await storage.changes.record(session_id, "added", None, starts_at)
    return session_id


async def change_session(storage: Storage, session_id: int, **changes: object) -> None:
    before = await storage.sessions.get(session_id)
    assert before is not None
    fields = dataclasses.replace(SessionFields.of(before), **changes)  # type: ignore[arg-type]
    kind = "cancelled" if changes.get("cancelled") else "changed"
    async with storage.transaction():
        await storage.sessions.update(session_id, fields)
        await storage.changes.record(session_id, kind, before, before.starts_at)


async def test_cancelling_one_sessions_items_leaves_every_other_item_alone(
    harness: BotHarness,
) -> None:
    await join_three(harness)
    scheduler = harness.services.scheduler
    before = scheduler.scheduled()
    sessions = sorted({int(name.split(":")[1]) for name in before if name.startswith("reminder:")})
    assert len(sessions) >= 3
    victim = sessions[1]
    # Its reminder and every feature's items (feedback prompt, attendance nudge and list).
    assert scheduler.cancel_group(f"session:{victim}") == 4
    assert scheduler.scheduled() == {
        name: due
        for name, due in before.items()
        if name.split(":")[:2]
        not in ([k, str(victim)] for k in ("reminder", "feedback", "nudge", "missing"))
    }
    assert scheduler.cancel_group(f"session:{victim}") == 0  # nothing left to cancel
    # The others still run when due (and leave the queue); the cancelled one does not
    # come back; what is due later keeps its instant.
    await scheduler.retime(almaty(17, 8))
    after = scheduler.scheduled("reminder:")
    assert not any(name.startswith(f"reminder:{victim}:") for name in after)
    for name, due in before.items():
        if name.startswith("reminder:") and not name.startswith(f"reminder:{victim}:"):
            assert (after.get(name) == due) if due > almaty(17, 8) else (name not in after)


async def test_one_failing_item_does_not_stop_the_others(harness: BotHarness) -> None:
    scheduler = harness.services.scheduler
    ran: list[str] = []

    async def note(data: object) -> None:
        if data == "bad":
            raise RuntimeError("this item fails")
        ran.append(str(data))

    when = harness.clock.now() + timedelta(minutes=5)
    for name in ("first", "bad", "last"):
        scheduler.at(f"test:{name}", when, note, name, group="test")
    scheduler.at("test:later", when + timedelta(minutes=1), note, "later")
    await scheduler.retime(when + timedelta(minutes=2))
    assert ran == ["first", "last", "later"]
    assert scheduler.scheduled("test:") == {}


async def test_a_change_replaces_only_its_sessions_items(harness: BotHarness) -> None:
    await join_three(harness)
    now = harness.clock.now()
    moving = await add_session(harness.storage, "Moving target", now + timedelta(hours=5))
    staying = await add_session(harness.storage, "Staying put", now + timedelta(hours=6))
    reminders = harness.services.reminders
    await reminders.process_changes()
    scheduler = harness.services.scheduler
    kept = scheduler.data_of(f"reminder:{staying}:30")
    assert kept is not None
    await change_session(harness.storage, moving, starts_at=now + timedelta(hours=7),
                         ends_at=now + timedelta(hours=8))  # fmt: skip
    await reminders.process_changes()
    assert scheduler.due_of(f"reminder:{moving}:30") == now + timedelta(hours=7, minutes=-30)
    assert scheduler.data_of(f"reminder:{staying}:30") is kept  # the very same item


async def test_reminder_due_while_down_is_sent_once_at_start_and_never_again(
    bot_factory: BotFactory, clock: FrozenClock
) -> None:
    first = await bot_factory()
    await join_three(first)
    await stop_bot(first.app)
    # The 09:15 lecture's reminder was due at 08:45; the bot was down from 08:00 to 08:50.
    clock.set(almaty(16, 8, 50))
    start = len(first.emulator.sent)
    second = await bot_factory()
    await second.emulator.wait_for_messages(
        3, after=start, predicate=lambda m: (m.text or "").startswith(REMINDER)
    )
    assert reminders_about(second, "", start) == [801, 802, 803]  # the lecture's, once each
    await stop_bot(second.app)
    third = await bot_factory()  # the same reminder is due again on paper: the records say no
    await third.services.scheduler.retime(almaty(16, 9))
    await stop_bot(third.app)  # waits for any item the queue started on its own
    assert reminders_about(third, "", start) == [801, 802, 803]


async def test_the_horizon_moves_on_and_a_far_session_is_reminded_once(
    bot_factory: BotFactory, clock: FrozenClock
) -> None:
    first = await bot_factory()
    await join_three(first)
    reminders = first.services.reminders
    assert reminders.horizon == clock.now() + HORIZON
    far = clock.now() + timedelta(hours=60)
    session_id = await add_session(first.storage, "Far away seminar", far)
    await reminders.process_changes()
    name = f"reminder:{session_id}:30"
    assert first.services.scheduler.due_of(name) is None  # beyond the horizon
    await first.services.scheduler.retime(far - HORIZON - timedelta(minutes=30))
    assert first.services.scheduler.due_of(name) is None
    await first.services.scheduler.retime(far - HORIZON + timedelta(hours=1))
    assert first.services.scheduler.due_of(name) == far - timedelta(minutes=30)
    await first.services.scheduler.retime(far - timedelta(minutes=31))
    assert reminders_about(first, "Far away seminar") == []
    await stop_bot(first.app)
    # Down while it fell due; after the restart it goes out once, and once only.
    clock.set(far - timedelta(minutes=20))
    second = await bot_factory()
    await second.emulator.wait_for_messages(
        3, predicate=lambda m: "Far away seminar" in (m.text or "")
    )
    await second.services.scheduler.retime(far - timedelta(minutes=10))
    await stop_bot(second.app)
    third = await bot_factory()
    await third.services.scheduler.retime(far - timedelta(minutes=5))
    await stop_bot(third.app)
    assert reminders_about(third, "Far away seminar") == [801, 802, 803]


async def test_a_session_moved_beyond_the_horizon_and_back_is_reminded_at_its_new_time(
    harness: BotHarness,
) -> None:
    await join_three(harness)
    now = harness.clock.now()
    scheduler, reminders = harness.services.scheduler, harness.services.reminders
    session_id = await add_session(harness.storage, "Wandering lab", now + timedelta(hours=5))
    await reminders.process_changes()
    name = f"reminder:{session_id}:30"
    assert scheduler.due_of(name) == now + timedelta(hours=4, minutes=30)
    far = now + timedelta(hours=70)
    await change_session(harness.storage, session_id, starts_at=far,
                         ends_at=far + timedelta(hours=1))  # fmt: skip
    await reminders.process_changes()
    assert scheduler.scheduled(f"reminder:{session_id}:") == {}
    back = now + timedelta(hours=20)
    await change_session(harness.storage, session_id, starts_at=back,
                         ends_at=back + timedelta(hours=1))  # fmt: skip
    await reminders.process_changes()
    assert scheduler.scheduled(f"reminder:{session_id}:") == {name: back - timedelta(minutes=30)}
    await scheduler.retime(back - timedelta(minutes=29))
    # Nothing at the old times, one reminder each at the new one, "in 30 minutes".
    assert reminders_about(harness, "Wandering lab") == [801, 802, 803]
    english = [
        m.text or ""
        for m in harness.emulator.sent
        if m.chat_id == 801 and (m.text or "").startswith(REMINDER) and "Wandering lab" in m.text
    ]
    assert "30 minutes" in english[0]


async def test_a_session_cancelled_inside_the_horizon_is_not_reminded(
    harness: BotHarness,
) -> None:
    await join_three(harness)
    now = harness.clock.now()
    scheduler, reminders = harness.services.scheduler, harness.services.reminders
    cancelled = await add_session(harness.storage, "Called off", now + timedelta(hours=3))
    other = await add_session(harness.storage, "Still on", now + timedelta(hours=3))
    await reminders.process_changes()
    assert scheduler.due_of(f"reminder:{cancelled}:30") is not None
    await change_session(harness.storage, cancelled, cancelled=True)
    await reminders.process_changes()
    assert scheduler.scheduled(f"reminder:{cancelled}:") == {}
    assert scheduler.due_of(f"reminder:{other}:30") == now + timedelta(hours=2, minutes=30)
    await scheduler.retime(now + timedelta(hours=4))
    assert reminders_about(harness, "Called off") == []
    assert reminders_about(harness, "Still on") == [801, 802, 803]


async def test_a_batch_of_changes_to_one_session_leaves_its_last_state(
    harness: BotHarness,
) -> None:
    """Back and forth within one batch: the items follow the row as it stands."""
    await join_three(harness)
    now = harness.clock.now()
    session_id = await add_session(harness.storage, "Ping pong", now + timedelta(hours=5))
    for hours in (6, 30, 5, 9):
        moved = now + timedelta(hours=hours)
        await change_session(harness.storage, session_id, starts_at=moved,
                             ends_at=moved + timedelta(hours=1))  # fmt: skip
    await harness.services.reminders.process_changes()
    assert harness.services.scheduler.scheduled(f"reminder:{session_id}:") == {
        f"reminder:{session_id}:30": now + timedelta(hours=8, minutes=30)
    }
    assert await harness.storage.changes.pending() == []


def test_stored_instants_are_read_strictly() -> None:
    from datetime import UTC

    import pytest

    from bot.storage.db import BadStoredValue, from_db, to_db

    moment = datetime(2026, 9, 16, 3, 45, 7, tzinfo=UTC)
    assert from_db(to_db(moment)) == moment and from_db(None) is None
    good = "2026-09-16 08:45:00"
    bad = ["2026-09-16T08:45:00", "2026-9-16 08:45:00", "２０２６-09-16 08:45:00",
           "2026-13-16 08:45:00", "2026-09-16 24:00:00", "2026-09-16 08:45:00Z", "",
           20260916]  # fmt: skip
    bad += [good[:i] + c + good[i + 1 :] for i in (0, 3, 5, 9, 12, 15, 18) for c in "+- _a"]
    for text in bad:
        with pytest.raises(BadStoredValue):
            from_db(text)  # type: ignore[arg-type]


class RecordingPlanner(TimedPlanner):
    """A feature with one item per session, 10 minutes after its start (like a nudge)."""

    reach = timedelta(hours=1)

    def __init__(self, harness: BotHarness) -> None:
        self.scheduler = harness.services.scheduler
        self.fired: list[int] = []
        self.windows: list[tuple[datetime, datetime]] = []
        self.batches: list[list[int]] = []

    def plan_session(self, session: Session, now: datetime) -> int:
        due = session.starts_at + timedelta(minutes=10)
        if due <= now:
            return 0
        self.scheduler.at(
            f"nudge:{session.id}", due, self.fire, session.id, group=session_group(session.id)
        )
        return 1

    async def fire(self, session_id: int) -> None:
        self.fired.append(session_id)

    async def plan_window(self, after: datetime, until: datetime, now: datetime) -> int:
        self.windows.append((after, until))
        return 0

    async def changes_applied(
        self, changes: list[SessionChangeRecord], sessions: dict[int, Session]
    ) -> None:
        self.batches.append(sorted({c.session_id for c in changes}))


async def test_a_planner_gets_sessions_under_way_windows_and_each_batch_of_changes(
    harness: BotHarness,
) -> None:
    await join_three(harness)
    now = harness.clock.now()
    reminders, scheduler = harness.services.reminders, harness.services.scheduler
    begun = await add_session(harness.storage, "Begun", now - timedelta(minutes=5))
    later = await add_session(harness.storage, "Later", now + timedelta(hours=3))
    over = await add_session(harness.storage, "Over", now - timedelta(hours=2))
    await reminders.process_changes()
    planner = RecordingPlanner(harness)
    reminders.add_planner(planner)
    await reminders.reconcile()  # as at a start: a session under way still has its nudge due
    assert scheduler.due_of(f"nudge:{begun}") == now + timedelta(minutes=5)
    assert scheduler.due_of(f"nudge:{later}") == now + timedelta(hours=3, minutes=10)
    assert scheduler.due_of(f"nudge:{over}") is None
    assert planner.windows == [(now, reminders.horizon)]
    moved = now + timedelta(hours=4)
    await change_session(harness.storage, later, starts_at=moved,
                         ends_at=moved + timedelta(hours=1))  # fmt: skip
    await change_session(harness.storage, begun, cancelled=True)
    await reminders.process_changes()
    assert planner.batches == [sorted([later, begun])]
    assert scheduler.due_of(f"nudge:{later}") == moved + timedelta(minutes=10)
    assert scheduler.due_of(f"nudge:{begun}") is None  # cancelled: its items are gone
    await scheduler.retime(moved + timedelta(minutes=11))
    assert later in planner.fired and begun not in planner.fired  # demo sessions fire too
    assert planner.fired.count(later) == 1
    assert planner.windows[-1][1] == reminders.horizon  # the horizon moved on, the planner too


async def test_notices_read_only_sessions_near_now_yet_a_move_far_away_is_told(
    harness: BotHarness,
) -> None:
    """A catch-up reads rows only for sessions in the notice window, or moved out of it."""
    await join_three(harness)
    now = harness.clock.now()
    reminders = harness.services.reminders
    near = await add_session(harness.storage, "Soon lab", now + timedelta(hours=5))
    far = await add_session(harness.storage, "Distant lab", now + timedelta(days=9))
    await reminders.process_changes()
    start = len(harness.emulator.sent)
    away = now + timedelta(days=12)
    await change_session(harness.storage, near, starts_at=away,
                         ends_at=away + timedelta(hours=1))  # fmt: skip
    later = now + timedelta(days=10)
    await change_session(harness.storage, far, starts_at=later,
                         ends_at=later + timedelta(hours=1))  # fmt: skip
    await reminders.process_changes()
    told = [m for m in harness.emulator.sent[start:] if (m.text or "").startswith("🔁")]
    assert sorted(m.chat_id for m in told) == [801, 802, 803]  # the near one, once each
    assert all("Soon lab" in (m.text or "") for m in told)
    assert harness.services.scheduler.scheduled(f"reminder:{near}:") == {}
