"""End to end: the real Application against the emulator over loopback, as students use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.callbacks import CallbackData
from bot.commands import COMMANDS
from tests.conftest import COORDINATOR_ID, BotHarness


async def joined(harness: BotHarness, user_id: int, language: str | None = "en"):  # type: ignore[no-untyped-def]
    chat = harness.user(user_id, language)
    await chat.join(await harness.invite_code())
    return chat


async def test_start_alone_explains_how_to_join(harness: BotHarness) -> None:
    reply = await harness.user(1, "en").send("/start")
    assert "invite link" in reply.text
    assert f"t.me/{harness.emulator.bot_username}" in reply.text


async def test_join_with_invite_then_today_in_each_language(harness: BotHarness) -> None:
    expectations = {
        "en": ("Welcome to", "Wednesday, 16 September", "Department of Normal Anatomy"),
        "ru": ("Добро пожаловать", "Среда, 16 сентября", "Кафедра нормальной анатомии"),
        "uz": ("xush kelibsiz", "Chorshanba, 16-sentabr", "Normal anatomiya kafedrasi"),
    }
    code = await harness.invite_code()
    for offset, (language, (welcome, day, department)) in enumerate(expectations.items()):
        chat = harness.user(10 + offset, language)
        greeting = await chat.join(code)
        assert welcome.lower() in greeting.text.lower(), greeting.text
        today = await chat.send("/today")
        assert day in today.text, today.text
        assert department in today.text
        assert "08:00" in today.text  # the demo's early session, in Almaty time
    members = await harness.storage.users.members_of(
        (await harness.storage.cohorts.by_code("TPI-2026")).id
    )
    assert len(members) == 3


async def test_bad_used_up_and_expired_codes(harness: BotHarness) -> None:
    chat = harness.user(20, "en")
    assert "not valid" in (await chat.send("/start nonsense-code-123")).text
    assert "not valid" in (await chat.send("/start ../../etc/passwd")).text
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    from bot.storage.models import Role

    once = await harness.services.invites.create(cohort, Role.STUDENT, None, max_uses=1)
    await harness.user(21).join(once.code)
    assert "as many times" in (await chat.join(once.code)).text
    old = await harness.services.invites.create(cohort, Role.STUDENT, None, days=1)
    harness.clock.advance(timedelta(days=2))
    assert "expired" in (await chat.join(old.code)).text
    assert (await harness.storage.users.get(20)).cohort_id is None


async def test_not_joined_users_are_told_how_to_join(harness: BotHarness) -> None:
    chat = harness.user(30, "ru")
    for text in ("/today", "/contacts", "/next", "hello", "/whatever"):
        reply = await chat.send(text)
        assert "ссылк" in reply.text, (text, reply.text)


async def test_today_is_the_cohort_local_date_at_the_edges(harness: BotHarness) -> None:
    chat = await joined(harness, 40)
    sessions = harness.storage.sessions
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    from bot.storage.models import Localized
    from bot.storage.repositories import SessionFields

    # 00:30 on 20 September in Almaty is 19:30 on 19 September in UTC.
    await sessions.insert(
        cohort.id,
        SessionFields(
            "night", datetime(2026, 9, 19, 19, 30, tzinfo=UTC),
            datetime(2026, 9, 19, 20, 0, tzinfo=UTC), Localized("Night shift observation"),
            Localized(),
        ),
    )  # fmt: skip
    harness.clock.set(datetime(2026, 9, 19, 19, 0, tzinfo=UTC))  # 00:00 in Almaty, 20 Sep
    reply = await chat.send("/today")
    assert (
        "20 September" in reply.text and "<b>00:30–01:00</b> Night shift observation" in reply.text
    )
    harness.clock.set(datetime(2026, 9, 19, 18, 59, tzinfo=UTC))  # 23:59 on 19 Sep in Almaty
    reply = await chat.send("/today")
    assert "19 September" in reply.text and "Night shift" not in reply.text
    reply = await chat.send("/tomorrow")
    assert "Night shift observation" in reply.text


async def test_empty_day_and_cancelled_session(harness: BotHarness) -> None:
    chat = await joined(harness, 50)
    harness.clock.set(datetime(2026, 9, 27, 6, 0, tzinfo=UTC))  # Sunday 27 Sep
    assert "Nothing is planned" in (await chat.send("/today")).text
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    first_day = (await harness.storage.sessions.for_cohort(cohort.id))[0]
    from bot.storage.repositories import SessionFields

    fields = SessionFields.of(first_day)
    await harness.storage.sessions.update(
        first_day.id, SessionFields(**{**fields.__dict__, "cancelled": True,
                                       "cancel_reason": "Dean is away"})
    )  # fmt: skip
    harness.clock.set(datetime(2026, 9, 15, 3, 0, tzinfo=UTC))
    reply = await chat.send("/today")
    assert "Cancelled: Dean is away" in reply.text and "<s>" in reply.text


async def test_next_shows_countdown_and_venue(harness: BotHarness) -> None:
    chat = await joined(harness, 60)
    harness.clock.set(datetime(2026, 9, 16, 2, 25, tzinfo=UTC))  # 07:25 in Almaty
    text, venue = await chat.send_all("/next", replies=2)
    assert "starts in 35 minutes" in text.text, text.text
    assert venue.method == "sendVenue" and venue.latitude is not None


async def test_week_lists_the_rest_of_the_week(harness: BotHarness) -> None:
    chat = await joined(harness, 65, "uz")
    reply = await chat.send("/week")  # Wednesday: Wednesday to Friday have sessions
    assert "Chorshanba" in reply.text and "Juma" in reply.text and "Dushanba" not in reply.text


async def test_contacts_grouped_with_shared_numbers_and_no_other_cohort(
    harness: BotHarness,
) -> None:
    from bot.services.importer import Importer

    other = (
        "code,name,timezone,arrives,departs\nOTHER-1,Other,Europe/Moscow,2026-09-01,2026-09-30\n"
    )
    contacts = "cohort,name,role_en,role_ru,role_uz,phone,email,telegram\n" \
        "OTHER-1,Secret Person,Host,Хозяин,Mezbon,+7 999 000 00 00,,\n"  # fmt: skip
    importer = Importer(harness.storage)
    plan = await importer.plan_files([("c.csv", other.encode()), ("k.csv", contacts.encode())])
    assert plan.ok
    await importer.apply(plan)
    chat = await joined(harness, 70, "ru")
    reply = await chat.send("/contacts")
    assert "Декан" in reply.text and "112" in reply.text and "103" in reply.text
    # Grouped for reading; Telegram makes a number written with spaces tappable too.
    assert "+7 700 000 00 01" in reply.text and "+77000000001" not in reply.text
    assert "Secret Person" not in reply.text


async def test_language_button_switches_and_confirms(harness: BotHarness) -> None:
    chat = await joined(harness, 80, "de")  # unsupported app language: English
    menu = await chat.send("/language")
    assert "Choose your language" in menu.text
    labels = [label for label, _ in menu.buttons()]
    assert labels == ["Oʻzbekcha", "Русский", "English"]
    data = dict(menu.buttons())["Русский"]
    edited = await chat.press(menu, data)
    assert "по-русски" in edited.text
    assert (await harness.storage.users.get(80)).language == "ru"
    assert "Сегодня" in (await chat.send("/today")).text
    menus = harness.emulator.commands
    assert any('"chat"' in scope and "80" in scope for scope, _ in menus)


async def test_forged_language_button_from_another_user_does_nothing(harness: BotHarness) -> None:
    owner = await joined(harness, 81)
    await owner.send("/language")
    intruder = await joined(harness, 82)
    own_menu = await intruder.send("/language")
    forged = CallbackData("lang", 81, "uz").encode()  # claims to be 81's button
    await harness.emulator.press_button(82, own_menu.message_id, forged)
    # Updates are handled in order: once the next command is answered, the press was handled.
    await intruder.send("/today")
    answers = [a for a in harness.emulator.callback_answers if a.get("text")]
    assert answers and "not for you" in answers[-1]["text"]
    assert (await harness.storage.users.get(81)).language is None
    assert (await harness.storage.users.get(82)).language is None


async def test_invite_command_for_coordinators_only(harness: BotHarness) -> None:
    student = await joined(harness, 90)
    assert "not allowed" in (await student.send("/invite TPI-2026 student")).text
    coordinator = harness.user(COORDINATOR_ID, "en")
    reply = await coordinator.send("/invite TPI-2026 student")
    assert f"https://t.me/{harness.emulator.bot_username}?start=" in reply.text
    code = reply.text.split("?start=")[1].split()[0]
    newcomer = harness.user(91, "uz")
    assert "xush kelibsiz" in (await newcomer.join(code)).text.lower()
    assert "Usage" in (await coordinator.send("/invite TPI-2026")).text
    assert "no group" in (await coordinator.send("/invite NOPE student")).text


async def test_help_depends_on_role(harness: BotHarness) -> None:
    student = await joined(harness, 95)
    text = (await student.send("/help")).text
    assert "/today" in text and "/invite" not in text
    coordinator = harness.user(COORDINATOR_ID, "en")
    assert "/invite" in (await coordinator.send("/help")).text


async def test_every_command_is_in_the_menu_and_help(harness: BotHarness) -> None:
    from telegram.ext import CommandHandler

    registered = {
        name
        for handler in harness.app.handlers[0]
        if isinstance(handler, CommandHandler)
        for name in handler.commands
    }
    assert registered - {"start"} == {c.name for c in COMMANDS}
    supervisor = harness.user(96, "en")
    await supervisor.join(await harness.invite_code(role="supervisor"))
    text = (await supervisor.send("/help")).text
    assert "/broadcast" in text and "/acks" in text and "/cancel" not in text
    coordinator = (await harness.user(COORDINATOR_ID, "uz").send("/help")).text
    assert "/cancel" in coordinator and "/import" in coordinator


async def test_command_menus_registered_per_language(harness: BotHarness) -> None:
    menus = harness.emulator.commands
    for language in ("en", "ru", "uz"):
        key = next(k for k in menus if k[1] == language)
        descriptions = {c["command"]: c["description"] for c in menus[key]}
        assert "today" in descriptions
    ru = next(v for k, v in menus.items() if k[1] == "ru")
    assert any("Сегодня" in c["description"] or "сегодня" in c["description"] for c in ru)
    assert {c.name for c in COMMANDS} >= {"today", "tomorrow", "week", "next", "contacts"}


@pytest.mark.parametrize("text", ["/start " + "x" * 300, "🙂" * 1000, "/today extra args", "/"])
async def test_odd_input_gets_an_answer(harness: BotHarness, text: str) -> None:
    chat = await joined(harness, 99)
    assert (await chat.send(text)).text
