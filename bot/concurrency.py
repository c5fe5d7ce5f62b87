"""Updates handled concurrently, each person's in the order they sent them.

python-telegram-bot hands every update to the update processor as its own task (in the order
Telegram delivered them) once `concurrent_updates` is set. This processor lets the updates of
different people run side by side, so one person's slow request never holds the others, and
puts each person's updates through one at a time: two presses of one button, or a command and
the button under its answer, are handled one after the other, as when updates ran in line.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# High enough that updates waiting for their sender's earlier ones rarely fill it (a flood from
# one person is dropped by the throttle in microseconds each); each waiting update is a task.
MAX_CONCURRENT_UPDATES = 1024


class PerUserOrder(BaseUpdateProcessor):
    """Concurrent across people, in order within one (keyed on the sender, else the chat)."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        # key -> (lock, updates holding or waiting for it); dropped when the last one is done
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @staticmethod
    def key(update: object) -> int | None:
        if not isinstance(update, Update):
            return None
        if update.effective_user is not None:
            return update.effective_user.id
        if update.effective_chat is not None:
            return update.effective_chat.id
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self.key(update)
        if key is None:
            await coroutine
            return
        # The updates reach here in the order they were received (the semaphore before this
        # method wakes its waiters first come, first served, and asyncio.Lock does the same),
        # and nothing awaits between taking the entry and queueing on its lock.
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        started = False
        try:
            async with lock:
                started = True
                await coroutine
        finally:
            if not started and inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled while waiting (shutdown): it never ran
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @property
    def people_waiting(self) -> int:
        return len(self._locks)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
