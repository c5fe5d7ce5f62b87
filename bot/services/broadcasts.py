"""Announcements from supervisors and coordinators, through an outbox in SQLite.

The announcement and one delivery row per recipient are written before anything is sent; a
single drainer works through the rows within Telegram's limits (the Application's rate
limiter, where they come last: after answers to people and timed messages), so a crash
mid-broadcast is finished by the next start, nobody getting two copies.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import CallbackData
from bot.clock import Clock
from bot.i18n import Translator
from bot.ratelimit import Priority
from bot.services.delivery import Outgoing, Sender
from bot.storage import Storage
from bot.storage.models import Announcement, AnnouncementDelivery, Cohort, User

log = logging.getLogger(__name__)

ACK_ACTION = "ack"
BATCH = 30
MAX_TEXT = 3500


@dataclass(frozen=True)
class Report:
    announcement: Announcement
    deliveries: list[AnnouncementDelivery]

    def count(self, status: str) -> int:
        return sum(1 for d in self.deliveries if d.status == status)


def ack_keyboard(user_id: int, announcement_id: int, tr: Translator) -> InlineKeyboardMarkup:
    data = CallbackData(ACK_ACTION, user_id, str(announcement_id)).encode()
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton("✅ " + tr.pgettext("button", "Got it"), callback_data=data)]]
    )


class BroadcastService:
    def __init__(self, storage: Storage, clock: Clock, sender: Sender) -> None:
        self._storage = storage
        self._clock = clock
        self._sender = sender
        self._drainer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False

    async def draft(self, sender_id: int, cohort: Cohort | None, text: str) -> int:
        return await self._storage.announcements.create_draft(
            cohort.id if cohort else None, sender_id, text[:MAX_TEXT], self._clock.now()
        )

    async def recipients(self, announcement: Announcement) -> list[int]:
        if announcement.cohort_id is None:
            cohorts = [c.id for c in await self._storage.cohorts.all()]
        else:
            cohorts = [announcement.cohort_id]
        ids: set[int] = set()
        for cohort_id in cohorts:
            for user, _ in await self._storage.users.members_of(cohort_id):
                ids.add(user.telegram_id)
        ids.discard(announcement.sender_id)
        return sorted(ids)

    async def send(self, announcement_id: int) -> int | None:
        """Draft -> outbox. Returns the number of recipients, None if not a draft any more."""
        announcement = await self._storage.announcements.get(announcement_id)
        if announcement is None or announcement.status != "draft":
            return None
        recipients = await self.recipients(announcement)
        async with self._storage.transaction():
            if not await self._storage.announcements.queue(
                announcement_id, recipients, self._clock.now()
            ):
                return None
        self.kick()
        return len(recipients)

    async def cancel(self, announcement_id: int) -> bool:
        return await self._storage.announcements.cancel_draft(announcement_id)

    # -- the drainer -----------------------------------------------------------------------

    async def resume(self) -> None:
        """At start: rows cut off by a crash go back to pending, and the outbox drains."""
        await self._storage.announcements.release_interrupted()
        self.kick()

    def kick(self) -> None:
        if self._stopping:
            return
        self._wake.set()
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain_forever(), name="broadcast-drainer")

    async def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: the batch in flight finishes; the rest stays pending in SQLite."""
        self._stopping = True
        drainer, self._drainer = self._drainer, None
        if drainer is None or drainer.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(drainer), timeout)
        except TimeoutError:
            drainer.cancel()  # rows left 'sending' go back to pending at the next start

    async def _drain_forever(self) -> None:
        while self._wake.is_set():
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("broadcast drainer failed; retrying in 5 s")
                await asyncio.sleep(5)
                self._wake.set()

    async def drain(self) -> None:
        for announcement in await self._storage.announcements.sending():
            while not self._stopping:
                batch = await self._storage.announcements.claim_pending(
                    announcement.id, BATCH, self._clock.now()
                )
                if not batch:
                    break
                await self._send_batch(announcement, batch)
            if self._stopping:
                return
            if await self._storage.announcements.mark_done(announcement.id):
                await self._report(announcement)

    async def _send_batch(self, announcement: Announcement, user_ids: list[int]) -> None:
        sender = await self._storage.users.get(announcement.sender_id)
        cohort = (
            await self._storage.cohorts.get(announcement.cohort_id)
            if announcement.cohort_id
            else None
        )

        async def one(user_id: int) -> None:
            user = await self._storage.users.get(user_id)
            if user is None:
                await self._storage.announcements.finish_delivery(
                    announcement.id, user_id, "failed", self._clock.now(), error="no such user"
                )
                return
            outgoing = self.message(announcement, sender, cohort, user)
            status, error, message_id = await self._sender.send_once(
                user_id, outgoing, Priority.BULK
            )
            await self._storage.announcements.finish_delivery(
                announcement.id, user_id, status, self._clock.now(),
                message_id=message_id, error=error,
            )  # fmt: skip
            if status == "unreachable":
                await self._storage.users.set_reachable(user_id, False)

        await asyncio.gather(*(one(uid) for uid in user_ids))

    def message(
        self, announcement: Announcement, sender: User | None, cohort: Cohort | None, user: User
    ) -> Outgoing:
        tr = self._sender.translator(user)
        who = escape(sender.display_name) if sender else "—"
        header = tr("📣 <b>Announcement</b> from {sender}").format(sender=who)
        if cohort is not None:
            header += f" · {escape(cohort.code)}"
        return Outgoing(
            f"{header}\n\n{escape(announcement.text)}",
            ack_keyboard(user.telegram_id, announcement.id, tr),
        )

    async def _report(self, announcement: Announcement) -> None:
        """Tells the sender how it went, once, with names for whoever did not get it."""
        if not await self._storage.announcements.mark_reported(announcement.id):
            return
        sender = await self._storage.users.get(announcement.sender_id)
        if sender is None:
            return
        report = await self.report(announcement)
        await self._sender.deliver(
            "report", str(announcement.id), sender, lambda tr: Outgoing(report_text(report, tr))
        )

    # -- acknowledgements ------------------------------------------------------------------

    async def acknowledge(self, announcement_id: int, user_id: int) -> bool:
        return await self._storage.announcements.acknowledge(
            announcement_id, user_id, self._clock.now()
        )

    async def report(self, announcement: Announcement) -> Report:
        return Report(announcement, await self._storage.announcements.deliveries(announcement.id))

    async def remind_unread(self, announcement: Announcement) -> int:
        """Sends the announcement again to those who received it and have not confirmed."""
        sender = await self._storage.users.get(announcement.sender_id)
        cohort = (
            await self._storage.cohorts.get(announcement.cohort_id)
            if announcement.cohort_id
            else None
        )
        unread = [
            d.user_id
            for d in await self._storage.announcements.deliveries(announcement.id)
            if d.status == "sent" and not d.acked
        ]
        stamp = self._clock.now().strftime("%Y%m%d%H%M%S")
        sent = 0
        for user_id in unread:
            user = await self._storage.users.get(user_id)
            if user is None or not user.reachable:
                continue
            status = await self._sender.deliver(
                "unread",
                f"{announcement.id}:{stamp}",
                user,
                lambda _tr, u=user: self.message(announcement, sender, cohort, u),
            )
            sent += status == "sent"
        return sent


def report_text(report: Report, tr: Translator) -> str:
    total = len(report.deliveries)
    sent = report.count("sent")
    lines = [
        "📬 "
        + tr("Your announcement was delivered to {sent} of {total}.").format(
            sent=sent, total=total
        ),
    ]
    for status, label in (
        ("unreachable", tr("Blocked the bot or never started it")),
        ("failed", tr("Could not be delivered")),
    ):
        names = [escape(d.name) for d in report.deliveries if d.status == status]
        if names:
            lines.append(f"{label} ({len(names)}): " + ", ".join(names))
    return "\n".join(lines)
