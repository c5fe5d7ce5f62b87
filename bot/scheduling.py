"""Named one-off jobs on python-telegram-bot's JobQueue, timed by the bot's Clock.

Delays are computed from `Clock.now()`, so a test that moves the clock moves the schedule;
with the real clock this is simply "run at that instant". Job names are predictable
(`reminder:<session>:<lead>`) so a change can find and replace them.

Each one-off job's due instant is remembered, so when an adjustable clock jumps (the
playground's `:clock`), `retime` can run what fell due in between, in order, and re-time the
rest. Exactly-once is not the scheduler's job: the `deliveries` table guards every send.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram.ext import Job, JobQueue

from bot.clock import AdjustableClock, Clock

JobCallback = Callable[[Any], Awaitable[None]]


@dataclass
class _OneOff:
    due: datetime
    callback: JobCallback
    data: object
    job: Job | None = None


class JobScheduler:
    def __init__(self, job_queue: JobQueue, clock: Clock) -> None:
        self._queue = job_queue
        self._clock = clock
        self._once: dict[str, _OneOff] = {}
        self._repeating: dict[str, Job] = {}
        self._holding = False  # during `retime`: new jobs are remembered, not queued

    def at(self, name: str, when: datetime, callback: JobCallback, data: object = None) -> None:
        """Runs `callback` at `when` (now, if that has passed), replacing a job of that name."""
        self.cancel(name)
        entry = _OneOff(when, callback, data)
        self._once[name] = entry
        if not self._holding:
            self._enqueue(name, entry)

    def every(self, name: str, seconds: float, callback: JobCallback) -> None:
        self.cancel(name)
        self._repeating[name] = self._queue.run_repeating(
            callback, interval=seconds, first=seconds, name=name,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )  # fmt: skip

    def cancel(self, name: str) -> None:
        entry = self._once.pop(name, None)
        if entry is not None:
            self._dequeue(entry)
        job = self._repeating.pop(name, None)
        if job is not None and not job.removed:
            job.schedule_removal()

    def cancel_prefix(self, prefix: str) -> None:
        for name in [n for n in (*self._once, *self._repeating) if n.startswith(prefix)]:
            self.cancel(name)

    def scheduled(self, prefix: str = "") -> dict[str, datetime | None]:
        """name -> when it is due (next run for repeating jobs), for tests, stats, benchmark."""
        found: dict[str, datetime | None] = {
            name: entry.due for name, entry in self._once.items() if name.startswith(prefix)
        }
        for name, job in self._repeating.items():
            if name.startswith(prefix) and not job.removed:
                found[name] = job.next_t
        return found

    async def retime(self, to: datetime) -> int:
        """Moves the clock forward to `to` and catches the schedule up; returns jobs run.

        Every one-off job due by `to` runs in due order (ties by name), with the clock stepped
        to its instant first so it sees the "now" it was planned for; jobs those jobs schedule
        (the next evening plan) run too if due by `to`. The rest are re-timed from the new
        now. Repeating jobs (the change poll) keep their interval.
        """
        clock = self._clock
        if not isinstance(clock, AdjustableClock):
            raise TypeError("retime needs an adjustable clock")
        if self._holding:
            raise RuntimeError("retime is already running")
        if to < clock.now():
            raise ValueError("the clock only moves forward")
        self._holding = True
        ran = 0
        try:
            for entry in self._once.values():
                self._dequeue(entry)  # nothing fires on its own while the clock is stepped
            while due := [(e.due, n) for n, e in self._once.items() if e.due <= to]:
                when, name = min(due)
                entry = self._once.pop(name)
                clock.set(max(when, clock.now()))
                await self._run_now(name, entry)
                ran += 1
            clock.set(to)
        finally:
            self._holding = False
            for name, entry in self._once.items():
                self._enqueue(name, entry)
        return ran

    # -- internals --------------------------------------------------------------------------

    def _enqueue(self, name: str, entry: _OneOff) -> None:
        delay = max(0.0, (entry.due - self._clock.now()).total_seconds())
        # APScheduler silently drops a job that fires more than misfire_grace_time late
        # (1 s by default, e.g. after the loop was busy): the callbacks judge staleness.
        entry.job = self._queue.run_once(
            self._forget_then(name, entry),
            when=delay,
            name=name,
            data=entry.data,
            job_kwargs={"misfire_grace_time": None},
        )

    @staticmethod
    def _dequeue(entry: _OneOff) -> None:
        if entry.job is not None and not entry.job.removed:
            entry.job.schedule_removal()
        entry.job = None

    async def _run_now(self, name: str, entry: _OneOff) -> None:
        """Runs a job's callback as the JobQueue would (a job context; errors reach the
        application's error handler)."""
        # A real Job (Job.run reports errors with its APScheduler id), taken out of the queue
        # before the loop could start it: only this call runs it.
        job = self._queue.run_once(self._forget_then(name, entry), when=0, name=name,
                                   data=entry.data)  # fmt: skip
        job.schedule_removal()
        await job.run(self._queue.application)

    def _forget_then(self, name: str, entry: _OneOff) -> JobCallback:
        async def run(context: Any) -> None:
            if self._once.get(name) is entry:
                del self._once[name]
            await entry.callback(context)

        return run
