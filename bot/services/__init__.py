"""Business rules. Handlers call these; these call the storage layer."""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs
from bot.services.importer import Importer
from bot.services.invites import InviteService
from bot.services.itinerary import ItineraryService
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

    @classmethod
    def build(
        cls, settings: Settings, clock: Clock, storage: Storage, catalogs: Catalogs
    ) -> Services:
        return cls(
            settings=settings,
            clock=clock,
            storage=storage,
            catalogs=catalogs,
            importer=Importer(storage),
            invites=InviteService(storage, clock, settings.invite_days),
            itinerary=ItineraryService(storage, clock),
        )
