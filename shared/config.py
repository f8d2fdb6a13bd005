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
    # roles (shared/domain/roles.py): Telegram ids of operations staff (OPS_USER_IDS, comma-separated),
    # and the chat where ops are told what needs them (OPS_CHAT_ID: a group's id is negative)
    ops_user_ids: frozenset[int] = frozenset()
    ops_chat_id: int | None = None

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
            ops_user_ids=parse_user_ids(env.get("OPS_USER_IDS", ""), "OPS_USER_IDS"),
            ops_chat_id=_chat_id(env.get("OPS_CHAT_ID", ""), "OPS_CHAT_ID"),
        )


def parse_user_ids(text: str, name: str = "user ids") -> frozenset[int]:
    """"123, 456" -> {123, 456}; empty -> none. Anything that is no Telegram user id (a positive
    integer) fails the start: a typo must not silently take someone's rights away or give them."""
    ids = set()
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if not (part.isascii() and part.isdigit()) or int(part) <= 0:
            raise RuntimeError(f"bad configuration: {name} must be comma-separated Telegram user ids")
        ids.add(int(part))
    return frozenset(ids)


def _chat_id(text: str, name: str) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    digits = text[1:] if text.startswith("-") else text
    if not (digits.isascii() and digits.isdigit()) or int(text) == 0:
        raise RuntimeError(f"bad configuration: {name} must be a Telegram chat id")
    return int(text)


def photo_path_key(env=os.environ) -> bytes:
    """PHOTO_PATH_KEY, read where a photo's path is built (services.pets.photo_prefix, whose callers pass no
    settings); the instances check it at start (Settings.photo_path_key), so a missing key fails there."""
    key = env.get(PHOTO_PATH_KEY, "")
    if not key:
        raise RuntimeError(f"missing configuration: {PHOTO_PATH_KEY}")
    return key.encode()
