"""Configuration from the environment (see the README's table)."""
from __future__ import annotations

import os
from dataclasses import dataclass

TELEGRAM_API = "https://api.telegram.org"


@dataclass(frozen=True)
class Settings:
    bot_token: str
    webhook_secret: str
    telegram_api_base: str
    project: str
    photos_bucket: str

    @classmethod
    def from_env(cls, env=os.environ) -> "Settings":
        missing = [name for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET") if not env.get(name)]
        if missing:
            raise RuntimeError(f"missing configuration: {', '.join(missing)}")
        return cls(
            bot_token=env["TELEGRAM_BOT_TOKEN"],
            webhook_secret=env["TELEGRAM_WEBHOOK_SECRET"],
            telegram_api_base=env.get("TELEGRAM_API_BASE", TELEGRAM_API).rstrip("/"),
            project=env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"),
            photos_bucket=env.get("PHOTOS_BUCKET", "telemed-pet-photos"),
        )
