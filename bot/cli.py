"""What each command-line subcommand does; `__main__` only parses the arguments."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.logs import protect_terminal, setup_logging
from bot.parsing import parse_date, parse_time
from bot.storage import Database, Storage

log = logging.getLogger("bot")

# A Telegram username: 5-32 letters, digits and underscores, starting with a letter.
_USERNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{4,31}")


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    protect_terminal(settings.token)  # also when the token came from somewhere else
    return settings


def fail(message: str, status: int = 1) -> int:
    """One line on stderr, the exit status to return."""
    print(f"error: {message}", file=sys.stderr)
    return status


def existing_database(settings: Settings) -> str:
    """Why the configured database cannot be used by a command that must not create one;
    empty when it exists."""
    path = settings.database
    if not path.parent.is_dir():
        return f"the folder of BOT_DATABASE ({path.parent}) does not exist"
    if not path.is_file():
        return (
            f"there is no database at {path} (BOT_DATABASE); the bot creates it at its first "
            "start, `python -m bot import` too"
        )
    return ""


def token_refused(exc: BaseException) -> str:
    """The one line for a token Telegram rejects (401 for a wrong token, 404 for a malformed
    one). Never the exception's own text: python-telegram-bot puts the token in it."""
    causes = " ".join(str(e) for e in (exc, exc.__cause__, exc.__context__) if e is not None)
    status = "404 Not Found" if "Not Found" in causes else "401 Unauthorized"
    return f"Telegram refused the token ({status}); check TELEGRAM_BOT_TOKEN"


