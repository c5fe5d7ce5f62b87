"""Attendance rows: who checked in, who reported an absence, staff marks and their audit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import aiosqlite

from bot.storage.db import Database, from_db, to_db


class Status(StrEnum):
    PRESENT = "present"
    LATE = "late"
    EXCUSED = "excused"
    ABSENT = "absent"


class Source(StrEnum):
    CHECKIN = "checkin"  # the student pressed "I'm here" or sent /here
    REPORT = "report"  # the student reported an absence or lateness (/absent)
    STAFF = "staff"  # a supervisor or coordinator marked it by hand


@dataclass(frozen=True)
class AttendanceSettings:
    cohort_id: int
    opens_before: int = 15  # minutes before the start that check-in opens
    closes_after: int = 30  # minutes after the start that it closes
    nudge_after: int = 10  # minutes after the start: the private nudge
    missing_after: int = 20  # minutes after the start: the supervisor's list
    location: bool = False  # ask for the phone's location when checking in
    radius_m: int = 300


@dataclass(frozen=True)
class AttendanceRecord:
    session_id: int
    user_id: int
    status: Status
    source: Source
    at: datetime
    verdict: str = ""  # verified | self (check-ins only)
    distance_bucket: int | None = None  # metres, upper bound of the bucket (verified only)
    reason: str = ""  # ill | late | other (reported)
    late_minutes: int | None = None
    note: str = ""
    marked_by: int | None = None


@dataclass(frozen=True)
class ManualMark:
    id: int
    session_id: int
    user_id: int
    before: str
    after: str
    by_id: int | None
    at: datetime


def _record(r: aiosqlite.Row) -> AttendanceRecord:
    return AttendanceRecord(
        session_id=r["session_id"],
        user_id=r["user_id"],
        status=Status(r["status"]),
        source=Source(r["source"]),
        at=from_db(r["at"]),  # type: ignore[arg-type]
        verdict=r["verdict"],
        distance_bucket=r["distance_bucket"],
        reason=r["reason"],
        late_minutes=r["late_minutes"],
        note=r["note"],
        marked_by=r["marked_by"],
    )


def _settings(r: aiosqlite.Row) -> AttendanceSettings:
    return AttendanceSettings(
        cohort_id=r["cohort_id"],
        opens_before=r["opens_before"],
        closes_after=r["closes_after"],
        nudge_after=r["nudge_after"],
        missing_after=r["missing_after"],
        location=bool(r["attendance_location"]),
        radius_m=r["radius_m"],
    )


def _mark(r: aiosqlite.Row) -> ManualMark:
    return ManualMark(
        r["id"], r["session_id"], r["user_id"], r["before"], r["after"], r["by_id"],
        from_db(r["at"]),  # type: ignore[arg-type]
    )  # fmt: skip


class AttendanceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    # -- each cohort's rules ------------------------------------------------------------------

    async def all_settings(self) -> dict[int, AttendanceSettings]:
        rows = await self._db.fetchall("SELECT * FROM cohort_attendance_settings")
        return {s.cohort_id: s for s in self._db.each(rows, _settings)}

    async def settings(self, cohort_id: int) -> AttendanceSettings:
        row = await self._db.fetchone(
            "SELECT * FROM cohort_attendance_settings WHERE cohort_id = ?", (cohort_id,)
        )
        return self._db.one(row, _settings) or AttendanceSettings(cohort_id)

    async def save_settings(self, s: AttendanceSettings) -> None:
        await self._db.execute(
            "INSERT INTO cohort_attendance_settings (cohort_id, opens_before, closes_after,"
            " nudge_after, missing_after, attendance_location, radius_m)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cohort_id) DO UPDATE SET"
            " opens_before = excluded.opens_before, closes_after = excluded.closes_after,"
            " nudge_after = excluded.nudge_after, missing_after = excluded.missing_after,"
            " attendance_location = excluded.attendance_location, radius_m = excluded.radius_m",
            (s.cohort_id, s.opens_before, s.closes_after, s.nudge_after, s.missing_after,
             int(s.location), s.radius_m),
        )  # fmt: skip

    # -- the rows -----------------------------------------------------------------------------

    async def get(self, session_id: int, user_id: int) -> AttendanceRecord | None:
        row = await self._db.fetchone(
            "SELECT * FROM attendance WHERE session_id = ? AND user_id = ?", (session_id, user_id)
        )
        return self._db.one(row, _record)

    async def save(self, r: AttendanceRecord) -> None:
        """Writes the latest word about one student at one session (replacing the last)."""
        await self._db.execute(
            "INSERT INTO attendance (session_id, user_id, status, source, verdict,"
            " distance_bucket, reason, late_minutes, note, at, marked_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, user_id)"
            " DO UPDATE SET status = excluded.status, source = excluded.source,"
            " verdict = excluded.verdict, distance_bucket = excluded.distance_bucket,"
            " reason = excluded.reason, late_minutes = excluded.late_minutes,"
            " note = excluded.note, at = excluded.at, marked_by = excluded.marked_by",
            (r.session_id, r.user_id, r.status.value, r.source.value, r.verdict,
             r.distance_bucket, r.reason, r.late_minutes, r.note[:200], to_db(r.at),
             r.marked_by),
        )  # fmt: skip

    async def for_session(self, session_id: int) -> dict[int, AttendanceRecord]:
        rows = await self._db.fetchall(
            "SELECT * FROM attendance WHERE session_id = ?", (session_id,)
        )
        return {r.user_id: r for r in self._db.each(rows, _record)}

    async def for_cohort(self, cohort_id: int) -> list[AttendanceRecord]:
        rows = await self._db.fetchall(
            "SELECT a.* FROM attendance a JOIN sessions s ON s.id = a.session_id"
            " WHERE s.cohort_id = ?",
            (cohort_id,),
        )
        return self._db.each(rows, _record)

    async def for_user(self, user_id: int, cohort_id: int) -> dict[int, AttendanceRecord]:
        rows = await self._db.fetchall(
            "SELECT a.* FROM attendance a JOIN sessions s ON s.id = a.session_id"
            " WHERE a.user_id = ? AND s.cohort_id = ?",
            (user_id, cohort_id),
        )
        return {r.session_id: r for r in self._db.each(rows, _record)}

    async def mark(
        self, cohort_id: int, record: AttendanceRecord, before: str, by_id: int
    ) -> None:
        """A staff mark and its audit entry, in one transaction."""
        async with self._db.transaction():
            await self.save(record)
            await self._db.execute(
                "INSERT INTO attendance_marks (cohort_id, session_id, user_id, before, after,"
                " by_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (cohort_id, record.session_id, record.user_id, before, record.status.value,
                 by_id, to_db(record.at)),
            )  # fmt: skip

    async def marks(self, cohort_id: int) -> list[ManualMark]:
        rows = await self._db.fetchall(
            "SELECT * FROM attendance_marks WHERE cohort_id = ? ORDER BY id", (cohort_id,)
        )
        return self._db.each(rows, _mark)

    # -- a location check-in waiting for the phone's location ---------------------------------

    async def ask_location(self, user_id: int, session_id: int, now: datetime) -> None:
        await self._db.execute(
            "INSERT INTO attendance_pending (user_id, session_id, asked_at) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET session_id = excluded.session_id,"
            " asked_at = excluded.asked_at",
            (user_id, session_id, to_db(now)),
        )

    async def location_asked(self, user_id: int) -> int | None:
        """The session a location is awaited for, if any."""
        row = await self._db.fetchone(
            "SELECT session_id FROM attendance_pending WHERE user_id = ?", (user_id,)
        )
        return int(row[0]) if row else None

    async def location_done(self, user_id: int) -> None:
        await self._db.execute("DELETE FROM attendance_pending WHERE user_id = ?", (user_id,))

    # -- personal data --------------------------------------------------------------------------

    async def forget_user(self, user_id: int) -> None:
        """A person's own rows go; marks they made keep the fact but not who made them."""
        for sql in (
            "DELETE FROM attendance WHERE user_id = ?",
            "DELETE FROM attendance_marks WHERE user_id = ?",
            "DELETE FROM attendance_pending WHERE user_id = ?",
            "UPDATE attendance SET marked_by = NULL WHERE marked_by = ?",
            "UPDATE attendance_marks SET by_id = NULL WHERE by_id = ?",
        ):
            await self._db.execute(sql, (user_id,))

    async def purge_cohort(self, cohort_id: int, members: Sequence[int]) -> int:
        """The cohort's rows go; anonymous counts per session stay. Returns rows removed."""
        await self._db.execute(
            "INSERT INTO attendance_archive (session_id, cohort_id, present, late, excused,"
            " absent) SELECT s.id, s.cohort_id,"
            " COUNT(CASE WHEN a.status = 'present' THEN 1 END),"
            " COUNT(CASE WHEN a.status = 'late' THEN 1 END),"
            " COUNT(CASE WHEN a.status = 'excused' THEN 1 END),"
            " COUNT(CASE WHEN a.status = 'absent' THEN 1 END)"
            " FROM attendance a JOIN sessions s ON s.id = a.session_id WHERE s.cohort_id = ?"
            " GROUP BY s.id ON CONFLICT (session_id) DO UPDATE SET"
            " present = present + excluded.present, late = late + excluded.late,"
            " excused = excused + excluded.excused, absent = absent + excluded.absent",
            (cohort_id,),
        )
        removed = await self._db.execute(
            "DELETE FROM attendance WHERE session_id IN"
            " (SELECT id FROM sessions WHERE cohort_id = ?)",
            (cohort_id,),
        )
        await self._db.execute("DELETE FROM attendance_marks WHERE cohort_id = ?", (cohort_id,))
        await self._db.executemany(
            "DELETE FROM attendance_pending WHERE user_id = ?", [(uid,) for uid in members]
        )
        return removed

    async def archived(self, cohort_id: int) -> dict[str, int]:
        row = await self._db.fetchone(
            "SELECT COALESCE(SUM(present), 0), COALESCE(SUM(late), 0),"
            " COALESCE(SUM(excused), 0), COALESCE(SUM(absent), 0)"
            " FROM attendance_archive WHERE cohort_id = ?",
            (cohort_id,),
        )
        keys = ("present", "late", "excused", "absent")
        return {k: int(row[i]) if row else 0 for i, k in enumerate(keys)}
