"""The playground: the real bot, unchanged, against the bundled Bot API emulator.

The demo data is imported into a scratch database with its dates shifted by whole weeks, so
that today falls in the programme's first week and every session keeps its weekday; you type
as a student (or another persona) in the terminal. The bot's clock can be moved (`:clock`):
whatever falls due in between (reminders, the evening plan, notices) is sent, in order, once.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import html
import io
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.app import build_application, start_polling, stop_polling
from bot.clock import Clock, MovableClock
from bot.config import Settings
from bot.context import SERVICES_KEY
from bot.emulator import BotApiEmulator, SentMessage
from bot.logs import setup_logging
from bot.parsing import parse_date, parse_time
from bot.scheduling import JobScheduler
from bot.services.importer import Importer
from bot.services.invites import InviteService
from bot.storage import Database, Storage
from bot.storage.models import Role
from bot.webapp.initdata import sign as sign_init_data

ROOT = Path(__file__).resolve().parent.parent
DEMO_DIR = ROOT / "data"
DEMO_FILES = ("cohorts.csv", "sessions.csv", "contacts.csv", "tasks.csv")  # tasks: /tasks
DATE_COLUMNS = ("date", "arrives", "departs")
QUIET_SECONDS = 0.4
REPLY_TIMEOUT = 15.0
MAX_WAIT_SECONDS = 600
DEMO_TZ = ZoneInfo("Asia/Almaty")  # the demo cohort's zone
INVITE_DAYS = 120  # long enough for any jump of the clock within the programme
PLAYGROUND_PHOTO = b"\xff\xd8\xff\xe0 a photo of room 105"  # what :photo sends


@dataclass(frozen=True)
class Persona:
    key: str
    user_id: int
    first_name: str
    last_name: str
    role: Role | None

    @property
    def label(self) -> str:
        return f"{self.first_name} ({self.key})"


PERSONAS = {
    "student": Persona("student", 1001, "Aziza", "Karimova", Role.STUDENT),
    "student2": Persona("student2", 1002, "Jasur", "Toshmatov", Role.STUDENT),
    "supervisor": Persona("supervisor", 2001, "Nodir", "Gafurov", Role.SUPERVISOR),
    "coordinator": Persona("coordinator", 3001, "Saule", "Akhmetova", Role.COORDINATOR),
    "stranger": Persona("stranger", 4001, "Alex", "Visitor", None),
}

HELP = """Playground commands (everything else is sent to the bot as the current persona):
  :student | :student2 | :supervisor | :coordinator | :stranger   switch persona
  :lang uz|ru|en      set the Telegram app language of the persona (before /language)
  :N                  press button N of the bot's last message with buttons
  :clock              show the bot's time (the cohort's zone)
  :clock +35m | +2h | +1d | 20:00 | YYYY-MM-DD HH:MM
                      move the clock forward: reminders, the 20:00 plan, notices fall due
  :upload FILE [caption]   send a file as the persona, e.g. :upload data/sessions.csv /import
  :reply TEXT         reply (swipe left) to the persona's latest message from the bot
  :photo [caption]    send a (tiny) photo as the persona, e.g. after /ask
  :group              the cohort's group chat: its messages, 📌 marks the pinned card (the
                      first time, the supervisor adds the bot and links the group)
  :group TEXT         say TEXT in the group chat as the persona, e.g. :group /today
  :wait N             stay idle for N seconds (in a script)
  :webapp             the Mini App's local addresses, signed for each persona (open in a browser)
  :location LAT LON   share a location as the persona (a check-in with location on)
  a line ending in \\  goes on on the next line; or :multi, the lines, then :end
  :help               this help        :quit   leave (Ctrl-D, Ctrl-C)
