"""An in-process emulator of the Telegram Bot API, served over real HTTP on loopback.

It stands in for ``api.telegram.org`` so the real python-telegram-bot ``Application`` can be
exercised end to end (serialisation, HTTP, error mapping and all), and so a terminal playground
can drive the bot without a network. A user's private chat id equals their user id, as on
Telegram; group chats live in :mod:`bot.emulator.groups`.

Behaviour worth knowing when writing tests:

* Inbound traffic is simulated with :meth:`BotApiEmulator.send_text`,
  :meth:`~BotApiEmulator.send_document` and :meth:`~BotApiEmulator.press_button`; it reaches the
  bot through ``getUpdates`` long polling or, once ``setWebhook`` was called, by webhook POSTs.
* Everything the bot sends or edits lands in :attr:`BotApiEmulator.sent`; wait for it with
  :meth:`~BotApiEmulator.wait_for_message`, which never sleeps for a fixed time.
* Telegram's validation is reproduced where bots commonly get it wrong: malformed HTML or
  MarkdownV2, over-long texts and callback data, edits that change nothing, unknown chats.
* Faults can be injected: blocked users (403), flood control (429) and arbitrary failures.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import logging
import mimetypes
import re
import time
import urllib.parse
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import PurePosixPath
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from bot.emulator.checks import (
    COMMAND_SCOPE_TYPES,
    validate_commands,
    validate_language_code,
    validate_menu_button,
    validate_reply_markup,
)
from bot.emulator.formatting import (
    EntityParseError,
    UnsupportedParseModeError,
    parse_text,
    utf16_len,
)
from bot.emulator.groups import GroupsMixin
from bot.emulator.models import SentMessage
from bot.emulator.params import ApiError, Params, UploadedFile, bad_request

logger = logging.getLogger(__name__)

Handler = Callable[[Params], Awaitable[Any]]
JSONDict = dict[str, Any]

SECRET_TOKEN_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Telegram's flood limits are about messages; chat actions and edits are not counted here.
FLOOD_LIMITED_METHODS = frozenset({"sendMessage", "sendDocument", "sendVenue", "sendLocation"})
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_LEADING_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{1,32})?(?![A-Za-z0-9_])")
_SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_WEBHOOK_RETRY_INITIAL = 0.05
_WEBHOOK_RETRY_MAX = 2.0
_WEBHOOK_TIMEOUT = aiohttp.ClientTimeout(total=10)
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
_CONTENT_KEYS = ("text", "entities", "caption", "caption_entities", "reply_markup")
_dumps = functools.partial(json.dumps, ensure_ascii=False)


def _json_response(payload: JSONDict, status: int = 200) -> web.Response:
    return web.json_response(payload, status=status, dumps=_dumps)


class _Signal:
    """Wakes every coroutine currently waiting, without them having to poll.

    Unlike a bare :class:`asyncio.Event` it needs no clearing: :meth:`notify` swaps in a fresh
    event, so a waiter that re-checks its condition and waits again never sees a stale wake-up.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, max_seconds: float | None) -> bool:
        """Wait for the next :meth:`notify`; ``False`` if ``max_seconds`` passed first."""
        event = self._event
        try:
            async with asyncio.timeout(max_seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True


class _SlidingWindow:
    """Counts events in a sliding window to enforce "at most N per second".

    Rates below one per second widen the window (0.5/s allows one event per 2 s) so that the
    limit stays meaningful; fractional rates above one are rounded down.
    """

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError("rate limits must be positive (use None to disable)")
        self.window = max(1.0, 1.0 / per_second)
        self.capacity = max(1, int(per_second * self.window))
        self._events: deque[float] = deque()

    def has_room(self, now: float) -> bool:
        while self._events and now - self._events[0] >= self.window:
            self._events.popleft()
        return len(self._events) < self.capacity

    def add(self, now: float) -> None:
        self._events.append(now)


class _FloodControl:
    """Telegram-like limits: one budget across all chats plus one budget per chat."""

    def __init__(
        self, global_per_second: float | None, per_chat_per_second: float | None, retry_after: int
    ) -> None:
        self._global = _SlidingWindow(global_per_second) if global_per_second else None
        self._per_chat_rate = per_chat_per_second
        self._per_chat: dict[Any, _SlidingWindow] = {}
        self.retry_after = retry_after

    def admit(self, chat_id: Any, now: float) -> bool:
        """Record the send and return ``True``, or ``False`` if it would exceed a limit."""
        windows = [self._global] if self._global else []
        if self._per_chat_rate:
            if chat_id not in self._per_chat:
                self._per_chat[chat_id] = _SlidingWindow(self._per_chat_rate)
            windows.append(self._per_chat[chat_id])
        if not all(window.has_room(now) for window in windows):
            return False
        for window in windows:
            window.add(now)
        return True


@dataclass(frozen=True)
class StoredFile:
    """A file known to the emulator, uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    file_name: str | None
    mime_type: str | None

    def as_document(self) -> JSONDict:
        document: JSONDict = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
        }
        if self.file_name:
            document["file_name"] = self.file_name
        if self.mime_type:
            document["mime_type"] = self.mime_type
        return document


class BotApiEmulator(GroupsMixin):
    """A fake ``api.telegram.org`` for one bot; see the module docstring for the big picture."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token",
        bot_id: int = 123456,
        bot_username: str = "mobility_test_bot",
        bot_first_name: str = "Mobility Bot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.bot_user: JSONDict = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.base_url = ""
        self.base_file_url = ""
        self.port: int | None = None
        # When True, malformed HTML/Markdown is rejected like Telegram does; when False it is
        # delivered verbatim (an escape hatch should the emulator's parser be stricter than
        # Telegram's in some corner case).
        self.validate_formatting = True

        # Observations.
        self.sent: list[SentMessage] = []
        self.callback_answers: list[JSONDict] = []
        self.commands: dict[tuple[str, str | None], list[JSONDict]] = {}
        self.calls: list[tuple[str, JSONDict]] = []
        self.api_errors: list[tuple[str, int, str]] = []
        self.internal_errors: list[BaseException] = []
        self.too_many_requests = 0
        # Called with (method, params) before a request is served; returning False drops it
        # undelivered. Crash tests kill the bot from here at an exact point.
        self.before_request: Callable[[str, dict[str, Any]], bool] | None = None
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        # setChatMenuButton: chat id (None: the default for every private chat) -> the button.
        self.menu_buttons: dict[int | None, JSONDict] = {}

        # World state.
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int, JSONDict] = {}
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._raw_texts: dict[tuple[int, int], tuple[str | None, str | None]] = {}
        self._last_message_id: dict[int, int] = {}
        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._callback_queries: dict[str, JSONDict] = {}
        self._callback_ids = itertools.count(4_000_000_001)
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_numbers = itertools.count(1)

        # Fault injection and bookkeeping.
        self._held: dict[str, Callable[[dict[str, Any]], bool]] = {}
        self._released = asyncio.Event()
        self.in_flight: dict[str, int] = {}
        self.most_in_flight: dict[str, int] = {}
        self._blocked: set[int] = set()
        self._flood: _FloodControl | None = None
        self._failures: dict[str, deque[ApiError]] = {}
        self._request_counts: Counter[str] = Counter()
        self._subscribers: list[Callable[[SentMessage], None]] = []
        self._sent_signal = _Signal()
        self._request_signal = _Signal()
        self._updates_signal = _Signal()
        self._poll_generation = 0
        self._webhook_last_error: tuple[int, str] | None = None
        self._webhook_max_connections = 40

        # Server plumbing.
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._init_groups()  # group chats: bot/emulator/groups.py
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in self._handlers().items()
        }

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port``; port 0 picks a free port, published in :attr:`base_url`."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file)
        # A short shutdown timeout: the only long-running handlers are long polls, and stop()
        # releases those explicitly.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._closing = False
        self.port = runner.addresses[0][1]
        self.base_url = f"http://{host}:{self.port}/bot"
        self.base_file_url = f"http://{host}:{self.port}/file/bot"
        self._session = aiohttp.ClientSession()

    async def stop(self) -> None:
        """Release pending long polls, stop webhook delivery and shut the server down."""
        self._closing = True
        self._updates_signal.notify()
        await self._stop_webhook_delivery()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ users and inbound traffic

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> JSONDict:
        """Register a human who can talk to the bot; their private chat id equals ``user_id``.

        Calling it again for the same id updates the profile and keeps the chat history.
        """
        user: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: JSONDict = {"id": user_id, "type": "private", "first_name": first_name}
        for key, value in (("last_name", last_name), ("username", username)):
            if value is not None:
                user[key] = chat[key] = value
        if language_code is not None:
            user["language_code"] = language_code
        self._users[user_id] = user
        self._chats[user_id] = chat
        return user

    def set_language(self, user_id: int, language_code: str | None) -> None:
        """Change the Telegram client language reported in the user's future updates."""
        user = self._user(user_id)
        if language_code is None:
            user.pop("language_code", None)
        else:
            user["language_code"] = language_code

    async def send_text(self, user_id: int, text: str, *, reply_to: int | None = None) -> JSONDict:
        """The user sends ``text`` to the bot; returns the Message as delivered in the update.

        ``reply_to`` makes it a reply (swipe left in the app) to that message of the chat.
        Empty or whitespace-only text raises :class:`ValueError`: Telegram refuses to deliver
        such messages (MESSAGE_EMPTY), so a test relying on one would test the impossible.
        """
        if not text.strip():
            raise ValueError(f"Telegram cannot deliver an empty message (got {text!r})")
        content: JSONDict = {"text": text}
        if entities := _leading_command_entities(text):
            content["entities"] = entities
        return self._user_sends(user_id, content, reply_to)

    async def send_photo(
        self,
        user_id: int,
        content: bytes,
        *,
        caption: str | None = None,
        reply_to: int | None = None,
    ) -> JSONDict:
        """The user sends a photo (Telegram delivers it as a list of sizes, largest last)."""
        self._user(user_id)
        stored = self._store_file(content, None, "image/jpeg", kind="photo")
        size = {k: v for k, v in stored.as_document().items() if k != "mime_type"}
        message_content: JSONDict = {"photo": [{**size, "width": 1280, "height": 960}]}
        if caption:
            message_content["caption"] = caption
        return self._user_sends(user_id, message_content, reply_to)

    async def send_location(
        self, user_id: int, latitude: float, longitude: float, *, reply_to: int | None = None
    ) -> JSONDict:
        """The user shares their location (e.g. with a request_location keyboard button)."""
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_sends(user_id, {"location": location}, reply_to)

    async def send_sticker(self, user_id: int, emoji: str = "👍") -> JSONDict:
        """The user sends a sticker: content a bot usually cannot use as text."""
        sticker = {
            "file_id": f"CAACAgIAAxkBAAIS{next(self._file_numbers):08d}",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._user_sends(user_id, {"sticker": sticker}, None)

    def _user_sends(self, user_id: int, content: JSONDict, reply_to: int | None) -> JSONDict:
        if reply_to is not None:
            target = self._messages.get((user_id, reply_to))
            if target is None:
                raise LookupError(f"there is no message #{reply_to} in chat {user_id}")
            content = {
                **content,
                "reply_to_message": {k: v for k, v in target.items() if k != "reply_to_message"},
            }
        message = self._store_user_message(user_id, content)
        self._queue_update({"message": message})
        return message

    async def send_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        *,
        caption: str | None = None,
        mime_type: str | None = None,
        reply_to: int | None = None,
    ) -> JSONDict:
        """The user sends a file; the bot can fetch it with getFile and download it."""
        self._user(user_id)
        mime_type = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self._store_file(content, filename, mime_type)
        message_content: JSONDict = {"document": stored.as_document()}
        if caption:
            message_content["caption"] = caption
            if entities := _leading_command_entities(caption):
                message_content["caption_entities"] = entities
        return self._user_sends(user_id, message_content, reply_to)

    async def press_button(
        self, user_id: int, message_id: int, callback_data: str, *, require_button: bool = False
    ) -> str:
        """The user taps an inline button of a bot message; returns the callback query id.

        By default any ``callback_data`` is delivered, so tests can forge presses the way a
        hostile or outdated client might. With ``require_button=True`` only data of a button
        actually on the message (in its current, possibly edited, state) is accepted, which
        catches typos in tests; real Telegram enforces this too (``DATA_INVALID``).
        """
        user = self._user(user_id)
        message = self._messages.get((user_id, message_id))
        if message is None:
            raise LookupError(f"there is no message #{message_id} in chat {user_id}")
        if message["from"]["id"] != self.bot_id:
            raise ValueError(f"message #{message_id} in chat {user_id} was not sent by the bot")
        rows = message.get("reply_markup", {}).get("inline_keyboard", [])
        available = [b["callback_data"] for row in rows for b in row if "callback_data" in b]
        if require_button and callback_data not in available:
            raise ValueError(
                f"message #{message_id} in chat {user_id} has no button with callback_data "
                f"{callback_data!r}; available: {available}"
            )
        query_id = str(next(self._callback_ids))
        query: JSONDict = {
            "id": query_id,
            "from": dict(user),
            "message": dict(message),
            "chat_instance": f"{self.bot_id}{user_id}",
            "data": callback_data,
        }
        self._callback_queries[query_id] = query
        self._queue_update({"callback_query": query})
        return query_id

    # --------------------------------------------------------------------- observing the bot

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [message for message in self.sent if message.chat_id == chat_id]

    def get_message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state of a message (after edits), or ``None`` if it does not exist."""
        message = self._messages.get((chat_id, message_id))
        return dict(message) if message is not None else None

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str | None = None
    ) -> list[JSONDict] | None:
        """The command list set for ``scope`` (default scope if omitted) and language."""
        key = json.dumps(scope or {"type": "default"}, sort_keys=True)
        return self.commands.get((key, language_code))

    def subscribe(self, callback: Callable[[SentMessage], None]) -> None:
        """Call ``callback`` synchronously for every new :class:`SentMessage`."""
        self._subscribers.append(callback)

    def unsubscribe(self, callback: Callable[[SentMessage], None]) -> None:
        self._subscribers.remove(callback)

    def request_count(self, method: str | None = None) -> int:
        """How many API requests arrived, for one method (case-insensitive) or in total."""
        if method is None:
            return sum(self._request_counts.values())
        entry = self._methods.get(method.lower())
        return self._request_counts[entry[0] if entry else method]

    # The waiting helpers take ``timeout`` (rather than relying on asyncio.timeout) so that the
    # error can describe what was awaited and what happened instead.
    async def wait_for_request(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,
    ) -> None:
        """Wait until ``method`` has been requested ``count`` times in total.

        Useful to know that the bot has reached a point (e.g. is long polling) before acting.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.request_count(method) < count:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"{method} was requested {self.request_count(method)} time(s), "
                    f"expected {count} within {timeout}s"
                )
            await self._request_signal.wait(remaining)

    async def wait_for_message(
        self,
        chat_id: int | None = None,
        *,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 5.0,
        after: int = 0,
    ) -> SentMessage:
        """The first message in ``sent[after:]`` matching ``chat_id`` and ``predicate``.

        Returns immediately if one was already sent; otherwise waits until the bot sends one.
        Pass ``after=len(emulator.sent)`` before triggering the bot to ignore older messages.
        """
        messages = await self.wait_for_messages(
            1, chat_id=chat_id, predicate=predicate, timeout=timeout, after=after
        )
        return messages[0]

    async def wait_for_messages(
        self,
        count: int,
        *,
        chat_id: int | None = None,
        predicate: Callable[[SentMessage], bool] | None = None,
        timeout: float = 10.0,
        after: int = 0,
    ) -> list[SentMessage]:
        """The first ``count`` matching messages in ``sent[after:]``, waiting for them if needed.

        Raises :class:`TimeoutError` listing everything that was sent (and any API errors the
        bot received), which usually explains at once why the expected message never came.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            matches = [
                message
                for message in self.sent[after:]
                if (chat_id is None or message.chat_id == chat_id)
                and (predicate is None or predicate(message))
            ]
            if len(matches) >= count:
                return matches[:count]
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._timeout_error(count, len(matches), chat_id, timeout, after)
            await self._sent_signal.wait(remaining)

    # ------------------------------------------------------------------------- fault injection

    def hold(self, method: str, which: Callable[[dict[str, Any]], bool] = lambda _: True) -> None:
        """From now on, requests of `method` (those `which` picks by their parameters) wait
        in flight until `release()`: a slow Telegram, to see what a bot does meanwhile."""
        self._released.clear()
        self._held[method] = which

    def release(self) -> None:
        self._held.clear()
        self._released.set()

    def block_user(self, user_id: int) -> None:
        """From now on, sends and edits to this user's chat fail with 403 Forbidden."""
        self._blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def set_flood_control(
        self,
        *,
        global_per_second: float | None = 30,
        per_chat_per_second: float | None = 1.0,
        retry_after: int = 1,
    ) -> None:
        """Answer 429 to message sends beyond these rates (sliding 1 s window); None disables.

        Limits apply to sendMessage, sendDocument, sendVenue and sendLocation, per chat and
        across all chats, like Telegram's broadcast limits. Calling again resets the counters.
        """
        if global_per_second is None and per_chat_per_second is None:
            self._flood = None
        else:
            self._flood = _FloodControl(global_per_second, per_chat_per_second, retry_after)

    def disable_flood_control(self) -> None:
        self._flood = None

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail with ``status``/``description``.

        A 429 carries ``parameters.retry_after = 1`` so PTB raises ``RetryAfter``.
        """
        entry = self._methods.get(method.lower())
        if entry is None:
            raise ValueError(f"the emulator does not implement {method!r}")
        parameters = {"retry_after": 1} if status == HTTPStatus.TOO_MANY_REQUESTS else None
        failures = self._failures.setdefault(entry[0], deque())
        failures.extend(ApiError(status, description, parameters) for _ in range(times))

    # ---------------------------------------------------------------------------- webhook mode

    async def deliver_raw_webhook(self, update: JSONDict, secret: str | None) -> int:
        """POST ``update`` to the webhook with ``secret`` as secret header; return the status.

        This bypasses the update queue, to check how the bot treats forged or stale requests.
        """
        if self.webhook_url is None:
            raise RuntimeError("no webhook is set")
        return await self._post_update(self.webhook_url, update, secret)

    async def _post_update(self, url: str, update: JSONDict, secret: str | None) -> int:
        if self._session is None:
            raise RuntimeError("the emulator is not running")
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_TOKEN_HEADER] = secret
        async with self._session.post(
            url, data=_dumps(update).encode(), headers=headers, timeout=_WEBHOOK_TIMEOUT
        ) as response:
            await response.read()
            return response.status

    async def _deliver_webhooks(self) -> None:
        """Push queued updates to the webhook in order, retrying with backoff like Telegram."""
        delay = _WEBHOOK_RETRY_INITIAL
        while self.webhook_url is not None:
            if not self._updates:
                await self._updates_signal.wait(None)
                continue
            update = self._updates[0]
            try:
                status = await self._post_update(self.webhook_url, update, self.webhook_secret)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                error = f"Connection failed: {exc!r}"
            else:
                if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    delay = _WEBHOOK_RETRY_INITIAL
                    continue
                error = f"Wrong response from the webhook: {status} {_status_phrase(status)}"
            self._webhook_last_error = (int(time.time()), error)
            logger.debug("webhook delivery of update %s failed: %s", update["update_id"], error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _WEBHOOK_RETRY_MAX)

    def _restart_webhook_delivery(self) -> None:
        if self._webhook_task is not None:
            self._webhook_task.cancel()
        self._webhook_task = asyncio.create_task(self._deliver_webhooks(), name="webhook-delivery")

    async def _stop_webhook_delivery(self) -> None:
        task, self._webhook_task = self._webhook_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ------------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.Response:
        if urllib.parse.unquote(request.match_info["token"]) != self.token:
            return _json_response(ApiError(401, "Unauthorized").payload(), 401)
        requested = request.match_info["method"]
        entry = self._methods.get(requested.lower())
        if entry is None:
            logger.warning("the emulator does not implement Bot API method %r", requested)
            self._request_counts[requested] += 1
            return _json_response(ApiError(404, "Not Found").payload(), 404)
        name, handler = entry
        self._request_counts[name] += 1
        self._request_signal.notify()
        try:
            params = await _read_params(request)
            self.calls.append((name, params.values))
            if self.before_request is not None and not self.before_request(name, params.values):
                # A test's crash point: the request arrived but is dropped undelivered.
                raise ApiError(500, "Internal Server Error: dropped by before_request")
            if failures := self._failures.get(name):
                raise failures.popleft()
            if (gate := self._held.get(name)) is not None and gate(params.values):
                # A slow Telegram: the request waits, in flight, until the test releases it.
                self.in_flight[name] = self.in_flight.get(name, 0) + 1
                self.most_in_flight[name] = max(
                    self.most_in_flight.get(name, 0), self.in_flight[name]
                )
                try:
                    await self._released.wait()
                finally:
                    self.in_flight[name] -= 1
            self._check_flood(name, params)
            result = await handler(params)
        except ApiError as error:
            self.api_errors.append((name, error.status, error.description))
            if error.status == HTTPStatus.TOO_MANY_REQUESTS:
                self.too_many_requests += 1
            return _json_response(error.payload(), error.status)
        except Exception as exc:
            # An emulator bug: keep the bot's view Telegram-like but make it visible to tests.
            logger.exception("emulator failure in %s", name)
            self.internal_errors.append(exc)
            error = ApiError(500, f"Internal Server Error: emulator failure: {exc!r}")
            return _json_response(error.payload(), 500)
        return _json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        # PTB percent-encodes the token's ':' in file URLs; aiohttp may or may not have decoded it.
        if urllib.parse.unquote(request.match_info["token"]) != self.token:
            return _json_response(ApiError(401, "Unauthorized").payload(), 401)
        stored = self._files_by_path.get(urllib.parse.unquote(request.match_info["file_path"]))
        if stored is None:
            return _json_response(ApiError(404, "Not Found").payload(), 404)
        # Set the header directly: content_type= refuses MIME types carrying parameters.
        content_type = stored.mime_type or "application/octet-stream"
        return web.Response(body=stored.content, headers={"Content-Type": content_type})

    def _check_flood(self, method: str, params: Params) -> None:
        self._check_group_flood(method, params)
        if self._flood is None or method not in FLOOD_LIMITED_METHODS:
            return
        if not self._flood.admit(params.get("chat_id"), time.monotonic()):
            retry_after = self._flood.retry_after
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )

    def _handlers(self) -> dict[str, Handler]:
        return {
            "getMe": self._get_me,
            "logOut": self._return_true,
            "close": self._return_true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "sendMessage": self._send_message,
            "sendDocument": self._send_document,
            "copyMessage": self._copy_message,
            "sendVenue": self._send_venue,
            "sendLocation": self._send_location,
            "sendChatAction": self._send_chat_action,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getFile": self._get_file,
            # Cosmetic settings a bot may apply at start-up; accepted and only logged in calls.
            "setMyDescription": self._return_true,
            "setMyShortDescription": self._return_true,
            "setMyName": self._return_true,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            **self._group_handlers(),
        }

    # ---------------------------------------------------------------- methods: bot and updates

    async def _return_true(self, params: Params) -> bool:
        return True

    async def _get_me(self, params: Params) -> JSONDict:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: Params) -> list[JSONDict]:
        """Long poll: answer as soon as an update is pending or ``timeout`` seconds pass.

        A newer getUpdates call supersedes a waiting one, which then gets 409 Conflict, as on
        Telegram when two bot instances poll at once.
        """
        self._ensure_no_webhook()
        offset = params.get_int("offset", 0) or 0
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_float("timeout", 0.0) or 0.0, 0.0)
        self._forget_updates_before(offset)
        self._poll_generation += 1
        generation = self._poll_generation
        self._updates_signal.notify()  # wake a superseded poll so it can report the conflict
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._updates_signal.wait(remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            self._ensure_no_webhook()
        return self._updates[:limit]

    def _ensure_no_webhook(self) -> None:
        if self.webhook_url is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )

    def _forget_updates_before(self, offset: int) -> None:
        """Telegram's confirmation semantics: ids below ``offset`` are forgotten; a negative
        offset keeps only the last ``-offset`` updates."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    async def _set_webhook(self, params: Params) -> bool:
        url = params.get_str("url", "") or ""
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        if not url:
            await self._clear_webhook()
            return True
        if not url.startswith(("http://", "https://")):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get_str("secret_token")
        if secret is not None and not _SECRET_TOKEN_RE.fullmatch(secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        self.webhook_url, self.webhook_secret = url, secret
        self._webhook_max_connections = params.get_int("max_connections", 40) or 40
        self._webhook_last_error = None
        self._updates_signal.notify()  # a waiting getUpdates must now answer 409
        self._restart_webhook_delivery()
        return True

    async def _delete_webhook(self, params: Params) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        await self._clear_webhook()
        return True

    async def _clear_webhook(self) -> None:
        self.webhook_url = self.webhook_secret = None
        self._webhook_last_error = None
        await self._stop_webhook_delivery()

    async def _get_webhook_info(self, params: Params) -> JSONDict:
        info: JSONDict = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook_url is not None:
            info["max_connections"] = self._webhook_max_connections
        if self._webhook_last_error is not None:
            info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    # ------------------------------------------------------------------- methods: messages

    async def _send_message(self, params: Params) -> JSONDict:
        chat_id = self._target_chat(params)
        raw_text = params.get_str("text")
        if not raw_text:
            raise bad_request("message text is empty")
        parse_mode = params.get_str("parse_mode")
        text, entities = self._render(raw_text, parse_mode, params.get("entities"))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self._reply_markup(params)
        content: JSONDict = {
            "text": text,
            **self._reply_to(chat_id, params),
            **self._thread_of(chat_id, params),
        }
        if entities:
            content["entities"] = entities
        message = self._store_bot_message(chat_id, content, markup, (raw_text, parse_mode))
        self._record(
            SentMessage(
                method="sendMessage",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=raw_text,
                reply_markup=markup,
                parse_mode=parse_mode,
                params=dict(params.values),
                plain_text=text,
                entities=entities,
            )
        )
        return message

    async def _send_document(self, params: Params) -> JSONDict:
        chat_id = self._target_chat(params)
        source = params.file("document")
        if source is None:
            raise bad_request("there is no document in the request")
        if isinstance(source, UploadedFile):
            if not source.content:
                raise bad_request("file must be non-empty")
            stored = self._store_file(source.content, source.filename, source.content_type)
        else:
            stored = self._file_by_reference(source)
        raw_caption = params.get_str("caption")
        parse_mode = params.get_str("parse_mode")
        caption, entities = self._render_caption(raw_caption, parse_mode, params)
        markup = self._reply_markup(params)
        content: JSONDict = {"document": stored.as_document(), **self._reply_to(chat_id, params)}
        if caption:
            content["caption"] = caption
        if entities:
            content["caption_entities"] = entities
        message = self._store_bot_message(chat_id, content, markup, (raw_caption, parse_mode))
        self._record(
            SentMessage(
                method="sendDocument",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=raw_caption,
                reply_markup=markup,
                parse_mode=parse_mode,
                document=stored.content,
                filename=stored.file_name,
                params=dict(params.values),
                plain_text=caption,
                entities=entities,
            )
        )
        return message

    async def _copy_message(self, params: Params) -> JSONDict:
        """A copy of any message (text, photo, document...) without a link to the original;
        the file is not uploaded again. Returns a MessageId, as Telegram does."""
        chat_id = self._target_chat(params)
        from_chat = params.require_int("from_chat_id")
        if from_chat not in self._chats:
            raise bad_request("chat not found")
        original = self._messages.get((from_chat, params.require_int("message_id")))
        if original is None:
            raise bad_request("message to copy not found")
        copyable = ("text", "entities", "photo", "document", "location", "sticker", "caption")
        content: JSONDict = {k: v for k, v in original.items() if k in copyable}
        if not content:
            raise bad_request("message can't be copied")
        if "caption" in params.values:  # a new caption replaces the original's
            raw_caption = params.get_str("caption")
            caption, entities = self._render_caption(
                raw_caption, params.get_str("parse_mode"), params
            )
            content.pop("caption", None)
            content.pop("caption_entities", None)
            if caption:
                content["caption"] = caption
                if entities:
                    content["caption_entities"] = entities
        markup = self._reply_markup(params)
        content.update(self._reply_to(chat_id, params))
        text = content.get("text", content.get("caption"))
        message = self._store_bot_message(chat_id, content, markup, (text, None))
        stored = None
        if "document" in content:
            stored = self._files.get(content["document"]["file_id"])
        elif "photo" in content:
            stored = self._files.get(content["photo"][-1]["file_id"])
        location = content.get("location") or {}
        self._record(
            SentMessage(
                method="copyMessage",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=text,
                reply_markup=markup,
                parse_mode=None,
                document=stored.content if stored is not None else None,
                filename=stored.file_name if stored is not None else None,
                latitude=location.get("latitude"),
                longitude=location.get("longitude"),
                params=dict(params.values),
                plain_text=text,
                entities=content.get("entities", content.get("caption_entities", [])),
            )
        )
        return {"message_id": message["message_id"]}

    async def _send_venue(self, params: Params) -> JSONDict:
        chat_id = self._target_chat(params)
        location = _location(params)
        title = params.get_str("title")
        address = params.get_str("address")
        if not title:
            raise bad_request("venue title is empty")
        if not address:
            raise bad_request("venue address is empty")
        venue: JSONDict = {"location": location, "title": title, "address": address}
        for key in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
            if (value := params.get_str(key)) is not None:
                venue[key] = value
        markup = self._reply_markup(params)
        content = {"venue": venue, "location": location, **self._reply_to(chat_id, params)}
        message = self._store_bot_message(chat_id, content, markup, (None, None))
        self._record(
            SentMessage(
                method="sendVenue",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=f"{title}\n{address}",
                reply_markup=markup,
                parse_mode=None,
                latitude=location["latitude"],
                longitude=location["longitude"],
                params=dict(params.values),
                plain_text=f"{title}\n{address}",
            )
        )
        return message

    async def _send_location(self, params: Params) -> JSONDict:
        chat_id = self._target_chat(params)
        location = _location(params)
        for key in ("horizontal_accuracy", "live_period", "heading", "proximity_alert_radius"):
            if (value := params.get(key)) is not None:
                location[key] = value
        markup = self._reply_markup(params)
        content = {"location": location, **self._reply_to(chat_id, params)}
        message = self._store_bot_message(chat_id, content, markup, (None, None))
        self._record(
            SentMessage(
                method="sendLocation",
                chat_id=chat_id,
                message_id=message["message_id"],
                text=None,
                reply_markup=markup,
                parse_mode=None,
                latitude=location["latitude"],
                longitude=location["longitude"],
                params=dict(params.values),
            )
        )
        return message

    async def _send_chat_action(self, params: Params) -> bool:
        self._target_chat(params)
        if params.get_str("action") not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        return True

    async def _edit_message_text(self, params: Params) -> JSONDict:
        chat_id, message = self._editable_message(params)
        if "text" not in message:
            raise bad_request("there is no text in the message to edit")
        raw_text = params.get_str("text")
        if not raw_text:
            raise bad_request("message text is empty")
        parse_mode = params.get_str("parse_mode")
        text, entities = self._render(raw_text, parse_mode, params.get("entities"))
        if not text.strip():
            raise bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self._reply_markup(params)
        edited = {key: value for key, value in message.items() if key not in _CONTENT_KEYS}
        edited["text"] = text
        if entities:
            edited["entities"] = entities
        return self._apply_edit(
            "editMessageText", chat_id, message, edited, markup, (raw_text, parse_mode), params
        )

    async def _edit_message_reply_markup(self, params: Params) -> JSONDict:
        chat_id, message = self._editable_message(params)
        markup = self._reply_markup(params)
        edited = {key: value for key, value in message.items() if key != "reply_markup"}
        raw = self._raw_texts.get((chat_id, message["message_id"]), (None, None))
        return self._apply_edit(
            "editMessageReplyMarkup", chat_id, message, edited, markup, raw, params
        )

    def _apply_edit(
        self,
        method: str,
        chat_id: int,
        message: JSONDict,
        edited: JSONDict,
        markup: JSONDict | None,
        raw: tuple[str | None, str | None],
        params: Params,
    ) -> JSONDict:
        """Store an edit, rejecting no-op edits like Telegram ("message is not modified")."""
        if markup is not None and "inline_keyboard" in markup:
            edited["reply_markup"] = markup
        if all(edited.get(key) == message.get(key) for key in _CONTENT_KEYS):
            raise bad_request(_NOT_MODIFIED)
        edited["edit_date"] = int(time.time())
        key = (chat_id, message["message_id"])
        self._messages[key] = edited
        self._raw_texts[key] = raw
        plain = edited.get("text", edited.get("caption"))
        self._record(
            SentMessage(
                method=method,
                chat_id=chat_id,
                message_id=message["message_id"],
                text=raw[0],
                reply_markup=markup,
                parse_mode=raw[1],
                params=dict(params.values),
                plain_text=plain,
                entities=list(edited.get("entities", edited.get("caption_entities", []))),
            )
        )
        return edited

    async def _delete_message(self, params: Params) -> bool:
        chat_id = self._known_chat(params)
        key = (chat_id, params.require_int("message_id"))
        if key not in self._messages:
            raise bad_request("message to delete not found")
        del self._messages[key]
        self._raw_texts.pop(key, None)
        return True

    async def _answer_callback_query(self, params: Params) -> bool:
        query_id = params.get_str("callback_query_id")
        if query_id not in self._callback_queries:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": params.get_str("text"),
                "show_alert": params.get_bool("show_alert"),
                "url": params.get_str("url"),
                "cache_time": params.get_int("cache_time"),
            }
        )
        return True

    # ------------------------------------------------------------- methods: the menu button

    async def _set_chat_menu_button(self, params: Params) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            chat_id = self._known_chat(params)
        button = params.get("menu_button") or {"type": "default"}
        self.menu_buttons[chat_id] = validate_menu_button(button)
        return True

    async def _get_chat_menu_button(self, params: Params) -> JSONDict:
        chat_id = self._known_chat(params) if params.get("chat_id") is not None else None
        return (
            self.menu_buttons.get(chat_id) or self.menu_buttons.get(None) or {"type": "commands"}
        )

    # ------------------------------------------------------------- methods: commands and files

    async def _set_my_commands(self, params: Params) -> bool:
        commands = validate_commands(params.require("commands"))
        key = self._commands_key(params)
        if commands:
            self.commands[key] = commands
        else:
            self.commands.pop(key, None)
        return True

    async def _get_my_commands(self, params: Params) -> list[JSONDict]:
        return list(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: Params) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _commands_key(self, params: Params) -> tuple[str, str | None]:
        scope = params.get("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPE_TYPES:
            raise bad_request("can't parse BotCommandScope: unsupported scope type")
        if "chat_id" in scope:
            chat_id = scope["chat_id"]
            if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
                chat_id = scope["chat_id"] = int(chat_id)
            if chat_id not in self._chats:
                raise bad_request("chat not found")
        language_code = validate_language_code(params.get_str("language_code"))
        return json.dumps(scope, sort_keys=True), language_code

    async def _get_file(self, params: Params) -> JSONDict:
        stored = self._files.get(params.get_str("file_id") or "")
        if stored is None:
            raise bad_request("invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # --------------------------------------------------------------------------- internals

    def _user(self, user_id: int) -> JSONDict:
        try:
            return self._users[user_id]
        except KeyError:
            raise LookupError(f"unknown user {user_id}: call add_user() first") from None

    def _known_chat(self, params: Params) -> int:
        chat_id = params.require("chat_id")
        if isinstance(chat_id, bool) or not isinstance(chat_id, int) or chat_id not in self._chats:
            raise bad_request("chat not found")
        return chat_id

    def _target_chat(self, params: Params) -> int:
        """The chat a send or edit goes to: it must exist and not have blocked the bot."""
        chat_id = self._known_chat(params)
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._check_group_target(chat_id)
        return chat_id

    def _editable_message(self, params: Params) -> tuple[int, JSONDict]:
        if params.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        chat_id = self._target_chat(params)
        message = self._messages.get((chat_id, params.require_int("message_id")))
        if message is None:
            raise bad_request("message to edit not found")
        if message["from"]["id"] != self.bot_id:
            raise bad_request("message can't be edited")
        return chat_id, message

    def _next_message_id(self, chat_id: int) -> int:
        """Message ids count up per chat, shared by both directions, as in private chats."""
        self._last_message_id[chat_id] = self._last_message_id.get(chat_id, 0) + 1
        return self._last_message_id[chat_id]

    def _store_user_message(self, user_id: int, content: JSONDict) -> JSONDict:
        user = self._user(user_id)
        message: JSONDict = {
            "message_id": self._next_message_id(user_id),
            "from": dict(user),
            "chat": dict(self._chats[user_id]),
            "date": int(time.time()),
            **content,
        }
        self._messages[(user_id, message["message_id"])] = message
        return message

    def _store_bot_message(
        self,
        chat_id: int,
        content: JSONDict,
        markup: JSONDict | None,
        raw: tuple[str | None, str | None],
    ) -> JSONDict:
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),
            "from": dict(self.bot_user),
            "chat": dict(self._chats[chat_id]),
            "date": int(time.time()),
            **content,
        }
        # Telegram echoes only inline keyboards; reply keyboards live in the client.
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        key = (chat_id, message["message_id"])
        self._messages[key] = message
        self._raw_texts[key] = raw
        return message

    def _queue_update(self, payload: JSONDict) -> None:
        self._updates.append({"update_id": next(self._update_ids), **payload})
        self._updates_signal.notify()

    def _record(self, message: SentMessage) -> None:
        self.sent.append(message)
        self._sent_signal.notify()
        for callback in list(self._subscribers):
            try:
                callback(message)
            except Exception:
                logger.exception("SentMessage subscriber %r failed", callback)

    def _render(
        self, text: str, parse_mode: str | None, entities: Any
    ) -> tuple[str, list[JSONDict]]:
        """Plain text and entities, as Telegram would store them, or 400 on bad markup."""
        if entities:
            if not isinstance(entities, list):
                raise bad_request("can't parse entities JSON object")
            return text, entities
        try:
            return parse_text(text, parse_mode, self._users)
        except UnsupportedParseModeError:
            raise bad_request("unsupported parse_mode") from None
        except EntityParseError as exc:
            if not self.validate_formatting:
                return text, []
            raise bad_request(f"can't parse entities: {exc}") from None

    def _render_caption(
        self, raw_caption: str | None, parse_mode: str | None, params: Params
    ) -> tuple[str | None, list[JSONDict]]:
        if not raw_caption:
            return None, []
        caption, entities = self._render(raw_caption, parse_mode, params.get("caption_entities"))
        if utf16_len(caption) > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        return caption, entities

    def _reply_markup(self, params: Params) -> JSONDict | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        validate_reply_markup(markup)
        return markup

    def _reply_to(self, chat_id: int, params: Params) -> JSONDict:
        """Resolve reply_parameters / reply_to_message_id into a nested reply_to_message."""
        reply = params.get("reply_parameters")
        reply = reply if isinstance(reply, dict) else {}
        message_id = reply.get("message_id") or params.get_int("reply_to_message_id")
        if message_id is None:
            return {}
        target = self._messages.get((chat_id, int(message_id)))
        if target is None:
            if reply.get("allow_sending_without_reply") or params.get_bool(
                "allow_sending_without_reply"
            ):
                return {}
            raise bad_request("message to be replied not found")
        return {"reply_to_message": {k: v for k, v in target.items() if k != "reply_to_message"}}

    def _store_file(
        self,
        content: bytes,
        file_name: str | None,
        mime_type: str | None,
        *,
        kind: str = "document",
    ) -> StoredFile:
        number = next(self._file_numbers)
        suffix = PurePosixPath(file_name).suffix if file_name else ""
        if kind == "photo":
            suffix = ".jpg"
        prefix = "AgACAgIAAxkBAAIP" if kind == "photo" else "BQACAgIAAxkBAAIE"
        stored = StoredFile(
            file_id=f"{prefix}{number:08d}",
            file_unique_id=f"AgADE{number:06d}",
            file_path=f"{kind}s/file_{number}{suffix}",
            content=content,
            file_name=file_name,
            mime_type=mime_type,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    def _file_by_reference(self, reference: str) -> StoredFile:
        """Resend by file_id like Telegram; URLs cannot be fetched on a closed network."""
        if reference in self._files:
            return self._files[reference]
        if reference.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _timeout_error(
        self, count: int, found: int, chat_id: int | None, timeout: float, after: int
    ) -> TimeoutError:
        target = f"chat {chat_id}" if chat_id is not None else "any chat"
        lines = [
            f"timed out after {timeout}s waiting for {count} message(s) to {target} "
            f"(found {found} matching) in sent[{after}:]"
        ]
        recent = self.sent[after:]
        if recent:
            lines.append(f"{len(recent)} message(s) were sent since index {after}:")
            lines.extend(f"  [{after + i}] {m.describe()}" for i, m in enumerate(recent))
        else:
            lines.append(f"nothing was sent since index {after} ({len(self.sent)} in total)")
        if self.api_errors:
            lines.append("recent API errors returned to the bot:")
            lines.extend(f"  {m} -> {s} {d}" for m, s, d in self.api_errors[-5:])
        return TimeoutError("\n".join(lines))


async def _read_params(request: web.Request) -> Params:
    """Collect parameters from the query string and a JSON, urlencoded or multipart body."""
    raw: JSONDict = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.body_exists:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON body must be an object")
            raw.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(
                        value.filename, value.file.read(), value.content_type
                    )
                else:
                    raw[key] = value
    return Params(raw, files)


def _leading_command_entities(text: str) -> list[JSONDict]:
    """Telegram marks a leading ``/command`` (or ``/command@bot``) as a bot_command entity."""
    match = _LEADING_COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match[0])}]


def _location(params: Params) -> JSONDict:
    latitude = params.get_float("latitude")
    longitude = params.get_float("longitude")
    if latitude is None or not -90 <= latitude <= 90:
        raise bad_request("wrong latitude specified")
    if longitude is None or not -180 <= longitude <= 180:
        raise bad_request("wrong longitude specified")
    return {"latitude": latitude, "longitude": longitude}


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
