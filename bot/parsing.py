"""Small parsers shared by commands and settings."""

from __future__ import annotations

import re
from datetime import date, time

_NUMBER = re.compile(r"[0-9]{1,15}")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")

# Every date a person or a file can give lies in these bounds: mobility programmes happen in
# this century, and a typo such as 0026 or 9999 must be refused, not stored.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2099, 12, 31)


def is_number(text: str) -> bool:
    """ASCII digits only, at most 15: str.isdigit() also accepts '²' and '٣', which int()
    refuses, and an unbounded number is a way to make a query fail."""
    return _NUMBER.fullmatch(text) is not None


def parse_date(text: str) -> date | None:
    """A strict YYYY-MM-DD within EARLIEST_DATE..LATEST_DATE, else None."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        day = date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return day if EARLIEST_DATE <= day <= LATEST_DATE else None


def parse_time(text: str) -> time | None:
    """A 24-hour H:MM or HH:MM, else None."""
    match = _TIME.fullmatch(text.strip())
    if match is None or int(match[1]) > 23 or int(match[2]) > 59:
        return None
    return time(int(match[1]), int(match[2]))
