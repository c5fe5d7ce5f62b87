"""All SQL of the application lives here, behind small repositories returning dataclasses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import aiosqlite

from bot.storage.attendance import AttendanceRepository
from bot.storage.console import ConsoleRepository
from bot.storage.db import BadStoredValue, Database, from_db, to_db
from bot.storage.feedback import FeedbackRepository
from bot.storage.groups import GroupRepository
from bot.storage.models import (
    Announcement,
    AnnouncementDelivery,
    AuditEntry,
    Cohort,
    Contact,
    Invite,
    Localized,
    Membership,
    Role,
    Session,
    SessionChangeRecord,
    User,
)
from bot.storage.questions import QuestionRepository
from bot.storage.tasks import TaskRepository


def _cohort(row: aiosqlite.Row) -> Cohort:
    return Cohort(
        id=row["id"],
        code=row["code"],
        name=Localized(row["name"], row["name_ru"], row["name_uz"]),
        timezone=row["timezone"],
        arrives=date.fromisoformat(row["arrives"]),
        departs=date.fromisoformat(row["departs"]),
        home_institution=row["home_institution"],
        host_institution=row["host_institution"],
    )


def _session(row: aiosqlite.Row) -> Session:
    return Session(
        id=row["id"],
        cohort_id=row["cohort_id"],
        external_id=row["external_id"],
        starts_at=_instant(row["starts_at"]),
        ends_at=_instant(row["ends_at"]),
        title=Localized(row["title_en"], row["title_ru"], row["title_uz"]),
        department=Localized(row["department_en"], row["department_ru"], row["department_uz"]),
        location=Localized(row["location"], row["location_ru"], row["location_uz"]),
        host=Localized(row["host"], row["host_ru"], row["host_uz"]),
        notes=Localized(row["notes"], row["notes_ru"], row["notes_uz"]),
        latitude=row["latitude"],
        longitude=row["longitude"],
        cancelled=bool(row["cancelled"]),
        cancel_reason=row["cancel_reason"],
        revision=row["revision"],
    )


def _contact(row: aiosqlite.Row) -> Contact:
    return Contact(
        id=row["id"],
        cohort_id=row["cohort_id"],
        name=Localized(row["name"], row["name_ru"], row["name_uz"]),
        role=Localized(row["role_en"], row["role_ru"], row["role_uz"]),
        phone=row["phone"],
        email=row["email"],
        telegram=row["telegram"],
    )


def _invite(row: aiosqlite.Row) -> Invite:
    return Invite(
        code=row["code"],
        cohort_id=row["cohort_id"],
        role=Role(row["role"]),
        created_by=row["created_by"],
        created_at=_instant(row["created_at"]),
        expires_at=_instant(row["expires_at"]),
        max_uses=row["max_uses"],
        uses=row["uses"],
        revoked=bool(row["revoked"]),
    )


_USER_SELECT = """
SELECT u.*, m.role AS member_role
FROM users u
LEFT JOIN memberships m ON m.user_id = u.telegram_id AND m.cohort_id = u.cohort_id
"""


_COHORT_COLUMNS = (
    "id", "code", "name", "name_ru", "name_uz", "timezone", "arrives", "departs",
    "home_institution", "host_institution",
)  # fmt: skip

# Everything a handler needs about the person writing, in one statement (one hand-off to the
# database thread): the user, their role in the cohort they read, every membership, that
# cohort, and the position of that cohort's change feed (which keys its cached day plans).
_LOAD_USER = (
    "SELECT u.*, m.role AS member_role, "
    + ", ".join(f"c.{col} AS c_{col}" for col in _COHORT_COLUMNS)
    + ", (SELECT json_group_array(json_array(ms.cohort_id, ms.role, ms.joined_at))"
    " FROM memberships ms WHERE ms.user_id = u.telegram_id) AS member_list,"
    " (SELECT max(id) FROM session_changes sc WHERE sc.cohort_id = u.cohort_id)"
    " AS feed_position"
    " FROM users u"
    " LEFT JOIN memberships m ON m.user_id = u.telegram_id AND m.cohort_id = u.cohort_id"
    " LEFT JOIN cohorts c ON c.id = u.cohort_id"
    " WHERE u.telegram_id = ?"
)


@dataclass(frozen=True)
class LoadedUser:
    """What `UserRepository.load` reads in one round trip."""

    user: User
    memberships: list[Membership]
    cohort: Cohort | None  # the cohort the user reads, as it is now
    feed_position: int  # the latest change id of the user's cohort: a change there moves it


@dataclass(frozen=True)
class Seen:
    """A user's latest update, as `record_seen` writes it."""

    id: int
    first_name: str
    last_name: str
    username: str
    telegram_language: str | None
    at: datetime


def _loaded(row: aiosqlite.Row) -> LoadedUser:
    cohort = None
    if row["c_id"] is not None:
        cohort = _cohort({col: row[f"c_{col}"] for col in _COHORT_COLUMNS})
    memberships = sorted(
        (
            Membership(row["telegram_id"], cohort_id, Role(role), _instant(joined))
            for cohort_id, role, joined in json.loads(row["member_list"] or "[]")
        ),
        key=lambda m: m.joined_at,
    )
    return LoadedUser(_user(row), memberships, cohort, row["feed_position"] or 0)


