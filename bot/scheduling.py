"""The bot's one mechanism for timed messages: a queue of named items, timed by the bot's Clock.

Reminders and the evening plan today (attendance nudges, question escalation, task deadlines
and the morning card later) are all "run this callback with this data at that instant". Each
item has a predictable name (`reminder:<session>:<lead>`) so a change can find and replace it,
and may belong to a group (`session:<id>`) so a change can drop a session's items in O(its
items), not by scanning every name.

The items live in a heap ordered by due instant, with lazy deletion: cancelling marks the
entry and forgets its name; the heap skips marked entries when it reaches them. Only ONE job
sits on python-telegram-bot's JobQueue, armed for the earliest item; when it fires, every item
due runs (each as its own task, so one slow or failing item holds up no other), then the job
is re-armed for the next. Adding an item earlier than the armed one re-arms. APScheduler sees
one job, not one per reminder, and no closure is built per item.

Delays are computed from `Clock.now()`, so a test that moves the clock moves the schedule.
When an adjustable clock jumps (the playground's `:clock`), `retime` runs what fell due in
between, in order, each at its own instant. Exactly-once is not the scheduler's job: the
`deliveries` table guards every send.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram.ext import Job, JobQueue

from bot.clock import AdjustableClock, Clock

log = logging.getLogger(__name__)

ItemCallback = Callable[[Any], Awaitable[None]]  # called with the item's data
JobCallback = Callable[[Any], Awaitable[None]]  # a JobQueue callback (gets a context)

ARMED_JOB = "timed:next"
# Marked entries are dropped from the heap once they outnumber the live ones by this factor
# (a big import cancels and re-adds many items; the heap must not keep the dead ones forever).
COMPACT_FACTOR = 2


class _Item:
    __slots__ = ("callback", "data", "due", "group", "live")

    def __init__(self, due: datetime, callback: ItemCallback, data: object, group: str | None):
        self.due = due
        self.callback = callback
        self.data = data
        self.group = group
        self.live = True


class JobScheduler:
    def __init__(self, job_queue: JobQueue, clock: Clock) -> None:
        self._queue = job_queue
        self._clock = clock
        self._heap: list[tuple[datetime, int, str, _Item]] = []
        self._items: dict[str, _Item] = {}
        self._groups: dict[str, set[str]] = {}
        self._seq = itertools.count()
        self._repeating: dict[str, Job] = {}
        self._armed: Job | None = None
        self._armed_due: datetime | None = None
        self._arm_pending = False  # a re-arm is coming on the next turn of the loop
        self._holding = False  # during `retime`: nothing fires on its own
        self._running: set[asyncio.Task[None]] = set()

    # -- the items ----------------------------------------------------------------------

    def at(
        self,
        name: str,
        when: datetime,
        callback: ItemCallback,
        data: object = None,
        group: str | None = None,
    ) -> None:
        """Runs `callback(data)` at `when` (now, if that has passed), replacing an item of
        that name. `group` lets `cancel_group` drop it with its siblings."""
        self.cancel(name)
        item = _Item(when, callback, data, group)
        self._items[name] = item
        if group is not None:
            self._groups.setdefault(group, set()).add(name)
        heapq.heappush(self._heap, (when, next(self._seq), name, item))
        if self._armed_due is None or when < self._armed_due:
            self._arm_soon()

    def cancel(self, name: str) -> None:
        item = self._items.pop(name, None)
        if item is not None:
            self._forget(name, item)
            self._compact_if_sparse()
        job = self._repeating.pop(name, None)
        if job is not None and not job.removed:
            job.schedule_removal()

    def cancel_group(self, group: str) -> int:
        """Drops every item of a group; returns how many there were."""
        names = self._groups.pop(group, None)
        if not names:
            return 0
        for name in names:
            item = self._items.pop(name, None)
            if item is not None:
                item.live = False
        self._compact_if_sparse()
        return len(names)

    def every(self, name: str, seconds: float, callback: JobCallback) -> None:
        """A repeating JobQueue job (the change poll); few of these exist."""
        self.cancel(name)
        self._repeating[name] = self._queue.run_repeating(
            callback, interval=seconds, first=seconds, name=name,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self._items)

    def scheduled(self, prefix: str = "") -> dict[str, datetime | None]:
        """name -> when it is due (next run for repeating jobs), for tests, stats, benchmark."""
        found: dict[str, datetime | None] = {
            name: item.due for name, item in self._items.items() if name.startswith(prefix)
        }
        for name, job in self._repeating.items():
            if name.startswith(prefix) and not job.removed:
                found[name] = job.next_t
        return found

    def due_of(self, name: str) -> datetime | None:
        item = self._items.get(name)
        return item.due if item is not None else None

    def data_of(self, name: str) -> object:
        item = self._items.get(name)
        return item.data if item is not None else None

    # -- the clock jumps ------------------------------------------------------------------

    async def retime(self, to: datetime) -> int:
        """Moves the clock forward to `to` and catches the schedule up; returns items run.

        Every item due by `to` runs in due order (ties in the order they were added), with
        the clock stepped to its instant first so it sees the "now" it was planned for; items
        those items add (the next evening plan) run too if due by `to`. The armed job is then
        re-armed from the new now. Repeating jobs (the change poll) keep their interval.
        """
        clock = self._clock
        if not isinstance(clock, AdjustableClock):
            raise TypeError("retime needs an adjustable clock")
        if self._holding:
            raise RuntimeError("retime is already running")
        if to < clock.now():
            raise ValueError("the clock only moves forward")
        self._holding = True
        self._disarm()  # nothing fires on its own while the clock is stepped
        ran = 0
        try:
            while (entry := self._pop_due(to)) is not None:
                when, name, item = entry
                clock.set(max(when, clock.now()))
                await self._run(name, item)
                ran += 1
            clock.set(to)
        finally:
            self._holding = False
            self._arm()
        return ran

    # -- internals ------------------------------------------------------------------------

    def _forget(self, name: str, item: _Item) -> None:
        item.live = False
        if item.group is not None:
            names = self._groups.get(item.group)
            if names is not None:
                names.discard(name)
                if not names:
                    del self._groups[item.group]

    def _compact_if_sparse(self) -> None:
        if len(self._heap) > 1024 and len(self._heap) > COMPACT_FACTOR * (len(self._items) + 1):
            self._heap = [entry for entry in self._heap if entry[3].live]
            heapq.heapify(self._heap)

    def _earliest(self) -> datetime | None:
        heap = self._heap
        while heap and not heap[0][3].live:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _pop_due(self, by: datetime) -> tuple[datetime, str, _Item] | None:
        when = self._earliest()
        if when is None or when > by:
            return None
        when, _, name, item = heapq.heappop(self._heap)
        del self._items[name]
        self._forget(name, item)
        return when, name, item

    def _arm_soon(self) -> None:
        """Re-arms once per turn of the event loop, however many items were added in it
        (start-up adds thousands; APScheduler should hear of it once)."""
        if self._holding or self._arm_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._arm()
            return
        self._arm_pending = True
        loop.call_soon(self._arm)

    def _arm(self) -> None:
        self._arm_pending = False
        if self._holding:
            return
        when = self._earliest()
        if when == self._armed_due and self._armed is not None and not self._armed.removed:
            return
        self._disarm()
        if when is None:
            return
        delay = max(0.0, (when - self._clock.now()).total_seconds())
        # APScheduler silently drops a job that fires more than misfire_grace_time late
        # (1 s by default, e.g. after the loop was busy): the items judge staleness themselves.
        self._armed = self._queue.run_once(
            self._fire, when=delay, name=ARMED_JOB, job_kwargs={"misfire_grace_time": None}
        )
        self._armed_due = when

    def _disarm(self) -> None:
        if self._armed is not None and not self._armed.removed:
            self._armed.schedule_removal()
        self._armed = None
        self._armed_due = None

    async def _fire(self, context: Any) -> None:
        """The armed job: starts every item due, then re-arms for the next one."""
        if self._holding:
            return
        # The job was armed for `armed_due` and that much time has passed, whatever a frozen
        # test clock says.
        by = max(self._clock.now(), self._armed_due or self._clock.now())
        self._armed = None
        self._armed_due = None
        application = self._queue.application
        while (entry := self._pop_due(by)) is not None:
            _, name, item = entry
            task = application.create_task(self._run(name, item), name=name)
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        self._arm()

    async def _run(self, name: str, item: _Item) -> None:
        """One item, isolated: a failure is logged and reported; the others run regardless."""
        try:
            await item.callback(item.data)
        except Exception as exc:
            log.exception("timed item %s failed", name)
            try:
                await self._queue.application.process_error(update=None, error=exc)
            except Exception:
                log.exception("reporting the failure of %s failed", name)
