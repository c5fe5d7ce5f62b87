"""Helpers shared by the benchmarks: a synthetic programme of any size, RSS, percentiles."""

from __future__ import annotations

import atexit
import resource
import shutil
import statistics
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.storage import Database, Storage
from bot.storage.models import Localized, Role
from bot.storage.repositories import CohortFields, SessionFields

ZONE = "Asia/Almaty"


def rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


async def synthetic_programme(
    path: Path, *, cohorts: int, sessions: int, members: int, first_user: int = 10_000_000
) -> list[int]:
    """Writes cohorts x sessions x members straight through the repositories; returns user ids."""
    tz = ZoneInfo(ZONE)
    today = datetime.now(tz).date()
    user_ids: list[int] = []
    now = datetime.now(UTC)
    async with Database(path) as db:
        storage = Storage(db)
        async with storage.transaction():
            for c in range(cohorts):
                code = f"BENCH-{c:03d}"
                cohort_id = await storage.cohorts.insert(
                    CohortFields(
                        code, f"Bench cohort {c}", ZONE, today, today + timedelta(days=40)
                    )
                )
                for s in range(sessions):
                    day = today + timedelta(days=1 + s // 4)
                    start = datetime.combine(day, time(8 + 2 * (s % 4), 0), tzinfo=tz)
                    await storage.sessions.insert(
                        cohort_id,
                        SessionFields(
                            f"S{s:03d}", start.astimezone(UTC),
                            (start + timedelta(minutes=90)).astimezone(UTC),
                            Localized(f"Session {s}", f"Занятие {s}", f"Mashgʻulot {s}"),
                            Localized("Department", "Кафедра", "Kafedra"),
                            location=f"Room {s}",
                        ),
                    )  # fmt: skip
                for m in range(members):
                    uid = first_user + c * members + m
                    await storage.users.touch(
                        uid, first_name=f"U{uid}", last_name="", username="",
                        telegram_language=("uz", "ru", "en")[m % 3], now=now,
                    )  # fmt: skip
                    await storage.users.join(uid, cohort_id, Role.STUDENT, now)
                    user_ids.append(uid)
    return user_ids


_PROGRAMMES: dict[tuple[int, int, int], Path] = {}


async def programme(folder: Path, cohorts: int, sessions: int, members: int) -> Path:
    """A copy, in `folder`, of a synthetic programme built once per size and process (the
    500-cohort one takes a while to write through the repositories)."""
    key = (cohorts, sessions, members)
    built = _PROGRAMMES.get(key)
    if built is None or not built.exists():
        cache = Path(tempfile.mkdtemp(prefix="bench-programme-"))
        atexit.register(shutil.rmtree, cache, True)
        built = cache / "programme.sqlite3"
        await synthetic_programme(built, cohorts=cohorts, sessions=sessions, members=members)
        _PROGRAMMES[key] = built
    target = folder / "bench.sqlite3"
    shutil.copyfile(built, target)
    return target


def today_in_zone() -> date:
    return datetime.now(ZoneInfo(ZONE)).date()
