"""Small parsers shared by commands and settings."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"[0-9]{1,15}")


def is_number(text: str) -> bool:
    """ASCII digits only, at most 15: str.isdigit() also accepts '²' and '٣', which int()
    refuses, and an unbounded number is a way to make a query fail."""
    return _NUMBER.fullmatch(text) is not None
