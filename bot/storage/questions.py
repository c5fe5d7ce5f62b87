"""The question desk's rows: questions, their messages, reply targets, pending steps, the FAQ."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot.storage.db import Database, from_db, to_db
from bot.storage.models import Localized

OPEN = "open"
ANSWERED = "answered"
CLOSED = "closed"


@dataclass(frozen=True)
class Question:
    id: int
    cohort_id: int
    student_id: int
    text: str
    source_message: int | None  # the student's message in their chat with the bot
    has_media: bool
    status: str  # open | answered | closed
    owner_id: int | None
    created_at: datetime
    escalate_at: datetime
    escalated_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None


@dataclass(frozen=True)
class QuestionMessage:
    id: int
    question_id: int
    author_id: int
    from_staff: bool
    text: str
    source_chat: int
    source_message: int
    has_media: bool
    delivered: bool
    created_at: datetime


@dataclass(frozen=True)
class PendingStep:
    """What a person's next message is for: a question (/ask), an answer (after Answer), a
    question offered an FAQ entry first, a survey answer."""

    user_id: int
    step: str
    ref_id: int | None
    text: str
    source_message: int | None
    has_media: bool
    created_at: datetime


@dataclass(frozen=True)
class FaqEntry:
    id: int
    cohort_id: int
    question: Localized
    answer: Localized
    from_question: int | None

    def languages(self) -> list[str]:
        return [
            c for c in ("en", "ru", "uz") if getattr(self.question, c) or getattr(self.answer, c)
        ]


def _question(r: aiosqlite.Row) -> Question:
    return Question(
        id=r["id"],
        cohort_id=r["cohort_id"],
        student_id=r["student_id"],
        text=r["text"],
        source_message=r["source_message"],
        has_media=bool(r["has_media"]),
        status=r["status"],
        owner_id=r["owner_id"],
        created_at=_at(r["created_at"]),
        escalate_at=_at(r["escalate_at"]),
        escalated_at=from_db(r["escalated_at"]),
        answered_at=from_db(r["answered_at"]),
        closed_at=from_db(r["closed_at"]),
    )


def _message(r: aiosqlite.Row) -> QuestionMessage:
    return QuestionMessage(
        id=r["id"],
        question_id=r["question_id"],
        author_id=r["author_id"],
        from_staff=bool(r["from_staff"]),
        text=r["text"],
        source_chat=r["source_chat"],
        source_message=r["source_message"],
        has_media=bool(r["has_media"]),
        delivered=bool(r["delivered"]),
        created_at=_at(r["created_at"]),
    )


def _step(r: aiosqlite.Row) -> PendingStep:
    return PendingStep(
        user_id=r["user_id"],
        step=r["step"],
        ref_id=r["ref_id"],
        text=r["text"],
        source_message=r["source_message"],
        has_media=bool(r["has_media"]),
        created_at=_at(r["created_at"]),
    )


def _faq(r: aiosqlite.Row) -> FaqEntry:
    return FaqEntry(
        id=r["id"],
        cohort_id=r["cohort_id"],
        question=Localized(r["question_en"], r["question_ru"], r["question_uz"]),
        answer=Localized(r["answer_en"], r["answer_ru"], r["answer_uz"]),
        from_question=r["from_question"],
    )


def _at(text: str) -> datetime:
    moment = from_db(text)
    assert moment is not None
    return moment


class QuestionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- questions ------------------------------------------------------------------------

    async def create(
        self,
        cohort_id: int,
        student_id: int,
        text: str,
        source_message: int | None,
        has_media: bool,
        now: datetime,
        escalate_at: datetime,
    ) -> int:
        return await self._db.execute(
            "INSERT INTO questions (cohort_id, student_id, text, source_message, has_media,"
            " status, created_at, escalate_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)",
            (cohort_id, student_id, text, source_message, int(has_media), to_db(now),
             to_db(escalate_at)),
        )  # fmt: skip

    async def get(self, question_id: int) -> Question | None:
        row = await self._db.fetchone("SELECT * FROM questions WHERE id = ?", (question_id,))
        return self._db.one(row, _question)

    async def open_count(self, student_id: int) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM questions WHERE student_id = ? AND status != 'closed'",
            (student_id,),
        )
        return int(row["n"]) if row else 0

    async def asked_since(self, student_id: int, since: datetime) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) AS n FROM questions WHERE student_id = ? AND created_at > ?",
            (student_id, to_db(since)),
        )
        return int(row["n"]) if row else 0

    async def of_student(self, student_id: int, limit: int = 20) -> list[Question]:
        rows = await self._db.fetchall(
            "SELECT * FROM questions WHERE student_id = ? ORDER BY id DESC LIMIT ?",
            (student_id, limit),
        )
        return self._db.each(rows, _question)

    async def unclosed_in(self, cohort_id: int, limit: int = 50) -> list[Question]:
        rows = await self._db.fetchall(
            "SELECT * FROM questions WHERE cohort_id = ? AND status != 'closed'"
            " ORDER BY id LIMIT ?",
            (cohort_id, limit),
        )
        return self._db.each(rows, _question)

    async def to_escalate(self, until: datetime) -> list[Question]:
        """Open questions without an owner, not escalated yet, due for it by `until`."""
        rows = await self._db.fetchall(
            "SELECT * FROM questions WHERE status = 'open' AND owner_id IS NULL"
            " AND escalated_at IS NULL AND escalate_at <= ? ORDER BY escalate_at",
            (to_db(until),),
        )
        return self._db.each(rows, _question)

    async def take(self, question_id: int, owner_id: int) -> bool:
        """The first to take a question owns it; False if someone else already does."""
        changed = await self._db.execute(
            "UPDATE questions SET owner_id = ? WHERE id = ? AND status != 'closed'"
            " AND (owner_id IS NULL OR owner_id = ?)",
            (owner_id, question_id, owner_id),
        )
        return changed == 1

    async def mark_escalated(self, question_id: int, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE questions SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL",
            (to_db(now), question_id),
        )
        return changed == 1

    async def mark_answered(self, question_id: int, now: datetime) -> None:
        await self._db.execute(
            "UPDATE questions SET status = 'answered', answered_at = COALESCE(answered_at, ?)"
            " WHERE id = ? AND status != 'closed'",
            (to_db(now), question_id),
        )

    async def reopen(self, question_id: int) -> None:
        """A follow-up from the student: the question waits for staff again."""
        await self._db.execute(
            "UPDATE questions SET status = 'open' WHERE id = ? AND status = 'answered'",
            (question_id,),
        )

    async def close(self, question_id: int, now: datetime) -> bool:
        changed = await self._db.execute(
            "UPDATE questions SET status = 'closed', closed_at = ? WHERE id = ?"
            " AND status != 'closed'",
            (to_db(now), question_id),
        )
        return changed == 1

    # -- the thread -----------------------------------------------------------------------

    async def add_message(
        self,
        question_id: int,
        author_id: int,
        from_staff: bool,
        text: str,
        source: tuple[int, int],
        has_media: bool,
        now: datetime,
    ) -> int:
        return await self._db.execute(
            "INSERT INTO question_messages (question_id, author_id, from_staff, text,"
            " source_chat, source_message, has_media, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (question_id, author_id, int(from_staff), text, source[0], source[1], int(has_media),
             to_db(now)),
        )  # fmt: skip

    async def set_delivered(self, message_id: int, delivered: bool) -> None:
        await self._db.execute(
            "UPDATE question_messages SET delivered = ? WHERE id = ?", (int(delivered), message_id)
        )

    async def messages(self, question_id: int) -> list[QuestionMessage]:
        rows = await self._db.fetchall(
            "SELECT * FROM question_messages WHERE question_id = ? ORDER BY id", (question_id,)
        )
        return self._db.each(rows, _message)

    async def undelivered(self, question_ids: list[int]) -> set[int]:
        """Which of these questions have an answer the student has not received."""
        if not question_ids:
            return set()
        marks = ",".join("?" * len(question_ids))
        rows = await self._db.fetchall(
            f"SELECT DISTINCT question_id FROM question_messages WHERE delivered = 0"
            f" AND question_id IN ({marks})",
            question_ids,
        )
        return {r["question_id"] for r in rows}

    # -- which bot message belongs to what ------------------------------------------------

    async def link(self, chat_id: int, message_id: int, kind: str, ref_id: int) -> None:
        await self._db.execute(
            "INSERT INTO reply_targets (chat_id, message_id, kind, ref_id) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (chat_id, message_id) DO UPDATE SET kind = excluded.kind,"
            " ref_id = excluded.ref_id",
            (chat_id, message_id, kind, ref_id),
        )

    async def target(self, chat_id: int, message_id: int) -> tuple[str, int] | None:
        row = await self._db.fetchone(
            "SELECT kind, ref_id FROM reply_targets WHERE chat_id = ? AND message_id = ?",
            (chat_id, message_id),
        )
        return (row["kind"], row["ref_id"]) if row else None

    async def links(self, question_id: int) -> list[tuple[int, int]]:
        rows = await self._db.fetchall(
            "SELECT chat_id, message_id FROM reply_targets WHERE kind = 'question'"
            " AND ref_id = ? ORDER BY message_id",
            (question_id,),
        )
        return [(r["chat_id"], r["message_id"]) for r in rows]

    # -- pending steps --------------------------------------------------------------------

    async def set_step(
        self,
        user_id: int,
        step: str,
        now: datetime,
        *,
        ref_id: int | None = None,
        text: str = "",
        source_message: int | None = None,
        has_media: bool = False,
    ) -> None:
        await self._db.execute(
            "INSERT INTO pending_steps (user_id, step, ref_id, text, source_message, has_media,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET"
            " step = excluded.step, ref_id = excluded.ref_id, text = excluded.text,"
            " source_message = excluded.source_message, has_media = excluded.has_media,"
            " created_at = excluded.created_at",
            (user_id, step, ref_id, text, source_message, int(has_media), to_db(now)),
        )

    async def step(self, user_id: int) -> PendingStep | None:
        row = await self._db.fetchone("SELECT * FROM pending_steps WHERE user_id = ?", (user_id,))
        return self._db.one(row, _step)

    async def take_step(self, user_id: int, step: str, created_at: datetime) -> bool:
        """Removes this very step; False when it was used (or replaced) meanwhile."""
        changed = await self._db.execute(
            "DELETE FROM pending_steps WHERE user_id = ? AND step = ? AND created_at = ?",
            (user_id, step, to_db(created_at)),
        )
        return changed == 1

    async def clear_step(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM pending_steps WHERE user_id = ?", (user_id,))

    # -- the FAQ --------------------------------------------------------------------------

    async def faq(self, cohort_id: int) -> list[FaqEntry]:
        rows = await self._db.fetchall(
            "SELECT * FROM faq WHERE cohort_id = ? ORDER BY id", (cohort_id,)
        )
        return self._db.each(rows, _faq)

    async def faq_entry(self, entry_id: int) -> FaqEntry | None:
        row = await self._db.fetchone("SELECT * FROM faq WHERE id = ?", (entry_id,))
        return self._db.one(row, _faq)

    async def add_faq(
        self,
        cohort_id: int,
        language: str,
        question: str,
        answer: str,
        from_question: int | None,
        created_by: int,
        now: datetime,
    ) -> int:
        """0 when this question is in the FAQ already (a second press)."""
        values: dict[str, Any] = {f"question_{c}": "" for c in ("en", "ru", "uz")}
        values.update({f"answer_{c}": "" for c in ("en", "ru", "uz")})
        values[f"question_{language}"] = question
        values[f"answer_{language}"] = answer
        return await self._db.execute(
            "INSERT INTO faq (cohort_id, question_en, question_ru, question_uz, answer_en,"
            " answer_ru, answer_uz, from_question, created_by, created_at) VALUES (:cohort,"
            " :question_en, :question_ru, :question_uz, :answer_en, :answer_ru, :answer_uz,"
            " :source, :by, :now) ON CONFLICT (from_question) DO NOTHING",
            {**values, "cohort": cohort_id, "source": from_question, "by": created_by,
             "now": to_db(now)},
        )  # fmt: skip

    async def set_faq_language(
        self, entry_id: int, language: str, question: str, answer: str
    ) -> bool:
        if language not in ("en", "ru", "uz"):
            raise ValueError(language)
        changed = await self._db.execute(
            f"UPDATE faq SET question_{language} = ?, answer_{language} = ? WHERE id = ?",
            (question, answer, entry_id),
        )
        return changed == 1

    async def delete_faq(self, entry_id: int) -> bool:
        return await self._db.execute("DELETE FROM faq WHERE id = ?", (entry_id,)) == 1

    # -- privacy --------------------------------------------------------------------------

    async def forget_user(self, user_id: int) -> None:
        """A person's questions (with their threads and links) and pending steps."""
        await self._db.execute(
            "DELETE FROM reply_targets WHERE kind = 'question' AND ref_id IN"
            " (SELECT id FROM questions WHERE student_id = ?)",
            (user_id,),
        )
        await self._db.execute("DELETE FROM questions WHERE student_id = ?", (user_id,))
        await self._db.execute("DELETE FROM pending_steps WHERE user_id = ?", (user_id,))
        await self._db.execute("DELETE FROM reply_targets WHERE chat_id = ?", (user_id,))

    async def purge_cohort(self, cohort_id: int) -> int:
        """Every question of a cohort; returns how many (an anonymous count)."""
        await self._db.execute(
            "DELETE FROM reply_targets WHERE kind = 'question' AND ref_id IN"
            " (SELECT id FROM questions WHERE cohort_id = ?)",
            (cohort_id,),
        )
        return await self._db.execute("DELETE FROM questions WHERE cohort_id = ?", (cohort_id,))
