"""Plain dataclasses returned by the repositories; nothing outside storage sees a raw row."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class Role(StrEnum):
    STUDENT = "student"
    SUPERVISOR = "supervisor"
    COORDINATOR = "coordinator"


@dataclass(frozen=True)
class Localized:
    """A text written in up to three languages, with a sensible fallback order."""

    en: str = ""
    ru: str = ""
    uz: str = ""

    # Uzbek readers understand Russian better than English; Russian readers the reverse.
    _FALLBACK = {"uz": ("uz", "ru", "en"), "ru": ("ru", "en", "uz"), "en": ("en", "ru", "uz")}

    def get(self, lang: str) -> str:
        for code in self._FALLBACK.get(lang, ("en", "ru", "uz")):
            value = getattr(self, code)
            if value:
                return value
        return ""

    def any(self) -> bool:
        return bool(self.en or self.ru or self.uz)

    # A place, a host or a name is often written once: an empty Localized is false, and
    # str() gives the base value (English, else Russian, else Uzbek) for staff screens and logs.
    def __bool__(self) -> bool:
        return self.any()

    def __str__(self) -> str:
        return self.get("en")


@dataclass(frozen=True)
class Cohort:
    id: int
    code: str
    name: Localized
    timezone: str
    arrives: date
    departs: date
    home_institution: str = ""
    host_institution: str = ""

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Session:
    id: int
    cohort_id: int
    external_id: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime  # aware, UTC
    title: Localized
    department: Localized
    location: Localized = field(default_factory=Localized)
    host: Localized = field(default_factory=Localized)
    notes: Localized = field(default_factory=Localized)
    latitude: float | None = None
    longitude: float | None = None
    cancelled: bool = False
    cancel_reason: str = ""
    revision: int = 0

    @property
    def has_coordinates(self) -> bool:
        return self.latitude is not None and self.longitude is not None


@dataclass(frozen=True)
class Contact:
    id: int
    cohort_id: int | None  # None: shared by every cohort
    name: Localized
    role: Localized
    phone: str = ""
    email: str = ""
    telegram: str = ""


@dataclass(frozen=True)
class User:
    telegram_id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language: str | None = None  # chosen in the bot; None until the user picks one
    telegram_language: str | None = None
    is_coordinator: bool = False
    cohort_id: int | None = None  # the cohort the user currently reads
    role: Role | None = None  # role in that cohort (coordinator when is_coordinator)
    reachable: bool = True
    last_seen: datetime | None = None
    reminders_on: bool = True
    digest_on: bool = True
    reminder_leads: tuple[int, ...] | None = None  # None: the bot's default leads
    coordinator_source: str | None = None  # 'env' (BOT_COORDINATORS) or 'chat' (/grant)
    coordinator_granted_by: int | None = None
    seen: bool = True  # False for a row made for someone who never wrote to the bot

    @property
    def display_name(self) -> str:
        """The person's name as staff lists show it, safe to print next to other names."""
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return clean_name(name) or str(self.telegram_id)


# Bidirectional overrides and invisible characters let a name reorder or hide the text around
# it in a list ("\u202e" turns "Ali" into a reversed line); staff lists show names without them.
_INVISIBLE = re.compile(
    "[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]"
)
MAX_NAME = 64


def clean_name(text: str) -> str:
    """A name without control, bidi or zero-width characters, spaces collapsed, bounded."""
    name = " ".join(_INVISIBLE.sub("", text).split())
    return name[:MAX_NAME]


@dataclass(frozen=True)
class Membership:
    user_id: int
    cohort_id: int
    role: Role
    joined_at: datetime


@dataclass(frozen=True)
class Invite:
    code: str
    cohort_id: int
    role: Role
    created_by: int | None
    created_at: datetime
    expires_at: datetime
    max_uses: int | None
    uses: int
    revoked: bool = False


@dataclass(frozen=True)
class SessionChangeRecord:
    """A change to a session waiting to be applied to reminders and announced."""

    id: int
    session_id: int
    kind: str  # added | changed | cancelled
    old_starts_at: datetime | None
    old_ends_at: datetime | None
    old_location: Localized | None
    created_at: datetime
    old_cancelled: bool | None = None  # None: not recorded (added, or an older row)


@dataclass(frozen=True)
class Announcement:
    id: int
    cohort_id: int | None  # None: every cohort
    sender_id: int
    text: str
    status: str  # draft | sending | done | cancelled
    created_at: datetime
    reported: bool = False


@dataclass(frozen=True)
class AnnouncementDelivery:
    announcement_id: int
    user_id: int
    status: str  # pending | sending | sent | unreachable | failed
    acked: bool
    name: str = ""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: int | None
    cohort_id: int | None
    action: str
    target: str
    before: str
    after: str
