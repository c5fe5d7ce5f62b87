"""The Mini App without a browser: initData sign-in, the API's permission matrix, the week,
and every change going through the chat's services (same notices, same audit)."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.config import ConfigError, Settings
from bot.services.admin import ChangeRefused, Refusal
from bot.storage.attendance import Status
from bot.storage.models import Localized, Role
from bot.storage.repositories import SessionFields
from bot.webapp import WEBAPP_KEY, initdata
from tests.conftest import COORDINATOR_ID, DATA, BotFactory, BotHarness, edit_sessions
from tests.webapp_support import IDS, PUBLIC_URL, MiniApp, add_people, start_mini_app

TOKEN = "123456:TEST-token"
NOW = datetime(2026, 9, 16, 3, 0, tzinfo=UTC)
USER = {"id": 42, "first_name": "Aziza", "language_code": "uz"}


def resign(raw: str, token: str = TOKEN, **changes: str) -> str:
    fields = dict(parse_qsl(raw)) | changes
    fields.pop("hash")
    fields["hash"] = initdata._signature(fields, token)
    return urlencode(fields)


def test_init_data_is_checked_as_telegram_documents() -> None:
    good = initdata.sign(USER, TOKEN, NOW)
    user = initdata.validate(good, TOKEN, NOW + timedelta(hours=23))
    assert (user.id, user.first_name, user.language_code) == (42, "Aziza", "uz")

    def reason(raw: str | None, token: str = TOKEN, now: datetime = NOW) -> initdata.Rejection:
        with pytest.raises(initdata.InitDataError) as caught:
            initdata.validate(raw, token, now)
        return caught.value.reason

    fields = dict(parse_qsl(good))
    R = initdata.Rejection
    assert reason(None) is R.MISSING and reason("") is R.MISSING
    # A wrong hash, an altered user (another id), and data signed with another bot's token.
    assert reason(good.replace(fields["hash"], "0" * 64)) is R.BAD_SIGNATURE
    assert reason(good.replace("%3A42%2C", "%3A43%2C")) is R.BAD_SIGNATURE
    assert reason(initdata.sign(USER, "654321:OTHER-bot", NOW)) is R.BAD_SIGNATURE
    assert reason(good, token="654321:OTHER-bot") is R.BAD_SIGNATURE
    # Replayed a day later, or dated in the future: refused even though the signature holds.
    assert reason(good, now=NOW + timedelta(hours=24, seconds=1)) is R.EXPIRED
    assert reason(good, now=NOW - timedelta(minutes=10)) is R.EXPIRED
    # No user, a user without an id, a repeated field, garbage.
    no_user = {k: v for k, v in fields.items() if k not in ("user", "hash")}
    no_user["hash"] = initdata._signature(no_user, TOKEN)
    assert reason(urlencode(no_user)) is R.NO_USER
    assert reason(resign(good, user='{"first_name":"X"}')) is R.NO_USER
    assert reason(resign(good, user='{"id":true}')) is R.NO_USER
    assert reason(good + "&user=" + fields["user"]) is R.MALFORMED
    assert reason("%%%") in (R.MALFORMED, R.BAD_SIGNATURE)
    assert reason("a" * 5000) is R.MALFORMED
    assert reason(resign(good, auth_date="soon")) is R.MALFORMED


def test_settings_for_the_mini_app() -> None:
    env = {"BOT_WEBAPP_URL": "https://bot.example.org/app", "BOT_WEBAPP_LISTEN": "0.0.0.0:9000"}
    settings = Settings.from_env(env)
    assert settings.webapp_url == "https://bot.example.org/app"
    assert settings.webapp_listen == ("0.0.0.0", 9000)
    assert Settings.from_env({}).webapp_listen == ("127.0.0.1", 8080)
    assert Settings.from_env({}).webapp_url == ""
    assert Settings.from_env({"BOT_WEBAPP_URL": "http://127.0.0.1:8080/"}).webapp_url
    for bad in (
        {"BOT_WEBAPP_URL": "http://bot.example.org/"},
        {"BOT_WEBAPP_URL": "javascript:alert(1)"},
        {"BOT_WEBAPP_LISTEN": "8080"},
        {"BOT_WEBAPP_LISTEN": "host:99999"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


@pytest.fixture
async def mini(bot_factory: BotFactory) -> AsyncIterator[MiniApp]:
    harness = await start_mini_app(bot_factory)
    await add_people(harness)
    async with aiohttp.ClientSession() as http:
        yield MiniApp(harness, http)


async def tpi_session(harness: BotHarness, external_id: str):  # type: ignore[no-untyped-def]
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    return next(
        s for s in await harness.storage.sessions.for_cohort(cohort.id)
        if s.external_id == external_id
    )  # fmt: skip


async def snapshot(harness: BotHarness) -> list:  # type: ignore[type-arg]
    db = harness.storage.db
    return [
        [tuple(r) for r in await db.fetchall(f"SELECT * FROM {table} ORDER BY 1")]
        for table in ("sessions", "audit", "session_changes", "users", "pending_imports")
    ]


# Every endpoint and who may use it; the *_own people belong to TPI-2026, the *_other ones to
# another group. Refused means 403, or 404 where saying "forbidden" would reveal that a
# session of another group exists.
MEMBERS = {"student_own", "student_other", "supervisor_own", "supervisor_other"}
MATRIX: list[tuple[str, str, object, set[str]]] = [
    ("GET", "api/me", None, set(IDS)),
    ("GET", "api/week", None, MEMBERS),
    ("GET", "api/sessions/{s}", None, {"student_own", "supervisor_own", "coordinator"}),
    ("GET", "api/reminders", None, MEMBERS),
    ("POST", "api/reminders", {"on": True, "digest": True, "leads": [30]}, MEMBERS),
    ("GET", "api/calendar", None, MEMBERS),
    ("POST", "api/calendar", {}, MEMBERS),
    ("GET", "api/cohorts", None, {"coordinator", "supervisor_own", "supervisor_other"}),
    ("GET", "api/cohorts/TPI-2026/roster", None, {"coordinator", "supervisor_own"}),
    ("GET", "api/cohorts/TPI-2026/announcements", None, {"coordinator", "supervisor_own"}),
    ("GET", "api/cohorts/TPI-2026/sessions", None, {"coordinator"}),
    ("GET", "api/cohorts/TPI-2026/audit", None, {"coordinator"}),
    ("POST", "api/sessions/{s}/change", {"action": "room", "place": "Room 9", "revision": 0},
     {"coordinator"}),
    ("POST", "api/import/999", {"action": "discard"}, {"coordinator"}),
    ("GET", "api/cohorts/TPI-2026/attendance", None, {"coordinator", "supervisor_own"}),
    ("GET", "api/cohorts/TPI-2026/questions", None, {"coordinator", "supervisor_own"}),
    # (student_own is marked present before the matrix runs: allowed marks change nothing)
    ("POST", "api/sessions/{s}/attendance", {"student": IDS["student_own"], "status": "present"},
     {"coordinator", "supervisor_own"}),
]  # fmt: skip


async def test_permission_matrix(mini: MiniApp) -> None:
    harness = mini.harness
    session = await tpi_session(harness, "TPI-2026-S10")
    await harness.services.attendance.mark(
        COORDINATOR_ID, session, IDS["student_own"], Status.PRESENT
    )
    before = await snapshot(harness)
    for method, template, body, allowed_for in MATRIX:
        path = template.format(s=session.id)
        status, _ = await mini.call(method, path, None, body=body)
        assert status == 401, (path, "no initData")
        for who, uid in IDS.items():
            status, answer = await mini.call(method, path, uid, body=body)
            if who in allowed_for:
                assert status == 200, (path, who, status, answer)
            else:
                assert status in (403, 404), (path, who, status, answer)
                assert "error" in answer
                if "sessions/" in path and who.endswith("_other"):
                    assert status == 404, (path, who)  # nothing said about another group
    # The upload is a form: only a coordinator gets as far as reading it.
    for who, uid in IDS.items():
        form = aiohttp.FormData()
        form.add_field("file", b"not,a,plan\n", filename="x.txt")
        status, answer = await mini.call("POST", "api/import", uid, data=form)
        assert status == (400 if who == "coordinator" else 403), (who, answer)
    # Refused calls and previews changed nothing; the allowed reminder saves did only that.
    after = await snapshot(harness)
    assert after[:3] == before[:3] and after[4] == before[4]
    assert len(await harness.storage.attendance.marks(session.cohort_id)) == 1  # the one above


async def test_week_marks_today_now_next_and_cancelled_in_each_language(mini: MiniApp) -> None:
    harness = mini.harness
    student = IDS["student_own"]
    cancelled = await tpi_session(harness, "TPI-2026-S06")
    await harness.services.admin.cancel(COORDINATOR_ID, cancelled, "Teacher ill")
    status, week = await mini.get("api/week", student)
    assert status == 200, week
    assert week["week"] == "2026-09-14" and week["today"] == "2026-09-16"
    assert week["previous"] is None and week["next"] == "2026-09-21"
    today = next(d for d in week["days"] if d["today"])
    assert today["date"] == "2026-09-16" and today["heading"] == "Wednesday, 16 September"
    states = {s["title"][:12]: (s["start"], s["state"], s["cancelled"]) for s in today["sessions"]}
    assert states["Introductory"] == ("08:00", "now", False)
    assert states["Lecture: gen"] == ("09:15", "next", False)
    assert states["Practical: t"] == ("13:30", "", True)
    assert [d["today"] for d in week["days"]].count(True) == 1
    assert next(d for d in week["days"] if d["date"] == "2026-09-15")["sessions"][0]["state"] == (
        "over"
    )

    for language, heading, now_word in (("ru", "Среда, 16 сентября", "сейчас"),
                                        ("uz", "Chorshanba, 16-sentabr", "hozir")):  # fmt: skip
        await harness.storage.users.set_language(student, language)
        _, week = await mini.get("api/week", student)
        today = next(d for d in week["days"] if d["today"])
        assert today["heading"] == heading
        assert (
            today["sessions"][0]["title"]
            != "Introductory session: safety rules in the anatomy hall"
        )
        _, me = await mini.get("api/me", student)
        assert me["language"] == language and me["strings"]["now"] == now_word

    # Weeks beyond the programme are clamped to it; garbage is ignored.
    _, last = await mini.get("api/week?start=2027-05-05", student)
    assert last["week"] == "2026-09-28" and last["next"] is None
    _, same = await mini.get("api/week?start=<script>", student)
    assert same["week"] == "2026-09-14"


async def test_session_details_escape_nothing_the_page_escapes_everything(mini: MiniApp) -> None:
    harness = mini.harness
    session = await tpi_session(harness, "TPI-2026-S01")
    hostile = '<img src=x onerror="alert(1)"> & <b>Room</b>'
    await harness.services.admin.room(COORDINATOR_ID, session, hostile)
    status, details = await mini.get(f"api/sessions/{session.id}", IDS["student_own"])
    assert status == 200
    # JSON carries text; the page writes it with textContent, never as HTML.
    assert details["place"] == " ".join(hostile.split())
    assert details["map"].startswith("https://www.google.com/maps/search/?api=1&query=43.2566")
    assert details["department"] and details["host"] and details["notes"]
    status, answer = await mini.get("api/sessions/99999999", IDS["student_own"])
    assert status == 404 and "99999999" in answer["error"]
    for raw in ("<b>1</b>", "9" * 30, "1.5", "%00"):
        status, answer = await mini.get(f"api/sessions/{raw}", IDS["student_own"])
        assert status == 404 and answer["error"], raw
    # The preview a coordinator reads (HTML) has it escaped.
    session = await harness.storage.sessions.get(session.id)
    status, answer = await mini.post(
        f"api/sessions/{session.id}/change", COORDINATOR_ID,
        {"action": "room", "place": "Hall <script>", "revision": session.revision},
    )  # fmt: skip
    assert status == 200
    assert "&lt;img src=x" in answer["preview"] and "<img" not in answer["preview"]
    assert "Hall &lt;script&gt;" in answer["preview"]


async def test_a_move_from_the_console_is_previewed_then_made_as_move_makes_it(
    mini: MiniApp,
) -> None:
    harness = mini.harness
    emu = harness.emulator
    student = harness.user(4100, "ru", name="Student")
    await student.join(await harness.invite_code())
    session = await tpi_session(harness, "TPI-2026-S10")
    move = {"action": "move", "date": "2026-09-17", "time": "16:00", "revision": session.revision}
    before = await snapshot(harness)
    start = len(emu.sent)
    status, answer = await mini.post(f"api/sessions/{session.id}/change", COORDINATOR_ID, move)
    assert status == 200 and "preview" in answer, answer
    assert "18 Sep 2026, 09:00 → 17 Sep 2026, 16:00–17:30" in answer["preview"]
    assert await snapshot(harness) == before  # a preview writes nothing

    status, answer = await mini.post(
        f"api/sessions/{session.id}/change", COORDINATOR_ID, move | {"confirm": True}
    )
    assert status == 200 and "Saved" in answer["saved"], answer
    moved = await harness.storage.sessions.get(session.id)
    assert moved.starts_at == datetime(2026, 9, 17, 11, 0, tzinfo=UTC)
    # The member is told, in their language, exactly as after /move in chat.
    notice = await emu.wait_for_message(4100, after=start)
    assert "16:00" in notice.text and "перенес" in notice.text.lower(), notice.text
    _, audit = await mini.get("api/cohorts/TPI-2026/audit", COORDINATOR_ID)
    assert "moved" in audit["entries"][0] and "Coordinator" in audit["entries"][0]

    # Pressed twice: the second carries the old revision and changes nothing more.
    after_first = await snapshot(harness)
    status, answer = await mini.post(
        f"api/sessions/{session.id}/change", COORDINATOR_ID, move | {"confirm": True}
    )
    assert status == 200 and "changed a moment ago" in answer["stale"]
    assert await snapshot(harness) == after_first

    # The refusals /move gives, in the same words.
    moved = await harness.storage.sessions.get(session.id)
    for when, expected in ((("2026-09-16", "07:00"), "already passed"),
                           (("2026-10-20", "10:00"), "runs from 15 Sep 2026 to 3 Oct 2026"),
                           (("2026-02-30", "10:00"), "is not a date"),
                           (("2026-09-20", "25:00"), "is not a time")):  # fmt: skip
        body = {"action": "move", "date": when[0], "time": when[1], "revision": moved.revision}
        status, answer = await mini.post(f"api/sessions/{moved.id}/change", COORDINATOR_ID, body)
        assert expected in (answer.get("refused") or answer.get("error") or ""), answer
    assert await snapshot(harness) == after_first


async def test_cancel_restore_and_room_from_the_console(mini: MiniApp) -> None:
    harness = mini.harness
    session = await tpi_session(harness, "TPI-2026-S11")
    url = f"api/sessions/{session.id}/change"

    async def change(body: dict, language: str = "en") -> dict:  # type: ignore[type-arg]
        current = await harness.storage.sessions.get(session.id)
        body = body | {"revision": current.revision, "confirm": True}
        status, answer = await mini.post(url, COORDINATOR_ID, body, language)
        assert status in (200, 409), answer
        return answer

    assert "not cancelled" in (await change({"action": "restore"}))["refused"]
    answer = await change({"action": "cancel", "reason": "<i>Teacher</i> ill"})
    assert "Saved" in answer["saved"] and "<s>" in answer["saved"]
    cancelled = await harness.storage.sessions.get(session.id)
    assert cancelled.cancelled and cancelled.cancel_reason == "<i>Teacher</i> ill"
    assert "already cancelled" in (await change({"action": "cancel"}))["error"]
    assert "Restore it first" in (await change({"action": "move", "date": "2026-09-25",
                                                "time": "10:00"}))["refused"]  # fmt: skip
    answer = await change({"action": "restore"}, "uz")
    assert answer["saved"].startswith("✅") and "Saved" not in answer["saved"], answer
    assert not (await harness.storage.sessions.get(session.id)).cancelled
    await change({"action": "room", "place": "  Room   12  "})
    assert str((await harness.storage.sessions.get(session.id)).location) == "Room 12"
    status, answer = await mini.post(
        url, COORDINATOR_ID, {"action": "room", "place": " ", "revision": 99}
    )
    assert status == 200 and "stale" in answer  # the revision is checked first
    current = await harness.storage.sessions.get(session.id)
    status, answer = await mini.post(
        url, COORDINATOR_ID, {"action": "room", "place": " ", "revision": current.revision}
    )
    assert status == 400 and answer["error"]
    actions = [r["action"] for r in await harness.storage.db.fetchall("SELECT action FROM audit")]
    assert actions[-3:] == ["cancel", "restore", "room"]


async def test_a_change_from_chat_meanwhile_is_never_overwritten(mini: MiniApp) -> None:
    harness = mini.harness
    coordinator = harness.user(COORDINATOR_ID, "en")
    session = await tpi_session(harness, "TPI-2026-S12")
    # The console shows the session; meanwhile the coordinator changes its place in chat.
    status, _ = await mini.get("api/cohorts/TPI-2026/sessions", COORDINATOR_ID)
    assert status == 200
    reply = await coordinator.send(f"/room {session.id} Room 7")
    assert "Saved" in reply.text
    body = {"action": "move", "date": "2026-09-24", "time": "15:00"}
    status, answer = await mini.post(
        f"api/sessions/{session.id}/change", COORDINATOR_ID,
        body | {"revision": session.revision, "confirm": True},
    )  # fmt: skip
    assert "changed a moment ago" in answer["stale"] and "Room 7" in answer["stale"]
    kept = await harness.storage.sessions.get(session.id)
    assert str(kept.location) == "Room 7" and kept.starts_at == session.starts_at

    # The same holds inside the service, for a change read before another one was saved
    # (chat and console at the same moment): the later one is refused, not applied over it.
    stale = kept
    await harness.services.admin.room(COORDINATOR_ID, kept, "Room 8")
    with pytest.raises(ChangeRefused) as caught:
        await harness.services.admin.cancel(COORDINATOR_ID, stale, "")
    assert caught.value.reason is Refusal.STALE
    assert not (await harness.storage.sessions.get(session.id)).cancelled


async def test_bad_requests_change_nothing(mini: MiniApp) -> None:
    harness = mini.harness
    session = await tpi_session(harness, "TPI-2026-S13")
    url = f"api/sessions/{session.id}/change"
    before = await snapshot(harness)
    for body in ([1, 2], "x", {"action": "delete", "revision": 0}, {"action": "room"},
                 {"action": "room", "place": "x", "revision": "0"}):  # fmt: skip
        status, answer = await mini.post(url, COORDINATOR_ID, body)
        assert status == 400 and answer["error"], body
    status, answer = await mini.call(
        "POST", url, COORDINATOR_ID, data=b"{not json", init_data=None
    )
    assert status == 400
    for path in ("api/sessions/1e9/change", "api/sessions/-1/change", "api/nothing"):
        status, _ = await mini.post(path, COORDINATOR_ID, {"action": "room"})
        assert status in (404, 405), path
    for bad in ({"on": "yes", "digest": True, "leads": [30]},
                {"on": True, "digest": True, "leads": [31]},
                {"on": True, "digest": True, "leads": list(range(50))}):  # fmt: skip
        status, _ = await mini.post("api/reminders", IDS["student_own"], bad)
        assert status == 400
    status, answer = await mini.post(
        "api/reminders", IDS["student_own"], {"on": True, "digest": True, "leads": []}, "ru"
    )
    assert status == 400 and "хотя бы один" in answer["error"]
    # Another group's code, and a forged or expired sign-in.
    status, answer = await mini.get("api/cohorts/NOPE/sessions", COORDINATOR_ID)
    assert status == 404 and "NOPE" in answer["error"]
    status, _ = await mini.get("api/cohorts/OTHER-1/roster", IDS["supervisor_own"])
    assert status == 403
    forged = resign(mini.init_data(IDS["student_own"]), token="1:forged", user='{"id":900}')
    status, answer = await mini.call("GET", "api/cohorts", None, init_data=forged)
    assert status == 401 and "Telegram" in answer["error"]
    old = mini.init_data(COORDINATOR_ID, at=harness.clock.now() - timedelta(hours=25))
    status, answer = await mini.call("GET", "api/cohorts", None, init_data=old)
    assert status == 401 and "expired" in answer["error"]
    assert await snapshot(harness) == before


async def test_import_from_the_console_previews_then_confirms_once(mini: MiniApp) -> None:
    harness = mini.harness
    emu = harness.emulator
    student = harness.user(4300, "en", name="Student")
    await student.join(await harness.invite_code())
    text = (DATA / "sessions.csv").read_text(encoding="utf-8")
    changed = edit_sessions(text, "TPI-2026-S07", start="11:00", end="12:30")

    async def upload(name: str, content: bytes) -> tuple[int, dict]:  # type: ignore[type-arg]
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(content), filename=name)
        return await mini.call("POST", "api/import", COORDINATOR_ID, data=form)

    before = await snapshot(harness)
    status, answer = await upload("notes.txt", b"hello")
    assert status == 400 and ".csv" in answer["error"]
    status, answer = await upload("fake.xlsx", b"PK\x03\x04 not a workbook")
    assert status == 200 and "nothing was changed" in answer["preview"] and "import" not in answer
    status, answer = await upload("big.csv", b"x" * (2 * 1024 * 1024 + 10))
    assert status == 400 and "too large" in answer["error"]
    assert (await snapshot(harness))[:3] == before[:3]

    status, answer = await upload("sessions.csv", changed.encode())
    assert status == 200 and "Preview of the import" in answer["preview"], answer
    assert "1 changed" in answer["preview"]
    start = len(emu.sent)
    status, done = await mini.post(f"api/import/{answer['import']}", COORDINATOR_ID,
                                   {"action": "confirm"})  # fmt: skip
    assert "Imported" in done["done"]
    notice = await emu.wait_for_message(4300, after=start)
    assert "11:00" in notice.text
    status, again = await mini.post(f"api/import/{answer['import']}", COORDINATOR_ID,
                                    {"action": "confirm"})  # fmt: skip
    assert "already confirmed" in again["done"]
    actions = [r["action"] for r in await harness.storage.db.fetchall("SELECT action FROM audit")]
    assert actions.count("import") == 1


async def test_staff_views_and_reminders_and_calendar(mini: MiniApp) -> None:
    harness = mini.harness
    services = harness.services
    cohort = await harness.storage.cohorts.by_code("TPI-2026")
    announcement = await services.broadcasts.draft(IDS["supervisor_own"], cohort, "Bus at <8:15>")
    await services.broadcasts.send(announcement)
    await services.broadcasts.drain()
    await services.broadcasts.acknowledge(announcement, IDS["student_own"])

    status, cohorts = await mini.get("api/cohorts", IDS["supervisor_own"])
    assert [c["code"] for c in cohorts["cohorts"]] == ["TPI-2026"] and not cohorts["import"]
    assert cohorts["cohorts"][0]["can"] == {
        "roster": True, "announcements": True, "sessions": False, "audit": False,
        "attendance": True, "questions": True,
    }  # fmt: skip
    _, coordinator = await mini.get("api/cohorts", COORDINATOR_ID)
    assert {c["code"] for c in coordinator["cohorts"]} == {"TPI-2026", "OTHER-1"}
    _, roster = await mini.get("api/cohorts/TPI-2026/roster", IDS["supervisor_own"], "ru")
    names = {m["name"]: m for m in roster["members"]}
    assert set(names) == {"student_own", "supervisor_own"}
    assert names["student_own"]["role"] == "студент" and names["student_own"]["reachable"]
    _, feed = await mini.get("api/cohorts/TPI-2026/announcements", IDS["supervisor_own"])
    latest = feed["announcements"][0]
    assert latest["text"] == "Bus at <8:15>"
    assert latest["groups"]["confirmed"] == ["student_own"]

    student = IDS["student_own"]
    status, prefs = await mini.post(
        "api/reminders", student, {"on": True, "digest": False, "leads": [15, 60]}
    )
    assert status == 200 and prefs["leads"] == [15, 60] and not prefs["digest"]
    user = await harness.storage.users.get(student)
    assert sorted(user.reminder_leads) == [15, 60] and not user.digest_on
    status, ics = await mini.get("api/calendar", student)
    assert status == 200 and ics.startswith(b"BEGIN:VCALENDAR")
    assert b"TRIGGER:-PT15M" in ics and b"TRIGGER:-PT1H" in ics
    # Or sent into the chat, as /calendar sends it.
    start = len(harness.emulator.sent)
    status, answer = await mini.post("api/calendar", student, {})
    assert status == 200 and answer["message"] == "Sent to your chat with the bot."
    sent = await harness.emulator.wait_for_message(  # (a timed message may come in between)
        student, after=start, predicate=lambda m: m.method == "sendDocument"
    )
    assert sent.document is not None and sent.document.startswith(b"BEGIN:VCALENDAR")
    assert sent.filename == "TPI-2026.ics"


async def test_page_menu_button_and_week_button(mini: MiniApp, bot_factory: BotFactory) -> None:
    harness = mini.harness
    button = harness.emulator.menu_buttons[None]
    assert button["type"] == "web_app" and button["web_app"]["url"] == PUBLIC_URL
    student = harness.user(4400, "en", name="Student")
    await student.join(await harness.invite_code())
    week = await student.send("/week")
    assert week.reply_markup["inline_keyboard"][-1][0]["web_app"]["url"] == PUBLIC_URL
    assert week.reply_markup["inline_keyboard"][-1][0]["text"] == "Open timetable"

    async with mini.http.get(mini.base, headers={"Accept-Language": "ru-RU,ru;q=0.9"}) as page:
        html = await page.text()
        assert (
            page.status == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
        )
    assert 'lang="ru"' in html and "откройте его в Telegram" in html
    assert "static/telegram-shim.js" in html and "telegram.org" not in html
    async with mini.http.get(mini.base + "static/app.js") as script:
        assert script.status == 200
    async with mini.http.get(mini.base + "static/../server.py") as escape_attempt:
        assert escape_attempt.status in (403, 404)


async def test_without_a_url_there_is_no_mini_app(bot_factory: BotFactory) -> None:
    harness = await bot_factory()
    assert WEBAPP_KEY not in harness.app.bot_data
    assert harness.emulator.menu_buttons == {}
    student = harness.user(4500, "en")
    await student.join(await harness.invite_code())
    week = await student.send("/week")
    assert "web_app" not in json.dumps(week.reply_markup or {})


async def test_the_playground_prints_signed_addresses_of_its_mini_app(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.playground import run_playground

    script = tmp_path / "script.txt"
    script.write_text("/week\n:1\n", encoding="utf-8")
    out = io.StringIO()
    start = datetime(2026, 9, 16, 8, 0, tzinfo=ZoneInfo("Asia/Almaty"))
    assert await run_playground(script=str(script), out=out, start=start) == 0
    transcript = out.getvalue()
    links = dict(re.findall(r"  (\w+) \(\w+\): (http://127\.0\.0\.1:\d+/\S*)", transcript))
    assert set(links) == {"Aziza", "Jasur", "Nodir", "Saule", "Alex"}
    assert "?view=console#" in links["Saule"] and "?view=console" not in links["Aziza"]
    fragment = dict(parse_qsl(links["Aziza"].split("#", 1)[1]))
    user = initdata.validate(fragment["tgWebAppData"], TOKEN, start + timedelta(minutes=1))
    assert user.id == 1001 and user.first_name == "Aziza"
    assert "[the Mini App opens: http://127.0.0.1:" in transcript
    assert "roll-call under Attendance" in transcript


async def test_an_unexpected_error_answers_in_json_and_logs_no_init_data(
    mini: MiniApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self, request, caller):  # type: ignore[no-untyped-def]
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(type(mini.server), "reminders", broken)
    init = mini.init_data(IDS["student_own"], "ru")
    status, answer = await mini.call("GET", "api/reminders", None, init_data=init)
    assert status == 500 and answer["error"] == "Something went wrong. Please try again."
    logged = "\n".join(r.getMessage() + str(r.exc_info) for r in caplog.records)
    assert "disk on fire" in logged and "api/reminders" in logged
    assert init not in logged and dict(parse_qsl(init))["hash"] not in logged


async def test_the_emulator_checks_menu_buttons_and_web_app_addresses(emulator) -> None:  # type: ignore[no-untyped-def]
    url = f"{emulator.base_url}{emulator.token}/"
    good = {"type": "web_app", "text": "Timetable", "web_app": {"url": "https://x.org/app"}}
    async with aiohttp.ClientSession() as http:

        async def call(method: str, payload: dict) -> int:  # type: ignore[type-arg]
            async with http.post(url + method, json=payload) as response:
                return response.status

        assert await call("setChatMenuButton", {"menu_button": good}) == 200
        assert emulator.menu_buttons[None] == good
        for bad in (
            {"type": "web_app", "text": "T", "web_app": {"url": "http://x.org/app"}},
            {"type": "web_app", "text": "", "web_app": {"url": "https://x.org/app"}},
            {"type": "web_app", "text": "T"},
            {"type": "nonsense"},
        ):
            assert await call("setChatMenuButton", {"menu_button": bad}) == 400, bad
        assert await call("setChatMenuButton", {"chat_id": 777, "menu_button": good}) == 400
        emulator.add_user(777, "Someone")
        markup = {"inline_keyboard": [[{"text": "Open", "web_app": {"url": "ftp://x.org"}}]]}
        assert (
            await call("sendMessage", {"chat_id": 777, "text": "x", "reply_markup": markup}) == 400
        )


async def test_the_console_shows_the_roll_call_and_marks_by_hand_as_chat_does(
    mini: MiniApp,
) -> None:
    harness = mini.harness
    services = harness.services
    storage = harness.storage
    cohort = await storage.cohorts.by_code("TPI-2026")
    safety = await tpi_session(harness, "TPI-2026-S04")  # going on (check-in open)
    lecture = await tpi_session(harness, "TPI-2026-S05")
    supervisor, student = IDS["supervisor_own"], IDS["student_own"]
    # A second student, with a name and a note that would be markup if not escaped.
    hostile = "<img src=x onerror=alert(1)>"
    await storage.users.touch(
        1105, first_name=hostile, last_name="", username="", telegram_language="ru",
        now=harness.clock.now(),
    )  # fmt: skip
    await storage.users.join(1105, cohort.id, Role.STUDENT, harness.clock.now())
    user = await storage.users.get(1105)
    assert await services.attendance.report_absence(user, cohort, [safety], "ill", note="<b>x")

    status, answer = await mini.get("api/cohorts/TPI-2026/attendance", supervisor)
    assert status == 200 and answer["roll"]["session"]["id"] == safety.id
    assert [s["id"] for s in answer["today"]][:2] == [safety.id, lecture.id]
    counts = {c["status"]: c["n"] for c in answer["roll"]["counts"]}
    assert counts == {"present": 0, "late": 0, "excused": 1, "absent": 0, "missing": 1}
    rows = {r["id"]: r for r in answer["roll"]["students"]}
    assert set(rows) == {student, 1105}  # students only: staff are not on the roll
    assert answer["roll"]["students"][0]["id"] == student  # the missing first
    assert rows[student]["status"] == "missing" and "missing" in rows[student]["label"]
    assert rows[1105]["name"] == hostile  # plain text, shown as text by the page
    assert "&lt;b&gt;x" in rows[1105]["detail"] and "<b>" not in rows[1105]["detail"]
    assert [m["status"] for m in answer["marks"]] == ["present", "excused", "absent"]
    # Another of today's sessions, picked; before it starts nobody is "missing" yet.
    _, later = await mini.get(f"api/cohorts/TPI-2026/attendance?session={lecture.id}", supervisor)
    assert later["roll"]["session"]["id"] == lecture.id and not later["roll"]["session"]["started"]
    assert "not checked in yet" in later["roll"]["students"][0]["label"]

    # A mark by hand: the service's, audited once; the second press changes nothing.
    assert await storage.attendance.marks(cohort.id) == []
    path = f"api/sessions/{safety.id}/attendance"
    body = {"student": student, "status": "present"}
    status, marked = await mini.post(path, supervisor, body)
    assert status == 200 and marked["changed"] and marked["message"] == "Marked: present."
    assert {c["status"]: c["n"] for c in marked["roll"]["counts"]}["present"] == 1
    record = await storage.attendance.get(safety.id, student)
    assert record.status is Status.PRESENT and record.marked_by == supervisor
    status, again = await mini.post(path, supervisor, body)
    assert (
        status == 200 and not again["changed"] and again["message"] == "Already marked: present."
    )
    (entry,) = await storage.attendance.marks(cohort.id)
    assert (entry.before, entry.after, entry.by_id) == ("missing", "present", supervisor)

    # Bad input is answered in the user's language and changes nothing.
    before = await storage.attendance.for_session(safety.id)
    status, answer = await mini.post(path, supervisor, {"student": supervisor, "status": "absent"},
                                     "uz")  # fmt: skip
    assert status == 400 and answer["error"] == "Bu talaba guruhda yoʻq."
    other_student = {"student": IDS["student_other"], "status": "absent"}
    assert (await mini.post(path, supervisor, other_student))[0] == 400
    for bad in ({"student": student, "status": "late"}, {"student": str(student)},
                {"student": True, "status": "present"}, [], {"status": "present"}):  # fmt: skip
        assert (await mini.post(path, supervisor, bad))[0] == 400, bad
    assert await storage.attendance.for_session(safety.id) == before
    other = await storage.cohorts.by_code("OTHER-1")
    start = safety.starts_at
    foreign = await storage.sessions.insert(
        other.id,
        SessionFields(
            "o1", start, start + timedelta(hours=1), Localized("Secret"), Localized("D")
        ),
    )
    for query in ("abc", "99999999", "1" * 40, str(foreign)):
        status, answer = await mini.get(
            f"api/cohorts/TPI-2026/attendance?session={query}", supervisor, "ru"
        )
        assert status == 404 and answer["error"].startswith("Занятия #"), (query, answer)
    status, _ = await mini.post(f"api/sessions/{foreign}/attendance", supervisor, body)
    assert status == 404


async def test_the_console_lists_open_questions_answered_in_chat(mini: MiniApp) -> None:
    harness = mini.harness
    services = harness.services
    storage = harness.storage
    cohort = await storage.cohorts.by_code("TPI-2026")
    student = await storage.users.get(IDS["student_own"])
    supervisor = await storage.users.get(IDS["supervisor_own"])
    _, empty = await mini.get("api/cohorts/TPI-2026/questions", supervisor.telegram_id)
    assert empty == {"questions": []}
    text = "Where is the <b>dormitory</b> & the canteen?"
    first = (await services.questions.ask(student, cohort, text, 1, False)).question
    second = (await services.questions.ask(student, cohort, "x" * 2000, 2, False)).question
    await services.questions.take(second, supervisor)
    harness.clock.advance(timedelta(minutes=95))

    _, listed = await mini.get("api/cohorts/TPI-2026/questions", supervisor.telegram_id, "ru")
    q1, q2 = listed["questions"]
    assert (q1["id"], q1["student"], q1["text"]) == (first.id, "student_own", text)
    assert q1["owner"] == "никто не взял" and q1["age"] == "1 ч 35 мин"
    assert q2["owner"] == "отвечает: supervisor_own" and len(q2["text"]) == 300
    _, coordinator = await mini.get("api/cohorts/TPI-2026/questions", COORDINATOR_ID, "uz")
    assert coordinator["questions"][0]["owner"] == "masʼul yoʻq"
    await services.questions.close(first, supervisor)
    _, after = await mini.get("api/cohorts/TPI-2026/questions", supervisor.telegram_id)
    assert [q["id"] for q in after["questions"]] == [second.id]  # closed ones leave the list
    # Another cohort's supervisor is refused, a code that does not exist too.
    status, _ = await mini.get("api/cohorts/TPI-2026/questions", IDS["supervisor_other"])
    assert status == 403
    status, _ = await mini.get("api/cohorts/NOPE/questions", IDS["supervisor_own"])
    assert status == 403
