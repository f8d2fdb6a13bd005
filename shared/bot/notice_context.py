"""The context of a notice sent outside an update (the Mini App's API, ops' command line)."""
from __future__ import annotations


class NoticeContext:
    """What the bot's notices (handlers.bookings, handlers.conclusion) read of a handler's context: the bot,
    and the services they address people with (repositories, clock)."""

    def __init__(self, bot, services):
        self.bot = bot
        self.services = services
        self.shared_services = services
