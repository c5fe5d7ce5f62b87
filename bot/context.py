"""A typed CallbackContext: the services, the user, their permissions and their language."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telegram.ext import CallbackContext, ExtBot

from bot.i18n import DEFAULT_LANGUAGE, Translator, choose_language
from bot.services.access import Actor

if TYPE_CHECKING:
    from bot.services import Services
    from bot.storage.models import Cohort, User

SERVICES_KEY = "services"


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """Filled once per update by `load_user` (handler group -1) before any handler runs."""

    user: User | None = None
    cohort: Cohort | None = None  # the cohort the user reads, read with the user
    actor: Actor = Actor(user_id=0)
    _tr: Translator | None = None

    @property
    def services(self) -> Services:
        return self.application.bot_data[SERVICES_KEY]

    @property
    def tr(self) -> Translator:
        if self._tr is None:
            self._tr = self.services.catalogs.get(DEFAULT_LANGUAGE)
        return self._tr

    def use_language(self, language: str | None, telegram_code: str | None = None) -> None:
        self._tr = self.services.catalogs.get(choose_language(language, telegram_code))
