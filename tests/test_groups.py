"""The bot in the cohort's group chat, end to end against the emulator's groups: linking, the
pinned day card kept up to date (across a restart), commands in a group and what they may
reveal, announcements with "Got it", removal, migration, topics and join requests."""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.commands import COMMANDS
from bot.emulator import SentMessage
from bot.emulator.server import _NOT_MODIFIED
from bot.playground import run_playground
from bot.services.access import allowed_in_group
from bot.services.groups import GROUP_ACK_ACTION
from bot.storage.models import Localized
from tests.conftest import COORDINATOR_ID, DEMO_NOW, BotFactory, BotHarness, Chat, stop_bot
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
        assert (
            len(emu.messages_to(self.chat_id))
            == len([m for m in emu.sent[:start] if m.chat_id == self.chat_id]) + 1
        ), [m.describe() for m in emu.sent[start:]]

    def messages(self, start: int = 0) -> list[SentMessage]:
        return [m for m in self.harness.emulator.sent[start:] if m.chat_id == self.chat_id]


async def handled(harness: BotHarness) -> None:
    """Every update the supervisor caused so far is handled: their own /help is answered
    after them (one person's updates are handled in order)."""
    emu = harness.emulator
    start = len(emu.sent)
    await emu.send_text(SUPERVISOR, "/help")
    await emu.wait_for_message(SUPERVISOR, after=start)


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
    menu = emu.commands_for({"type": "all_group_chats"}, "ru") or []
    assert [c["command"] for c in menu] == [
        "today",
        "tomorrow",
        "week",
        "next",
        "contacts",
        "help",
    ]

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
    commands = sorted(({c.name for c in COMMANDS} | {"start", "help", "link"}) - {"unlink"})
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
    # Everyone else asking for /link, /settings, /language is refused (3 refusals each).
    refusals = [r for r in replies if REFUSAL in r.text]
    assert len(refusals) == 3 * (len(ROLES) - len(GROUP_STAFF)), [r.text for r in refusals]
    assert not failures, "\n".join(failures)
    # Nothing a private command does happened: nobody was forgotten, nothing was cancelled.
    assert await harness.storage.users.get(chats["student_own"].user_id) is not None
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    assert not any(s.cancelled for s in await harness.storage.sessions.for_cohort(cohort.id))


async def test_a_cancel_edits_the_card_in_place_once_across_a_restart_in_russian(
    bot_factory: BotFactory,
) -> None:
    first = await bot_factory()
    chats = await actors(first)
    await first.storage.users.set_language(SUPERVISOR, "ru")  # the linker's language: the group's
    group = new_group(first)
    await first.emulator.wait_for_message(group.chat_id)
    _linked, card = await group.send(SUPERVISOR, "/link TPI-2026", replies=2)
    assert "сентября" in card.plain_text  # Wednesday, 16 September, in Russian
    await first.emulator.wait_for_request("pinChatMessage")
    await stop_bot(first.app)  # a restart between posting the card and editing it

    second = await bot_factory()
    emu = second.emulator
    start = len(emu.sent)
    victim = (await today_sessions(second))[1]
    coordinator = chats["coordinator"]
    await coordinator.send(f"/cancel {victim} Teacher ill")
    edited, notice = await emu.wait_for_messages(2, chat_id=group.chat_id, after=start)
    assert edited.method == "editMessageText" and edited.message_id == card.message_id
    assert "<s>" in edited.text and "сентября" in edited.plain_text
    assert notice.method == "sendMessage" and notice.text.startswith("🔔")
    assert "❌" in notice.text
    await second.idle()
    # Nothing else in the group: no second card, no second notice; the card stays pinned.
    assert [m.method for m in group.messages(start)] == ["editMessageText", "sendMessage"]
    assert emu.pinned_message(group.chat_id) == card.message_id
    # The same change processed again (a restart before it was marked) changes nothing.
    await second.services.reminders.process_changes()
    assert len(group.messages(start)) == 2
    # Moved to tomorrow: off today's card (edited again), and the notice says which day.
    start = len(emu.sent)
    moving = (await today_sessions(second))[2]
    await coordinator.send(f"/move {moving} 2026-09-17 16:00")
    edited, notice = await emu.wait_for_messages(2, chat_id=group.chat_id, after=start)
    assert edited.message_id == card.message_id and notice.text.startswith("🔔")
    assert "четверг, 17 сентября, 16:00" in notice.text


