"""Configuration from the environment (see the README's table)."""
from __future__ import annotations

import os
from dataclasses import dataclass

TELEGRAM_API = "https://api.telegram.org"
PHOTO_PATH_KEY = "PHOTO_PATH_KEY"


@dataclass(frozen=True)
class Settings:
    bot_token: str
    webhook_secret: str  # only the webhook function gets (and needs) it
    telegram_api_base: str
    project: str
    photos_bucket: str
    # secret that turns an owner id into the opaque folder of their photos (see services.pets.photo_prefix);
    # the webhook (intake, erasure) and the triage function refuse to start without it
    photo_path_key: str = ""

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
            photo_path_key=env.get(PHOTO_PATH_KEY, ""),
        )


def photo_path_key(env=os.environ) -> bytes:
    """PHOTO_PATH_KEY, read where a photo's path is built (services.pets.photo_prefix, whose callers pass no
    settings); the instances check it at start (Settings.photo_path_key), so a missing key fails there."""
    key = env.get(PHOTO_PATH_KEY, "")
    if not key:
        raise RuntimeError(f"missing configuration: {PHOTO_PATH_KEY}")
    return key.encode()