def run(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.token:
        return fail(
            "TELEGRAM_BOT_TOKEN is not set; set it to the token from @BotFather "
            "(or run `make run` without it for the playground)",
            2,
        )
    if args.webhook and not settings.webhook_secret:
        return fail(
            "webhook mode needs TELEGRAM_WEBHOOK_SECRET (1-256 characters: A-Z a-z 0-9 _ -)", 2
        )
    setup_logging(settings.token)
    from telegram import Update
    from telegram.error import InvalidToken

    from bot.app import build_application

    app = build_application(settings)
    quiet = _QuietRefusedToken()
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
    try:
        if args.webhook:
            # run_webhook/run_polling stop gracefully on SIGTERM and SIGINT: post_stop lets
            # the broadcast batch in flight finish; what is left stays pending in SQLite.
            app.run_webhook(
                listen=args.listen,
                port=args.port,
                url_path=urlsplit(args.webhook).path.strip("/"),
                webhook_url=args.webhook,
                secret_token=settings.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            app.run_polling(allowed_updates=Update.ALL_TYPES)
    except InvalidToken as exc:
        return fail(token_refused(exc))
    return 0


class _QuietRefusedToken(logging.Filter):
    """python-telegram-bot logs a refused token at start-up with a long traceback; `run`
    answers it with one line of its own instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        from telegram.error import InvalidToken

        refused = record.exc_info is not None and isinstance(record.exc_info[1], InvalidToken)
        return not (refused and "Bootstrap" in record.getMessage())


def demo(args: argparse.Namespace) -> int:
    from bot.playground import DEMO_TZ, run_playground

    start = None
    if args.start:
        day_text, _, time_text = args.start.strip().rpartition(" ")
        day, at = parse_date(day_text), parse_time(time_text)
        if day is None or at is None:
            return fail(f"--start {args.start!r}: use YYYY-MM-DD HH:MM (Asia/Almaty time)", 2)
        start = datetime.combine(day, at, tzinfo=DEMO_TZ)
    try:
        return asyncio.run(run_playground(script=args.script, language=args.language, start=start))
    except KeyboardInterrupt:  # Ctrl-C: leave quietly, as :quit does
        print(file=sys.stderr)
        return 130


BATCH_NICENESS = 10


def batch_priority() -> None:
    """Bulk jobs started beside the running bot (an import, an export, a purge) give way to it
    for the CPU, as backup tools do: on a small server a 20,000-row import at full priority
    took half the cores while students waited for their /today (docs/scaling.md). Each job
    still runs at full speed on an idle machine."""
    try:
        os.nice(BATCH_NICENESS)
    except (AttributeError, OSError):  # not on this platform, or not allowed: run as is
        pass


def import_files(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    batch_priority()
    return asyncio.run(_import(settings, [Path(f) for f in args.files], dry_run=args.dry_run))


async def _import(settings: Settings, paths: list[Path], *, dry_run: bool) -> int:
    from bot.services.importer import Importer

    files = []
    for path in paths:
        try:
            files.append((path.name, path.read_bytes()))
        except OSError as exc:
            print(f"error: cannot read {path}: {exc.strerror}", file=sys.stderr)
            return 1
    async with Database(settings.database) as db:
        storage = Storage(db)
        importer = Importer(storage)
        plan = await importer.plan_files(files)
        if not plan.ok:
            print(
                f"Import refused: {len(plan.problems)} problem(s); nothing was changed.",
                file=sys.stderr,
            )
            for p in plan.problems:
                print(f"  {p.render()}", file=sys.stderr)
            return 1
        print(describe_plan(plan))
        if dry_run:
            print("Dry run: nothing was written to the database.")
            return 0
        if plan.empty:
            return 0
        await importer.apply(plan)
        print("Imported.")
    return 0


def describe_plan(plan) -> str:  # type: ignore[no-untyped-def]
    """What an import would change, in plain English for the operator's terminal."""
    lines = []
    if plan.empty:
        lines.append("No changes: the database already matches these files.")
    if plan.cohorts_added or plan.cohorts_changed:
        lines.append(
            f"cohorts: {len(plan.cohorts_added)} added, {len(plan.cohorts_changed)} changed"
        )
    if plan.sessions:
        lines.append(
            f"sessions: {plan.count('added')} added, {plan.count('changed')} changed, "
            f"{plan.count('cancelled')} cancelled"
        )
        for change in plan.of_kind("cancelled"):
            start, title = change.local_start, change.after.title.get("en")
            lines.append(f"  cancels {change.cohort_code} {start:%Y-%m-%d %H:%M} {title}")
    for change in plan.contacts:
        where = "shared" if change.cohort_code == "*" else change.cohort_code
        lines.append(
            f"contacts ({where}): {len(change.after)} in the list, "
            f"{change.added} added, {change.removed} removed"
        )
    for checklist in plan.tasks:
        lines.append(
            f"tasks ({checklist.cohort_code}): {len(checklist.after)} in the checklist, "
            f"{checklist.added} added, {checklist.changed} changed, {checklist.removed} removed"
        )
    if plan.warnings:
        lines.append(f"{len(plan.warnings)} warning(s) (the import is not refused for these):")
        lines += [f"  {w.render()}" for w in plan.warnings]
    return "\n".join(lines)


def invite(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    return asyncio.run(_invite(settings, args))


async def _invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.services.invites import InviteService, invite_link
    from bot.storage.models import Role

    if (args.uses is not None and args.uses < 1) or (args.days is not None and args.days < 1):
        return fail("--uses and --days must be positive", 2)
    username = (args.bot_username or "").strip().removeprefix("@")
    if args.bot_username is not None and not _USERNAME_RE.fullmatch(username):
        return fail(
            f"--bot-username {args.bot_username!r} is not a Telegram username "
            "(5-32 letters, digits or _, e.g. mobility_bot or @mobility_bot)",
            2,
        )
    if problem := existing_database(settings):
        return fail(problem)
    if not username:
        if not settings.token:
            return fail(
                "set TELEGRAM_BOT_TOKEN (to ask Telegram for the bot's username) "
                "or pass --bot-username",
                2,
            )
        from telegram import Bot
        from telegram.error import InvalidToken, TelegramError

        try:
            async with Bot(settings.token, base_url=settings.base_url) as bot:
                username = bot.username
        except InvalidToken as exc:
            return fail(token_refused(exc))
        except TelegramError as exc:
            return fail(f"could not ask Telegram for the bot's username: {exc}")
    async with Database(settings.database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code(args.cohort)
        if cohort is None:
            return fail(f"there is no cohort {args.cohort!r}")
        service = InviteService(storage, Clock(), settings.invite_days)
        created = await service.create(
            cohort, Role(args.role), None, days=args.days, max_uses=args.uses
        )
    print(invite_link(username, created.code))
    print(f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


def check(args: argparse.Namespace) -> int:
    """Exit 0 when the bot could start: for the container's HEALTHCHECK and for operators.
    Prints one line per check passed; the first failure ends it with one line on stderr.
    It never creates the database (a fresh one would look healthy and hide a wrong path)."""
    settings = _settings()
    setup_logging(settings.token, level=logging.ERROR)
    reason = asyncio.run(_check(settings))
    if reason:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    print("ok")
    return 0


async def _check(settings: Settings) -> str:
    from bot.app import check_timezone_data
    from bot.i18n import CatalogError, Catalogs

    try:
        check_timezone_data()
    except RuntimeError as exc:
        return str(exc)
    print("time zones: Asia/Almaty is UTC+5")
    try:
        catalogs = Catalogs()
        if catalogs.get("ru")("Today") == "Today":
            return "the Russian catalog does not translate"
    except CatalogError as exc:
        return f"translations: {exc}"
    print("translations: en, ru, uz catalogs load and translate")
    if problem := existing_database(settings):
        return problem
    try:
        async with Database(settings.database) as db:
            cohorts = (await db.fetchone("SELECT COUNT(*) FROM cohorts"))[0]
            version = await db.schema_version()
    except Exception as exc:
        return f"database {settings.database}: {exc}"
    print(f"database: {settings.database} opens (schema {version}, {cohorts} cohorts)")
    if not settings.token:
        print("telegram: not checked (TELEGRAM_BOT_TOKEN is not set)")
        return ""
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError

    try:
        async with Bot(settings.token, base_url=settings.base_url) as bot:
            me = await bot.get_me()
    except InvalidToken as exc:
        return token_refused(exc)
    except TelegramError as exc:
        return f"Telegram getMe failed: {exc}"
    except Exception as exc:
        return f"Telegram getMe failed: {type(exc).__name__}"
    print(f"telegram: getMe answers @{me.username}")
    return ""


def backup(args: argparse.Namespace) -> int:
    """SQLite's online backup API: a consistent copy, safe while the bot writes."""
    import sqlite3

    settings = _settings()
    source_path = settings.database
    if problem := existing_database(settings):
        return fail(problem)
    target = Path(args.file)
    if target.exists():
        return fail(f"{target} exists; choose a new file")
    folder = target.parent
    if not folder.is_dir():
        return fail(f"cannot write the backup to {target}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        return fail(f"cannot write the backup to {target}: the folder {folder} is not writable")
    try:
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error as exc:
        return fail(f"cannot read the database {source_path}: {exc}")
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination, pages=1024)
            ok = destination.execute("PRAGMA integrity_check").fetchone()[0]
        finally:
            destination.close()
    except (sqlite3.Error, OSError) as exc:
        target.unlink(missing_ok=True)  # no half-written copy that looks like a backup
        return fail(f"cannot write the backup to {target}: {exc}")
    finally:
        source.close()
    if ok != "ok":
        return fail(f"the backup failed its integrity check: {ok}")
    print(f"backed up {source_path} to {target} ({target.stat().st_size // 1024} KB)")
    return 0


def stats(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    if problem := existing_database(settings):
        return fail(problem)

    async def collect():  # type: ignore[no-untyped-def]
        async with Database(settings.database) as db:
            return await Storage(db).operations.stats(Clock().now())

    try:
        s = asyncio.run(collect())
    except Exception as exc:
        return fail(f"database {settings.database}: {exc}")
    print(f"cohorts:                    {s.cohorts}")
    print(f"members:                    {s.members} ({s.reachable} reachable)")
    print(f"sessions in the next 7 days: {s.sessions_next_7_days}")
    print(f"reminders sent:             {s.reminders_sent}")
    print(f"announcements:              {s.announcements} ({s.announcement_copies_sent} copies)")
    print("last errors:" + ("" if s.last_errors else " none"))
    for at, kind, detail in s.last_errors:
        print(f"  {at:%Y-%m-%d %H:%M} UTC  {kind}: {detail}")
    return 0


def purge(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    batch_priority()
    if problem := existing_database(settings):
        return fail(problem)

    async def run_purge() -> int:
        async with Database(settings.database) as db:
            storage = Storage(db)
            cohort = await storage.cohorts.by_code(args.cohort)
            if cohort is None:
                return fail(f"there is no cohort {args.cohort!r}")
            now = Clock().now()
            async with storage.transaction():
                counts = await storage.operations.purge_cohort(cohort.id, now)
                await storage.audit.record(
                    now, None, cohort.id, "purge", cohort.code, "",
                    f"{counts['members']} members removed",
                )  # fmt: skip
        print(
            f"purged {cohort.code}: {counts['members']} members and their messages removed; "
            f"kept counts: {counts['reminders_sent']} reminders, {counts['announcements']} "
            f"announcements ({counts['announcement_copies']} copies)"
        )
        return 0

    return asyncio.run(run_purge())


def export(args: argparse.Namespace) -> int:
    """What /export sends: the cohort in the import format, plus who did which task."""
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    batch_priority()
    if problem := existing_database(settings):
        return fail(problem)
    target = Path(args.file)
    if target.exists():
        return fail(f"{target} already exists")

    async def run_export() -> int:
        from bot.services.export import export_cohort

        async with Database(settings.database) as db:
            storage = Storage(db)
            cohort = await storage.cohorts.by_code(args.cohort)
            if cohort is None:
                return fail(f"there is no cohort {args.cohort!r}")
            data = await export_cohort(storage, cohort, Clock().now())
        try:
            target.write_bytes(data)
        except OSError as exc:
            return fail(f"cannot write {target}: {exc.strerror}")
        print(f"exported {cohort.code} to {target} ({len(data) // 1024} KB)")
        return 0

    return asyncio.run(run_export())


def attendance(args: argparse.Namespace) -> int:
    """The attendance record of a cohort as an XLSX workbook (the same as /attendance_report)."""
    from bot.i18n import Catalogs
    from bot.services.attendance_report import attendance_report

    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
    if problem := existing_database(settings):
        return fail(problem)
    target = Path(args.xlsx)
    if not target.parent.is_dir():
        return fail(f"the folder of {target} does not exist")

    async def write() -> int:
        async with Database(settings.database) as db:
            storage = Storage(db)
            cohort = await storage.cohorts.by_code(args.cohort)
            if cohort is None:
                return fail(f"there is no cohort {args.cohort!r}")
            data = await attendance_report(storage, cohort, Clock().now(), Catalogs().get("en"))
        target.write_bytes(data)
        print(f"wrote the attendance record of {cohort.code} to {target}")
        return 0

    return asyncio.run(write())
