"""Storage tier: the real schema on a real SQLite file."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.storage import Database, Storage
from bot.storage.migrations import MIGRATIONS
from bot.storage.models import Invite, Role
from bot.storage.repositories import CohortFields

NOW = datetime(2026, 9, 16, 3, 0, tzinfo=UTC)


async def test_fresh_database_has_latest_schema_and_pragmas(db: Database) -> None:
    assert await db.schema_version() == len(MIGRATIONS)
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] >= 1000


async def test_migrates_a_version_1_database_in_place_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    raw = sqlite3.connect(path)
    raw.executescript(MIGRATIONS[0] + ";\nPRAGMA user_version = 1;")
    raw.execute(
        "INSERT INTO cohorts (code, name, timezone, arrives, departs)"
        " VALUES ('OLD-1', 'Old cohort', 'Asia/Almaty', '2025-09-01', '2025-09-20')"
    )
    raw.commit()
    raw.close()
    async with Database(path) as db:
        assert await db.schema_version() == len(MIGRATIONS)
        cohort = await Storage(db).cohorts.by_code("old-1")
        assert cohort is not None and cohort.name.en == "Old cohort"
    async with Database(path) as db:  # opening again migrates nothing and loses nothing
        assert await db.schema_version() == len(MIGRATIONS)
        assert len(await Storage(db).cohorts.all()) == 1


async def test_foreign_keys_are_enforced(storage: Storage) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await storage.db.execute(
            "INSERT INTO memberships (user_id, cohort_id, role, joined_at)"
            " VALUES (1, 999, 'student', '2026-01-01 00:00:00')"
        )


async def test_transaction_rolls_back_everything_on_error(demo_storage: Storage) -> None:
    cohort = await demo_storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    before = len(await demo_storage.sessions.for_cohort(cohort.id))
    with pytest.raises(RuntimeError):
        async with demo_storage.transaction():
            await demo_storage.db.execute("DELETE FROM sessions WHERE cohort_id = ?", (cohort.id,))
            raise RuntimeError("boom")
    assert len(await demo_storage.sessions.for_cohort(cohort.id)) == before


async def test_invite_uses_are_counted_atomically(demo_storage: Storage) -> None:
    cohort = await demo_storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    invite = Invite(
        "abcdefghijkl", cohort.id, Role.STUDENT, None, NOW, NOW + timedelta(days=1), 2, 0
    )
    await demo_storage.invites.insert(invite)
    results = [await demo_storage.invites.count_use("abcdefghijkl", NOW) for _ in range(3)]
    assert results == [True, True, False]
    assert not await demo_storage.invites.count_use("abcdefghijkl", NOW + timedelta(days=2))


async def test_joining_keeps_other_memberships_and_reads_the_new_one(
    demo_storage: Storage,
) -> None:
    """Storage keeps every membership; leaving one is the invite service's decision (asked)."""
    users = demo_storage.users
    other = await demo_storage.cohorts.insert(
        CohortFields("OTHER", "Other", "Europe/Moscow", NOW.date(), NOW.date())
    )
    tpi = await demo_storage.cohorts.by_code("TPI-2026")
    await users.touch(
        5, first_name="A", last_name="", username="", telegram_language="ru", now=NOW
    )
    await users.join(5, tpi.id, Role.STUDENT, NOW)
    await users.join(5, other, Role.STUDENT, NOW)
    memberships = await users.memberships(5)
    assert {(m.cohort_id, m.role) for m in memberships} == {
        (tpi.id, Role.STUDENT),
        (other, Role.STUDENT),
    }
    assert await users.leave_student_cohorts(5, other) == [tpi.id]
    memberships = await users.memberships(5)
    assert [(m.cohort_id, m.role) for m in memberships] == [(other, Role.STUDENT)]
    user = await users.get(5)
    assert user.cohort_id == other and user.role is Role.STUDENT
