"""Telegram Mini App `initData`: the first-party check (HMAC-SHA256 with the bot token).

As Telegram specifies it (core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app):
- initData is a query string, form-decoded (`%XX`, `+` -> space); values are kept as decoded text (the
  `user` JSON is checked as sent, never re-serialised);
- the data-check string is every pair except `hash`, as `key=value`, sorted, joined by `\\n` — `signature`
  (Bot API 8.0+, the third-party Ed25519 signature) stays in it, as do keys we do not know;
- secret_key = HMAC_SHA256(key=b"WebAppData", msg=bot_token) (raw bytes); the hash is
  hex(HMAC_SHA256(key=secret_key, msg=data_check_string)), compared in constant time.
Telegram sets no age limit: `auth_date` older than `max_age` seconds, or more than `FUTURE_SKEW` seconds
ahead of our clock, is refused here. A key given twice is refused (which of the two did Telegram sign?),
so is initData without `hash`, `auth_date` or a `user` object with an integer id.

Every refusal is an InitDataError with a reason for logs; callers answer all of them the same (401).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl

MAX_LENGTH = 8192          # bytes of initData accepted (real ones are well under 1 KiB)
FUTURE_SKEW = 60           # seconds an auth_date may be ahead of our clock
DEFAULT_MAX_AGE = 86400    # MINIAPP_INIT_DATA_MAX_AGE's default: a day, as @tma.js defaults to


class InitDataError(ValueError):
    """initData that proves nothing; `reason` is for logs only (the caller answers 401 whatever it is)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WebAppUser:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    language_code: str | None = None


@dataclass(frozen=True)
class InitData:
    user: WebAppUser
    auth_date: int
    query_id: str | None
    start_param: str | None
    fields: dict[str, str]   # every decoded pair but hash


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def data_check_string(pairs: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(pairs.items()) if k != "hash")


def sign(pairs: dict[str, str], bot_token: str) -> str:
    """The hash Telegram would put beside these pairs (for tests and the local Mini App stand-in)."""
    return hmac.new(secret_key(bot_token), data_check_string(pairs).encode(), hashlib.sha256).hexdigest()


def _pairs(raw: str) -> dict[str, str]:
    try:
        items = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InitDataError("malformed") from None
    pairs: dict[str, str] = {}
    for key, value in items:
        if key in pairs:
            raise InitDataError("duplicate key")
        pairs[key] = value
    return pairs


def validate(raw: str | None, bot_token: str, *, max_age: int = DEFAULT_MAX_AGE, now: float,
             check_age: bool = True) -> InitData:
    """The user initData speaks for, or InitDataError. `now` in Unix seconds; `check_age=False` only to
    replay old published vectors."""
    if not raw or not isinstance(raw, str):
        raise InitDataError("missing")
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_LENGTH:
        raise InitDataError("too long")
    if not bot_token:
        raise InitDataError("no bot token configured")
    pairs = _pairs(raw)
    given = pairs.pop("hash", None)
    if not given:
        raise InitDataError("no hash")
    expected = sign(pairs, bot_token)
    if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode()):
        raise InitDataError("bad hash")
    # signed by Telegram for this bot from here on: what it says is still checked for shape and age
    try:
        auth_date = int(pairs["auth_date"])
    except (KeyError, ValueError):
        raise InitDataError("no auth_date") from None
    if check_age:
        if auth_date > now + FUTURE_SKEW:
            raise InitDataError("auth_date in the future")
        if now - auth_date > max_age:
            raise InitDataError("expired")
    return InitData(_user(pairs.get("user")), auth_date, pairs.get("query_id"), pairs.get("start_param"), pairs)


def _user(text: str | None) -> WebAppUser:
    if not text:
        raise InitDataError("no user")
    try:
        data = json.loads(text)
    except ValueError:
        raise InitDataError("bad user") from None
    uid = data.get("id") if isinstance(data, dict) else None
    if isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
        raise InitDataError("bad user")

    def text_of(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else ""

    return WebAppUser(uid, text_of("first_name"), text_of("last_name"), text_of("username"),
                      text_of("language_code") or None)


def from_header(value: str | None) -> str | None:
    """initData from `Authorization: tma <initData>` (the @tma.js convention); None if not that."""
    if not value:
        return None
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() or None if scheme.lower() == "tma" else None
