"""Business rules. Handlers call these; these call the storage layer."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot
from telegram.ext import JobQueue

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs
from bot.scheduling import JobScheduler
from bot.services.delivery import Sender
from bot.services.importer import Importer
from bot.services.invites import InviteService
from bot.services.itinerary import ItineraryService
from bot.services.reminders import ReminderService
from bot.storage import Storage


@dataclass
class Services:
    """Everything a handler may use, built once in post_init and kept in bot_data."""

    settings: Settings
    clock: Clock
    storage: Storage
    catalogs: Catalogs
    importer: Importer
    invites: InviteService
    itinerary: ItineraryService
    sender: Sender
    reminders: ReminderService

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        storage: Storage,
        catalogs: Catalogs,
        bot: Bot,
        job_queue: JobQueue,
    ) -> Services:
        sender = Sender(bot, storage, clock, catalogs)
        scheduler = JobScheduler(job_queue, clock)
        return cls(
            settings=settings,
            clock=clock,
            storage=storage,
            catalogs=catalogs,
            importer=Importer(storage, clock),
            invites=InviteService(storage, clock, settings.invite_days),
            itinerary=ItineraryService(storage, clock),
            sender=sender,
            reminders=ReminderService(storage, clock, settings, sender, scheduler),
        )
