"""The Mini App: one page and a JSON API, served by aiohttp on the bot's own event loop.

An adapter like the chat handlers: every call is signed in with Telegram's initData, asks the
one permission module (`bot.services.access.allowed`) exactly as chat does, and changes
things only through the services the chat commands use (`AdminService` for /move, /room,
/cancel, /restore and the import), so members get the same notices and the audit the same
entries. No SQL here; nothing a user wrote reaches the page unescaped.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache, partial
from html import escape
from pathlib import Path
from string import Template
from typing import Any

from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import TelegramError

from bot.formatting import day_heading, hhmm, local_date, local_moment
from bot.handlers.attendance import _detail as attendance_detail
from bot.handlers.attendance import status_label, status_label_plain
from bot.handlers.common import role_name
from bot.handlers.editing import _refusal as refusal_text
from bot.handlers.editing import audit_text, session_line
from bot.handlers.files import plan_text
from bot.i18n import N_, Translator, choose_language, supported_language
from bot.parsing import is_number, parse_date, parse_time
from bot.services import Services
from bot.services.access import Actor, Permission, allowed
from bot.services.admin import MAX_LOCATION, MAX_REASON, ChangeRefused, Refusal
from bot.services.attendance import Mark, RollCall
from bot.services.calendar import build_calendar
from bot.services.questions import QUOTE, age_text
from bot.services.reminders import LEAD_CHOICES
from bot.services.spreadsheets import MAX_FILE_BYTES
from bot.storage.attendance import Status
from bot.storage.models import Cohort, Role, Session, User
from bot.webapp import initdata
from bot.webapp.texts import OUTSIDE_TELEGRAM, strings, text

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
TELEGRAM_SCRIPT = "https://telegram.org/js/telegram-web-app.js"
SHIM_SCRIPT = "static/telegram-shim.js"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Telegram's own script is the only thing the page loads from elsewhere (it may set styles
# inline: theme colours, the viewport's height).
CSP = (
    "default-src 'self'; script-src 'self' https://telegram.org; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
)
ANNOUNCEMENTS_SHOWN = 5
AUDIT_SHOWN = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Caller:
    """Who is asking, as `load_user` builds it for chat: the user, permissions, language."""

    user: User | None  # None: signed in by Telegram but unknown to the bot
    cohort: Cohort | None  # the cohort the user reads
    actor: Actor
    tr: Translator


class Refused(Exception):
    """Answered as JSON with this status and message (plain text: the page shows it as
    text); nothing was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data, status=status, headers=HEADERS, dumps=lambda d: json.dumps(d, ensure_ascii=False)
    )


def _language_of(request: web.Request) -> str:
    """The first of the browser's languages the bot speaks (before anyone is known)."""
    for part in request.headers.get("Accept-Language", "").split(","):
        language = supported_language(part.split(";")[0].strip())
        if language:
            return language
    return "en"


