"""Telegram Mini App sign-in: the `initData` string Telegram hands the page, checked as
Telegram documents (core.telegram.org/bots/webapps, "Validating data received via the Mini
App"), and made the same way for tests and the playground."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import parse_qsl, urlencode

MAX_AGE = timedelta(hours=24)
# A phone's clock may run a little ahead of ours; further ahead is a forgery.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_LENGTH = 4096  # Telegram's initData is well under 1 KB


class Rejection(StrEnum):
    MISSING = "missing"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NO_USER = "no_user"


class InitDataError(Exception):
    def __init__(self, reason: Rejection) -> None:
        super().__init__(reason.value)
        self.reason = reason


@dataclass(frozen=True)
class WebAppUser:
    id: int
    first_name: str
    last_name: str
    username: str
    language_code: str | None
    auth_date: datetime


def _secret_key(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")


def _signature(fields: dict[str, str], token: str) -> str:
    return hmac.new(_secret_key(token), _check_string(fields).encode(), hashlib.sha256).hexdigest()


def validate(raw: str | None, token: str, now: datetime) -> WebAppUser:
    """The user the signed data names, or InitDataError: forged, altered, signed for another
    bot, older than 24 hours, or without a user."""
    if not raw:
        raise InitDataError(Rejection.MISSING)
    if len(raw) > MAX_LENGTH:
        raise InitDataError(Rejection.MALFORMED)
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError as exc:
        raise InitDataError(Rejection.MALFORMED) from exc
    fields = dict(pairs)
    if len(fields) != len(pairs):  # a repeated key: which one was signed?
        raise InitDataError(Rejection.MALFORMED)
    received = fields.get("hash", "")
    if not hmac.compare_digest(_signature(fields, token), received):
        raise InitDataError(Rejection.BAD_SIGNATURE)
    try:
        auth_date = datetime.fromtimestamp(int(fields["auth_date"]), tz=now.tzinfo)
    except (KeyError, ValueError, OverflowError, OSError) as exc:
        raise InitDataError(Rejection.MALFORMED) from exc
    if not -MAX_CLOCK_SKEW <= now - auth_date <= MAX_AGE:
        raise InitDataError(Rejection.EXPIRED)
    try:
        user = json.loads(fields["user"])
        user_id = user["id"]
    except (KeyError, TypeError, ValueError) as exc:
        raise InitDataError(Rejection.NO_USER) from exc
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataError(Rejection.NO_USER)
    language = user.get("language_code")
    return WebAppUser(
        id=user_id,
        first_name=str(user.get("first_name") or ""),
        last_name=str(user.get("last_name") or ""),
        username=str(user.get("username") or ""),
        language_code=language if isinstance(language, str) else None,
        auth_date=auth_date,
    )


def sign(user: dict[str, object], token: str, now: datetime, **extra: str) -> str:
    """initData as Telegram would hand it to the page for this user (tests, the playground)."""
    fields = {
        "auth_date": str(int(now.timestamp())),
        "query_id": "AAF" + hashlib.sha256(f"{user.get('id')}{now}".encode()).hexdigest()[:20],
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        **extra,
    }
    fields["hash"] = _signature(fields, token)
    return urlencode(fields)
