"""The playground: the real bot, unchanged, against the bundled Bot API emulator.

The demo data is imported into a scratch database with its dates shifted so that the cohort's
first day is today; you type as a student (or another persona) in the terminal.
"""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from bot.app import build_application, start_polling, stop_polling
from bot.clock import Clock
from bot.config import Settings
from bot.emulator import BotApiEmulator, SentMessage
from bot.logs import setup_logging
from bot.services.importer import Importer
from bot.services.invites import InviteService
from bot.storage import Database, Storage
from bot.storage.models import Role

DEMO_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_FILES = ("cohorts.csv", "sessions.csv", "contacts.csv")
DATE_COLUMNS = ("date", "arrives", "departs")
QUIET_SECONDS = 0.4
REPLY_TIMEOUT = 15.0


@dataclass(frozen=True)
class Persona:
    key: str
    user_id: int
    first_name: str
    last_name: str
    role: Role | None


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
  :help               this help        :quit   leave"""


def shift_demo_files(source: Path, target: Path, first_day: date) -> None:
    """Copies the demo CSVs with every date moved so the cohort arrives on `first_day`."""
    with (source / "cohorts.csv").open(encoding="utf-8-sig", newline="") as fp:
        arrives = min(date.fromisoformat(r["arrives"]) for r in csv.DictReader(fp))
    delta = first_day - arrives
    for name in DEMO_FILES:
        text = (source / name).read_text(encoding="utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
        writer.writeheader()
        for row in reader:
            for column in DATE_COLUMNS:
                if row.get(column):
                    row[column] = (date.fromisoformat(row[column]) + delta).isoformat()
            writer.writerow(row)
        (target / name).write_text(out.getvalue(), encoding="utf-8")


async def prepare_database(path: Path, scratch: Path, today: date) -> dict[Role, str]:
    """Imports the shifted demo data and makes one invite code per role."""
    shift_demo_files(DEMO_DIR, scratch, today)
    async with Database(path) as db:
        storage = Storage(db)
        importer = Importer(storage)
        plan = await importer.plan_files([(n, (scratch / n).read_bytes()) for n in DEMO_FILES])
        if not plan.ok:
            raise RuntimeError("; ".join(p.render() for p in plan.problems))
        await importer.apply(plan)
        cohort = (await storage.cohorts.all())[0]
        invites = InviteService(storage, Clock())
        return {
            role: (await invites.create(cohort, role, None)).code
            for role in (Role.STUDENT, Role.SUPERVISOR)
        }


def to_terminal(message: SentMessage) -> str:
    """Telegram's HTML as a terminal shows it; buttons numbered for `:N`."""
    text = message.text or ""
    text = re.sub(r"<br\s*/?>", "\n", text)
    text = re.sub(r"</?(b|strong)>", "*", text)
    text = re.sub(r"<[^>]+>", "", text)
    text = html.unescape(text)
    if message.method == "sendVenue":
        text = f"📍 {text} ({message.latitude:.5f}, {message.longitude:.5f})"
    elif message.method == "sendDocument":
        text = f"📎 {message.filename} ({len(message.document or b'')} bytes) {text}".rstrip()
    elif message.method.startswith("edit"):
        text = f"(edited) {text}"
    buttons = message.buttons()
    if buttons:
        text += "\n" + "  ".join(f"[{i}] {label}" for i, (label, _) in enumerate(buttons, 1))
    return "\n".join("  " + line for line in text.splitlines())


