"""Decode Bot API request parameters the way Telegram does, whatever the transport.

Telegram accepts parameters in the query string, as urlencoded or multipart forms, or as a JSON
body. Clients differ: python-telegram-bot form-encodes every non-string value as JSON
(``reply_markup={"inline_keyboard": ...}``, ``disable_notification=true``, ``chat_id=5``), while
a JSON body carries native types. Form values are therefore ambiguous (the text ``"42"`` must
stay a string), so decoding is driven by which type each field expects, not by what parses.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "entities",
        "caption_entities",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "menu_button",
    }
)
INT_FIELDS = frozenset(
    {
        "chat_id",
        "from_chat_id",
        "message_id",
        "offset",
        "limit",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
        "max_connections",
        "user_id",
        "live_period",
        "heading",
        "proximity_alert_radius",
    }
)
FLOAT_FIELDS = frozenset({"latitude", "longitude", "horizontal_accuracy", "timeout"})
BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "allow_paid_broadcast",
    }
)
_TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})
_FALSE_STRINGS = frozenset({"false", "0", "no", "off", ""})


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status, ``description`` and optional ``parameters``."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(detail: str) -> ApiError:
    return ApiError(400, f"Bad Request: {detail}")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content: bytes
    content_type: str | None


def decode_value(name: str, value: Any) -> Any:
    """Coerce one raw parameter to the type its field expects; leave the rest untouched."""
    if not isinstance(value, str):
        if name in INT_FIELDS and isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    try:
        if name in JSON_FIELDS:
            return json.loads(value)
        if name in INT_FIELDS:
            return int(value)
        if name in FLOAT_FIELDS:
            return float(value)
    except ValueError:
        if name in JSON_FIELDS:
            raise bad_request(f"can't parse {name} JSON object") from None
        # chat_id may legitimately be "@channelusername"; other typos surface as errors later.
        return value
    if name in BOOL_FIELDS:
        lowered = value.strip().lower()
        if lowered in _TRUE_STRINGS:
            return True
        if lowered in _FALSE_STRINGS:
            return False
    return value


class Params:
    """Decoded parameters of one request, with accessors that fail like Telegram does."""

    def __init__(
        self, raw: Mapping[str, Any], files: Mapping[str, UploadedFile] | None = None
    ) -> None:
        self.values: dict[str, Any] = {k: decode_value(k, v) for k, v in raw.items()}
        self.files: dict[str, UploadedFile] = dict(files or {})

    def get(self, name: str, default: Any = None) -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def require(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        return value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"invalid {name} specified")
        return value

    def require_int(self, name: str) -> int:
        value = self.get_int(name)
        if value is None:
            raise bad_request(f"{name} is empty")
        return value

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self.get(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad_request(f"invalid {name} specified")
        return float(value)

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.get(name)
        return default if value is None else str(value)

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        return default if value is None else bool(value)

    def file(self, name: str) -> UploadedFile | str | None:
        """An uploaded part for ``name`` (directly or via ``attach://``), or a file_id/URL."""
        if name in self.files:
            return self.files[name]
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            attached = self.files.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"can't find attached file {value!r}")
            return attached
        return value if isinstance(value, str) and value else None