Messages arrive as they are sent, also while you are idle; [to Name] marks another persona's.
Bold shows as 【bold】 and italic as 〔italic〕 in a transcript (as bold/italic at a terminal)."""

# How Telegram's HTML styles are shown: ANSI at a terminal, unambiguous marks in a transcript
# (not *...*, which people type themselves).
ANSI_STYLES = {
    "b": ("\x1b[1m", "\x1b[22m"),
    "i": ("\x1b[3m", "\x1b[23m"),
    "u": ("\x1b[4m", "\x1b[24m"),
    "s": ("\x1b[9m", "\x1b[29m"),
}
PLAIN_STYLES = {"b": ("【", "】"), "i": ("〔", "〕"), "u": ("", ""), "s": ("", "")}
_TAG_ALIASES = {"strong": "b", "em": "i", "ins": "u", "strike": "s", "del": "s"}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z-]+)([^>]*)>")
_HREF_RE = re.compile(r"""href\s*=\s*["']([^"']*)["']""")


@dataclass(frozen=True)
class Demo:
    """What the playground needs to know about the demo data it imported."""

    invites: dict[str, str]  # persona key -> invite code
    timezone: ZoneInfo
    arrives: date
    departs: date
    shift: timedelta
    code: str = ""  # the demo cohort's code (what /link takes in its group chat)


def demo_shift(arrives: date, today: date) -> timedelta:
    """Whole weeks that bring the programme's first week around `today` (weekdays stay)."""
    return timedelta(weeks=(today - arrives).days // 7)


def shift_demo_files(source: Path, target: Path, today: date) -> timedelta:
    """Copies the demo CSVs with every date moved by whole weeks so that `today` falls in the
    programme's first week; returns the shift."""
    with (source / "cohorts.csv").open(encoding="utf-8-sig", newline="") as fp:
        arrives = min(date.fromisoformat(r["arrives"]) for r in csv.DictReader(fp))
    delta = demo_shift(arrives, today)
    for name in DEMO_FILES:
        (target / name).write_bytes(shift_dates((source / name).read_bytes(), delta))
    return delta


async def prepare_database(path: Path, scratch: Path, clock: Clock) -> Demo:
    """Imports the shifted demo data and makes an invite code for each persona who joins."""
    today = clock.now().astimezone(DEMO_TZ).date()
    shift = shift_demo_files(DEMO_DIR, scratch, today)
    async with Database(path) as db:
        storage = Storage(db)
        importer = Importer(storage)
        plan = await importer.plan_files([(n, (scratch / n).read_bytes()) for n in DEMO_FILES])
        if not plan.ok:
            raise RuntimeError("; ".join(p.render() for p in plan.problems))
        await importer.apply(plan)
        cohort = (await storage.cohorts.all())[0]
        service = InviteService(storage, clock)
        invites = {}
        for persona in PERSONAS.values():
            if persona.role in (Role.STUDENT, Role.SUPERVISOR):
                invite = await service.create(
                    cohort, persona.role, None, days=INVITE_DAYS, max_uses=1
                )
                invites[persona.key] = invite.code
        return Demo(invites, cohort.tz, cohort.arrives, cohort.departs, shift, cohort.code)


def render_html(text: str, styles: dict[str, tuple[str, str]]) -> str:
    """Telegram's HTML subset as terminal text: styles marked, links followed by their URL."""
    links: list[str] = []

    def tag(match: re.Match[str]) -> str:
        closing, name, attrs = match[1] == "/", match[2].lower(), match[3]
        name = _TAG_ALIASES.get(name, name)
        if name in styles:
            return styles[name][1 if closing else 0]
        if name == "a":
            if not closing:
                href = _HREF_RE.search(attrs)
                links.append(html.unescape(href[1]) if href else "")
                return ""
            url = links.pop() if links else ""
            return f" ({url})" if url else ""
        if name == "br":
            return "\n"
        return ""

    return html.unescape(_TAG_RE.sub(tag, text))


def to_terminal(message: SentMessage, *, ansi: bool = False) -> str:
    """A bot message as a terminal shows it; buttons numbered for `:N`."""
    text = render_html(message.text or "", ANSI_STYLES if ansi else PLAIN_STYLES)
    if message.method == "sendVenue":
        text = f"📍 {text} ({message.latitude:.5f}, {message.longitude:.5f})"
    elif message.method == "sendDocument":
        text = f"📎 {message.filename} ({len(message.document or b'')} bytes) {text}".rstrip()
    elif message.method.startswith("edit"):
        text = f"(edited) {text}"
    elif message.method == "copyMessage":
        size = f"{len(message.document or b'')} bytes, " if message.document else ""
        text = f"📷 (copied, {size}not uploaded again) {text}".rstrip()
    buttons = message.buttons()
    if buttons:
        text += "\n" + "  ".join(f"[{i}] {label}" for i, (label, _) in enumerate(buttons, 1))
    if keys := message.keyboard_buttons():  # a reply keyboard: answered with :location
        text += "\n" + "  ".join(f"<{label}>" for label in keys)
    return "\n".join("  " + line for line in text.splitlines())


_STEP_RE = re.compile(r"(\d{1,5})([smhd])")
_STEP_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def clock_target(arg: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """`+35m`, `+2h`, `+1d`, `+50s` (or `+1h30m`), `HH:MM` (its next occurrence), or
    `YYYY-MM-DD HH:MM` in the cohort's zone; None when it is none of these."""
    arg = arg.strip()
    if arg.startswith("+"):
        steps = arg[1:]
        if not steps or _STEP_RE.sub("", steps):
            return None
        delta = timedelta()
        for amount, unit in _STEP_RE.findall(steps):
            delta += timedelta(**{_STEP_UNITS[unit]: int(amount)})
        return now + delta
    day_text, _, time_text = arg.rpartition(" ")
    at = parse_time(time_text)
    if at is None:
        return None
    if not day_text:
        local = now.astimezone(tz)
        target = datetime.combine(local.date(), at, tzinfo=tz)
        return target if target > local else target + timedelta(days=1)
    day = parse_date(day_text)
    return None if day is None else datetime.combine(day, at, tzinfo=tz)


class Playground:
    def __init__(
        self,
        emulator: BotApiEmulator,
        out: TextIO,
        demo: Demo,
        clock: MovableClock,
        scheduler: JobScheduler,
    ) -> None:
        self.emu = emulator
        self.out = out
        self.demo = demo
        self.clock = clock
        self.scheduler = scheduler
        self.persona = PERSONAS["student"]
        self.echo = True
        self.ansi = out.isatty()
        self.prompting = False  # a prompt is on screen, waiting for a line
        self.joined: set[str] = set()
        self.last_with_buttons: dict[int, SentMessage] = {}
        self._shown = len(emulator.sent)
        self._toasts_shown = len(emulator.callback_answers)
        self._busy = asyncio.Lock()
        self._multi: list[str] | None = None
        self._continued: list[str] = []
        self.mini_app: str | None = None  # the Mini App's local address, when served
        self.languages = {p.user_id: "en" for p in PERSONAS.values()}  # Telegram app languages
        self.group_id: int | None = None  # the cohort's group chat, once `:group` opened it
        for p in PERSONAS.values():
            emulator.add_user(p.user_id, p.first_name, last_name=p.last_name, language_code="en")

    # -- output ------------------------------------------------------------------------------

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def prompt(self) -> None:
        if self._multi is not None or self._continued:
            self.out.write("... ")
        else:
            self.out.write(f"{self.persona.first_name}> ")
        self.out.flush()
        self.prompting = True

    def _show_new(self, *, label_all: bool = False) -> int:
        """Prints what the bot sent since last time; returns how many messages and pop-ups.
        A message to another persona is headed [to Name]; with `label_all` (what the clock
        or idleness brought) every message is."""
        emu = self.emu
        messages = emu.sent[self._shown :]
        toasts = emu.callback_answers[self._toasts_shown :]
        self._shown += len(messages)
        self._toasts_shown += len(toasts)
        shown = [a for a in toasts if a.get("text")]
        if (messages or shown) and self.prompting:
            self.out.write("\n")  # break off the prompt; it is shown again afterwards
        names: dict[int, str] = {p.user_id: p.label for p in PERSONAS.values()}
        if self.group_id is not None:
            names[self.group_id] = "the group chat"
        for message in messages:
            if message.buttons():
                self.last_with_buttons[message.chat_id] = message
            if label_all or message.chat_id != self.persona.user_id:
                self.print(f"  [to {names.get(message.chat_id, message.chat_id)}]")
            self.print(to_terminal(message, ansi=self.ansi))
        for answer in shown:
            self.print(f"  (pop-up) {answer['text']}")
        if (messages or shown) and self.prompting:
            self.prompt()
        return len(messages) + len(toasts)

    async def _settle(self, *, expect_reply: bool) -> None:
        """Waits until the bot falls quiet (and, if a reply is expected, until one comes)."""
        emu = self.emu
        loop = asyncio.get_running_loop()
        start = (len(emu.sent), len(emu.callback_answers))
        deadline = loop.time() + REPLY_TIMEOUT
        seen, quiet_since = start, loop.time()
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            now = (len(emu.sent), len(emu.callback_answers))
            if now != seen:
                seen, quiet_since = now, loop.time()
            elif (now != start or not expect_reply) and loop.time() - quiet_since >= QUIET_SECONDS:
                return

    async def _exchange(
        self, action: Callable[[], Awaitable[object]], *, expect_reply: bool = True
    ) -> int:
        """Performs one action, then prints what the bot sends until it falls quiet. Without
        `expect_reply` (a move of the clock) nothing may come, and all of it is labelled."""
        async with self._busy:
            self._show_new(label_all=True)  # anything that arrived just before belongs above
            self.prompting = False
            await action()
            await self._settle(expect_reply=expect_reply)
            count = self._show_new(label_all=not expect_reply)
        if count == 0 and expect_reply:
            self.print("  (no answer)")
        return count

    async def watch(self) -> None:
        """Shows messages that arrive while nobody types (reminders, notices, announcements)."""
        while True:
            try:
                await self.emu.wait_for_message(after=self._shown, timeout=60)
            except TimeoutError:
                continue
            async with self._busy:
                await self._settle(expect_reply=False)
                self._show_new(label_all=True)

    # -- input -------------------------------------------------------------------------------

    async def feed(self, raw: str) -> bool:
        """One line as typed; collects multi-line messages. False when the user leaves."""
        line = raw.rstrip("\r\n")
        if self._multi is not None:
            if line.strip() != ":end":
                self._multi.append(line)
                return True
            text, self._multi = "\n".join(self._multi).strip(), None
            if text:
                await self.send(text)
            return True
        if line.strip() == ":multi":
            self._multi = []
            self.print("[type the lines of one message, then :end]")
            return True
        if line.endswith("\\"):
            self._continued.append(line[:-1])
            return True
        if self._continued:
            line, self._continued = "\n".join([*self._continued, line]), []
        return await self.handle(line)

    async def handle(self, line: str) -> bool:
        """One complete input; returns False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith(":"):
            await self.send(line)
            return True
        command, _, arg = line[1:].partition(" ")
        arg = arg.strip()
        if command in ("quit", "q", "exit"):
            return False
        if command == "help":
            self.print(HELP)
        elif command in PERSONAS:
            await self.switch(PERSONAS[command])
        elif command == "lang" and arg in ("uz", "ru", "en"):
            self.emu.set_language(self.persona.user_id, arg)
            self.languages[self.persona.user_id] = arg
            self.print(f"[{self.persona.first_name}'s Telegram app language is now {arg}]")
        elif command == "clock":
            await self.move_clock(arg)
        elif command == "upload":
            await self.upload(arg)
        elif command == "wait":
            await self.wait(arg)
        elif command == "webapp":
            self.print_mini_app()
        elif command == "reply":
            await self.reply(arg)
        elif command == "photo":
            await self.photo(arg)
        elif command == "location":
            await self.share_location(arg)
        elif command == "group":
            await self.group(arg)
        elif command.isdigit():
            await self.press(int(command))
        else:
            self.print(f"[unknown playground command {line!r}; :help lists them]")
        return True

    async def send(self, text: str) -> None:
        if self.echo:  # a script's lines are shown; what you type is already on screen
            shown = text.replace("\n", "\n" + " " * (len(self.persona.label) + 1) + "| ")
            self.print(f"{self.persona.label} > {shown}")
        await self._exchange(lambda: self.emu.send_text(self.persona.user_id, text))

    async def reply(self, text: str) -> None:
        """A Telegram reply to the latest bot message this persona got (a question's thread)."""
        uid = self.persona.user_id
        latest = self.emu.messages_to(uid)
        if not text or not latest:
            self.print("[:reply TEXT answers the latest message from the bot]")
            return
        target = latest[-1].message_id
        self.print(f"{self.persona.label} replies to #{target} > {text}")
        await self._exchange(lambda: self.emu.send_text(uid, text, reply_to=target))

    async def photo(self, caption: str) -> None:
        self.print(f"{self.persona.label} sends a photo{f' ({caption})' if caption else ''}")
        await self._exchange(
            lambda: self.emu.send_photo(
                self.persona.user_id, PLAYGROUND_PHOTO, caption=caption or None
            )
        )

    # -- personas ----------------------------------------------------------------------------

    async def switch(self, persona: Persona) -> None:
        self.persona = persona
        self.print(f"[now typing as {persona.first_name}, {persona.key}]")
        if persona.key in self.demo.invites and persona.key not in self.joined:
            await self.join(persona)

    async def join(self, persona: Persona) -> None:
        code = self.demo.invites[persona.key]
        self.joined.add(persona.key)
        self.print(f"[{persona.first_name} opens the invite link t.me/...?start={code}]")
        await self._exchange(lambda: self.emu.send_text(persona.user_id, f"/start {code}"))
        # A supervisor link asks before it takes effect; the persona confirms, as they would.
        question = self.last_with_buttons.get(persona.user_id)
        confirm = [d for _, d in (question.buttons() if question else []) if ":ok:" in d]
        if question is not None and confirm and confirm[0].startswith("v1:join:"):
            self.print(f"[{persona.first_name} confirms]")
            await self._exchange(
                lambda: self.emu.press_button(persona.user_id, question.message_id, confirm[0])
            )

    async def press(self, number: int) -> None:
        message = self.last_with_buttons.get(self.persona.user_id)
        buttons = message.buttons() if message else []
        if not message or not 1 <= number <= len(buttons):
            self.print("[no such button]")
            return
        label, data = buttons[number - 1]
        self.print(f"{self.persona.label} presses [{label}]")
        rows = (message.reply_markup or {}).get("inline_keyboard") or []
        if self.mini_app and "web_app" in [b for row in rows for b in row][number - 1]:
            # A web_app button: Telegram would open the page, signed in as this persona.
            self.print(f"[the Mini App opens: {self.mini_app_link(self.persona)}]")
            return
        await self._exchange(
            lambda: self.emu.press_button(self.persona.user_id, message.message_id, data)
        )

    # -- the Mini App ------------------------------------------------------------------------

    def mini_app_link(self, persona: Persona, view: str = "") -> str:
        """The page as Telegram would open it for `persona`: initData signed with the
        emulator's token, valid for 24 hours of the playground's clock."""
        assert self.mini_app is not None
        user = {
            "id": persona.user_id,
            "first_name": persona.first_name,
            "last_name": persona.last_name,
            "language_code": self.languages[persona.user_id],
        }
        signed = sign_init_data(user, self.emu.token, self.clock.now())
        query = f"?view={view}" if view else ""
        return f"{self.mini_app}{query}#tgWebAppData={quote(signed, safe='')}"

    def print_mini_app(self) -> None:
        if not self.mini_app:
            self.print("[the Mini App is not served in this playground]")
            return
        self.print("[the Mini App, signed in as each persona; open an address in a browser]")
        for persona in PERSONAS.values():
            view = "console" if persona.role in (Role.SUPERVISOR, Role.COORDINATOR) else ""
            self.print(f"  {persona.label}: {self.mini_app_link(persona, view)}")
        self.print(
            "  (the supervisor's console has the roll-call under Attendance and the open"
            " questions under Questions: try /ask as the student, then :clock +40m)"
        )

    # -- time and files ----------------------------------------------------------------------

    def local_time(self, moment: datetime | None = None) -> str:
        local = (moment or self.clock.now()).astimezone(self.demo.timezone)
        return f"{local:%a %Y-%m-%d %H:%M} ({self.demo.timezone.key})"

    async def move_clock(self, arg: str) -> None:
        if not arg:
            self.print(f"[it is {self.local_time()}]")
            return
        now = self.clock.now()
        target = clock_target(arg, now, self.demo.timezone)
        if target is None:
            self.print("[:clock takes +35m, +2h, +1d, HH:MM or YYYY-MM-DD HH:MM (cohort time)]")
            return
        if target <= now:
            self.print(f"[the clock only moves forward; it is {self.local_time(now)}]")
            return
        self.print(f"[the clock moves to {self.local_time(target)}]")
        if await self._exchange(lambda: self.scheduler.retime(target), expect_reply=False) == 0:
            self.print("  (nothing fell due)")

    async def wait(self, arg: str) -> None:
        """Lets real time pass (a script's way to be idle); what arrives is shown meanwhile."""
        seconds = int(arg) if arg.isascii() and arg.isdigit() else 0
        if not 1 <= seconds <= MAX_WAIT_SECONDS:
            self.print(f"[:wait takes seconds, 1 to {MAX_WAIT_SECONDS}]")
            return
        self.print(f"[waiting {seconds} s]")
        await asyncio.sleep(seconds)
        async with self._busy:
            self._show_new(label_all=True)

    async def share_location(self, arg: str) -> None:
        try:
            latitude, longitude = (float(x) for x in arg.replace(",", " ").split())
        except ValueError:
            self.print("[:location LAT LON, e.g. :location 43.2559 76.9279]")
            return
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            self.print("[:location LAT LON, e.g. :location 43.2559 76.9279]")
            return
        self.print(f"{self.persona.label} shares the location {latitude:.5f}, {longitude:.5f}")
        await self._exchange(
            lambda: self.emu.send_location(self.persona.user_id, latitude, longitude)
        )

    async def upload(self, arg: str) -> None:
        path_text, _, caption = arg.partition(" ")
        if not path_text:
            self.print("[:upload FILE [caption], e.g. :upload data/sessions.csv /import]")
            return
        path = Path(path_text).expanduser()
        if not path.is_absolute() and not path.exists():
            path = ROOT / path  # the demo files, from wherever the playground was started
        if not path.is_file():
            self.print(f"[there is no file {path_text}]")
            return
        name = path.name
        content = path.read_bytes()
        if path.resolve().parent == DEMO_DIR and name in DEMO_FILES and self.demo.shift:
            # The playground's programme is the demo moved by whole weeks: upload the demo file
            # as the playground sees it, or every session would "move" back to its old dates.
            content = shift_dates(content, self.demo.shift)
            weeks = self.demo.shift.days // 7
            self.print(f"[{name}: its dates shifted by {weeks} weeks, like the playground's]")
        caption = caption.strip()
        said = f" with the caption {caption!r}" if caption else ""
        self.print(f"{self.persona.label} sends the file {name} ({len(content)} bytes){said}")
        await self._exchange(
            lambda: self.emu.send_document(
                self.persona.user_id, name, content, caption=caption or None
            )
        )

    # -- the cohort's group chat -------------------------------------------------------------

    async def group(self, text: str) -> None:
        """`:group` shows the group chat (the pinned card marked); `:group TEXT` says TEXT
        there as the persona. The first time, the supervisor adds the bot and links it."""
        if self.group_id is None:
            await self._open_group()
        group_id = self.group_id
        assert group_id is not None
        if not text:
            self.show_group()
            return
        self.print(f"{self.persona.label} in the group chat > {text}")
        await self._exchange(
            lambda: self.emu.send_group_text(group_id, self.persona.user_id, text)
        )

    async def _open_group(self) -> None:
        supervisor = PERSONAS["supervisor"]
        if supervisor.key not in self.joined:
            await self.join(supervisor)
        members = tuple(p.user_id for p in PERSONAS.values() if p.key != "stranger")
        group_id = self.emu.add_group("TPI autumn (group chat)", members=members)
        self.group_id = group_id

        async def add_bot() -> None:
            self.emu.add_bot_to_group(group_id, supervisor.user_id, admin=True, can_pin=True)

        self.print(f"[{supervisor.first_name} adds the bot to the group chat, allowed to pin]")
        await self._exchange(add_bot)
        link = f"/link {self.demo.code}"
        self.print(f"{supervisor.label} in the group chat > {link}")
        await self._exchange(lambda: self.emu.send_group_text(group_id, supervisor.user_id, link))

    def show_group(self) -> None:
        assert self.group_id is not None
        pinned = self.emu.pinned_message(self.group_id)
        history = self.emu.chat_history(self.group_id)
        self.print(f"[the group chat: {len(history)} messages; 📌 PINNED marks the pinned one]")
        for message in history:
            sender = message.get("from", {})
            who = "Mobility Bot" if sender.get("is_bot") else sender.get("first_name", "?")
            marks = " 📌 PINNED" if message["message_id"] == pinned else ""
            marks += " (edited)" if "edit_date" in message else ""
            self.print(f"  #{message['message_id']} {who}{marks}:")
            text = str(message.get("text", ""))
            self.print("\n".join("      " + line for line in text.splitlines()))


def shift_dates(content: bytes, delta: timedelta) -> bytes:
    """A demo CSV with every date column moved by `delta`."""
    reader = csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline=""))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
    writer.writeheader()
    for row in reader:
        for column in DATE_COLUMNS:
            if row.get(column):
                row[column] = (date.fromisoformat(row[column]) + delta).isoformat()
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


async def run_playground(
    *,
    script: str | None = None,
    language: str = "en",
    out: TextIO | None = None,
    start: datetime | None = None,
) -> int:
    """Runs the playground; `start` puts the bot's clock at that instant (default: now)."""
    out = out or sys.stdout
    setup_logging(level=40)  # errors only: the transcript is the interface
    scratch = Path(tempfile.mkdtemp(prefix="mobility-playground-"))
    try:
        async with BotApiEmulator(bot_username="mobility_demo_bot") as emulator:
            database = scratch / "playground.sqlite3"
            clock = MovableClock()
            if start is not None:
                clock.set(start)
            demo = await prepare_database(database, scratch, clock)
            # The Mini App on loopback, with a local stand-in for Telegram's script.
            port = free_port()
            settings = Settings(
                token=emulator.token,
                base_url=emulator.base_url,
                base_file_url=emulator.base_file_url,
                database=database,
                coordinators=frozenset({PERSONAS["coordinator"].user_id}),
                webapp_url=f"http://127.0.0.1:{port}/",
                webapp_listen=("127.0.0.1", port),
                webapp_shim=True,
            )
            app = build_application(settings, clock=clock)
            await start_polling(app, poll_timeout=5)
            watcher: asyncio.Task[None] | None = None
            try:
                scheduler = app.bot_data[SERVICES_KEY].scheduler
                playground = Playground(emulator, out, demo, clock, scheduler)
                playground.mini_app = settings.webapp_url
                for persona in PERSONAS.values():
                    emulator.set_language(persona.user_id, language)
                    playground.languages[persona.user_id] = language
                playground.print(
                    f"Mobility Bot playground: the demo programme runs {demo.arrives:%a %Y-%m-%d}"
                    f" to {demo.departs:%a %Y-%m-%d} (moved by whole weeks, so weekdays are"
                    f" right); it is {playground.local_time()}.\n" + HELP
                )
                await playground.join(PERSONAS["supervisor"])
                await playground.join(PERSONAS["student"])
                playground.print_mini_app()
                watcher = asyncio.create_task(playground.watch())
                await _loop(playground, script)
            finally:
                if watcher is not None:
                    watcher.cancel()
                await stop_polling(app)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _loop(playground: Playground, script: str | None) -> None:
    if script is not None:
        for line in Path(script).read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#") and playground._multi is None:
                continue
            if not await playground.feed(line):
                return
        return
    playground.echo = not sys.stdin.isatty()
    lines = TerminalInput(sys.stdin)
    try:
        while True:
            playground.prompt()
            line = await lines.readline()
            playground.prompting = False
            if line is None:  # end of input (Ctrl-D)
                playground.print("")
                return
            if not await playground.feed(line):
                return
    finally:
        lines.close()


class TerminalInput:
    """Lines from stdin read on the event loop, not in a thread: a thread blocked in
    readline() would keep the process alive after Ctrl-C until Enter is pressed."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._loop = asyncio.get_running_loop()
        self._fd: int | None = None
        try:
            fd = stream.fileno()
            self._loop.add_reader(fd, self._readable)
            self._fd = fd
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # a regular file (`< lines.txt`): reading it never blocks

    def _readable(self) -> None:
        assert self._fd is not None
        data = os.read(self._fd, 65536)
        if not data:
            if self._pending:
                self._queue.put_nowait(self._pending)
            self._queue.put_nowait(None)
            self.close()
            return
        self._pending += self._decoder.decode(data)
        while "\n" in self._pending:
            line, _, self._pending = self._pending.partition("\n")
            self._queue.put_nowait(line)

    async def readline(self) -> str | None:
        if self._fd is None and self._queue.empty():
            line = self._stream.readline()
            return line if line else None
        return await self._queue.get()

    def close(self) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            self._fd = None
