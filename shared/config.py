"""Configuration from the environment (see the README's table)."""
from __future__ import annotations

import os
from dataclasses import dataclass

TELEGRAM_API = "https://api.telegram.org"


@dataclass(frozen=True)
class Settings:
    bot_token: str
    webhook_secret: str  # only the webhook function gets (and needs) it
    telegram_api_base: str
    project: str
    photos_bucket: str

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        if not env.get("TELEGRAM_BOT_TOKEN"):
            raise RuntimeError("missing configuration: TELEGRAM_BOT_TOKEN")
        return cls(
            bot_token=env["TELEGRAM_BOT_TOKEN"],
            webhook_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_base=env.get("TELEGRAM_API_BASE", TELEGRAM_API).rstrip("/"),
            project=env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"),
            photos_bucket=env.get("PHOTOS_BUCKET", "telemed-pet-photos"),
        )