class Playground:
    def __init__(self, emulator: BotApiEmulator, out: TextIO, invites: dict[Role, str]) -> None:
        self.emu = emulator
        self.out = out
        self.invites = invites
        self.persona = PERSONAS["student"]
        self.echo = True
        self.last_with_buttons: dict[int, SentMessage] = {}
        for p in PERSONAS.values():
            emulator.add_user(p.user_id, p.first_name, last_name=p.last_name, language_code="en")

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    async def _exchange(self, action: Callable[[], object], chat: int | None = None) -> None:
        """Performs one user action, then prints what the bot answers until it falls quiet."""
        chat = chat or self.persona.user_id
        emu = self.emu
        start, toasts = len(emu.sent), len(emu.callback_answers)
        result = action()
        if asyncio.iscoroutine(result):
            await result
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPLY_TIMEOUT
        quiet_since = None
        seen = (start, toasts)
        while loop.time() < deadline:
            await asyncio.sleep(0.05)
            now = (len(emu.sent), len(emu.callback_answers))
            if now != seen:
                seen, quiet_since = now, loop.time()
            elif now != (start, toasts) and loop.time() - (quiet_since or 0) >= QUIET_SECONDS:
                break
        names = {p.user_id: f"{p.first_name} ({p.key})" for p in PERSONAS.values()}
        for message in emu.sent[start : seen[0]]:
            if message.buttons():
                self.last_with_buttons[message.chat_id] = message
            if message.chat_id != chat:
                # What other personas receive meanwhile (an announcement, a notice).
                self.print(f"  [to {names.get(message.chat_id, message.chat_id)}]")
            self.print(to_terminal(message))
        for answer in emu.callback_answers[toasts : seen[1]]:
            if answer.get("text"):
                self.print(f"  (pop-up) {answer['text']}")
        if seen == (start, toasts):
            self.print("  (no answer)")

    async def join(self, persona: Persona) -> None:
        code = self.invites.get(persona.role) if persona.role else None
        if code:
            self.print(f"[{persona.first_name} opens the invite link t.me/...?start={code}]")
            await self._exchange(
                lambda: self.emu.send_text(persona.user_id, f"/start {code}"), persona.user_id
            )

    async def handle(self, line: str) -> bool:
        """Returns False when the user wants to leave."""
        line = line.strip()
        if not line:
            return True
        if not line.startswith(":"):
            if self.echo:  # a script's lines are shown; what you type is already on screen
                self.print(f"{self.persona.first_name} ({self.persona.key}) > {line}")
            await self._exchange(lambda: self.emu.send_text(self.persona.user_id, line))
            return True
        command, _, arg = line[1:].partition(" ")
        if command in ("quit", "q", "exit"):
            return False
        if command == "help":
            self.print(HELP)
        elif command in PERSONAS:
            self.persona = PERSONAS[command]
            self.print(f"[now typing as {self.persona.first_name}, {command}]")
        elif command == "lang" and arg.strip() in ("uz", "ru", "en"):
            self.emu.set_language(self.persona.user_id, arg.strip())
            self.print(f"[{self.persona.first_name}'s Telegram app language is now {arg.strip()}]")
        elif command.isdigit():
            await self.press(int(command))
        else:
            self.print(f"[unknown playground command {line!r}; :help lists them]")
        return True

    async def press(self, number: int) -> None:
        message = self.last_with_buttons.get(self.persona.user_id)
        buttons = message.buttons() if message else []
        if not message or not 1 <= number <= len(buttons):
            self.print("[no such button]")
            return
        label, data = buttons[number - 1]
        self.print(f"{self.persona.first_name} ({self.persona.key}) presses [{label}]")
        await self._exchange(
            lambda: self.emu.press_button(self.persona.user_id, message.message_id, data)
        )


async def run_playground(
    *, script: str | None = None, language: str = "en", out: TextIO | None = None
) -> int:
    out = out or sys.stdout
    setup_logging(level=40)  # errors only: the transcript is the interface
    scratch = Path(tempfile.mkdtemp(prefix="mobility-playground-"))
    try:
        async with BotApiEmulator(bot_username="mobility_demo_bot") as emulator:
            database = scratch / "playground.sqlite3"
            today = datetime.now(ZoneInfo("Asia/Almaty")).date()  # the demo cohort's zone
            invites = await prepare_database(database, scratch, today)
            settings = Settings(
                token=emulator.token,
                base_url=emulator.base_url,
                base_file_url=emulator.base_file_url,
                database=database,
                coordinators=frozenset({PERSONAS["coordinator"].user_id}),
            )
            app = build_application(settings)
            await start_polling(app, poll_timeout=5)
            try:
                playground = Playground(emulator, out, invites)
                for persona in PERSONAS.values():
                    emulator.set_language(persona.user_id, language)
                playground.print(
                    f"Mobility Bot playground: demo cohort starts today ({today:%Y-%m-%d}).\n"
                    + HELP
                )
                await playground.join(PERSONAS["supervisor"])
                await playground.join(PERSONAS["student"])
                await _loop(playground, script)
            finally:
                await stop_polling(app)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


async def _loop(playground: Playground, script: str | None) -> None:
    if script is not None:
        for line in Path(script).read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                continue
            if not await playground.handle(line):
                return
        return
    loop = asyncio.get_running_loop()
    playground.echo = not sys.stdin.isatty()
    while True:
        playground.out.write(f"{playground.persona.first_name}> ")
        playground.out.flush()
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:  # end of input
            return
        if not await playground.handle(line):
            return
