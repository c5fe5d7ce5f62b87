"""What each command-line subcommand does; `__main__` only parses the arguments."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from urllib.parse import urlsplit

from bot.clock import Clock
from bot.config import ConfigError, Settings
from bot.logs import setup_logging
from bot.storage import Database, Storage

log = logging.getLogger("bot")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run(args: argparse.Namespace) -> int:
    settings = _settings()
    if not settings.token:
        print(
            "error: TELEGRAM_BOT_TOKEN is not set; set it to the token from @BotFather "
            "(or run `make run` without it for the playground)",
            file=sys.stderr,
        )
        return 2
    setup_logging(settings.token)
    from telegram import Update

    from bot.app import build_application

    app = build_application(settings)
    if args.webhook:
        if not settings.webhook_secret:
            print(
                "error: webhook mode needs TELEGRAM_WEBHOOK_SECRET "
                "(1-256 characters: A-Z a-z 0-9 _ -)",
                file=sys.stderr,
            )
            return 2
        path = urlsplit(args.webhook).path.strip("/")
        # run_webhook/run_polling stop gracefully on SIGTERM and SIGINT: post_stop lets the
        # broadcast batch in flight finish; what is left stays pending in SQLite.
        app.run_webhook(
            listen=args.listen,
            port=args.port,
            url_path=path,
            webhook_url=args.webhook,
            secret_token=settings.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        app.run_polling(allowed_updates=Update.ALL_TYPES)
    return 0


def demo(args: argparse.Namespace) -> int:
    from bot.playground import run_playground

    return asyncio.run(run_playground(script=args.script, language=args.language))


def import_files(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)
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

    username = args.bot_username
    if not username:
        if not settings.token:
            print(
                "error: set TELEGRAM_BOT_TOKEN (to ask Telegram for the bot's username) "
                "or pass --bot-username",
                file=sys.stderr,
            )
            return 2
        from telegram import Bot

        async with Bot(settings.token, base_url=settings.base_url) as bot:
            username = bot.username
    if (args.uses is not None and args.uses < 1) or (args.days is not None and args.days < 1):
        print("error: --uses and --days must be positive", file=sys.stderr)
        return 2
    async with Database(settings.database) as db:
        storage = Storage(db)
        cohort = await storage.cohorts.by_code(args.cohort)
        if cohort is None:
            print(f"error: there is no cohort {args.cohort!r}", file=sys.stderr)
            return 1
        service = InviteService(storage, Clock(), settings.invite_days)
        created = await service.create(
            cohort, Role(args.role), None, days=args.days, max_uses=args.uses
        )
    print(invite_link(username, created.code))
    print(f"expires {created.expires_at:%Y-%m-%d %H:%M} UTC", file=sys.stderr)
    return 0


def check(args: argparse.Namespace) -> int:
    """Exit 0 when the bot could start: for the container's HEALTHCHECK and for operators."""
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
    try:
        catalogs = Catalogs()
        if catalogs.get("ru")("Today") == "Today":
            return "the Russian catalog does not translate"
    except CatalogError as exc:
        return f"translations: {exc}"
    try:
        async with Database(settings.database) as db:
            await db.fetchone("SELECT COUNT(*) FROM cohorts")
    except Exception as exc:
        return f"database {settings.database}: {exc}"
    if settings.token:
        from telegram import Bot
        from telegram.error import TelegramError

        try:
            async with Bot(settings.token, base_url=settings.base_url) as bot:
                await bot.get_me()
        except TelegramError as exc:
            return f"Telegram getMe failed: {exc}"
        except Exception as exc:
            return f"Telegram getMe failed: {type(exc).__name__}"
    return ""


def backup(args: argparse.Namespace) -> int:
    """SQLite's online backup API: a consistent copy, safe while the bot writes."""
    import sqlite3

    settings = _settings()
    source_path = settings.database
    if not source_path.exists():
        print(f"error: no database at {source_path}", file=sys.stderr)
        return 1
    target = Path(args.file)
    if target.exists():
        print(f"error: {target} exists; choose a new file", file=sys.stderr)
        return 1
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    destination = sqlite3.connect(target)
    try:
        source.backup(destination, pages=1024)
        ok = destination.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        destination.close()
        source.close()
    if ok != "ok":
        print(f"error: the backup failed its integrity check: {ok}", file=sys.stderr)
        return 1
    print(f"backed up {source_path} to {target} ({target.stat().st_size // 1024} KB)")
    return 0


def stats(args: argparse.Namespace) -> int:
    settings = _settings()
    setup_logging(settings.token, level=logging.WARNING)

    async def collect():  # type: ignore[no-untyped-def]
        async with Database(settings.database) as db:
            return await Storage(db).operations.stats(Clock().now())

    s = asyncio.run(collect())
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

    async def run_purge() -> int:
        async with Database(settings.database) as db:
            storage = Storage(db)
            cohort = await storage.cohorts.by_code(args.cohort)
            if cohort is None:
                print(f"error: there is no cohort {args.cohort!r}", file=sys.stderr)
                return 1
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
