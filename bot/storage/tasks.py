"""The arrival checklist's rows: tasks per cohort, each member's progress, awaited proofs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

from bot.storage.db import Database, from_db, to_db
from bot.storage.models import Localized

DONE = "done"
PROOF_SENT = "proof_sent"
REJECTED = "rejected"


@dataclass(frozen=True)
class TaskFields:
    """A task as an import file gives it (the due rule as written)."""

    external_id: str
    title: Localized
    due: str  # "2026-09-18", "arrival+3d", "departure-2d"
    details: Localized = field(default_factory=Localized)
    link: str = ""
    needs_proof: bool = False


@dataclass(frozen=True)
class Task:
    id: int
    cohort_id: int
    external_id: str
    position: int
    title: Localized
    details: Localized
    link: str
    due: str
    needs_proof: bool
    removed: bool = False

    @property
    def fields(self) -> TaskFields:
        return TaskFields(
            self.external_id, self.title, self.due, self.details, self.link, self.needs_proof
        )


@dataclass(frozen=True)
class TaskProgress:
    task_id: int
    user_id: int
    status: str  # proof_sent | rejected | done
    done_at: datetime | None
    marked_by: int | None
    reason: str
    updated_at: datetime
    proof_message: int | None = None  # the student's message the latest proof was


def _task(row: aiosqlite.Row) -> Task:
    return Task(
        id=row["id"],
        cohort_id=row["cohort_id"],
        external_id=row["external_id"],
        position=row["position"],
        title=Localized(row["title_en"], row["title_ru"], row["title_uz"]),
        details=Localized(row["details_en"], row["details_ru"], row["details_uz"]),
        link=row["link"],
        due=row["due"],
        needs_proof=bool(row["needs_proof"]),
        removed=bool(row["removed"]),
    )


def _progress(row: aiosqlite.Row) -> TaskProgress:
    updated = from_db(row["updated_at"])
    assert updated is not None
    return TaskProgress(
        task_id=row["task_id"],
        user_id=row["user_id"],
        status=row["status"],
        done_at=from_db(row["done_at"]),
        marked_by=row["marked_by"],
        reason=row["reason"],
        updated_at=updated,
        proof_message=row["proof_message"],
    )


def _params(cohort_id: int, position: int, f: TaskFields) -> tuple[object, ...]:
    return (
        cohort_id, f.external_id, position, f.title.en, f.title.ru, f.title.uz, f.details.en,
        f.details.ru, f.details.uz, f.link, f.due, int(f.needs_proof),
    )  # fmt: skip


class TaskRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, task_id: int) -> Task | None:
        row = await self._db.fetchone("SELECT * FROM tasks WHERE id = ?", (task_id,))
        return self._db.one(row, _task)

    async def by_external(self, cohort_id: int, external_id: str) -> Task | None:
        row = await self._db.fetchone(
            "SELECT * FROM tasks WHERE cohort_id = ? AND upper(external_id) = upper(?)",
            (cohort_id, external_id),
        )
        return self._db.one(row, _task)

    async def for_cohort(self, cohort_id: int, *, removed: bool = False) -> list[Task]:
        rows = await self._db.fetchall(
            "SELECT * FROM tasks WHERE cohort_id = ? AND (removed = 0 OR ?) ORDER BY position, id",
            (cohort_id, int(removed)),
        )
        return self._db.each(rows, _task)

    async def cohorts_with_tasks(self) -> list[int]:
        rows = await self._db.fetchall("SELECT DISTINCT cohort_id FROM tasks WHERE removed = 0")
        return [r[0] for r in rows]

    async def replace(self, cohort_id: int, tasks: Sequence[TaskFields]) -> None:
        """The cohort's checklist becomes `tasks`, in this order; the ones left out are marked
        removed (their progress stays, should they come back)."""
        await self._db.execute(
            "UPDATE tasks SET removed = 1, position = position + 100000 WHERE cohort_id = ?",
            (cohort_id,),
        )
        await self._db.executemany(
            "INSERT INTO tasks (cohort_id, external_id, position, title_en, title_ru, title_uz,"
            " details_en, details_ru, details_uz, link, due, needs_proof, removed)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)"
            " ON CONFLICT (cohort_id, external_id) DO UPDATE SET position = excluded.position,"
            " title_en = excluded.title_en, title_ru = excluded.title_ru,"
            " title_uz = excluded.title_uz, details_en = excluded.details_en,"
            " details_ru = excluded.details_ru, details_uz = excluded.details_uz,"
            " link = excluded.link, due = excluded.due, needs_proof = excluded.needs_proof,"
            " removed = 0",
            [_params(cohort_id, i, f) for i, f in enumerate(tasks)],
        )

    # -- progress ---------------------------------------------------------------------------------

    async def progress_of(self, user_id: int, cohort_id: int) -> dict[int, TaskProgress]:
        rows = await self._db.fetchall(
            "SELECT p.* FROM task_progress p JOIN tasks t ON t.id = p.task_id"
            " WHERE p.user_id = ? AND t.cohort_id = ?",
            (user_id, cohort_id),
        )
        return {p.task_id: p for p in self._db.each(rows, _progress)}

    async def progress_in(self, cohort_id: int) -> list[TaskProgress]:
        rows = await self._db.fetchall(
            "SELECT p.* FROM task_progress p JOIN tasks t ON t.id = p.task_id"
            " WHERE t.cohort_id = ?",
            (cohort_id,),
        )
        return self._db.each(rows, _progress)

    async def progress(self, task_id: int, user_id: int) -> TaskProgress | None:
        row = await self._db.fetchone(
            "SELECT * FROM task_progress WHERE task_id = ? AND user_id = ?", (task_id, user_id)
        )
        return self._db.one(row, _progress)

    async def mark_done(
        self, task_id: int, user_id: int, now: datetime, marked_by: int | None = None
    ) -> bool:
        """True when this call made it done (False: it already was)."""
        # An UPDATE, then an INSERT that a present row ignores: each statement's count tells
        # what it did (an upsert's count does not say whether its WHERE let it update).
        async with self._db.transaction():
            if await self._db.execute(
                "UPDATE task_progress SET status = 'done', done_at = ?, marked_by = ?,"
                " reason = '', updated_at = ? WHERE task_id = ? AND user_id = ?"
                " AND status != 'done'",
                (to_db(now), marked_by, to_db(now), task_id, user_id),
            ):
                return True
            return bool(
                await self._db.execute(
                    "INSERT OR IGNORE INTO task_progress (task_id, user_id, status, done_at,"
                    " marked_by, updated_at) VALUES (?, ?, 'done', ?, ?, ?)",
                    (task_id, user_id, to_db(now), marked_by, to_db(now)),
                )
            )

    async def proof_sent(self, task_id: int, user_id: int, message_id: int, now: datetime) -> bool:
        """A proof (the student's message `message_id`) is on its way to staff; False if the
        task is already done."""
        async with self._db.transaction():
            if await self._db.execute(
                "UPDATE task_progress SET status = 'proof_sent', reason = '',"
                " proof_message = ?, updated_at = ? WHERE task_id = ? AND user_id = ?"
                " AND status != 'done'",
                (message_id, to_db(now), task_id, user_id),
            ):
                return True
            return bool(
                await self._db.execute(
                    "INSERT OR IGNORE INTO task_progress (task_id, user_id, status,"
                    " proof_message, updated_at) VALUES (?, ?, 'proof_sent', ?, ?)",
                    (task_id, user_id, message_id, to_db(now)),
                )
            )

    async def decide(
        self,
        task_id: int,
        user_id: int,
        proof_message: int,
        accept: bool,
        by: int,
        reason: str,
        now: datetime,
    ) -> bool:
        """Accepts or rejects the proof `proof_message` if it awaits a decision; False when
        not (decided already, by this or another staff member, or a newer proof came)."""
        if accept:
            sql = (
                "UPDATE task_progress SET status = 'done', done_at = ?, marked_by = ?,"
                " reason = '', updated_at = ? WHERE task_id = ? AND user_id = ?"
                " AND status = 'proof_sent' AND proof_message = ?"
            )
            params: tuple[object, ...] = (
                to_db(now), by, to_db(now), task_id, user_id, proof_message,
            )  # fmt: skip
        else:
            sql = (
                "UPDATE task_progress SET status = 'rejected', marked_by = ?, reason = ?,"
                " updated_at = ? WHERE task_id = ? AND user_id = ? AND status = 'proof_sent'"
                " AND proof_message = ?"
            )
            params = (by, reason, to_db(now), task_id, user_id, proof_message)
        return await self._db.execute(sql, params) > 0

    # -- a proof awaited from a student -----------------------------------------------------------

    async def await_proof(self, user_id: int, task_id: int, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO task_waits (user_id, task_id, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET task_id = excluded.task_id,"
            " created_at = excluded.created_at",
            (user_id, task_id, to_db(now)),
        )

    async def awaited(self, user_id: int) -> tuple[int, datetime] | None:
        row = await self._db.fetchone(
            "SELECT task_id, created_at FROM task_waits WHERE user_id = ?", (user_id,)
        )
        if row is None:
            return None
        created = from_db(row["created_at"])
        return (row["task_id"], created) if created is not None else None

    async def stop_awaiting(self, user_id: int) -> bool:
        return await self._db.execute("DELETE FROM task_waits WHERE user_id = ?", (user_id,)) > 0

    # -- personal data ----------------------------------------------------------------------------

    async def forget_user(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM task_progress WHERE user_id = ?", (user_id,))
        await self._db.execute("DELETE FROM task_waits WHERE user_id = ?", (user_id,))
        # A supervisor who leaves: the students' ticks stay, without who made them.
        await self._db.execute(
            "UPDATE task_progress SET marked_by = NULL WHERE marked_by = ?", (user_id,)
        )

    async def purge_cohort(self, cohort_id: int) -> None:
        """The members' progress goes; the checklist itself is programme data and stays."""
        await self._db.execute(
            "DELETE FROM task_progress"
            " WHERE task_id IN (SELECT id FROM tasks WHERE cohort_id = ?)",
            (cohort_id,),
        )
        await self._db.execute(
            "DELETE FROM task_waits WHERE task_id IN (SELECT id FROM tasks WHERE cohort_id = ?)",
            (cohort_id,),
        )
