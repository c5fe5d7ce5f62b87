"""Named one-off jobs on python-telegram-bot's JobQueue, timed by the bot's Clock.

Delays are computed from `Clock.now()`, so a test that moves the clock moves the schedule;
with the real clock this is simply "run at that instant". Job names are predictable
(`reminder:<session>:<lead>`) so a change can find and replace them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from telegram.ext import Job, JobQueue

from bot.clock import Clock

JobCallback = Callable[[Any], Awaitable[None]]


class JobScheduler:
    def __init__(self, job_queue: JobQueue, clock: Clock) -> None:
        self._queue = job_queue
        self._clock = clock
        self._jobs: dict[str, Job] = {}

    def at(self, name: str, when: datetime, callback: JobCallback, data: object = None) -> None:
        """Runs `callback` at `when` (now, if that has passed), replacing a job of that name."""
        self.cancel(name)
        delay = max(0.0, (when - self._clock.now()).total_seconds())
        # APScheduler silently drops a job that fires more than misfire_grace_time late
        # (1 s by default, e.g. after the loop was busy): the callbacks judge staleness.
        job = self._queue.run_once(
            self._forget_then(name, callback),
            when=delay,
            name=name,
            data=data,
            job_kwargs={"misfire_grace_time": None},
        )
        self._jobs[name] = job

    def every(self, name: str, seconds: float, callback: JobCallback) -> None:
        self.cancel(name)
        self._jobs[name] = self._queue.run_repeating(
            callback, interval=seconds, first=seconds, name=name,
            job_kwargs={"misfire_grace_time": None, "coalesce": True},
        )  # fmt: skip

    def cancel(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        if job is not None and not job.removed:
            job.schedule_removal()

    def cancel_prefix(self, prefix: str) -> None:
        for name in [n for n in self._jobs if n.startswith(prefix)]:
            self.cancel(name)

    def scheduled(self, prefix: str = "") -> dict[str, datetime | None]:
        """name -> next run time, for tests, stats and the benchmark."""
        return {
            name: job.next_t
            for name, job in self._jobs.items()
            if name.startswith(prefix) and not job.removed
        }

    def _forget_then(self, name: str, callback: JobCallback) -> JobCallback:
        async def run(context: Any) -> None:
            if self._jobs.get(name) is context.job:
                del self._jobs[name]
            await callback(context)

        return run
