"""What the staff console reads that no chat command needs: a cohort's latest announcements."""

from __future__ import annotations

from bot.storage.db import Database
from bot.storage.models import Announcement


class ConsoleRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def announcements_for(self, cohort_id: int, limit: int = 5) -> list[Announcement]:
        """The latest announcements sent to the cohort or to every cohort, newest first."""
        from bot.storage.repositories import AnnouncementRepository

        rows = await self._db.fetchall(
            "SELECT * FROM announcements WHERE (cohort_id = ? OR cohort_id IS NULL)"
            " AND status IN ('sending', 'done') ORDER BY id DESC LIMIT ?",
            (cohort_id, limit),
        )
        return [AnnouncementRepository._announcement(row) for row in rows]