def _user(row: aiosqlite.Row) -> User:
    role: Role | None
    if row["is_coordinator"]:
        role = Role.COORDINATOR
    elif row["member_role"]:
        role = Role(row["member_role"])
    else:
        role = None
    return User(
        telegram_id=row["telegram_id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        username=row["username"],
        language=row["language"],
        telegram_language=row["telegram_language"],
        is_coordinator=bool(row["is_coordinator"]),
        cohort_id=row["cohort_id"],
        role=role,
        reachable=bool(row["reachable"]),
        last_seen=from_db(row["last_seen"]),
        reminders_on=bool(row["reminders_on"]),
        digest_on=bool(row["digest_on"]),
        reminder_leads=_leads(row["reminder_leads"]),
        coordinator_source=row["coordinator_source"],
        coordinator_granted_by=row["coordinator_granted_by"],
        seen=row["last_seen"] is not None,
    )


def _membership(r: aiosqlite.Row) -> Membership:
    return Membership(r["user_id"], r["cohort_id"], Role(r["role"]), _instant(r["joined_at"]))


def _member(r: aiosqlite.Row) -> tuple[User, Membership]:
    """A row of users joined with memberships (member_role, member_joined, cohort)."""
    membership = Membership(
        r["telegram_id"], r["member_cohort"], Role(r["member_role"]), _instant(r["member_joined"])
    )
    return _user(r), membership


def _change(r: aiosqlite.Row) -> SessionChangeRecord:
    return SessionChangeRecord(
        id=r["id"],
        session_id=r["session_id"],
        kind=r["kind"],
        old_starts_at=from_db(r["old_starts_at"]),
        old_ends_at=from_db(r["old_ends_at"]),
        old_location=None
        if r["old_location"] is None
        else Localized(r["old_location"], r["old_location_ru"] or "", r["old_location_uz"] or ""),
        created_at=_instant(r["created_at"]),
        old_cancelled=None if r["old_cancelled"] is None else bool(r["old_cancelled"]),
    )


def _instant(text: str | None) -> datetime:
    """A NOT NULL instant column."""
    moment = from_db(text)
    if moment is None:
        raise BadStoredValue("missing instant")
    return moment


def _leads(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    return tuple(int(x) for x in text.split(",") if x)


def _localized(fields: object, *names: str) -> None:
    """A plain string given for a Localized field is its base value in every language."""
    for name in names:
        value = getattr(fields, name)
        if isinstance(value, str):
            object.__setattr__(fields, name, Localized(value))


@dataclass(frozen=True)
class Prepared:
    """A statement and its rows, built before a transaction so the transaction only writes."""

    sql: str
    rows: list[Any]


@dataclass(frozen=True)
class CohortFields:
    code: str
    name: Localized
    timezone: str
    arrives: date
    departs: date
    home_institution: str = ""
    host_institution: str = ""

    def __post_init__(self) -> None:
        _localized(self, "name")


@dataclass(frozen=True)
class SessionFields:
    """What an import or an admin edit says a session is; compared to detect changes."""

    external_id: str
    starts_at: datetime
    ends_at: datetime
    title: Localized
    department: Localized
    location: Localized = field(default_factory=Localized)
    host: Localized = field(default_factory=Localized)
    notes: Localized = field(default_factory=Localized)
    latitude: float | None = None
    longitude: float | None = None
    cancelled: bool = False
    cancel_reason: str = ""

    def __post_init__(self) -> None:
        _localized(self, "title", "department", "location", "host", "notes")

    @classmethod
    def of(cls, s: Session) -> SessionFields:
        return cls(
            external_id=s.external_id,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            title=s.title,
            department=s.department,
            location=s.location,
            host=s.host,
            notes=s.notes,
            latitude=s.latitude,
            longitude=s.longitude,
            cancelled=s.cancelled,
            cancel_reason=s.cancel_reason,
        )

    def params(self) -> dict[str, Any]:
        return {
            "external_id": self.external_id,
            "starts_at": to_db(self.starts_at),
            "ends_at": to_db(self.ends_at),
            "title_en": self.title.en,
            "title_ru": self.title.ru,
            "title_uz": self.title.uz,
            "department_en": self.department.en,
            "department_ru": self.department.ru,
            "department_uz": self.department.uz,
            "location": self.location.en,
            "location_ru": self.location.ru,
            "location_uz": self.location.uz,
            "host": self.host.en,
            "host_ru": self.host.ru,
            "host_uz": self.host.uz,
            "notes": self.notes.en,
            "notes_ru": self.notes.ru,
            "notes_uz": self.notes.uz,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "cancelled": int(self.cancelled),
            "cancel_reason": self.cancel_reason,
        }


@dataclass(frozen=True)
class ContactFields:
    name: Localized
    role: Localized
    phone: str = ""
    email: str = ""
    telegram: str = ""

    def __post_init__(self) -> None:
        _localized(self, "name", "role")

    @classmethod
    def of(cls, c: Contact) -> ContactFields:
        return cls(c.name, c.role, c.phone, c.email, c.telegram)


class CohortRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, cohort_id: int) -> Cohort | None:
        row = await self._db.fetchone("SELECT * FROM cohorts WHERE id = ?", (cohort_id,))
        return self._db.one(row, _cohort)

    async def by_code(self, code: str) -> Cohort | None:
        row = await self._db.fetchone("SELECT * FROM cohorts WHERE code = ?", (code.strip(),))
        return self._db.one(row, _cohort)

    async def all(self) -> list[Cohort]:
        rows = await self._db.fetchall("SELECT * FROM cohorts ORDER BY arrives, code")
        return self._db.each(rows, _cohort)

    async def insert(self, f: CohortFields) -> int:
        return await self._db.execute(
            "INSERT INTO cohorts (code, name, name_ru, name_uz, timezone, arrives, departs,"
            " home_institution, host_institution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f.code,
                f.name.en,
                f.name.ru,
                f.name.uz,
                f.timezone,
                f.arrives.isoformat(),
                f.departs.isoformat(),
                f.home_institution,
                f.host_institution,
            ),
        )

    async def update(self, cohort_id: int, f: CohortFields) -> None:
        await self._db.execute(
            "UPDATE cohorts SET name = ?, name_ru = ?, name_uz = ?, timezone = ?, arrives = ?,"
            " departs = ?, home_institution = ?, host_institution = ? WHERE id = ?",
            (
                f.name.en,
                f.name.ru,
                f.name.uz,
                f.timezone,
                f.arrives.isoformat(),
                f.departs.isoformat(),
                f.home_institution,
                f.host_institution,
                cohort_id,
            ),
        )


class SessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, session_id: int) -> Session | None:
        row = await self._db.fetchone("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return self._db.one(row, _session)

    async def for_cohort(self, cohort_id: int) -> list[Session]:
        rows = await self._db.fetchall(
            "SELECT * FROM sessions WHERE cohort_id = ? ORDER BY starts_at, id", (cohort_id,)
        )
        return self._db.each(rows, _session)

    async def starting_between(
        self, cohort_id: int, start: datetime, end: datetime
    ) -> list[Session]:
        """Sessions of a cohort that start in [start, end), cancelled ones included."""
        rows = await self._db.fetchall(
            "SELECT * FROM sessions WHERE cohort_id = ? AND starts_at >= ? AND starts_at < ?"
            " ORDER BY starts_at, id",
            (cohort_id, to_db(start), to_db(end)),
        )
        return self._db.each(rows, _session)

    async def next_after(self, cohort_id: int, moment: datetime) -> Session | None:
        """The first session not cancelled that has not started by `moment`."""
        row = await self._db.fetchone(
            "SELECT * FROM sessions WHERE cohort_id = ? AND cancelled = 0 AND starts_at > ?"
            " ORDER BY starts_at, id LIMIT 1",
            (cohort_id, to_db(moment)),
        )
        return self._db.one(row, _session)

    async def current_at(self, cohort_id: int, moment: datetime) -> Session | None:
        row = await self._db.fetchone(
            "SELECT * FROM sessions WHERE cohort_id = ? AND cancelled = 0 AND starts_at <= ?"
            " AND ends_at > ? ORDER BY starts_at, id LIMIT 1",
            (cohort_id, to_db(moment), to_db(moment)),
        )
        return self._db.one(row, _session)

    async def insert(self, cohort_id: int, f: SessionFields) -> int:
        params = f.params() | {"cohort_id": cohort_id}
        columns = ", ".join(params)
        marks = ", ".join(f":{k}" for k in params)
        return await self._db.execute(f"INSERT INTO sessions ({columns}) VALUES ({marks})", params)

    async def update(self, session_id: int, f: SessionFields) -> None:
        params = f.params()
        assignments = ", ".join(f"{k} = :{k}" for k in params)
        await self._db.execute(
            f"UPDATE sessions SET {assignments}, revision = revision + 1 WHERE id = :id",
            params | {"id": session_id},
        )

    async def get_many(
        self, ids: Sequence[int], starting: tuple[datetime, datetime] | None = None
    ) -> dict[int, Session]:
        """id -> session for those that exist (and can be read), in chunks of 100: turning rows
        into sessions runs on the event loop, and a small chunk keeps each stretch short while
        thousands are read (a catch-up), so answers to people slip in between. With
        `starting=(after, until)`, only sessions starting in (after, until] are read: a
        catch-up needs rows only for what it will schedule, not for the whole programme."""
        found: dict[int, Session] = {}
        ids = list(ids)
        where, extra = "", ()
        if starting is not None:
            where, extra = " AND starts_at > ? AND starts_at <= ?", tuple(map(to_db, starting))
        for i in range(0, len(ids), 100):
            chunk = ids[i : i + 100]
            rows = await self._db.fetchall(
                f"SELECT * FROM sessions WHERE id IN ({', '.join('?' * len(chunk))}){where}",
                (*chunk, *extra),
            )
            found.update((s.id, s) for s in self._db.each(rows, _session))
        return found

    async def upcoming_between(self, after: datetime, until: datetime) -> list[Session]:
        """Sessions of every cohort, not cancelled, starting in (after, until]: the reminder
        horizon. `cohort_id IN (...)` lets SQLite walk the (cohort_id, starts_at) index once
        per cohort instead of reading every session."""
        rows = await self._db.fetchall(
            "SELECT * FROM sessions WHERE cohort_id IN (SELECT id FROM cohorts)"
            " AND starts_at > ? AND starts_at <= ? AND cancelled = 0",
            (to_db(after), to_db(until)),
        )
        return self._db.each(rows, _session)

    async def unreadable(self) -> list[Session]:
        """Reads the rows whose instants are not in the stored form, so that each is reported
        (`Database.each` skips and reports them): the horizon's range queries never see a row
        whose start is garbage, and nobody should find out only when it is needed."""
        shape = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]"
        rows = await self._db.fetchall(
            "SELECT * FROM sessions WHERE starts_at NOT GLOB ? OR ends_at NOT GLOB ?",
            (shape, shape),
        )
        return self._db.each(rows, _session)

    @staticmethod
    def prepare_inserts(items: Sequence[tuple[int, SessionFields]]) -> Prepared:
        """New (cohort id, fields) sessions as statement rows, built before the transaction."""
        rows = [f.params() | {"cohort_id": cohort_id} for cohort_id, f in items]
        if not rows:
            return Prepared("", [])
        columns = ", ".join(["id", *rows[0]])
        marks = ", ".join(f":{k}" for k in ["id", *rows[0]])
        return Prepared(f"INSERT INTO sessions ({columns}) VALUES ({marks})", rows)

    async def insert_prepared(self, prepared: Prepared) -> list[int]:
        """Adds the sessions in one statement; returns their ids, in order. Only inside a
        transaction: the ids follow the largest in use, which no other writer can take while
        the transaction holds the write lock."""
        if not prepared.rows:
            return []
        row = await self._db.fetchone("SELECT coalesce(max(id), 0) FROM sessions")
        first = int(row[0]) + 1 if row else 1
        ids = list(range(first, first + len(prepared.rows)))
        for session_id, params in zip(ids, prepared.rows, strict=True):
            params["id"] = session_id
        await self._db.executemany(prepared.sql, prepared.rows)
        return ids

    @staticmethod
    def prepare_updates(items: Sequence[tuple[Session, SessionFields]]) -> list[Prepared]:
        """Changed sessions as statements that set only the columns that changed (one per set
        of columns): an unchanged start or id costs no index work. Built before the
        transaction."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for before, after in items:
            old, new = SessionFields.of(before).params(), after.params()
            changed = tuple(k for k in new if new[k] != old[k])
            groups.setdefault(changed, []).append({k: new[k] for k in changed} | {"id": before.id})
        statements = []
        for columns, rows in groups.items():
            assignments = "".join(f"{k} = :{k}, " for k in columns)
            statements.append(
                Prepared(
                    f"UPDATE sessions SET {assignments}revision = revision + 1 WHERE id = :id",
                    rows,
                )
            )
        return statements

    async def update_prepared(self, statements: Sequence[Prepared]) -> None:
        for prepared in statements:
            await self._db.executemany(prepared.sql, prepared.rows)


class ContactRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def visible_to(self, cohort_id: int) -> list[Contact]:
        """The cohort's own contacts, then the ones shared by every cohort."""
        rows = await self._db.fetchall(
            "SELECT * FROM contacts WHERE cohort_id = ? OR cohort_id IS NULL"
            " ORDER BY cohort_id IS NULL, position, id",
            (cohort_id,),
        )
        return self._db.each(rows, _contact)

    async def owned_by(self, cohort_id: int | None) -> list[Contact]:
        rows = await self._db.fetchall(
            "SELECT * FROM contacts WHERE cohort_id IS ? ORDER BY position, id", (cohort_id,)
        )
        return self._db.each(rows, _contact)

    async def replace(self, cohort_id: int | None, contacts: Sequence[ContactFields]) -> None:
        """A contacts import is the whole list for that cohort (or for the shared list)."""
        await self._db.execute("DELETE FROM contacts WHERE cohort_id IS ?", (cohort_id,))
        await self._db.executemany(
            "INSERT INTO contacts (cohort_id, position, name, name_ru, name_uz, role_en, role_ru,"
            " role_uz, phone, email, telegram) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    cohort_id,
                    i,
                    c.name.en,
                    c.name.ru,
                    c.name.uz,
                    c.role.en,
                    c.role.ru,
                    c.role.uz,
                    c.phone,
                    c.email,
                    c.telegram,
                )
                for i, c in enumerate(contacts)
            ],
        )


class UserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, telegram_id: int) -> User | None:
        row = await self._db.fetchone(_USER_SELECT + " WHERE u.telegram_id = ?", (telegram_id,))
        return self._db.one(row, _user)

    async def load(self, telegram_id: int) -> LoadedUser | None:
        """The user, their memberships and cohort, and the feed position: one round trip."""
        row = await self._db.fetchone(_LOAD_USER, (telegram_id,))
        return self._db.one(row, _loaded)

    async def record_seen(self, seen: Sequence[Seen]) -> bool:
        """Writes who wrote to the bot, and as whom, in one short transaction; False when
        another process holds the write lock (the caller keeps them for the next round).
        `reachable` is left alone: someone who blocked the bot since is not reachable, and
        someone back after blocking it is written at once (`touch`)."""
        return await self._db.write_if_free(
            "UPDATE users SET first_name = ?, last_name = ?, username = ?,"
            " telegram_language = ?, last_seen = ? WHERE telegram_id = ?",
            [
                (s.first_name, s.last_name, s.username, s.telegram_language, to_db(s.at), s.id)
                for s in seen
            ],
        )

    async def touch(
        self,
        telegram_id: int,
        *,
        first_name: str,
        last_name: str,
        username: str,
        telegram_language: str | None,
        now: datetime,
    ) -> User:
        """Creates or refreshes the user on every update; returns the stored user."""
        await self._db.execute(
            "INSERT INTO users (telegram_id, first_name, last_name, username, telegram_language,"
            " created_at, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, username = excluded.username,"
            " telegram_language = excluded.telegram_language, last_seen = excluded.last_seen,"
            " reachable = 1",
            (
                telegram_id,
                first_name,
                last_name,
                username,
                telegram_language,
                to_db(now),
                to_db(now),
            ),
        )
        user = await self.get(telegram_id)
        assert user is not None
        return user

    async def set_language(self, telegram_id: int, language: str) -> None:
        await self._db.execute(
            "UPDATE users SET language = ? WHERE telegram_id = ?", (language, telegram_id)
        )

    async def sync_env_coordinators(self, ids: frozenset[int], now: datetime) -> None:
        """BOT_COORDINATORS is the truth for the people it names, at every start: those listed
        are coordinators; those it listed before and no longer does lose the rights. Rights
        granted in chat are left alone (they are listed by /coordinators and revocable)."""
        listed = sorted(ids)
        marks = ", ".join("?" for _ in listed) or "NULL"
        await self._db.execute(
            "UPDATE users SET is_coordinator = 0, coordinator_source = NULL"
            f" WHERE coordinator_source = 'env' AND telegram_id NOT IN ({marks})",
            listed,
        )
        await self._db.executemany(
            "INSERT INTO users (telegram_id, is_coordinator, coordinator_source, created_at)"
            " VALUES (?, 1, 'env', ?) ON CONFLICT (telegram_id) DO UPDATE SET"
            " is_coordinator = 1, coordinator_source = 'env'",
            [(uid, to_db(now)) for uid in listed],
        )

    async def grant_coordinator(self, telegram_id: int, granted_by: int) -> bool:
        """Only for someone who has written to the bot; False otherwise."""
        changed = await self._db.execute(
            "UPDATE users SET is_coordinator = 1, coordinator_source = 'chat',"
            " coordinator_granted_by = ? WHERE telegram_id = ? AND last_seen IS NOT NULL"
            " AND is_coordinator = 0",
            (granted_by, telegram_id),
        )
        return changed == 1

    async def revoke_coordinator(self, telegram_id: int) -> bool:
        """Takes back rights granted in chat; rights from BOT_COORDINATORS stay (see there)."""
        changed = await self._db.execute(
            "UPDATE users SET is_coordinator = 0, coordinator_source = NULL,"
            " coordinator_granted_by = NULL WHERE telegram_id = ? AND is_coordinator = 1"
            " AND coalesce(coordinator_source, 'chat') = 'chat'",
            (telegram_id,),
        )
        return changed == 1

    async def coordinators(self) -> list[User]:
        rows = await self._db.fetchall(
            _USER_SELECT + " WHERE u.is_coordinator = 1 ORDER BY u.coordinator_source DESC,"
            " u.first_name, u.telegram_id"
        )
        return self._db.each(rows, _user)

    async def set_reminder_prefs(
        self,
        telegram_id: int,
        *,
        reminders_on: bool,
        digest_on: bool,
        leads: tuple[int, ...] | None,
    ) -> None:
        await self._db.execute(
            "UPDATE users SET reminders_on = ?, digest_on = ?, reminder_leads = ?"
            " WHERE telegram_id = ?",
            (
                int(reminders_on),
                int(digest_on),
                None if leads is None else ",".join(str(x) for x in sorted(leads)),
                telegram_id,
            ),
        )

    async def leads_in_use(self) -> dict[int, set[str | None]]:
        """cohort id -> the distinct lead settings of its members (None: the default)."""
        rows = await self._db.fetchall(
            "SELECT DISTINCT m.cohort_id, u.reminder_leads FROM memberships m"
            " JOIN users u ON u.telegram_id = m.user_id WHERE u.reminders_on = 1"
        )
        result: dict[int, set[str | None]] = {}
        for r in rows:
            result.setdefault(r["cohort_id"], set()).add(r["reminder_leads"])
        return result

    async def demote_supervisor(self, telegram_id: int) -> list[int]:
        """Supervisor memberships become student ones; returns the cohorts concerned."""
        rows = await self._db.fetchall(
            "SELECT cohort_id FROM memberships WHERE user_id = ? AND role = 'supervisor'"
            " ORDER BY cohort_id",
            (telegram_id,),
        )
        await self._db.execute(
            "UPDATE memberships SET role = 'student' WHERE user_id = ? AND role = 'supervisor'",
            (telegram_id,),
        )
        return [r["cohort_id"] for r in rows]

    async def leave_all(self, telegram_id: int) -> list[int]:
        """Removes every membership; returns the cohorts left."""
        rows = await self._db.fetchall(
            "SELECT cohort_id FROM memberships WHERE user_id = ? ORDER BY cohort_id",
            (telegram_id,),
        )
        await self._db.execute("DELETE FROM memberships WHERE user_id = ?", (telegram_id,))
        await self._db.execute(
            "UPDATE users SET cohort_id = NULL WHERE telegram_id = ?", (telegram_id,)
        )
        return [r["cohort_id"] for r in rows]

    async def leave_student_cohorts(self, telegram_id: int, except_cohort: int) -> list[int]:
        """A student moving to another cohort leaves the one(s) they studied in before."""
        rows = await self._db.fetchall(
            "SELECT cohort_id FROM memberships WHERE user_id = ? AND role = 'student'"
            " AND cohort_id != ?",
            (telegram_id, except_cohort),
        )
        await self._db.execute(
            "DELETE FROM memberships WHERE user_id = ? AND role = 'student' AND cohort_id != ?",
            (telegram_id, except_cohort),
        )
        return [r["cohort_id"] for r in rows]

    async def set_current(self, telegram_id: int, cohort_id: int) -> bool:
        """Makes one of the user's cohorts the one they read; False if not a member."""
        changed = await self._db.execute(
            "UPDATE users SET cohort_id = ? WHERE telegram_id = ? AND EXISTS (SELECT 1 FROM"
            " memberships WHERE user_id = ? AND cohort_id = ?)",
            (cohort_id, telegram_id, telegram_id, cohort_id),
        )
        return changed == 1

    async def set_reachable(self, telegram_id: int, value: bool) -> None:
        await self._db.execute(
            "UPDATE users SET reachable = ? WHERE telegram_id = ?", (int(value), telegram_id)
        )

    async def join(self, telegram_id: int, cohort_id: int, role: Role, now: datetime) -> None:
        """Adds the membership (a supervisor stays one) and makes that cohort the one the user
        reads. Other memberships are kept: leaving them is the caller's decision."""
        await self._db.execute(
            "INSERT INTO memberships (user_id, cohort_id, role, joined_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, cohort_id) DO UPDATE SET role = CASE"
            " WHEN memberships.role = 'supervisor' THEN 'supervisor' ELSE excluded.role END",
            (telegram_id, cohort_id, role.value, to_db(now)),
        )
        await self._db.execute(
            "UPDATE users SET cohort_id = ? WHERE telegram_id = ?", (cohort_id, telegram_id)
        )

    async def memberships(self, telegram_id: int) -> list[Membership]:
        rows = await self._db.fetchall(
            "SELECT * FROM memberships WHERE user_id = ? ORDER BY joined_at", (telegram_id,)
        )
        return self._db.each(rows, _membership)

    async def members_of(self, cohort_id: int) -> list[tuple[User, Membership]]:
        rows = await self._db.fetchall(
            "SELECT u.*, m.role AS member_role, m.joined_at AS member_joined,"
            " m.cohort_id AS member_cohort FROM memberships m"
            " JOIN users u ON u.telegram_id = m.user_id WHERE m.cohort_id = ?"
            " ORDER BY m.role DESC, u.first_name, u.telegram_id",
            (cohort_id,),
        )
        return self._db.each(rows, _member)


class InviteRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert(self, invite: Invite) -> None:
        await self._db.execute(
            "INSERT INTO invites (code, cohort_id, role, created_by, created_at, expires_at,"
            " max_uses, uses, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                invite.code,
                invite.cohort_id,
                invite.role.value,
                invite.created_by,
                to_db(invite.created_at),
                to_db(invite.expires_at),
                invite.max_uses,
                invite.uses,
                int(invite.revoked),
            ),
        )

    async def get(self, code: str) -> Invite | None:
        row = await self._db.fetchone("SELECT * FROM invites WHERE code = ?", (code,))
        return self._db.one(row, _invite)

    async def count_use(self, code: str, now: datetime) -> bool:
        """Takes one use of a live invite atomically; False when it is used up or expired."""
        changed = await self._db.execute(
            "UPDATE invites SET uses = uses + 1 WHERE code = ? AND revoked = 0"
            " AND expires_at > ? AND (max_uses IS NULL OR uses < max_uses)",
            (code, to_db(now)),
        )
        return changed == 1

    async def for_cohort(self, cohort_id: int) -> list[Invite]:
        rows = await self._db.fetchall(
            "SELECT * FROM invites WHERE cohort_id = ? ORDER BY created_at DESC", (cohort_id,)
        )
        return self._db.each(rows, _invite)

    async def revoke(self, code: str) -> bool:
        return (
            await self._db.execute(
                "UPDATE invites SET revoked = 1 WHERE code = ? AND revoked = 0", (code,)
            )
            == 1
        )


