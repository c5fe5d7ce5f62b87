"""The emulator's group side: group and supergroup chats, as a bot meets them on Telegram.

Kept apart from the private-chat code of :mod:`bot.emulator.server` (a mixin of
:class:`~bot.emulator.server.BotApiEmulator`):

* chats: :meth:`add_group` (basic group, supergroup, forum with topics), a user's messages in
  them (:meth:`send_group_text`, with ``/cmd@bot`` commands, forum topics and anonymous admins
  whose ``from`` is GroupAnonymousBot and ``sender_chat`` the group), presses on buttons of the
  bot's group messages (:meth:`press_group_button`);
* the bot's membership: ``my_chat_member`` updates when it is added, promoted, demoted or
  removed (:meth:`add_bot_to_group`, :meth:`set_bot_rights`, :meth:`remove_bot_from_group`,
  :meth:`add_bot_to_channel`); sends to a group it is not in fail with 403;
* pinChatMessage / unpinChatMessage, refused without ``can_pin_messages``;
* the upgrade to a supergroup (:meth:`migrate_group`): the ``migrate_to_chat_id`` service
  message, then 400 with ``parameters.migrate_to_chat_id`` on every send to the old id;
* ``chat_join_request`` (:meth:`request_join`) with approveChatJoinRequest and
  declineChatJoinRequest, which need ``can_invite_users``;
* Telegram's per-group limit: 20 messages a minute, then 429 "Too Many Requests: retry after N".

Error texts are Telegram's own.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from bot.emulator.params import ApiError, Params, bad_request

if TYPE_CHECKING:
    from bot.emulator.server import Handler, JSONDict

GROUP_ANONYMOUS_BOT: dict[str, Any] = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
GROUP_MESSAGES_PER_MINUTE = 20
GROUP_LIMIT_PERIOD = 60.0
_GROUP_COUNTED = frozenset({"sendMessage", "sendDocument", "sendVenue", "sendLocation"})
_IN_CHAT = frozenset({"member", "administrator", "creator", "restricted"})
NOT_ENOUGH_RIGHTS_TO_PIN = "not enough rights to manage pinned messages in the chat"


class GroupsMixin:
    """Group chats for :class:`BotApiEmulator`; see the module docstring."""

    # Provided by BotApiEmulator.
    bot_id: int
    bot_user: JSONDict
    _chats: dict[int, JSONDict]
    _messages: dict[tuple[int, int], JSONDict]
    _callback_queries: dict[str, JSONDict]
    _callback_ids: Any

    def _init_groups(self) -> None:
        self._group_ids = itertools.count(4_000_000_001)
        self._bot_in: dict[int, JSONDict] = {}  # chat id -> the bot's ChatMember there
        self._group_members: dict[int, set[int]] = {}
        self._topics: dict[int, dict[int, str]] = {}  # forum chat id -> thread id -> name
        self._migrated: dict[int, int] = {}
        self._join_requests: dict[tuple[int, int], JSONDict] = {}
        self._group_sends: dict[int, deque[float]] = {}
        # Per-group limit; None turns it off (a test of the bot's own pacing may want that).
        self.group_messages_per_minute: int | None = GROUP_MESSAGES_PER_MINUTE
        self.pinned: dict[int, list[int]] = {}  # chat id -> pinned message ids, latest last
        self.join_decisions: list[tuple[str, int, int]] = []  # (approve|decline, chat, user)

    # ------------------------------------------------------------------------ the world

    def add_group(
        self,
        title: str,
        *,
        chat_id: int | None = None,
        supergroup: bool = False,
        forum: bool = False,
        members: tuple[int, ...] = (),
    ) -> int:
        """A group the users in ``members`` are in (the bot is not, until it is added)."""
        if chat_id is None:
            number = next(self._group_ids)
            chat_id = -(1_000_000_000_000 + number) if supergroup or forum else -number
        chat: JSONDict = {
            "id": chat_id,
            "type": "supergroup" if supergroup or forum else "group",
            "title": title,
        }
        if forum:
            chat["is_forum"] = True
            self._topics[chat_id] = {}
        self._chats[chat_id] = chat
        self._group_members[chat_id] = set(members)
        return chat_id

    def add_topic(self, chat_id: int, name: str) -> int:
        """A forum topic; returns its ``message_thread_id``."""
        topics = self._topics[chat_id]
        thread_id = self._next_message_id(chat_id)  # type: ignore[attr-defined]
        topics[thread_id] = name
        return thread_id

    def add_bot_to_group(
        self,
        chat_id: int,
        by_user: int,
        *,
        admin: bool = False,
        can_pin: bool = False,
        can_invite: bool = False,
    ) -> None:
        """``by_user`` adds the bot (``my_chat_member``: left -> member or administrator)."""
        self._change_bot_member(chat_id, by_user, self._bot_member(admin, can_pin, can_invite))

    def set_bot_rights(
        self, chat_id: int, by_user: int, *, admin: bool, can_pin: bool, can_invite: bool = False
    ) -> None:
        """The bot is promoted or demoted."""
        self._change_bot_member(chat_id, by_user, self._bot_member(admin, can_pin, can_invite))

    def remove_bot_from_group(self, chat_id: int, by_user: int, *, kicked: bool = True) -> None:
        status = "kicked" if kicked else "left"
        member: JSONDict = {"status": status, "user": dict(self.bot_user)}
        if kicked:
            member["until_date"] = 0
        self._change_bot_member(chat_id, by_user, member)

    def add_bot_to_channel(self, title: str, by_user: int) -> int:
        """A channel, not a group: the bot is made an administrator there."""
        chat_id = -(1_000_000_000_000 + next(self._group_ids))
        self._chats[chat_id] = {"id": chat_id, "type": "channel", "title": title}
        self._group_members[chat_id] = {by_user}
        self._change_bot_member(chat_id, by_user, self._bot_member(True, False, False))
        return chat_id

    def migrate_group(self, chat_id: int, by_user: int) -> int:
        """The group becomes a supergroup with a new id; returns the new id."""
        old = self._chats[chat_id]
        new_id = -(1_000_000_000_000 + next(self._group_ids))
        self._chats[new_id] = {"id": new_id, "type": "supergroup", "title": old["title"]}
        self._group_members[new_id] = set(self._group_members.get(chat_id, set()))
        if chat_id in self._bot_in:
            self._bot_in[new_id] = dict(self._bot_in[chat_id])
        self._migrated[chat_id] = new_id
        user = self._user(by_user)  # type: ignore[attr-defined]
        for where, key, value in (
            (chat_id, "migrate_to_chat_id", new_id),
            (new_id, "migrate_from_chat_id", chat_id),
        ):
            message = {
                "message_id": self._next_message_id(where),  # type: ignore[attr-defined]
                "from": dict(user),
                "chat": dict(self._chats[where]),
                "date": int(time.time()),
                key: value,
            }
            self._queue_update({"message": message})  # type: ignore[attr-defined]
        return new_id

    async def send_group_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        thread_id: int | None = None,
        anonymous: bool = False,
    ) -> JSONDict:
        """A user writes in a group (or in a forum topic); an anonymous admin's message has
        GroupAnonymousBot as ``from`` and the group as ``sender_chat``."""
        if not text.strip():
            raise ValueError(f"Telegram cannot deliver an empty message (got {text!r})")
        from bot.emulator.server import _leading_command_entities

        chat = self._chats[chat_id]
        if chat["type"] not in ("group", "supergroup"):
            raise ValueError(f"chat {chat_id} is not a group")
        self._group_members.setdefault(chat_id, set()).add(user_id)
        message: JSONDict = {
            "message_id": self._next_message_id(chat_id),  # type: ignore[attr-defined]
            "from": dict(GROUP_ANONYMOUS_BOT) if anonymous else dict(self._user(user_id)),  # type: ignore[attr-defined]
            "chat": dict(chat),
            "date": int(time.time()),
            "text": text,
        }
        if anonymous:
            message["sender_chat"] = dict(chat)
        if thread_id is not None:
            if thread_id not in self._topics.get(chat_id, {}):
                raise ValueError(f"chat {chat_id} has no topic {thread_id}")
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        if entities := _leading_command_entities(text):
            message["entities"] = entities
        self._messages[(chat_id, message["message_id"])] = message
        self._queue_update({"message": message})  # type: ignore[attr-defined]
        return message

    async def press_group_button(
        self, chat_id: int, user_id: int, message_id: int, callback_data: str
    ) -> str:
        """A user taps a button of the bot's message in a group; returns the query id."""
        message = self._messages.get((chat_id, message_id))
        if message is None:
            raise LookupError(f"there is no message #{message_id} in chat {chat_id}")
        if message["from"]["id"] != self.bot_id:
            raise ValueError(f"message #{message_id} in chat {chat_id} was not sent by the bot")
        query_id = str(next(self._callback_ids))
        query: JSONDict = {
            "id": query_id,
            "from": dict(self._user(user_id)),  # type: ignore[attr-defined]
            "message": dict(message),
            "chat_instance": f"{self.bot_id}{chat_id}",
            "data": callback_data,
        }
        self._callback_queries[query_id] = query
        self._queue_update({"callback_query": query})  # type: ignore[attr-defined]
        return query_id

    def request_join(self, chat_id: int, user_id: int) -> None:
        """``user_id`` asks to join through a link that needs approval (chat_join_request)."""
        request: JSONDict = {
            "chat": dict(self._chats[chat_id]),
            "from": dict(self._user(user_id)),  # type: ignore[attr-defined]
            "user_chat_id": user_id,
            "date": int(time.time()),
            "invite_link": {
                "invite_link": "https://t.me/+AbCdEfGhIjKlMnOp",
                "creator": dict(self.bot_user),
                "creates_join_request": True,
                "is_primary": False,
                "is_revoked": False,
            },
        }
        self._join_requests[(chat_id, user_id)] = request
        self._queue_update({"chat_join_request": request})  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------ observing

    def group_member(self, chat_id: int, user_id: int) -> bool:
        return user_id in self._group_members.get(chat_id, set())

    def pending_join_requests(self, chat_id: int) -> list[int]:
        return sorted(u for c, u in self._join_requests if c == chat_id)

    def pinned_message(self, chat_id: int) -> int | None:
        pins = self.pinned.get(chat_id)
        return pins[-1] if pins else None

    def chat_history(self, chat_id: int) -> list[JSONDict]:
        """The chat's messages as they stand now (after edits), oldest first."""
        found = [dict(m) for (c, _), m in self._messages.items() if c == chat_id]
        return sorted(found, key=lambda m: m["message_id"])

    def bot_status(self, chat_id: int) -> str:
        return str(self._bot_in.get(chat_id, {}).get("status", "left"))

    # ------------------------------------------------------------------------ internals

    def _bot_member(self, admin: bool, can_pin: bool, can_invite: bool) -> JSONDict:
        if not admin:
            return {"status": "member", "user": dict(self.bot_user)}
        return {
            "status": "administrator",
            "user": dict(self.bot_user),
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": False,
            "can_manage_video_chats": False,
            "can_restrict_members": False,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": can_invite,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
            "can_pin_messages": can_pin,
        }

    def _change_bot_member(self, chat_id: int, by_user: int, new: JSONDict) -> None:
        old = self._bot_in.get(chat_id) or {"status": "left", "user": dict(self.bot_user)}
        self._bot_in[chat_id] = new
        update: JSONDict = {
            "chat": dict(self._chats[chat_id]),
            "from": dict(self._user(by_user)),  # type: ignore[attr-defined]
            "date": int(time.time()),
            "old_chat_member": old,
            "new_chat_member": new,
        }
        self._queue_update({"my_chat_member": update})  # type: ignore[attr-defined]

    def _group_handlers(self) -> dict[str, Handler]:
        return {
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "approveChatJoinRequest": self._approve_join_request,
            "declineChatJoinRequest": self._decline_join_request,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "leaveChat": self._leave_chat,
        }

    def _is_group(self, chat_id: int) -> bool:
        return self._chats.get(chat_id, {}).get("type") in ("group", "supergroup", "channel")

    def _check_group_target(self, chat_id: int) -> None:
        """Sends and edits to a group: upgraded, left or kicked fail as on Telegram."""
        if not self._is_group(chat_id):
            return
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        status = self._bot_in.get(chat_id, {}).get("status", "left")
        if status not in _IN_CHAT:
            kind = self._chats[chat_id]["type"]
            if kind == "channel":
                raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
            if status == "kicked":
                raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    def _thread_of(self, chat_id: int, params: Params) -> JSONDict:
        thread_id = params.get_int("message_thread_id")
        if thread_id is None:
            return {}
        if thread_id not in self._topics.get(chat_id, {}):
            raise bad_request("message thread not found")
        return {"message_thread_id": thread_id, "is_topic_message": True}

    def _check_group_flood(self, method: str, params: Params) -> None:
        limit = self.group_messages_per_minute
        chat_id = params.get("chat_id")
        if not limit or method not in _GROUP_COUNTED or not isinstance(chat_id, int):
            return
        if chat_id >= 0 or not self._is_group(chat_id):
            return
        now = time.monotonic()
        sends = self._group_sends.setdefault(chat_id, deque())
        while sends and now - sends[0] >= GROUP_LIMIT_PERIOD:
            sends.popleft()
        if len(sends) >= limit:
            retry_after = max(1, int(sends[0] + GROUP_LIMIT_PERIOD - now + 0.999))
            raise ApiError(
                429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
            )
        sends.append(now)

    def _group_of(self, params: Params) -> int:
        chat_id = params.require("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise bad_request("chat not found")
        self._check_group_target(chat_id)
        return chat_id

    def _rights(self, chat_id: int) -> JSONDict:
        return self._bot_in.get(chat_id, {})

    async def _pin_chat_message(self, params: Params) -> bool:
        chat_id = self._group_of(params)
        message_id = params.require_int("message_id")
        if self._is_group(chat_id) and not self._rights(chat_id).get("can_pin_messages"):
            raise bad_request(NOT_ENOUGH_RIGHTS_TO_PIN)
        if (chat_id, message_id) not in self._messages:
            raise bad_request("message to pin not found")
        pins = self.pinned.setdefault(chat_id, [])
        if message_id in pins:
            pins.remove(message_id)
        pins.append(message_id)
        return True

    async def _unpin_chat_message(self, params: Params) -> bool:
        chat_id = self._group_of(params)
        if self._is_group(chat_id) and not self._rights(chat_id).get("can_pin_messages"):
            raise bad_request(NOT_ENOUGH_RIGHTS_TO_PIN)
        pins = self.pinned.get(chat_id, [])
        message_id = params.get_int("message_id")
        if message_id is None:
            if pins:
                pins.pop()
            return True
        if message_id not in pins:
            raise bad_request("message to unpin not found")
        pins.remove(message_id)
        return True

    async def _decide_join(self, params: Params, decision: str) -> bool:
        chat_id = self._group_of(params)
        user_id = params.require_int("user_id")
        if not self._rights(chat_id).get("can_invite_users"):
            raise bad_request("CHAT_ADMIN_REQUIRED")
        if self._join_requests.pop((chat_id, user_id), None) is None:
            raise bad_request("HIDE_REQUESTER_MISSING")
        if decision == "approve":
            self._group_members.setdefault(chat_id, set()).add(user_id)
        self.join_decisions.append((decision, chat_id, user_id))
        return True

    async def _approve_join_request(self, params: Params) -> bool:
        return await self._decide_join(params, "approve")

    async def _decline_join_request(self, params: Params) -> bool:
        return await self._decide_join(params, "decline")

    async def _get_chat(self, params: Params) -> JSONDict:
        chat_id = params.require("chat_id")
        if not isinstance(chat_id, int) or chat_id not in self._chats:
            raise bad_request("chat not found")
        return {**self._chats[chat_id], "accent_color_id": 0, "max_reaction_count": 11}

    async def _get_chat_member(self, params: Params) -> JSONDict:
        chat_id = self._group_of(params)
        user_id = params.require_int("user_id")
        if user_id == self.bot_id:
            return dict(self._bot_in.get(chat_id) or {"status": "left", "user": self.bot_user})
        if user_id in self._group_members.get(chat_id, set()):
            return {"status": "member", "user": dict(self._user(user_id))}  # type: ignore[attr-defined]
        raise bad_request("PARTICIPANT_ID_INVALID")

    async def _leave_chat(self, params: Params) -> bool:
        chat_id = self._group_of(params)
        self._bot_in[chat_id] = {"status": "left", "user": dict(self.bot_user)}
        return True
