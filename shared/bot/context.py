"""The per-update context handlers get: the acting owner (read once per update) and translations."""
from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from telegram.ext import Application, CallbackContext, ExtBot

from shared.domain.owners import Owner, language_for
from shared.domain.roles import is_ops
from shared.i18n import t

if TYPE_CHECKING:
    from shared.bootstrap import WebhookServices
    from shared.bot.commands import CommandMenu


class BotContext(CallbackContext[ExtBot, dict, dict, dict]):
    """PTB builds one context per update, so the owner loaded by `load_owner` is this update's owner."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None):
        super().__init__(application, chat_id, user_id)
        self.user_id = user_id  # the acting person (PTB passes the update's effective user)
        self.owner: Owner | None = None
        self.language = "ru"
        self.uow = None         # this update's unit of work, once the owner is known
        self._services = None   # the services with the unit of work's repositories

    @property
    def services(self) -> WebhookServices:
        """Inside an owner's update, repositories that stage writes until `commit()`."""
        return self._services or self.shared_services

    @property
    def shared_services(self) -> WebhookServices:
        """Repositories that write at once, outside this update's unit of work (erasure)."""
        return self.application.bot_data["services"]

    @property
    def is_ops(self) -> bool:
        """The acting person is operations staff (OPS_USER_IDS; see shared/domain/roles.py). Vets are known
        by their vets/{id} document: roles.roles_of(user id, ops ids, that document's status)."""
        return is_ops(self.user_id, self.ops_ids)

    @property
    def ops_ids(self) -> frozenset[int]:
        return self.application.bot_data.get("ops_ids", frozenset())

    @property
    def commands(self) -> CommandMenu:
        """The command menu, published through this update's bot (made on use: no service holds a bot)."""
        from shared.bot.commands import CommandMenu

        return CommandMenu(self.bot)

    async def commit(self) -> None:
        """Applies this update's staged writes, all or none (raises StaleUpdate or OwnerGone); call it
        before telling the person something was saved."""
        self.owner = await self.uow.commit()

    def t(self, key: str, **params) -> str:
        return t(self.language, key, **params)

    @property
    def miniapp_url(self) -> str:
        """Where the Mini App opens (MINIAPP_URL; build_application), "" when not configured."""
        return self.application.bot_data.get("miniapp_url", "")

    async def load_owner(self, update_id: int, user) -> None:
        """The webhook usually started this read while claiming the update; otherwise read it now."""
        prefetched = self.application.bot_data.get("prefetched", {}).get(update_id)
        self.owner = await (prefetched if prefetched is not None else self.services.owners.get(user.id))
        self.language = self.owner.language if self.owner else language_for(user.language_code)
        if self.owner:
            base = self.shared_services
            self.uow = base.unit_of_work(self.owner)
            self._services = replace(base, owners=self.uow.owners, pets=self.uow.pets, diary=self.uow.diary,
                                     reminders=self.uow.reminders, vets=self.uow.vets)