async def test_a_reimport_of_30_sessions_of_today_is_one_edit_and_one_notice(
    harness: BotHarness,
) -> None:
    now = harness.clock.now()
    async with harness.storage.transaction():
        ids = [
            await add_session(
                harness.storage, f"Extra {i:02d}", now + timedelta(hours=4, minutes=i)
            )
            for i in range(30)
        ]
    await harness.services.reminders.process_changes()
    # Linked by a coordinator, nobody has joined: only the group hears of the changes.
    harness.user(COORDINATOR_ID)
    group = Group(harness, harness.emulator.add_group("TPI autumn 2026"))
    harness.emulator.add_bot_to_group(group.chat_id, COORDINATOR_ID, admin=True, can_pin=True)
    await harness.emulator.wait_for_message(group.chat_id)
    await group.send(COORDINATOR_ID, "/link TPI-2026", replies=2)
    card = card_of(group)
    emu = harness.emulator
    start = len(emu.sent)
    # As the import CLI writes from another process: 30 rows changed in one transaction.
    async with harness.storage.transaction():
        for session_id in ids:
            await change_session(
                harness.storage, session_id, location=Localized(f"Room {session_id}")
            )
    await harness.services.reminders.process_changes()
    await harness.idle()
    sent = group.messages(start)
    assert [m.method for m in sent] == ["editMessageText", "sendMessage"]
    assert sent[0].message_id == card.message_id
    assert "30 changes to today's plan" in sent[1].text and "…and 25 more." in sent[1].text
    assert emu.too_many_requests == 0


async def test_the_morning_card_is_posted_pinned_and_rotated_never_on_a_free_day(
    bot_factory: BotFactory,
) -> None:
    harness = await bot_factory(messages_per_second=0)  # the members' reminders go unpaced
    group, chats = await linked_group(harness)
    first = card_of(group)
    emu = harness.emulator
    # A per-group time: staff only; then the card of the 17th comes at 08:15, not 07:30.
    [no] = await group.send(chats["student_own"].user_id, "/settings card 08:15")
    assert REFUSAL in no.text
    [bad] = await group.send(SUPERVISOR, "/settings card 25:99")
    assert "HH:MM" in bad.text
    [ok] = await group.send(SUPERVISOR, "/settings card 08:15")
    assert "08:15" in ok.text
    scheduler = harness.services.scheduler
    await scheduler.retime(almaty(17, 8, 14))
    assert not [m for m in group.messages() if m.text.startswith("📌") and m is not first]
    start = len(emu.sent)
    await scheduler.retime(almaty(17, 8, 16))
    [card] = [m for m in group.messages(start) if m.method == "sendMessage"]
    assert card.text.startswith("📌") and "Thursday, 17 September" in card.plain_text
    assert card.params.get("disable_notification") in (None, False)  # the pin is the quiet one
    assert emu.pinned.get(group.chat_id) == [card.message_id]  # the previous card unpinned
    # Friday's card; the weekend has no sessions: nothing on Saturday or Sunday.
    start = len(emu.sent)
    await scheduler.retime(almaty(20, 12))
    cards = [m for m in group.messages(start) if m.text.startswith("📌")]
    assert [c.plain_text.split("\n")[0] for c in cards] == ["📌 Friday, 18 September"]


async def test_without_the_right_to_pin_it_posts_and_tells_the_linker_once(
    bot_factory: BotFactory,
) -> None:
    harness = await bot_factory(messages_per_second=0)  # the members' reminders go unpaced
    group, _ = await linked_group(harness, can_pin=False)
    emu = harness.emulator
    told = await emu.wait_for_message(SUPERVISOR, predicate=lambda m: "pin" in m.text)
    assert "could not pin" in told.text and emu.pinned_message(group.chat_id) is None
    card_of(group)
    await harness.services.scheduler.retime(almaty(17, 7, 31))
    assert len([m for m in group.messages() if m.text.startswith("📌")]) == 2
    assert len([m for m in emu.messages_to(SUPERVISOR) if "could not pin" in m.text]) == 1
    # Promoted: the next card is pinned.
    emu.set_bot_rights(group.chat_id, SUPERVISOR, admin=True, can_pin=True)
    await harness.services.scheduler.retime(almaty(18, 7, 31))
    cards = [m for m in group.messages() if m.text.startswith("📌")]
    await emu.wait_for_request("pinChatMessage", count=3)
    assert emu.pinned_message(group.chat_id) == cards[-1].message_id


