"""Feedback after sessions and the end-of-programme survey.

Ratings are anonymous to staff: the user id is kept only so a person rates a session once
(and their rows go with /forget_me); no reader here returns it next to a rating.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.storage.db import Database, to_db
from bot.storage.models import Localized

SURVEY_TYPES = ("rating", "yesno", "text")


@dataclass(frozen=True)
class SessionRating:
    """One session's ratings, without who gave them."""

    session_id: int
    count: int
    total: int
    comments: tuple[str, ...]


@dataclass(frozen=True)
class SurveyQuestion:
    cohort_id: int
    qid: str
    position: int
    text: Localized
    type: str  # rating | yesno | text


class FeedbackRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- ratings --------------------------------------------------------------------------

    async def rate(self, session_id: int, user_id: int, rating: int, now: datetime) -> bool:
        """Records (or changes) a person's rating; False when it was already this one."""
        changed = await self._db.execute(
            "INSERT INTO feedback (session_id, user_id, rating, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (session_id, user_id) DO UPDATE SET rating = excluded.rating"
            " WHERE feedback.rating != excluded.rating",
            (session_id, user_id, rating, to_db(now)),
        )
        return changed > 0

    async def comment(self, session_id: int, user_id: int, text: str) -> bool:
        changed = await self._db.execute(
            "UPDATE feedback SET comment = ? WHERE session_id = ? AND user_id = ?",
            (text, session_id, user_id),
        )
        return changed == 1

    async def rating_of(self, session_id: int, user_id: int) -> int | None:
        row = await self._db.fetchone(
            "SELECT rating FROM feedback WHERE session_id = ? AND user_id = ?",
            (session_id, user_id),
        )
        return int(row["rating"]) if row else None

    async def for_cohort(self, cohort_id: int) -> list[SessionRating]:
        """Per session: count, sum and comments (shuffled out of answer order by sorting)."""
        rows = await self._db.fetchall(
            "SELECT f.session_id, f.rating, f.comment FROM feedback f JOIN sessions s"
            " ON s.id = f.session_id WHERE s.cohort_id = ? ORDER BY s.starts_at, f.comment",
            (cohort_id,),
        )
        by_session: dict[int, list[tuple[int, str]]] = {}
        for r in rows:
            by_session.setdefault(r["session_id"], []).append((r["rating"], r["comment"]))
        return [
            SessionRating(
                sid,
                len(items),
                sum(rating for rating, _ in items),
                tuple(sorted(c for _, c in items if c)),
            )
            for sid, items in by_session.items()
        ]

    async def prompts_off(self, user_ids: Sequence[int]) -> set[int]:
        if not user_ids:
            return set()
        marks = ",".join("?" * len(user_ids))
        rows = await self._db.fetchall(
            f"SELECT user_id FROM feedback_optout WHERE user_id IN ({marks})", list(user_ids)
        )
        return {r["user_id"] for r in rows}

    async def set_prompts(self, user_id: int, on: bool) -> None:
        if on:
            await self._db.execute("DELETE FROM feedback_optout WHERE user_id = ?", (user_id,))
        else:
            await self._db.execute(
                "INSERT INTO feedback_optout (user_id) VALUES (?) ON CONFLICT DO NOTHING",
                (user_id,),
            )

    # -- the survey -----------------------------------------------------------------------

    async def replace_survey(self, cohort_id: int, questions: Sequence[SurveyQuestion]) -> None:
        """The cohort's survey becomes these questions; answers to kept ids stay."""
        await self._db.execute("DELETE FROM survey_questions WHERE cohort_id = ?", (cohort_id,))
        await self._db.executemany(
            "INSERT INTO survey_questions (cohort_id, qid, position, text_en, text_ru, text_uz,"
            " type) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (cohort_id, q.qid, q.position, q.text.en, q.text.ru, q.text.uz, q.type)
                for q in questions
            ],
        )

    async def survey(self, cohort_id: int) -> list[SurveyQuestion]:
        rows = await self._db.fetchall(
            "SELECT * FROM survey_questions WHERE cohort_id = ? ORDER BY position, qid",
            (cohort_id,),
        )
        return [
            SurveyQuestion(
                r["cohort_id"], r["qid"], r["position"],
                Localized(r["text_en"], r["text_ru"], r["text_uz"]), r["type"],
            )
            for r in rows
        ]  # fmt: skip

    async def cohorts_with_survey(self) -> list[int]:
        rows = await self._db.fetchall("SELECT DISTINCT cohort_id FROM survey_questions")
        return [r["cohort_id"] for r in rows]

    async def answer(
        self, cohort_id: int, qid: str, user_id: int, answer: str, now: datetime
    ) -> bool:
        """False when this person answered this question already (a second press)."""
        return (
            await self._db.execute(
                "INSERT INTO survey_answers (cohort_id, qid, user_id, answer, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (cohort_id, qid, user_id, answer, to_db(now)),
            )
            > 0
        )

    async def answered(self, cohort_id: int, user_id: int) -> set[str]:
        rows = await self._db.fetchall(
            "SELECT qid FROM survey_answers WHERE cohort_id = ? AND user_id = ?",
            (cohort_id, user_id),
        )
        return {r["qid"] for r in rows}

    async def survey_answers(self, cohort_id: int) -> list[dict[str, str]]:
        """One dict per respondent (qid -> answer), in no identifying order."""
        rows = await self._db.fetchall(
            "SELECT user_id, qid, answer FROM survey_answers WHERE cohort_id = ?"
            " ORDER BY created_at, user_id",
            (cohort_id,),
        )
        people: dict[int, dict[str, str]] = {}
        for r in rows:
            people.setdefault(r["user_id"], {})[r["qid"]] = r["answer"]
        return list(people.values())

    # -- privacy --------------------------------------------------------------------------

    async def forget_user(self, user_id: int) -> None:
        for table in ("feedback", "feedback_optout", "survey_answers"):
            await self._db.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,))

    async def purge_cohort(self, cohort_id: int) -> int:
        """A cohort's ratings and survey answers go; returns how many ratings there were."""
        await self._db.execute("DELETE FROM survey_answers WHERE cohort_id = ?", (cohort_id,))
        return await self._db.execute(
            "DELETE FROM feedback WHERE session_id IN (SELECT id FROM sessions WHERE"
            " cohort_id = ?)",
            (cohort_id,),
        )