class ChangeRepository:
    """session_changes: written in the same transaction as the change, read by the bot."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self, session_id: int, kind: str, before: Session | None, now: datetime
    ) -> None:
        await self.record_prepared(self.prepare([(session_id, kind, before)], now))

    @staticmethod
    def prepare(
        items: Sequence[tuple[int | None, str, Session | None]], now: datetime
    ) -> Prepared:
        """Change records (session id, kind, before) built before the transaction; a session
        id of None is given by `record_prepared` (a session added in the same transaction)."""
        at = to_db(now)
        return Prepared(
            "INSERT INTO session_changes (session_id, kind, old_starts_at, old_ends_at,"
            " old_location, old_location_ru, old_location_uz, old_cancelled, created_at,"
            " cohort_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " (SELECT cohort_id FROM sessions WHERE id = ?))",
            [
                (
                    session_id,
                    kind,
                    to_db(before.starts_at) if before else None,
                    to_db(before.ends_at) if before else None,
                    before.location.en if before else None,
                    before.location.ru if before else None,
                    before.location.uz if before else None,
                    int(before.cancelled) if before else None,
                    at,
                )
                for session_id, kind, before in items
            ],
        )

    async def record_prepared(self, prepared: Prepared, new_ids: Sequence[int] = ()) -> None:
        """Writes the records in one statement; the missing session ids are `new_ids`, in
        order."""
        ids = iter(new_ids)
        rows = [row if row[0] is not None else (next(ids), *row[1:]) for row in prepared.rows]
        await self._db.executemany(prepared.sql, [(*row, row[0]) for row in rows])

    async def pending(
        self, limit: int = 500, *, after: int = 0, upto: int | None = None
    ) -> list[SessionChangeRecord]:
        """Unprocessed changes in id order, with id in (after, upto]."""
        rows = await self._db.fetchall(
            "SELECT * FROM session_changes WHERE processed = 0 AND id > ? AND id <= ?"
            " ORDER BY id LIMIT ?",
            (after, upto if upto is not None else 2**62, limit),
        )
        return self._db.each(rows, _change)

    async def pending_session_ids(
        self, after: int, limit: int = 5000
    ) -> tuple[list[int], set[int], int]:
        """(distinct session ids, their cohorts, last change id) of unprocessed changes after
        `after`: all the rescheduling needs, without reading or converting whole change rows."""
        rows = await self._db.fetchall(
            "SELECT id, session_id, cohort_id FROM session_changes WHERE processed = 0 AND id > ?"
            " ORDER BY id LIMIT ?",
            (after, limit),
        )
        if not rows:
            return [], set(), after
        return (
            list(dict.fromkeys(r["session_id"] for r in rows)),
            {r["cohort_id"] for r in rows},
            rows[-1]["id"],
        )

    async def last_id(self) -> int:
        row = await self._db.fetchone("SELECT MAX(id) AS m FROM session_changes")
        return int(row["m"] or 0) if row else 0

    async def position_of(self, cohort_id: int) -> int:
        """The latest change id of one cohort (what `load_user` reads for the user's own)."""
        row = await self._db.fetchone(
            "SELECT MAX(id) AS m FROM session_changes WHERE cohort_id = ?", (cohort_id,)
        )
        return int(row["m"] or 0) if row else 0

    async def mark_processed_many(self, change_ids: Sequence[int]) -> None:
        await self._db.executemany(
            "UPDATE session_changes SET processed = 1 WHERE id = ?", [(i,) for i in change_ids]
        )


class DeliveryRepository:
    """One row per (kind, ref, user): the record that makes a send happen at most once."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def claim(self, kind: str, ref: str, user_id: int, now: datetime) -> bool:
        """True when this send is ours to make; False when it was made (or decided) before."""
        return (
            await self._db.execute(
                "INSERT INTO deliveries (kind, ref, user_id, status, attempts, updated_at)"
                " VALUES (?, ?, ?, 'sending', 1, ?) ON CONFLICT DO NOTHING",
                (kind, ref, user_id, to_db(now)),
            )
            > 0
        )

    async def finish(
        self, kind: str, ref: str, user_id: int, status: str, now: datetime, error: str = ""
    ) -> None:
        await self._db.execute(
            "UPDATE deliveries SET status = ?, error = ?, updated_at = ?"
            " WHERE kind = ? AND ref = ? AND user_id = ?",
            (status, error[:500], to_db(now), kind, ref, user_id),
        )

    async def mark(self, kind: str, ref: str, user_id: int, status: str, now: datetime) -> None:
        """Records a decision without sending (e.g. a stale reminder skipped)."""
        await self._db.execute(
            "INSERT INTO deliveries (kind, ref, user_id, status, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (kind, ref, user_id, status, to_db(now)),
        )

    async def status(self, kind: str, ref: str, user_id: int) -> str | None:
        row = await self._db.fetchone(
            "SELECT status FROM deliveries WHERE kind = ? AND ref = ? AND user_id = ?",
            (kind, ref, user_id),
        )
        return row["status"] if row else None

    async def release_interrupted(self) -> int:
        """Sends cut off by a crash are retried: a Bot API call has no idempotency key, so
        the only alternative would be to lose them."""
        return await self._db.execute("DELETE FROM deliveries WHERE status = 'sending'")

    async def counts(self, kind: str) -> dict[str, int]:
        rows = await self._db.fetchall(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE kind = ? GROUP BY status",
            (kind,),
        )
        return {r["status"]: r["n"] for r in rows}


class AnnouncementRepository:
    """The broadcast outbox: an announcement and one row per recipient, written before sending."""

    def __init__(self, db: Database) -> None:
        self._db = db

    @staticmethod
    def _announcement(row: aiosqlite.Row) -> Announcement:
        return Announcement(
            id=row["id"],
            cohort_id=row["cohort_id"],
            sender_id=row["sender_id"],
            text=row["text"],
            status=row["status"],
            created_at=_instant(row["created_at"]),
            reported=bool(row["reported"]),
        )

    async def create_draft(
        self, cohort_id: int | None, sender_id: int, text: str, now: datetime
    ) -> int:
        return await self._db.execute(
            "INSERT INTO announcements (cohort_id, sender_id, text, status, created_at)"
            " VALUES (?, ?, ?, 'draft', ?)",
            (cohort_id, sender_id, text, to_db(now)),
        )

    async def get(self, announcement_id: int) -> Announcement | None:
        row = await self._db.fetchone(
            "SELECT * FROM announcements WHERE id = ?", (announcement_id,)
        )
        return self._announcement(row) if row else None

    async def queue(self, announcement_id: int, recipients: Sequence[int], now: datetime) -> bool:
        """Draft -> sending, with its delivery rows; False if it was not a draft any more."""
        changed = await self._db.execute(
            "UPDATE announcements SET status = 'sending', sent_at = ? WHERE id = ?"
            " AND status = 'draft'",
            (to_db(now), announcement_id),
        )
        if changed != 1:
            return False
        await self._db.executemany(
            "INSERT OR IGNORE INTO announcement_deliveries (announcement_id, user_id, status,"
            " updated_at) VALUES (?, ?, 'pending', ?)",
            [(announcement_id, uid, to_db(now)) for uid in recipients],
        )
        return True

    async def cancel_draft(self, announcement_id: int) -> bool:
        return (
            await self._db.execute(
                "UPDATE announcements SET status = 'cancelled' WHERE id = ? AND status = 'draft'",
                (announcement_id,),
            )
            == 1
        )

    async def sending(self) -> list[Announcement]:
        rows = await self._db.fetchall(
            "SELECT * FROM announcements WHERE status = 'sending' ORDER BY id"
        )
        return [self._announcement(r) for r in rows]

    async def release_interrupted(self) -> int:
        """Rows cut off by a crash go back to pending (see DeliveryRepository)."""
        return await self._db.execute(
            "UPDATE announcement_deliveries SET status = 'pending' WHERE status = 'sending'"
        )

    async def claim_pending(self, announcement_id: int, limit: int, now: datetime) -> list[int]:
        rows = await self._db.fetchall(
            "SELECT user_id FROM announcement_deliveries WHERE announcement_id = ?"
            " AND status = 'pending' ORDER BY user_id LIMIT ?",
            (announcement_id, limit),
        )
        ids = [r["user_id"] for r in rows]
        await self._db.executemany(
            "UPDATE announcement_deliveries SET status = 'sending', attempts = attempts + 1,"
            " updated_at = ? WHERE announcement_id = ? AND user_id = ?",
            [(to_db(now), announcement_id, uid) for uid in ids],
        )
        return ids

    async def finish_delivery(
        self,
        announcement_id: int,
        user_id: int,
        status: str,
        now: datetime,
        *,
        message_id: int | None = None,
        error: str = "",
    ) -> None:
        await self._db.execute(
            "UPDATE announcement_deliveries SET status = ?, message_id = ?, error = ?,"
            " updated_at = ? WHERE announcement_id = ? AND user_id = ?",
            (status, message_id, error[:500], to_db(now), announcement_id, user_id),
        )

    async def mark_done(self, announcement_id: int) -> bool:
        """sending -> done once no row is pending or in flight; True only the first time."""
        return (
            await self._db.execute(
                "UPDATE announcements SET status = 'done' WHERE id = ? AND status = 'sending'"
                " AND NOT EXISTS (SELECT 1 FROM announcement_deliveries WHERE announcement_id = ?"
                " AND status IN ('pending', 'sending'))",
                (announcement_id, announcement_id),
            )
            == 1
        )

    async def mark_reported(self, announcement_id: int) -> bool:
        return (
            await self._db.execute(
                "UPDATE announcements SET reported = 1 WHERE id = ? AND reported = 0",
                (announcement_id,),
            )
            == 1
        )

    async def deliveries(self, announcement_id: int) -> list[AnnouncementDelivery]:
        rows = await self._db.fetchall(
            "SELECT d.*, u.first_name, u.last_name FROM announcement_deliveries d"
            " LEFT JOIN users u ON u.telegram_id = d.user_id WHERE d.announcement_id = ?"
            " ORDER BY u.first_name, u.last_name, d.user_id",
            (announcement_id,),
        )
        return [
            AnnouncementDelivery(
                r["announcement_id"],
                r["user_id"],
                r["status"],
                r["acked_at"] is not None,
                " ".join(p for p in (r["first_name"], r["last_name"]) if p) or str(r["user_id"]),
            )
            for r in rows
        ]

    async def acknowledge(self, announcement_id: int, user_id: int, now: datetime) -> bool:
        return (
            await self._db.execute(
                "UPDATE announcement_deliveries SET acked_at = ? WHERE announcement_id = ?"
                " AND user_id = ? AND acked_at IS NULL",
                (to_db(now), announcement_id, user_id),
            )
            == 1
        )

    async def latest_by(self, sender_id: int, cohort_id: int | None = None) -> Announcement | None:
        if cohort_id is None:
            row = await self._db.fetchone(
                "SELECT * FROM announcements WHERE sender_id = ? AND status IN ('sending', 'done')"
                " ORDER BY id DESC LIMIT 1",
                (sender_id,),
            )
        else:
            row = await self._db.fetchone(
                "SELECT * FROM announcements WHERE cohort_id = ? AND status IN ('sending', 'done')"
                " ORDER BY id DESC LIMIT 1",
                (cohort_id,),
            )
        return self._announcement(row) if row else None

    async def sent_count(self) -> int:
        row = await self._db.fetchone(
            "SELECT COUNT(*) FROM announcement_deliveries WHERE status = 'sent'"
        )
        return int(row[0]) if row else 0


class AuditRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        now: datetime,
        actor_id: int | None,
        cohort_id: int | None,
        action: str,
        target: str = "",
        before: str = "",
        after: str = "",
    ) -> None:
        await self._db.execute(
            "INSERT INTO audit (at, actor_id, cohort_id, action, target, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (to_db(now), actor_id, cohort_id, action, target, before[:1000], after[:1000]),
        )

    async def latest(self, cohort_id: int, limit: int = 20) -> list[AuditEntry]:
        rows = await self._db.fetchall(
            "SELECT * FROM audit WHERE cohort_id = ? OR cohort_id IS NULL"
            " ORDER BY id DESC LIMIT ?",
            (cohort_id, limit),
        )
        return [
            AuditEntry(
                r["id"], from_db(r["at"]), r["actor_id"], r["cohort_id"], r["action"],  # type: ignore[arg-type]
                r["target"], r["before"], r["after"],
            )
            for r in rows
        ]  # fmt: skip


class PendingImportRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, user_id: int, filename: str, content: bytes, now: datetime) -> int:
        return await self._db.execute(
            "INSERT INTO pending_imports (user_id, filename, content, created_at)"
            " VALUES (?, ?, ?, ?)",
            (user_id, filename, content, to_db(now)),
        )

    async def take(self, import_id: int, user_id: int) -> tuple[str, bytes] | None:
        """Returns and deletes the upload, only for the user who sent it."""
        row = await self._db.fetchone(
            "SELECT filename, content FROM pending_imports WHERE id = ? AND user_id = ?",
            (import_id, user_id),
        )
        if row is None:
            return None
        await self._db.execute("DELETE FROM pending_imports WHERE id = ?", (import_id,))
        return row["filename"], bytes(row["content"])


@dataclass(frozen=True)
class Stats:
    cohorts: int
    members: int
    reachable: int
    sessions_next_7_days: int
    reminders_sent: int
    announcements: int
    announcement_copies_sent: int
    last_errors: list[tuple[datetime, str, str]]


class OperationsRepository:
    """Counts for operators, and the deletions that data protection asks for."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def _count(self, sql: str, params: Sequence[Any] = ()) -> int:
        row = await self._db.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def stats(self, now: datetime) -> Stats:
        week = now + timedelta(days=7)
        errors = await self._db.fetchall(
            "SELECT at, kind, detail FROM errors ORDER BY id DESC LIMIT 5"
        )
        return Stats(
            cohorts=await self._count("SELECT COUNT(*) FROM cohorts"),
            members=await self._count("SELECT COUNT(DISTINCT user_id) FROM memberships"),
            reachable=await self._count(
                "SELECT COUNT(DISTINCT m.user_id) FROM memberships m JOIN users u"
                " ON u.telegram_id = m.user_id WHERE u.reachable = 1"
            ),
            sessions_next_7_days=await self._count(
                "SELECT COUNT(*) FROM sessions WHERE cancelled = 0 AND starts_at >= ?"
                " AND starts_at < ?",
                (to_db(now), to_db(week)),
            ),
            reminders_sent=await self._count(
                "SELECT COUNT(*) FROM deliveries WHERE kind = 'reminder' AND status = 'sent'"
            )
            + await self._archived("reminders_sent"),
            announcements=await self._count(
                "SELECT COUNT(*) FROM announcements WHERE status IN ('sending', 'done')"
            ),
            announcement_copies_sent=await self._count(
                "SELECT COUNT(*) FROM announcement_deliveries WHERE status = 'sent'"
            )
            + await self._archived("announcement_copies"),
            last_errors=[(from_db(r["at"]), r["kind"], r["detail"]) for r in errors],  # type: ignore[misc]
        )

    async def _archived(self, column: str) -> int:
        assert column in ("reminders_sent", "announcement_copies")
        return await self._count(f"SELECT COALESCE(SUM({column}), 0) FROM cohort_archive")

    async def record_error(self, now: datetime, kind: str, detail: str) -> None:
        await self._db.execute(
            "INSERT INTO errors (at, kind, detail) VALUES (?, ?, ?)",
            (to_db(now), kind[:100], detail[:300]),
        )
        await self._db.execute(
            "DELETE FROM errors WHERE id <= (SELECT MAX(id) - 1000 FROM errors)"
        )

    async def purge_cohort(self, cohort_id: int, now: datetime) -> dict[str, int]:
        """Removes a finished cohort's members and messages; keeps anonymous counts."""
        members = [
            r["user_id"]
            for r in await self._db.fetchall(
                "SELECT user_id FROM memberships WHERE cohort_id = ?", (cohort_id,)
            )
        ]
        counts = {
            "members": len(members),
            "reminders_sent": await self._count(
                "SELECT COUNT(*) FROM deliveries d JOIN memberships m ON m.user_id = d.user_id"
                " WHERE m.cohort_id = ? AND d.kind = 'reminder' AND d.status = 'sent'",
                (cohort_id,),
            ),
            "announcements": await self._count(
                "SELECT COUNT(*) FROM announcements WHERE cohort_id = ?", (cohort_id,)
            ),
            "announcement_copies": await self._count(
                "SELECT COUNT(*) FROM announcement_deliveries d JOIN announcements a"
                " ON a.id = d.announcement_id WHERE a.cohort_id = ? AND d.status = 'sent'",
                (cohort_id,),
            ),
        }
        await self._db.execute(
            "INSERT INTO cohort_archive (cohort_id, purged_at, members, reminders_sent,"
            " announcements, announcement_copies) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (cohort_id) DO UPDATE SET purged_at = excluded.purged_at,"
            " members = members + excluded.members,"
            " reminders_sent = reminders_sent + excluded.reminders_sent,"
            " announcements = announcements + excluded.announcements,"
            " announcement_copies = announcement_copies + excluded.announcement_copies",
            (cohort_id, to_db(now), counts["members"], counts["reminders_sent"],
             counts["announcements"], counts["announcement_copies"]),
        )  # fmt: skip
        await self._db.execute("DELETE FROM announcements WHERE cohort_id = ?", (cohort_id,))
        await QuestionRepository(self._db).purge_cohort(cohort_id)
        await FeedbackRepository(self._db).purge_cohort(cohort_id)
        await TaskRepository(self._db).purge_cohort(cohort_id)
        counts["attendance_rows"] = await AttendanceRepository(self._db).purge_cohort(
            cohort_id, members
        )  # attendance: anonymous counts per session kept
        await GroupRepository(self._db).purge_cohort(cohort_id)
        await self._db.execute("DELETE FROM memberships WHERE cohort_id = ?", (cohort_id,))
        await self._db.execute("DELETE FROM invites WHERE cohort_id = ?", (cohort_id,))
        # Users left without any group and without coordinator rights are deleted entirely
        # (their deliveries go with them through ON DELETE CASCADE).
        await self._db.executemany(
            "DELETE FROM users WHERE telegram_id = ? AND is_coordinator = 0 AND NOT EXISTS"
            " (SELECT 1 FROM memberships WHERE user_id = ?)",
            [(uid, uid) for uid in members],
        )
        return counts

    async def forget_user(self, telegram_id: int) -> None:
        """Everything stored about one person: their row, memberships, delivery records."""
        await self._db.execute(
            "DELETE FROM announcement_deliveries WHERE user_id = ?", (telegram_id,)
        )
        await self._db.execute("DELETE FROM pending_imports WHERE user_id = ?", (telegram_id,))
        await QuestionRepository(self._db).forget_user(telegram_id)
        await FeedbackRepository(self._db).forget_user(telegram_id)
        await TaskRepository(self._db).forget_user(telegram_id)
        await AttendanceRepository(self._db).forget_user(telegram_id)
        await GroupRepository(self._db).forget_user(telegram_id)
        await self._db.execute("DELETE FROM users WHERE telegram_id = ?", (telegram_id,))


class Storage:
    """The repositories over one database: what services receive."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.cohorts = CohortRepository(db)
        self.sessions = SessionRepository(db)
        self.contacts = ContactRepository(db)
        self.users = UserRepository(db)
        self.invites = InviteRepository(db)
        self.changes = ChangeRepository(db)
        self.deliveries = DeliveryRepository(db)
        self.announcements = AnnouncementRepository(db)
        self.audit = AuditRepository(db)
        self.pending_imports = PendingImportRepository(db)
        self.operations = OperationsRepository(db)
        self.console = ConsoleRepository(db)
        self.questions = QuestionRepository(db)
        self.feedback = FeedbackRepository(db)
        self.tasks = TaskRepository(db)
        self.attendance = AttendanceRepository(db)
        self.groups = GroupRepository(db)

    def transaction(self):  # type: ignore[no-untyped-def]
        return self.db.transaction()