async def test_removed_the_binding_goes_migrated_it_follows(harness: BotHarness) -> None:
    group, _ = await linked_group(harness)
    emu = harness.emulator
    storage = harness.storage
    # Upgraded to a supergroup: the service message moves the binding, and today's card is
    # posted (and pinned) in the new chat.
    await emu.wait_for_request("pinChatMessage")
    start = len(emu.sent)
    new_id = emu.migrate_group(group.chat_id, SUPERVISOR)
    card = await emu.wait_for_message(new_id, after=start)
    assert card.text.startswith("📌")
    await emu.wait_for_request("pinChatMessage", count=2)
    assert emu.pinned_message(new_id) == card.message_id
    assert await storage.groups.get(group.chat_id) is None
    assert (await storage.groups.get(new_id)) is not None
    # Removed: the binding is dropped; tomorrow's card goes nowhere.
    emu.remove_bot_from_group(new_id, SUPERVISOR)
    await handled(harness)
    assert await storage.groups.get(new_id) is None
    start = len(emu.sent)
    await harness.services.scheduler.retime(almaty(17, 7, 31))
    assert [m for m in emu.sent[start:] if m.chat_id < 0] == []
    assert emu.api_errors == []


async def test_a_send_to_an_upgraded_group_follows_the_new_id_once(harness: BotHarness) -> None:
    group, _ = await linked_group(harness)
    emu = harness.emulator
    # The upgrade's service message was missed (the bot was down): the 400 on the next send
    # carries the new id; the binding follows and the card goes there, once.
    new_id = emu.migrate_group(group.chat_id, SUPERVISOR)
    emu._updates.clear()  # the service messages never reach the bot
    start = len(emu.sent)
    await harness.services.scheduler.retime(almaty(17, 7, 31))
    assert ("sendMessage", 400) in [(m, s) for m, s, _ in emu.api_errors]
    [card] = [m for m in emu.sent[start:] if m.chat_id < 0]
    assert card.chat_id == new_id and card.text.startswith("📌")
    assert (await harness.storage.groups.get(new_id)) is not None


async def test_in_a_forum_the_topic_where_link_was_sent_gets_the_posts(
    harness: BotHarness,
) -> None:
    chats = await actors(harness)
    emu = harness.emulator
    # /invite offers staff the startgroup link; opening it sends /start <code> in the group.
    invite = await chats["supervisor_own"].send("/invite TPI-2026 student")
    assert f"https://t.me/{BOT}?startgroup=TPI-2026" in invite.text
    chat_id = emu.add_group("TPI forum", forum=True)
    topic = emu.add_topic(chat_id, "Schedule")
    emu.add_bot_to_group(chat_id, SUPERVISOR, admin=True, can_pin=True)
    group = Group(harness, chat_id)
    await emu.wait_for_message(chat_id)
    linked, card = await group.send(
        SUPERVISOR, f"/start@{BOT} TPI-2026", replies=2, thread_id=topic
    )
    assert "linked to" in linked.text
    assert linked.params.get("message_thread_id") == topic
    assert card.params.get("message_thread_id") == topic
    binding = await harness.storage.groups.get(chat_id)
    assert binding is not None and binding.thread_id == topic


async def test_a_channel_is_not_a_group_silence(harness: BotHarness) -> None:
    await actors(harness)
    emu = harness.emulator
    start = len(emu.sent)
    emu.add_bot_to_channel("News", SUPERVISOR)
    await handled(harness)
    assert [
        m for m in emu.sent[start:] if m.chat_id != SUPERVISOR
    ] == [] and await harness.storage.groups.all() == []


