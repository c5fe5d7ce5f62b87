"""Who wrote to the bot, and as whom: kept in memory, written in batches.

Every update used to write `last_seen` before it was answered. That write waited on any other
writer (an import in another process) and held every answer behind it. Now an answer never
writes for bookkeeping: the latest name, language and time of each person are kept here and
written every few seconds in one statement, or left for the next round when another process
holds the write lock. A person new to the bot is written at once (by `load_user`), since
memberships and deliveries refer to their row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from bot.storage import Storage
from bot.storage.repositories import Seen

log = logging.getLogger(__name__)

FLUSH_SECONDS = 3.0


class Presence:
    def __init__(self, storage: Storage, every: float = FLUSH_SECONDS) -> None:
        self._storage = storage
        self._every = every
        self._pending: dict[int, Seen] = {}
        self._task: asyncio.Task[None] | None = None

    def saw(self, seen: Seen) -> None:
        """Remembers the latest update of a person; written by the next `flush`."""
        self._pending[seen.id] = seen

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> bool:
        """Writes what is pending; False (and kept for the next round) while the database is
        busy with another process's write."""
        if not self._pending:
            return True
        batch, self._pending = self._pending, {}
        try:
            written = await self._storage.users.record_seen(list(batch.values()))
        except BaseException:
            self._keep(batch)
            raise
        if not written:
            self._keep(batch)
        return written

    def _keep(self, batch: dict[int, Seen]) -> None:
        # Updates that arrived meanwhile are newer than the batch: they win.
        self._pending = batch | self._pending

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="presence:flush")

    async def stop(self) -> None:
        """Stops the periodic writes and writes what is left (waiting for the lock if need be)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for _ in range(50):
            if await self.flush():
                return
            await asyncio.sleep(0.1)
        log.warning("could not record %d users' last activity: database busy", self.pending)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self.flush()
            except Exception:  # bookkeeping must never stop: log and try again next round
                log.exception("recording users' last activity failed")
