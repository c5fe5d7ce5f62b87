"""The bot in the cohort's group chat, end to end against the emulator's groups: linking, the
pinned day card kept up to date (across a restart), commands in a group and what they may
reveal, announcements with "Got it", removal, migration, topics and join requests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from bot.commands import COMMANDS
from bot.emulator import SentMessage
from bot.services.access import allowed_in_group
from bot.services.groups import GROUP_ACK_ACTION
from bot.storage.models import Role
from tests.conftest import COORDINATOR_ID, BotFactory, BotHarness, Chat, stop_bot
from tests.test_clock import almaty
from tests.test_staff import REFUSAL, actors
from tests.test_timed_queue import add_session, change_session

BOT = "mobility_test_bot"
SUPERVISOR = 1103  # supervisor_own in tests.test_staff.actors


@dataclass
class Group:
    harness: BotHarness
    chat_id: int

    async def send(
        self,
        user_id: int,
        text: str,
        *,
        replies: int = 1,
        thread_id: int | None = None,
        anonymous: bool = False,
    ) -> list[SentMessage]:
        emu = self.harness.emulator
        start = len(emu.sent)
        await emu.send_group_text(
            self.chat_id, user_id, text, thread_id=thread_id, anonymous=anonymous
        )
        return await emu.wait_for_messages(replies, chat_id=self.chat_id, after=start)

    async def silent(self, user_id: int, text: str) -> None:
        """Sends, then proves nothing came back: the same sender's /help is answered next
        (one person's updates are handled in order), and it is the only message."""
        emu = self.harness.emulator
        start = len(emu.sent)
        await emu.send_group_text(self.chat_id, user_id, text)
        await emu.send_group_text(self.chat_id, user_id, "/help")
        await emu.wait_for_messages(1, chat_id=self.chat_id, after=start)
        await self.harness.idle()
        assert len(emu.messages_to(self.chat_id)) == len(
            [m for m in emu.sent[:start] if m.chat_id == self.chat_id]
        ) + 1, [m.describe() for m in emu.sent[start:]]

    def messages(self, start: int = 0) -> list[SentMessage]:
        return [m for m in self.harness.emulator.sent[start:] if m.chat_id == self.chat_id]


def new_group(harness: BotHarness, *, can_pin: bool = True, **options: object) -> Group:
    emu = harness.emulator
    chat_id = emu.add_group("TPI autumn 2026", **options)  # type: ignore[arg-type]
    emu.add_bot_to_group(chat_id, SUPERVISOR, admin=can_pin, can_pin=can_pin, can_invite=True)
    return Group(harness, chat_id)


async def linked_group(harness: BotHarness, **options: object) -> tuple[Group, dict[str, Chat]]:
    chats = await actors(harness)
    group = new_group(harness, **options)  # type: ignore[arg-type]
    await harness.emulator.wait_for_message(group.chat_id)  # the hello on being added
    await group.send(SUPERVISOR, "/link TPI-2026", replies=2)
    return group, chats


def card_of(group: Group) -> SentMessage:
    cards = [m for m in group.messages() if m.method == "sendMessage" and m.text.startswith("📌")]
    assert len(cards) == 1, [m.describe() for m in group.messages()]
    return cards[0]


async def today_sessions(harness: BotHarness) -> list[int]:
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    start = almaty(16, 0)
    sessions = await harness.storage.sessions.starting_between(
        cohort.id, start, start + timedelta(days=1)
    )
    return [s.id for s in sessions]


async def test_staff_link_posts_a_pinned_card_others_are_refused(harness: BotHarness) -> None:
    chats = await actors(harness)
    emu = harness.emulator
    group = new_group(harness)
    hello = await emu.wait_for_message(group.chat_id)
    assert "/link" in hello.text
    refusals = []
    for who in ("stranger", "student_own", "supervisor_other"):
        [answer] = await group.send(chats[who].user_id, f"/link@{BOT} TPI-2026")
        refusals.append(answer.text)
    [wrong] = await group.send(SUPERVISOR, "/link NO-SUCH-CODE")
    assert all(REFUSAL in text for text in refusals) and wrong.text == refusals[0]
    [anonymous] = await group.send(SUPERVISOR, "/link TPI-2026", anonymous=True)
    assert "anonymously" in anonymous.text
    assert await harness.storage.groups.get(group.chat_id) is None  # nothing was bound

    linked, card = await group.send(SUPERVISOR, f"/link@{BOT} TPI-2026", replies=2)
    assert "linked to" in linked.text and "07:30" in linked.text
    assert card.text.startswith("📌") and "Wednesday" in card.plain_text
    await emu.wait_for_request("pinChatMessage")
    assert emu.pinned_message(group.chat_id) == card.message_id
    pin = [p for name, p in emu.calls if name == "pinChatMessage"][-1]
    assert pin["disable_notification"] is True
    binding = await harness.storage.groups.get(group.chat_id)
    assert binding is not None and binding.language == "en" and binding.linked_by == SUPERVISOR

    # Another bot's command and plain talk get nothing; ours with or without @bot an answer.
    await group.silent(chats["student_own"].user_id, "/today@otherbot")
    await group.silent(chats["student_own"].user_id, "Who is going to the lecture?")
    for text in ("/today", f"/today@{BOT}"):
        [today] = await group.send(chats["stranger"].user_id, text)
        assert today.text.startswith("📅") and "Wednesday" in today.plain_text
    assert emu.api_errors == [], emu.api_errors

    # /unlink: staff only; then nothing more is posted there.
    [no] = await group.send(chats["student_own"].user_id, "/unlink")
    assert REFUSAL in no.text
    [done] = await group.send(SUPERVISOR, "/unlink")
    assert "Unlinked" in done.text
    assert await harness.storage.groups.get(group.chat_id) is None


# Every command of the bot, sent in a group by every role. The plan is answered (and may be
# the same for all); staff's group settings answered for the cohort's staff only; everything
# else is a pointer to the private chat. No reply names anyone or shows an id.
ROLES = ("stranger", "student_own", "student_other", "supervisor_own", "supervisor_other",
         "coordinator")  # fmt: skip
GROUP_STAFF = {"supervisor_own", "coordinator"}


async def test_every_command_in_a_group_for_every_role_reveals_nothing_personal(
    bot_factory: BotFactory,
) -> None:
    harness = await bot_factory(messages_per_second=0)  # 200 replies: no pacing for the test
    harness.emulator.group_messages_per_minute = None
    group, chats = await linked_group(harness)
    commands = sorted({c.name for c in COMMANDS} | {"start", "help", "link"} - {"unlink"})
    emu = harness.emulator
    start = len(emu.sent)
    for role in ROLES:
        for command in commands:
            text = f"/{command}@{BOT} TPI-2026" if command == "link" else f"/{command}"
            await emu.send_group_text(group.chat_id, chats[role].user_id, text)
    expected = len(ROLES) * len(commands)
    await emu.wait_for_messages(expected, chat_id=group.chat_id, after=start, timeout=30)
    await harness.idle()
    replies = group.messages(start)
    assert len(replies) == expected, [m.describe() for m in replies[expected:]]
    forbidden = re.compile(
        r"student_own|student_other|supervisor_own|supervisor_other|Stranger|"
        r"\b(1101|1102|1103|1104|1199)\b"
    )
    failures = []
    for reply in replies:
        if forbidden.search(reply.text or ""):
            failures.append(reply.describe())
    # Who got what: the pointer for every command not allowed in a group, for every role.
    pointers = [r for r in replies if r.text.startswith("🔒")]
    private_only = [c for c in commands if not allowed_in_group(c)]
    assert len(pointers) == len(ROLES) * len(private_only)
    assert all(r.buttons() == [("💬 Open the chat", f"https://t.me/{BOT}")] for r in pointers)
    settings = [r for r in replies if r.text.startswith("⚙️")]
    languages = [r for r in replies if "language of this chat" in r.text]
    relinked = [r for r in replies if r.text.startswith("✅")]
    assert len(settings) == len(languages) == len(relinked) == len(GROUP_STAFF)
    assert not failures, "\n".join(failures)
    # Nothing a private command does happened: nobody was forgotten, nothing was cancelled.
    assert await harness.storage.users.get(chats["student_own"].user_id) is not None
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    assert not any(s.cancelled for s in await harness.storage.sessions.for_cohort(cohort.id))
