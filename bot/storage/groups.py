"""The cohort's group chats: bindings, what the bot posted there, join requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import aiosqlite

from bot.storage.db import Database, to_db


@dataclass(frozen=True)
class GroupChat:
    chat_id: int
    cohort_id: int
    thread_id: int | None  # a forum group's topic the posts go to
    title: str
    language: str
    linked_by: int | None  # the staff member told privately when something needs them
    card_time: time | None  # None: BOT_DAY_CARD_TIME
    join_approval: bool
    pin_warned: bool


@dataclass(frozen=True)
class GroupPost:
    chat_id: int
    kind: str
    ref: str
    status: str
    message_id: int | None
    text: str
    pinned: bool


@dataclass(frozen=True)
class JoinRequest:
    id: int
    chat_id: int
    user_id: int
    status: str


def _group(row: aiosqlite.Row) -> GroupChat:
    card_time = None
    if row["card_time"]:
        hours, _, minutes = row["card_time"].partition(":")
        card_time = time(int(hours), int(minutes))
    return GroupChat(
        chat_id=row["chat_id"],
        cohort_id=row["cohort_id"],
        thread_id=row["thread_id"],
        title=row["title"],
        language=row["language"],
        linked_by=row["linked_by"],
        card_time=card_time,
        join_approval=bool(row["join_approval"]),
        pin_warned=bool(row["pin_warned"]),
    )


def _post(row: aiosqlite.Row) -> GroupPost:
    return GroupPost(
        row["chat_id"], row["kind"], row["ref"], row["status"], row["message_id"], row["text"],
        bool(row["pinned"]),
    )  # fmt: skip


class GroupRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- bindings --------------------------------------------------------------------------

    async def get(self, chat_id: int) -> GroupChat | None:
        row = await self._db.fetchone("SELECT * FROM group_chats WHERE chat_id = ?", (chat_id,))
        return _group(row) if row else None

    async def of_cohort(self, cohort_id: int) -> list[GroupChat]:
        rows = await self._db.fetchall(
            "SELECT * FROM group_chats WHERE cohort_id = ? ORDER BY chat_id", (cohort_id,)
        )
        return [_group(r) for r in rows]

    async def all(self) -> list[GroupChat]:
        rows = await self._db.fetchall("SELECT * FROM group_chats ORDER BY chat_id")
        return [_group(r) for r in rows]

    async def bind(
        self,
        chat_id: int,
        cohort_id: int,
        *,
        thread_id: int | None,
        title: str,
        language: str,
        linked_by: int,
        now: datetime,
    ) -> None:
        """Binds the group (again): a group belongs to one cohort; linking it to another one
        moves it, and its posts of the old cohort are forgotten."""
        async with self._db.transaction():
            old = await self.get(chat_id)
            if old is not None and old.cohort_id != cohort_id:
                await self._db.execute("DELETE FROM group_posts WHERE chat_id = ?", (chat_id,))
            await self._db.execute(
                "INSERT INTO group_chats (chat_id, cohort_id, thread_id, title, language,"
                " linked_by, linked_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET cohort_id = excluded.cohort_id,"
                " thread_id = excluded.thread_id, title = excluded.title,"
                " linked_by = excluded.linked_by, linked_at = excluded.linked_at,"
                " pin_warned = 0",
                (chat_id, cohort_id, thread_id, title[:255], language, linked_by, to_db(now)),
            )

    async def unbind(self, chat_id: int) -> bool:
        return await self._db.execute("DELETE FROM group_chats WHERE chat_id = ?", (chat_id,)) > 0

    async def migrate(self, old_chat_id: int, new_chat_id: int) -> bool:
        """The group became a supergroup: the binding follows the new id. Messages of the old
        group cannot be edited or pinned in the new one: its finished posts are forgotten."""
        async with self._db.transaction():
            if await self.get(old_chat_id) is None:
                return False
            await self._db.execute("DELETE FROM group_chats WHERE chat_id = ?", (new_chat_id,))
            await self._db.execute(
                "DELETE FROM group_posts WHERE chat_id = ? AND status != 'sending'",
                (old_chat_id,),
            )
            await self._db.execute(  # a post being made follows, to be retried there
                "UPDATE group_chats SET chat_id = ? WHERE chat_id = ?", (new_chat_id, old_chat_id)
            )
        return True

    async def set_language(self, chat_id: int, language: str) -> None:
        await self._db.execute(
            "UPDATE group_chats SET language = ? WHERE chat_id = ?", (language, chat_id)
        )

    async def set_card_time(self, chat_id: int, at: time | None) -> None:
        await self._db.execute(
            "UPDATE group_chats SET card_time = ? WHERE chat_id = ?",
            (at.strftime("%H:%M") if at else None, chat_id),
        )

    async def set_join_approval(self, chat_id: int, on: bool) -> None:
        await self._db.execute(
            "UPDATE group_chats SET join_approval = ? WHERE chat_id = ?", (int(on), chat_id)
        )

    async def warn_once(self, chat_id: int) -> bool:
        """True the first time only: the linking staff member hears of a missing right once."""
        return (
            await self._db.execute(
                "UPDATE group_chats SET pin_warned = 1 WHERE chat_id = ? AND pin_warned = 0",
                (chat_id,),
            )
            == 1
        )

    # -- posts -----------------------------------------------------------------------------

    async def claim_post(self, chat_id: int, kind: str, ref: str, now: datetime) -> bool:
        """True when this post is ours to make; False when it was made (or begun) before."""
        return (
            await self._db.execute(
                "INSERT INTO group_posts (chat_id, kind, ref, status, updated_at)"
                " VALUES (?, ?, ?, 'sending', ?) ON CONFLICT DO NOTHING",
                (chat_id, kind, ref, to_db(now)),
            )
            > 0
        )

    async def finish_post(
        self,
        chat_id: int,
        kind: str,
        ref: str,
        *,
        status: str,
        message_id: int | None,
        text: str,
        now: datetime,
    ) -> None:
        await self._db.execute(
            "UPDATE group_posts SET status = ?, message_id = ?, text = ?, updated_at = ?"
            " WHERE chat_id = ? AND kind = ? AND ref = ?",
            (status, message_id, text, to_db(now), chat_id, kind, ref),
        )

    async def edited(self, chat_id: int, kind: str, ref: str, text: str, now: datetime) -> None:
        await self._db.execute(
            "UPDATE group_posts SET text = ?, updated_at = ? WHERE chat_id = ? AND kind = ?"
            " AND ref = ?",
            (text, to_db(now), chat_id, kind, ref),
        )

    async def post(self, chat_id: int, kind: str, ref: str) -> GroupPost | None:
        row = await self._db.fetchone(
            "SELECT * FROM group_posts WHERE chat_id = ? AND kind = ? AND ref = ?",
            (chat_id, kind, ref),
        )
        return _post(row) if row else None

    async def set_pinned(self, chat_id: int, kind: str, ref: str, pinned: bool) -> None:
        await self._db.execute(
            "UPDATE group_posts SET pinned = ? WHERE chat_id = ? AND kind = ? AND ref = ?",
            (int(pinned), chat_id, kind, ref),
        )

    async def pinned(self, chat_id: int, kind: str) -> list[GroupPost]:
        rows = await self._db.fetchall(
            "SELECT * FROM group_posts WHERE chat_id = ? AND kind = ? AND pinned = 1",
            (chat_id, kind),
        )
        return [_post(r) for r in rows]

    async def release_interrupted(self) -> int:
        """Posts cut off by a crash are made again (as `DeliveryRepository` does)."""
        return await self._db.execute("DELETE FROM group_posts WHERE status = 'sending'")

    # -- join requests ---------------------------------------------------------------------

    async def add_request(self, chat_id: int, user_id: int, now: datetime) -> int:
        await self._db.execute(
            "INSERT INTO group_join_requests (chat_id, user_id, status, requested_at)"
            " VALUES (?, ?, 'pending', ?) ON CONFLICT (chat_id, user_id) DO UPDATE SET"
            " status = 'pending', requested_at = excluded.requested_at",
            (chat_id, user_id, to_db(now)),
        )
        row = await self._db.fetchone(
            "SELECT id FROM group_join_requests WHERE chat_id = ? AND user_id = ?",
            (chat_id, user_id),
        )
        assert row is not None
        return int(row["id"])

    async def request(self, request_id: int) -> JoinRequest | None:
        row = await self._db.fetchone(
            "SELECT * FROM group_join_requests WHERE id = ?", (request_id,)
        )
        if row is None:
            return None
        return JoinRequest(row["id"], row["chat_id"], row["user_id"], row["status"])

    async def decide(self, request_id: int, status: str) -> bool:
        """pending -> approved or declined; True only the first time."""
        return (
            await self._db.execute(
                "UPDATE group_join_requests SET status = ? WHERE id = ? AND status = 'pending'",
                (status, request_id),
            )
            == 1
        )

    # -- personal data ---------------------------------------------------------------------

    async def forget_user(self, telegram_id: int) -> None:
        await self._db.execute("DELETE FROM group_join_requests WHERE user_id = ?", (telegram_id,))
        await self._db.execute(
            "UPDATE group_chats SET linked_by = NULL WHERE linked_by = ?", (telegram_id,)
        )

    async def purge_cohort(self, cohort_id: int) -> None:
        """A finished cohort's groups keep nothing personal: who asked to join, who linked."""
        await self._db.execute(
            "DELETE FROM group_join_requests WHERE chat_id IN"
            " (SELECT chat_id FROM group_chats WHERE cohort_id = ?)",
            (cohort_id,),
        )
        await self._db.execute(
            "UPDATE group_chats SET linked_by = NULL WHERE cohort_id = ?", (cohort_id,)
        )

    # -- announcements acknowledged in a group ---------------------------------------------

    async def acknowledge(self, announcement_id: int, user_id: int, now: datetime) -> bool:
        """A member pressed "Got it" under the group's copy: their acknowledgement, counted
        once with the private one (a member who joined after the send gets a row of their own,
        read in the group)."""
        return (
            await self._db.execute(
                "INSERT INTO announcement_deliveries (announcement_id, user_id, status, acked_at,"
                " updated_at) VALUES (?, ?, 'sent', ?, ?) ON CONFLICT (announcement_id, user_id)"
                " DO UPDATE SET acked_at = excluded.acked_at WHERE acked_at IS NULL",
                (announcement_id, user_id, to_db(now), to_db(now)),
            )
            > 0
        )