async def test_broadcast_also_in_the_group_got_it_counts_once_per_member(
    harness: BotHarness,
) -> None:
    group, chats = await linked_group(harness)
    emu = harness.emulator
    supervisor = chats["supervisor_own"]
    preview = await supervisor.send("/broadcast Bus at 8:15 at the main entrance")
    [also] = [d for label, d in preview.buttons() if "group chat" in label]
    start = len(emu.sent)
    await supervisor.press(preview, also)
    await emu.wait_for_request("answerCallbackQuery")
    await supervisor.press(preview, also)  # pressed twice: one announcement, one group copy
    copy = await emu.wait_for_message(group.chat_id, after=start)
    await harness.idle()
    copies = [m for m in group.messages(start) if "Bus at 8:15" in m.text]
    assert copies == [copy] and "supervisor_own" not in copy.text
    [(_label, data)] = copy.buttons()
    assert data.startswith(f"v1:{GROUP_ACK_ACTION}:0:")
    student = chats["student_own"].user_id
    private = await emu.wait_for_message(student, predicate=lambda m: "Bus at" in m.text)
    # The student confirms in private AND in the group; a stranger and another cohort's
    # student press in the group: pop-ups only.
    answers = emu.request_count("answerCallbackQuery")
    await chats["student_own"].press(private, private.buttons()[0][1])
    for who in ("student_own", "student_own", "stranger", "student_other"):
        await emu.press_group_button(group.chat_id, chats[who].user_id, copy.message_id, data)
    forged = data.rsplit(":", 1)[0] + ":999999"
    await emu.press_group_button(group.chat_id, student, copy.message_id, forged)
    await emu.wait_for_request("answerCallbackQuery", count=answers + 6)
    # Different people's presses are answered side by side: compare what, not in which order.
    popups = Counter(a["text"] for a in emu.callback_answers[-6:])
    assert popups == {
        "Thank you! Marked as read.": 3,
        "This announcement is for the members of the group.": 2,
        "This button is out of date.": 1,
    }
    announcement = await harness.storage.announcements.latest_by(SUPERVISOR)
    assert announcement is not None
    acked = [d.user_id for d in await harness.storage.announcements.deliveries(announcement.id)
             if d.acked]  # fmt: skip
    assert acked == [student]
    acks = await supervisor.send("/acks")
    assert "Confirmed (1)" in acks.text


async def test_join_requests_members_at_once_others_to_the_supervisor(
    harness: BotHarness,
) -> None:
    group, chats = await linked_group(harness)
    emu = harness.emulator
    [on] = await group.send(SUPERVISOR, "/settings joins on")
    assert "Approve join requests of the group's members: on" in on.plain_text
    member, stranger = chats["student_own"].user_id, chats["stranger"].user_id
    emu.request_join(group.chat_id, member)
    await emu.wait_for_request("approveChatJoinRequest")
    assert emu.join_decisions == [("approve", group.chat_id, member)]
    emu.request_join(group.chat_id, stranger)
    ask = await emu.wait_for_message(SUPERVISOR, predicate=lambda m: "asks to join" in m.text)
    assert "Stranger User" in ask.plain_text and emu.pending_join_requests(group.chat_id) == [
        stranger
    ]
    approve = ask.buttons()[0][1]
    done = await chats["supervisor_own"].press(ask, approve)
    assert "Let in" in done.text
    answers = emu.request_count("answerCallbackQuery")
    await emu.press_button(SUPERVISOR, ask.message_id, approve)  # twice: no second effect
    await emu.wait_for_request("answerCallbackQuery", count=answers + 1)
    assert emu.callback_answers[-1]["text"] == "Already decided."
    assert emu.join_decisions[-1] == ("approve", group.chat_id, stranger)
    assert len(emu.join_decisions) == 2


async def test_group_language_by_staff_buttons_pressed_twice(harness: BotHarness) -> None:
    group, chats = await linked_group(harness)
    emu = harness.emulator
    [no] = await group.send(chats["student_own"].user_id, "/language")
    assert REFUSAL in no.text
    [choose] = await group.send(SUPERVISOR, "/language")
    uzbek = next(d for label, d in choose.buttons() if d.endswith(":uz"))
    # Another member's press is refused: the buttons belong to who asked.
    answers = emu.request_count("answerCallbackQuery")
    await emu.press_group_button(group.chat_id, chats["student_own"].user_id,
                                 choose.message_id, uzbek)  # fmt: skip
    await emu.wait_for_request("answerCallbackQuery", count=answers + 1)
    assert emu.callback_answers[-1]["show_alert"] is True
    for _ in range(2):
        await emu.press_group_button(group.chat_id, SUPERVISOR, choose.message_id, uzbek)
    await emu.wait_for_request("answerCallbackQuery", count=answers + 3)
    await harness.idle()
    binding = await harness.storage.groups.get(group.chat_id)
    assert binding is not None and binding.language == "uz"
    [today] = await group.send(chats["student_own"].user_id, "/today")
    assert "sentabr" in today.plain_text  # 16 September, in Uzbek
    # The second press changed nothing: Telegram's "not modified", taken as success.
    assert [e[2] for e in emu.api_errors] == [f"Bad Request: {_NOT_MODIFIED}"]