class WebApp:
    """The aiohttp application and its runner; `start` and `stop` follow the bot's life."""

    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self.settings = services.settings
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.app = self._build()

    # -- lifecycle ----------------------------------------------------------------------------

    def _build(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_FILE_BYTES + 64 * 1024, middlewares=[self._errors]
        )
        r = app.router
        r.add_get("/", self.index)
        r.add_static("/static/", STATIC, append_version=False)
        r.add_get("/api/me", self._api(self.me))
        r.add_get("/api/week", self._api(self.week))
        r.add_get("/api/sessions/{id}", self._api(self.session))
        r.add_get("/api/reminders", self._api(self.reminders))
        r.add_post("/api/reminders", self._api(self.set_reminders))
        r.add_get("/api/calendar", self._api(self.calendar))
        r.add_post("/api/calendar", self._api(self.send_calendar))
        r.add_get("/api/cohorts", self._api(self.cohorts))
        r.add_get("/api/cohorts/{code}/roster", self._api(self.roster))
        r.add_get("/api/cohorts/{code}/announcements", self._api(self.announcements))
        r.add_get("/api/cohorts/{code}/sessions", self._api(self.sessions))
        r.add_get("/api/cohorts/{code}/audit", self._api(self.audit))
        r.add_get("/api/cohorts/{code}/attendance", self._api(self.attendance))
        r.add_get("/api/cohorts/{code}/questions", self._api(self.questions))
        r.add_post("/api/sessions/{id}/attendance", self._api(self.mark_attendance))
        r.add_post("/api/sessions/{id}/change", self._api(self.change))
        r.add_post("/api/import", self._api(self.upload))
        r.add_post("/api/import/{id}", self._api(self.import_decision))
        return app

    async def start(self) -> None:
        host, port = self.settings.webapp_listen
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("Mini App served on %s:%d", host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def local_url(self) -> str:
        host, _ = self.settings.webapp_listen
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.port}/"

    # -- plumbing -----------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status >= 400 and request.path.startswith("/api/"):
                return _json({"error": exc.reason}, exc.status)
            raise
        except Exception:
            # Logged with the path only: the request's headers carry the user's initData.
            log.exception("Mini App: %s %s failed", request.method, request.path)
            tr = self.services.catalogs.get(_language_of(request))
            return _json({"error": tr(_SOMETHING_WRONG)}, 500)
        response.headers.setdefault("Content-Security-Policy", CSP)
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def _api(self, method: Callable[[web.Request, Caller], Awaitable[Any]]) -> Handler:
        """Signs the caller in, then runs `method` (looked up at each call, so a test can
        replace it); a refusal becomes a JSON answer with its status."""
        name = method.__name__

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                caller = await self._sign_in(request)
                result = await getattr(self, name)(request, caller)
            except Refused as refused:
                return _json({"error": refused.message}, refused.status)
            return result if isinstance(result, web.StreamResponse) else _json(result)

        return handle

    async def _sign_in(self, request: web.Request) -> Caller:
        raw = request.headers.get("Authorization", "")
        raw = raw[4:] if raw[:4].lower() == "tma " else ""
        services = self.services
        try:
            web_user = initdata.validate(raw, self.settings.token, services.clock.now())
        except initdata.InitDataError as exc:
            tr = services.catalogs.get(_language_of(request))
            expired = exc.reason is initdata.Rejection.EXPIRED
            raise Refused(401, tr(_EXPIRED if expired else _NOT_SIGNED)) from exc
        loaded = await services.storage.users.load(web_user.id)
        if loaded is None:
            # Unknown to the bot: no group, no role; a coordinator named in BOT_COORDINATORS
            # is one before their first message, as in chat.
            tr = services.catalogs.get(choose_language(None, web_user.language_code))
            actor = Actor(web_user.id, web_user.id in self.settings.coordinators)
            return Caller(None, None, actor, tr)
        services.itinerary.plans.observe(loaded.user.cohort_id, loaded.feed_position)
        user = loaded.user
        actor = Actor.of(
            user, {m.cohort_id: m.role for m in loaded.memberships}, self.settings.coordinators
        )
        tr = services.catalogs.get(choose_language(user.language, web_user.language_code))
        return Caller(user, loaded.cohort, actor, tr)

    def _refuse(self, caller: Caller) -> Refused:
        return Refused(403, caller.tr("Sorry, you are not allowed to do that."))

    def _own_cohort(self, caller: Caller) -> Cohort:
        """The cohort the caller reads, as /today finds it."""
        if caller.cohort is None or caller.user is None:
            raise Refused(403, strings(self.services.catalogs, caller.tr.language)["no_group"])
        if not allowed(caller.actor, Permission.READ_ITINERARY, caller.cohort.id):
            raise self._refuse(caller)
        return caller.cohort

    async def _cohort(
        self, request: web.Request, caller: Caller, permission: Permission
    ) -> Cohort:
        """The cohort the address names, if the caller may do this there (as `cohort_for`)."""
        code = request.match_info["code"][:64]
        cohort = await self.services.storage.cohorts.by_code(code)
        if cohort is None:
            if caller.actor.is_coordinator:
                raise Refused(
                    404,
                    caller.tr("There is no group with the code {code}.").format(code=code[:40]),
                )
            raise self._refuse(caller)
        if not allowed(caller.actor, permission, cohort.id):
            raise self._refuse(caller)
        return cohort

    async def _session(
        self, request: web.Request, caller: Caller, permission: Permission
    ) -> tuple[Session, Cohort]:
        """A session the caller may read or change; one of another cohort is "not found",
        the same answer as for a number that does not exist: nothing is revealed."""
        raw = request.match_info["id"]
        storage = self.services.storage
        session = await storage.sessions.get(int(raw)) if _an_id(raw) else None
        cohort = await storage.cohorts.get(session.cohort_id) if session else None
        if (
            session is None
            or cohort is None
            or not (allowed(caller.actor, Permission.READ_ITINERARY, cohort.id))
        ):
            raise Refused(404, caller.tr("There is no session #{id}.").format(id=raw[:12]))
        if not allowed(caller.actor, permission, cohort.id):
            raise self._refuse(caller)  # a session of their own group they may only read
        return session, cohort

    async def _all_sessions(self, cohort: Cohort) -> list[Session]:
        """A cohort's whole itinerary, from the plan cache while its change feed stands still
        (sign-in tells the cache where the user's cohort's feed stands, as `load_user` does
        for chat; `_fresh` does for another cohort)."""
        storage = self.services.storage
        return await self.services.itinerary.plans.get(
            cohort.id, "webapp:all", lambda: storage.sessions.for_cohort(cohort.id)
        )

    async def _fresh(self, caller: Caller, cohort: Cohort) -> None:
        """Another cohort than the caller's own (a coordinator's view): its position first,
        so its cached plans are never older than a confirmed change."""
        own = caller.user.cohort_id if caller.user is not None else None
        await self.services.itinerary.refresh(cohort.id, own)

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise Refused(400, "expected a JSON object")
        return data

    # -- the page -----------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        tr = self.services.catalogs.get(_language_of(request))
        page = _page_template().substitute(
            lang=escape(tr.language),
            title=escape(tr.pgettext("button", "Timetable")),
            outside=escape(text(tr, OUTSIDE_TELEGRAM)),
            telegram=escape(SHIM_SCRIPT if self.settings.webapp_shim else TELEGRAM_SCRIPT),
        )
        return web.Response(text=page, content_type="text/html")

    # -- everyone -----------------------------------------------------------------------------

    async def me(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        actor = caller.actor
        staff = actor.is_coordinator or any(r is Role.SUPERVISOR for r in actor.roles.values())
        cohort = caller.cohort
        return {
            "language": caller.tr.language,
            "strings": strings(self.services.catalogs, caller.tr.language),
            "known": caller.user is not None,
            "coordinator": actor.is_coordinator,
            "staff": staff,
            "cohort": (
                {"code": cohort.code, "name": cohort.name.get(caller.tr.language)}
                if cohort is not None and actor.member_of(cohort.id)
                else None
            ),
        }

    # -- members: the week, a session, reminders, the calendar ------------------------------

    async def week(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        cohort = self._own_cohort(caller)
        tr = caller.tr
        itinerary = self.services.itinerary
        today = itinerary.local_today(cohort)
        first = cohort.arrives - timedelta(days=cohort.arrives.weekday())
        last = cohort.departs - timedelta(days=cohort.departs.weekday())
        asked = parse_date(request.query.get("start", "")[:10])
        monday = asked or today
        monday = min(max(monday - timedelta(days=monday.weekday()), first), last)
        start = datetime.combine(monday, time(0), tzinfo=cohort.tz)
        end = start + timedelta(days=7)
        # Read with the plan cache, as /week is: the change feed keeps it current.
        sessions = await itinerary.plans.get(
            cohort.id,
            (start, end),
            lambda: self.services.storage.sessions.starting_between(cohort.id, start, end),
        )
        # "now" and "next" over the whole programme (the next session may lie in a later
        # week), as /next finds them, from the cached itinerary.
        now = self.services.clock.now()
        marks = {}
        running = [s for s in await self._all_sessions(cohort) if not s.cancelled]
        upcoming = next((s for s in running if s.starts_at > now), None)
        current = next((s for s in running if s.starts_at <= now < s.ends_at), None)
        if upcoming is not None:
            marks[upcoming.id] = "next"
        if current is not None:
            marks[current.id] = "now"
        by_day: dict[date, list[dict[str, Any]]] = {}
        for s in sessions:
            state = marks.get(s.id) or ("over" if s.ends_at <= now and not s.cancelled else "")
            by_day.setdefault(s.starts_at.astimezone(cohort.tz).date(), []).append(
                self._session_item(s, cohort, tr, state)
            )
        days = [monday + timedelta(days=i) for i in range(7)]
        return {
            "cohort": cohort.name.get(tr.language),
            "week": monday.isoformat(),
            "label": f"{local_date(days[0], tr)} – {local_date(days[-1], tr)}",
            "today": today.isoformat(),
            "previous": (monday - timedelta(days=7)).isoformat() if monday > first else None,
            "next": (monday + timedelta(days=7)).isoformat() if monday < last else None,
            "this_week": (today - timedelta(days=today.weekday())).isoformat(),
            "days": [
                {
                    "date": d.isoformat(),
                    "heading": day_heading(d, tr),
                    "today": d == today,
                    "sessions": by_day.get(d, []),
                }
                for d in days
            ],
        }

    @staticmethod
    def _session_item(s: Session, cohort: Cohort, tr: Translator, state: str) -> dict[str, Any]:
        lang = tr.language
        return {
            "id": s.id,
            "start": hhmm(s.starts_at, cohort),
            "end": hhmm(s.ends_at, cohort),
            "title": s.title.get(lang),
            "place": s.location.get(lang),
            "cancelled": s.cancelled,
            "state": state,
        }

    async def session(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        session, cohort = await self._session(request, caller, Permission.READ_ITINERARY)
        tr = caller.tr
        lang = tr.language
        local = session.starts_at.astimezone(cohort.tz).date()
        map_url = None
        if session.has_coordinates:
            map_url = (
                "https://www.google.com/maps/search/?api=1&query="
                f"{session.latitude:.6f},{session.longitude:.6f}"
            )
        return {
            "id": session.id,
            "title": session.title.get(lang),
            "day": day_heading(local, tr),
            "start": hhmm(session.starts_at, cohort),
            "end": hhmm(session.ends_at, cohort),
            "department": session.department.get(lang),
            "place": session.location.get(lang),
            "host": session.host.get(lang),
            "notes": session.notes.get(lang),
            "map": map_url,
            "cancelled": session.cancelled,
            "reason": session.cancel_reason,
        }

    def _reminder_state(self, user: User) -> dict[str, Any]:
        return {
            "on": user.reminders_on,
            "digest": user.digest_on,
            "leads": sorted(self.services.reminders.leads_of(user)),
            "choices": list(LEAD_CHOICES),
        }

    async def reminders(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        self._own_cohort(caller)
        assert caller.user is not None
        return self._reminder_state(caller.user)

    async def set_reminders(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """The same settings as /reminders' buttons, saved and rescheduled the same way."""
        cohort = self._own_cohort(caller)
        user = caller.user
        assert user is not None
        body = await self._body(request)
        on, digest, leads = body.get("on"), body.get("digest"), body.get("leads")
        if (
            not isinstance(on, bool)
            or not isinstance(digest, bool)
            or not isinstance(leads, list)
            or len(leads) > len(LEAD_CHOICES)
            or not all(isinstance(n, int) and n in LEAD_CHOICES for n in leads)
        ):
            raise Refused(400, caller.tr("This button is out of date."))
        if not leads:
            raise Refused(400, caller.tr("Keep at least one time, or turn reminders off."))
        services = self.services
        await services.storage.users.set_reminder_prefs(
            user.telegram_id, reminders_on=on, digest_on=digest, leads=tuple(set(leads))
        )
        await services.reminders.reschedule_cohort(cohort.id)
        updated = await services.storage.users.get(user.telegram_id)
        assert updated is not None
        return self._reminder_state(updated) | {"message": caller.tr("Saved.")}

    async def _calendar_file(self, caller: Caller) -> tuple[str, bytes]:
        """The file /calendar sends: the whole programme, with the caller's reminders."""
        cohort = self._own_cohort(caller)
        user = caller.user
        assert user is not None
        services = self.services
        sessions = await self._all_sessions(cohort)
        leads = services.reminders.leads_of(user) if user.reminders_on else ()
        data = build_calendar(cohort, sessions, caller.tr, leads, services.clock.now())
        return re.sub(r"[^A-Za-z0-9_-]+", "-", cohort.code) + ".ics", data

    async def calendar(self, request: web.Request, caller: Caller) -> web.Response:
        filename, data = await self._calendar_file(caller)
        return web.Response(
            body=data,
            content_type="text/calendar",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def send_calendar(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """The same file sent into the chat, as /calendar does: a phone's webview may not
        save a download, while a file in the chat opens in the calendar app."""
        filename, data = await self._calendar_file(caller)
        assert caller.user is not None
        tr = caller.tr
        try:
            await self.bot.send_document(
                caller.user.telegram_id,
                InputFile(io.BytesIO(data), filename=filename),
                caption=tr(
                    "Your programme as a calendar file: open it to add every session to your "
                    "phone's calendar, with reminders. Send /calendar again after changes: "
                    "events update in place."
                ),
            )
        except TelegramError as exc:
            log.warning("Mini App: could not send the calendar file: %s", exc)
            raise Refused(502, tr(_SOMETHING_WRONG)) from exc
        return {"message": tr("Sent to your chat with the bot.")}

    # -- staff --------------------------------------------------------------------------------

    async def cohorts(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        tr = caller.tr
        actor = caller.actor
        shown = []
        for cohort in await self.services.storage.cohorts.all():
            if not allowed(actor, Permission.VIEW_ROSTER, cohort.id):
                continue
            shown.append(
                {
                    "code": cohort.code,
                    "name": cohort.name.get(tr.language),
                    "dates": " – ".join(
                        local_date(d, tr) for d in (cohort.arrives, cohort.departs)
                    ),
                    "can": {
                        "roster": True,
                        "announcements": allowed(actor, Permission.BROADCAST, cohort.id),
                        "sessions": allowed(actor, Permission.EDIT_ITINERARY, cohort.id),
                        "audit": allowed(actor, Permission.VIEW_AUDIT, cohort.id),
                        "attendance": allowed(actor, Permission.VIEW_ATTENDANCE, cohort.id),
                        "questions": allowed(actor, Permission.ANSWER_QUESTIONS, cohort.id),
                    },
                }
            )
        if not shown and not actor.is_coordinator:
            raise self._refuse(caller)
        return {
            "cohorts": shown,
            "import": allowed(actor, Permission.EDIT_ITINERARY),
        }

    async def roster(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        cohort = await self._cohort(request, caller, Permission.VIEW_ROSTER)
        tr = caller.tr
        members = await self.services.storage.users.members_of(cohort.id)
        return {
            "members": [
                {
                    "name": user.display_name,
                    "username": user.username,
                    "role": role_name(membership.role, tr),
                    "language": (user.language or user.telegram_language or "?")[:5],
                    "reachable": user.reachable,
                    "seen": local_moment(user.last_seen, cohort.tz, tr) if user.last_seen else "",
                }
                for user, membership in members
            ]
        }

    async def announcements(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """The latest announcements to the cohort with who has acknowledged; one sent to every
        cohort lists this cohort's members only."""
        cohort = await self._cohort(request, caller, Permission.BROADCAST)
        storage = self.services.storage
        tr = caller.tr
        members = {u.telegram_id for u, _ in await storage.users.members_of(cohort.id)}
        shown = []
        for a in await storage.console.announcements_for(cohort.id, ANNOUNCEMENTS_SHOWN):
            deliveries = [
                d for d in await storage.announcements.deliveries(a.id) if d.user_id in members
            ]
            groups: dict[str, list[str]] = {
                "confirmed": [], "waiting": [], "not_delivered": [], "sending": []
            }  # fmt: skip
            for d in deliveries:
                if d.acked:
                    groups["confirmed"].append(d.name)
                elif d.status == "sent":
                    groups["waiting"].append(d.name)
                elif d.status in ("unreachable", "failed"):
                    groups["not_delivered"].append(d.name)
                else:
                    groups["sending"].append(d.name)
            shown.append(
                {
                    "id": a.id,
                    "text": a.text[:500],
                    "sent": local_moment(a.created_at, cohort.tz, tr),
                    "everyone": a.cohort_id is None,
                    "groups": groups,
                }
            )
        return {"announcements": shown}

    async def sessions(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        cohort = await self._cohort(request, caller, Permission.EDIT_ITINERARY)
        await self._fresh(caller, cohort)
        tr = caller.tr
        now = self.services.clock.now()
        rows = []
        headings: dict[date, str] = {}
        for s in await self._all_sessions(cohort):
            day = s.starts_at.astimezone(cohort.tz).date()
            if day not in headings:
                headings[day] = day_heading(day, tr)
            rows.append(
                self._session_item(s, cohort, tr, "over" if s.ends_at <= now else "")
                | {
                    "date": day.isoformat(),
                    "day": headings[day],
                    "revision": s.revision,
                    "location": str(s.location),
                    "reason": s.cancel_reason,
                }
            )
        return {
            "cohort": {"code": cohort.code, "name": cohort.name.get(tr.language)},
            "arrives": cohort.arrives.isoformat(),
            "departs": cohort.departs.isoformat(),
            "sessions": rows,
        }

    async def audit(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        cohort = await self._cohort(request, caller, Permission.VIEW_AUDIT)
        views = await self.services.admin.audit_log(cohort, AUDIT_SHOWN)
        # audit_text escapes everything it quotes: the same HTML /audit sends.
        return {"entries": [audit_text(v, cohort, caller.tr) for v in views]}

    async def attendance(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """The roll-call /attendance shows: the session going on (or the next), or the one of
        the cohort's the address names (`?session=`), with today's sessions to pick from."""
        cohort = await self._cohort(request, caller, Permission.VIEW_ATTENDANCE)
        tr = caller.tr
        services = self.services
        raw = request.query.get("session", "")
        if raw:
            session = await services.storage.sessions.get(int(raw)) if _an_id(raw) else None
            if session is None or session.cohort_id != cohort.id:
                raise Refused(404, tr("There is no session #{id}.").format(id=raw[:12]))
        else:
            session = await services.attendance.roll_call_session(cohort)
        now = services.clock.now()
        today = now.astimezone(cohort.tz).date()
        start = datetime.combine(today, time(0), tzinfo=cohort.tz)
        picker = [
            self._session_item(s, cohort, tr, "")
            for s in await services.storage.sessions.starting_between(
                cohort.id, start, start + timedelta(days=1)
            )
        ]
        if session is None:
            return {
                "today": picker,
                "roll": None,
                "message": tr("There are no sessions left in this group's programme."),
            }
        roll = await services.attendance.roll_call(session, cohort)
        return {
            "today": picker,
            "roll": self._roll_call(roll, tr),
            "marks": (
                [
                    {"status": st.value, "label": status_label(st, True, tr)}
                    for st in (Status.PRESENT, Status.EXCUSED, Status.ABSENT)
                ]
                if allowed(caller.actor, Permission.MARK_ATTENDANCE, cohort.id)
                else []
            ),
        }

    def _roll_call(self, roll: RollCall, tr: Translator) -> dict[str, Any]:
        """Counts and names, missing first (they are who staff look for); plain text except
        `detail`, which is escaped HTML as /attendance sends it."""
        s, cohort = roll.session, roll.cohort
        local = s.starts_at.astimezone(cohort.tz).date()
        statuses: list[Status | None] = [
            Status.PRESENT, Status.LATE, Status.EXCUSED, Status.ABSENT, None
        ]  # fmt: skip
        order = {st: i for i, st in enumerate([None, Status.ABSENT, Status.LATE,
                                               Status.EXCUSED, Status.PRESENT])}  # fmt: skip
        students = sorted(
            roll.students,
            key=lambda p: (order[p[1].status if p[1] else None], p[0].display_name.lower()),
        )
        return {
            "session": self._session_item(s, cohort, tr, "")
            | {"day": day_heading(local, tr), "started": roll.started},
            "counts": [
                {
                    "status": st.value if st else "missing",
                    "label": status_label(st, roll.started, tr),
                    "n": roll.count(st),
                }
                for st in statuses
            ],
            "students": [
                {
                    "id": user.telegram_id,
                    "name": user.display_name,
                    "status": record.status.value if record else "missing",
                    "label": status_label(record.status if record else None, roll.started, tr),
                    "detail": attendance_detail(record, cohort, tr),
                }
                for user, record in students
            ],
        }

    async def mark_attendance(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """A mark by hand, as the roll-call's buttons make it in chat: the same service call
        (audited), present, excused or absent; a second identical mark changes nothing."""
        session, cohort = await self._session(request, caller, Permission.MARK_ATTENDANCE)
        tr = caller.tr
        body = await self._body(request)
        student, raw_status = body.get("student"), body.get("status")
        choices = {"present": Status.PRESENT, "excused": Status.EXCUSED, "absent": Status.ABSENT}
        if (
            not isinstance(student, int)
            or isinstance(student, bool)
            or not isinstance(raw_status, str)
            or raw_status not in choices
        ):
            raise Refused(400, tr("This button is out of date."))
        status = choices[raw_status]
        attendance = self.services.attendance
        result = await attendance.mark(caller.actor.user_id, session, student, status)
        if result is Mark.NOT_ON_ROLL:
            raise Refused(400, tr("This student is not in the group."))
        label = status_label_plain(status, tr)
        message = (
            tr("Already marked: {status}.")
            if result is Mark.UNCHANGED
            else tr("Marked: {status}.")
        ).format(status=label)
        roll = await attendance.roll_call(session, cohort)
        return {
            "message": message,
            "changed": result is Mark.DONE,
            "roll": self._roll_call(roll, tr),
        }

    async def questions(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """The cohort's open questions as /questions lists them; answered in the chat."""
        cohort = await self._cohort(request, caller, Permission.ANSWER_QUESTIONS)
        tr = caller.tr
        storage = self.services.storage
        now = self.services.clock.now()
        questions = await storage.questions.unclosed_in(cohort.id)
        undelivered = await storage.questions.undelivered([q.id for q in questions])
        names: dict[int, str] = {}

        async def name(uid: int) -> str:
            if uid not in names:
                user = await storage.users.get(uid)
                names[uid] = user.display_name if user else str(uid)
            return names[uid]

        shown = []
        for q in questions:
            owner = await name(q.owner_id) if q.owner_id else None
            text = q.text if len(q.text) <= QUOTE else q.text[: QUOTE - 1] + "…"
            shown.append(
                {
                    "id": q.id,
                    "age": age_text(now - q.created_at, tr),
                    "student": await name(q.student_id),
                    "owner": tr("owner: {name}").format(name=owner) if owner else tr("no owner"),
                    "answered": q.status == "answered",
                    "state": tr("answered") if q.status == "answered" else "",
                    "undelivered": tr("answer undelivered") if q.id in undelivered else "",
                    "text": text or "📎",
                    "media": q.has_media,
                }
            )
        return {"questions": shown}

    async def change(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """One change to a session, as /move, /room, /cancel or /restore make it: first a
        preview (nothing written), then, with confirm, the same service call. `revision` is
        the session as the console showed it: a change made meanwhile (in chat, say) is
        never overwritten; the console is shown the new state instead."""
        session, cohort = await self._session(request, caller, Permission.EDIT_ITINERARY)
        tr = caller.tr
        body = await self._body(request)
        action = body.get("action")
        revision = body.get("revision")
        if action not in ("move", "room", "cancel", "restore") or not isinstance(revision, int):
            raise Refused(400, tr("This button is out of date."))
        if revision != session.revision:
            return self._stale(session, cohort, caller)
        admin = self.services.admin
        actor_id = caller.actor.user_id
        confirm = body.get("confirm") is True
        after: Any
        try:
            if action == "move":
                starts_at = self._moment(body, cohort, tr)
                admin.check_move(session, cohort, starts_at)
                after = ("starts", starts_at)
                apply = partial(admin.move, actor_id, session, cohort, starts_at)
            elif action == "room":
                place = " ".join(str(body.get("place") or "").split())[:MAX_LOCATION]
                if not place:
                    raise Refused(400, tr("Write the new place."))
                after = ("place", place)
                apply = partial(admin.room, actor_id, session, place)
            elif action == "cancel":
                if session.cancelled:
                    raise Refused(409, tr("This session is already cancelled."))
                reason = " ".join(str(body.get("reason") or "").split())[:MAX_REASON]
                after = ("cancel", reason)
                apply = partial(admin.cancel, actor_id, session, reason)
            else:
                if not session.cancelled:
                    raise ChangeRefused(Refusal.NOT_CANCELLED)
                after = ("restore", None)
                apply = partial(admin.restore, actor_id, session)
            if not confirm:
                return {"preview": self._preview(session, cohort, after, tr)}
            updated = await apply()
        except ChangeRefused as refused:
            if refused.reason is Refusal.STALE:
                fresh = await self.services.storage.sessions.get(session.id)
                return self._stale(fresh or session, cohort, caller)
            return {"refused": refusal_text(refused, session, cohort, tr)}
        return {
            "saved": "✅ "
            + escape(
                tr("Saved. Members have been told if it is within 48 hours, and reminders follow.")
            )
            + "\n"
            + session_line(updated, cohort, tr),
            "session": updated.id,
        }

    def _stale(self, session: Session, cohort: Cohort, caller: Caller) -> dict[str, Any]:
        tr = caller.tr
        return {
            "stale": "⚠️ "
            + escape(
                tr(
                    "Not saved: session #{id} was changed a moment ago by someone else. Here "
                    "it is now; check it and try again."
                ).format(id=session.id)
            )
            + "\n"
            + session_line(session, cohort, tr),
        }

    @staticmethod
    def _moment(body: dict[str, Any], cohort: Cohort, tr: Translator) -> datetime:
        raw_day, raw_time = str(body.get("date") or ""), str(body.get("time") or "")
        day, at = parse_date(raw_day[:20]), parse_time(raw_time[:20])
        if day is None:
            raise Refused(
                400,
                "⚠️ "
                + tr(
                    "“{value}” is not a date I can use: write it as YYYY-MM-DD, with a year "
                    "from 2000 to 2099."
                ).format(value=raw_day[:20]),
            )
        if at is None:
            raise Refused(
                400,
                "⚠️ "
                + tr("“{value}” is not a time: write it as HH:MM, from 00:00 to 23:59.").format(
                    value=raw_time[:20]
                ),
            )
        return datetime.combine(day, at, tzinfo=cohort.tz)

    @staticmethod
    def _preview(session: Session, cohort: Cohort, after: tuple[str, Any], tr: Translator) -> str:
        """Before → after, as /audit will show the entry; escaped HTML."""
        what, value = after
        lines = [session_line(session, cohort, tr)]
        if what == "starts":
            duration = session.ends_at - session.starts_at
            lines.append(
                f"🕘 {escape(local_moment(session.starts_at, cohort.tz, tr))} → "
                f"{escape(local_moment(value, cohort.tz, tr))}–"
                f"{hhmm(value + duration, cohort)}"
            )
        elif what == "place":
            lines.append(f"📍 {escape(str(session.location) or '—')} → {escape(value)}")
        elif what == "cancel":
            line = "❌ " + escape(tr("Cancelled"))
            if value:
                line += ": " + escape(value)
            lines.append(line)
        else:
            lines.append(
                "↩️ "
                + escape(tr("Back on the schedule: {moment}")).format(
                    moment=escape(local_moment(session.starts_at, cohort.tz, tr))
                )
            )
        lines.append(
            escape(tr("Members will be told if it is within 48 hours, and reminders follow."))
        )
        return "\n".join(lines)

    async def upload(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """A spreadsheet, as sent with the caption /import: validated and previewed; written
        only on Confirm (`import_decision`)."""
        tr = caller.tr
        if not allowed(caller.actor, Permission.EDIT_ITINERARY):
            raise self._refuse(caller)
        strings_ = strings(self.services.catalogs, tr.language)
        try:
            form = await request.post()
        except (ValueError, web.HTTPRequestEntityTooLarge) as exc:
            raise Refused(
                400,
                "⛔ "
                + tr("The file is too large ({size} KB); the limit is {limit} KB.").format(
                    size=(request.content_length or 0) // 1024, limit=MAX_FILE_BYTES // 1024
                ),
            ) from exc
        field = form.get("file")
        if not isinstance(field, web.FileField):
            raise Refused(400, strings_["choose_file"])
        name = (field.filename or "upload")[:100]
        content = field.file.read(MAX_FILE_BYTES + 1)
        if len(content) > MAX_FILE_BYTES:
            raise Refused(
                400,
                "⛔ "
                + tr("The file is too large ({size} KB); the limit is {limit} KB.").format(
                    size=len(content) // 1024, limit=MAX_FILE_BYTES // 1024
                ),
            )
        if not name.lower().endswith((".csv", ".xlsx")):
            raise Refused(400, strings_["choose_file"])
        services = self.services
        plan = await services.importer.plan_files([(name, content)])
        if not plan.ok or plan.empty:
            return {"preview": plan_text(plan, tr)}
        pending = await services.storage.pending_imports.save(
            caller.actor.user_id, name, content, services.clock.now()
        )
        return {"preview": plan_text(plan, tr), "import": pending}

    async def import_decision(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        tr = caller.tr
        if not allowed(caller.actor, Permission.EDIT_ITINERARY):
            raise self._refuse(caller)
        raw = request.match_info["id"]
        body = await self._body(request)
        if not _an_id(raw) or body.get("action") not in ("confirm", "discard"):
            raise Refused(400, tr("This button is out of date."))
        services = self.services
        upload = await services.storage.pending_imports.take(int(raw), caller.actor.user_id)
        if upload is None:
            return {"done": tr("This import was already confirmed or discarded.")}
        if body["action"] == "discard":
            return {"done": tr("Discarded: nothing was changed.")}
        name, content = upload
        plan = await services.importer.plan_files([(name, content)])
        if not plan.ok:
            return {"preview": plan_text(plan, tr)}
        await services.admin.apply_import(caller.actor.user_id, plan, name)
        return {
            "done": "✅ " + tr("Imported. Members are told about changes in the next 48 hours.")
        }


_SOMETHING_WRONG = N_("Something went wrong. Please try again.")
_NOT_SIGNED = N_("Open this page from the bot in Telegram: the sign-in is missing or not valid.")
_EXPIRED = N_("Your sign-in has expired: close the Mini App and open it again.")


def _an_id(raw: str) -> bool:
    """A row id as an address may carry it: digits that SQLite can hold."""
    return len(raw) <= 12 and is_number(raw)


@cache
def _page_template() -> Template:
    return Template((STATIC / "index.html").read_text(encoding="utf-8"))