async def test_forget_me_and_purge_take_the_groups_personal_rows(harness: BotHarness) -> None:
    group, chats = await linked_group(harness)
    emu = harness.emulator
    await group.send(SUPERVISOR, "/settings joins on")
    askers = [chats["stranger"].user_id, chats["student_other"].user_id]
    for asker in askers:
        emu.request_join(group.chat_id, asker)
    await emu.wait_for_messages(
        2, chat_id=SUPERVISOR, predicate=lambda m: "asks to join" in m.text
    )
    storage = harness.storage
    await storage.operations.forget_user(askers[0])  # /forget_me: their request goes
    rows = await storage.db.fetchall("SELECT user_id FROM group_join_requests")
    assert [r["user_id"] for r in rows] == [askers[1]]
    cohort = await storage.cohorts.by_code("TPI-2026")
    assert cohort is not None
    await storage.operations.purge_cohort(cohort.id, harness.clock.now())
    rows = await storage.db.fetchall("SELECT user_id FROM group_join_requests")
    binding = await storage.groups.get(group.chat_id)
    assert rows == [] and binding is not None and binding.linked_by is None


async def test_playground_group_view_shows_the_pinned_card_edited_after_a_cancel(
    tmp_path: Path,
) -> None:
    script = tmp_path / "group.txt"
    script.write_text(":group\n:coordinator\n/cancel 5 Teacher ill\n:group\n", encoding="utf-8")
    out = io.StringIO()
    assert await run_playground(script=str(script), out=out, start=DEMO_NOW) == 0
    transcript = out.getvalue()
    view = transcript.rsplit("[the group chat:", 1)[1]
    assert re.search(r"#\d+ Mobility Bot 📌 PINNED \(edited\):\n\s+📌 Wednesday", view)
    assert "🔔 1 change to today's plan" in view


async def test_the_card_checks_in_whoever_presses_and_posts_nothing_in_the_group(
    harness: BotHarness,
) -> None:
    """Attendance from the group's card: each "✋ I'm here" records the presser (pop-up
    answers; nothing about who came appears in the group)."""
    group, chats = await linked_group(harness)
    emu = harness.emulator
    card = card_of(group)
    buttons = [(label, data) for label, data in card.buttons() if "I'm here" in label]
    ids = await today_sessions(harness)
    assert len(buttons) == len(ids) and buttons[0][0].startswith("✋ 08:00")
    first_session = int(buttons[0][1].rsplit(":", 1)[1])
    start = len(emu.sent)
    answers = emu.request_count("answerCallbackQuery")
    student = chats["student_own"].user_id
    for who in ("student_own", "student_own", "stranger"):
        await emu.press_group_button(
            group.chat_id, chats[who].user_id, card.message_id, buttons[0][1]
        )
    await emu.wait_for_request("answerCallbackQuery", count=answers + 3)
    await harness.idle()
    records = await harness.storage.attendance.for_session(first_session)
    assert list(records) == [student]
    assert group.messages(start) == []  # the group sees nothing of it
    popups = [a["text"] for a in emu.callback_answers[-3:]]
    assert any("checked in" in p for p in popups), popups


async def test_a_group_today_after_a_change_by_another_process_is_fresh_for_anyone(
    harness: BotHarness,
) -> None:
    """The plan cache is kept per cohort and keyed on the position read with the sender; in
    a group the sender may read another cohort (or none): the group's cohort is read first."""
    from tests.test_timed_queue import change_session

    group, chats = await linked_group(harness)
    first = await group.send(chats["student_own"].user_id, "/today")
    assert "Room of news" not in first[0].text
    ids = await today_sessions(harness)
    await change_session(harness.storage, ids[-1], location=Localized("Room of news"))
    # Not yet taken in by the bot's change feed: a stranger to the cohort asks in the group.
    fresh = await group.send(chats["stranger"].user_id, "/today")
    assert "Room of news" in fresh[0].text
