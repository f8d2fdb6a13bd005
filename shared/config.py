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
    # consultations' payments (services/payments.py; the README's table): PAYMENTS_MODE provider|stars,
    # PROVIDER_TOKEN (BotFather's token of the payment provider), YooKassa's shop for refunds, the price of
    # a star in kopecks, the platform's fee, the receipt's VAT code, and what an owner cancelling less than
    # 24 h before gets back (percent)
    payments_mode: str = "provider"
    provider_token: str = ""
    yookassa_shop_id: str = ""
    yookassa_secret_key: str = ""
    yookassa_api_url: str = "https://api.yookassa.ru/v3"
    star_price_kopecks: int = 200
    fee_percent: int = 20
    vat_code: int = 1
    late_cancel_refund_percent: int = 50
    # what a vet may ask for a consultation, in kopecks (VET_PRICE_MIN, VET_PRICE_MAX; the vet application)
    vet_price_min: int = 500_00
    vet_price_max: int = 15_000_00
    # hold expiry and consultation tasks (booking_callbacks): scheduled when TASKS_AUTH_TOKEN is set
    tasks_token: str = ""
    tasks_queue: str = ""             # projects/P/locations/L/queues/Q
    callbacks_url: str = ""           # FUNCTION_URL_BOOKING_CALLBACKS
    tasks_service_account: str = ""   # TASKS_SERVICE_ACCOUNT: tasks carry its OIDC token (production)
    tasks_emulator_host: str = ""
    # local stack only: a file holding how many seconds the stack's clock is moved on (LOCAL_CLOCK_FILE,
    # honoured only with ALLOW_CLOCK_OVERRIDE=1, which nothing deployed sets; bootstrap.service_clock)
    clock_file: str = ""

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
            clock_file=env.get("LOCAL_CLOCK_FILE", "") if env.get("ALLOW_CLOCK_OVERRIDE") == "1" else "",
            **payment_settings(env),
        )


def payment_settings(env=os.environ) -> dict:
    """The payment and task fields of Settings; a mode or a number that makes no sense fails the start."""
    mode = env.get("PAYMENTS_MODE", "provider").strip().lower()
    if mode not in ("provider", "stars"):
        raise RuntimeError(f"bad configuration: PAYMENTS_MODE must be provider or stars, not {mode!r}")
    numbers = {}
    for name, var, default, low, high in (("star_price_kopecks", "STAR_PRICE_KOPECKS", 200, 1, 10**6),
                                          ("fee_percent", "PLATFORM_FEE_PERCENT", 20, 0, 100),
                                          ("vat_code", "RECEIPT_VAT_CODE", 1, 1, 12),
                                          ("late_cancel_refund_percent", "LATE_CANCEL_REFUND_PERCENT", 50, 0, 100),
                                          ("vet_price_min", "VET_PRICE_MIN", 500_00, 100, 10**9),
                                          ("vet_price_max", "VET_PRICE_MAX", 15_000_00, 100, 10**9)):
        text = env.get(var, "").strip() or str(default)
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise RuntimeError(f"bad configuration: {var} must be a whole number {low}..{high}")
        numbers[name] = int(text)
    if numbers["vet_price_min"] >= numbers["vet_price_max"] or any(numbers[k] % 100 for k in ("vet_price_min",
                                                                                            "vet_price_max")):
        raise RuntimeError("bad configuration: VET_PRICE_MIN must be below VET_PRICE_MAX, both whole roubles in kopecks")
    project = env.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local")
    queue = env.get("CONSULTATIONS_QUEUE", "consultations")
    return dict(
        payments_mode=mode, provider_token=env.get("PROVIDER_TOKEN", ""),
        yookassa_shop_id=env.get("YOOKASSA_SHOP_ID", ""), yookassa_secret_key=env.get("YOOKASSA_SECRET_KEY", ""),
        yookassa_api_url=env.get("YOOKASSA_API_URL", "https://api.yookassa.ru/v3"), **numbers,
        tasks_token=env.get("TASKS_AUTH_TOKEN", ""),
        tasks_queue=f"projects/{project}/locations/{env.get('TASKS_LOCATION', 'europe-west1')}/queues/{queue}",
        callbacks_url=env.get("FUNCTION_URL_BOOKING_CALLBACKS", ""),
        tasks_service_account=env.get("TASKS_SERVICE_ACCOUNT", ""),
        tasks_emulator_host=env.get("CLOUD_TASKS_EMULATOR_HOST", ""))


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


@dataclass(frozen=True)
class CallbacksSettings:
    """What booking_callbacks needs beyond Settings (whose tasks token, tasks account and YooKassa shop it
    shares with the webhook): the video provider, and the local-only switches."""

    video_provider: str               # VIDEO_PROVIDER: daily | livekit
    daily_api_key: str = ""
    daily_api_url: str = "https://api.daily.co/v1"
    daily_domain: str = ""
    daily_webhook_secret: str = ""    # the Daily webhook's hmac (base64)
    livekit_url: str = ""
    livekit_api_key: str = ""
    livekit_api_secret: str = ""
    livekit_join_page: str = ""
    yookassa_check_ip: bool = True    # notifications only from YooKassa's networks (X-Forwarded-For, its last entry)
    clock_override: bool = False      # ALLOW_CLOCK_OVERRIDE=1: local stack and demo only

    @classmethod
    def from_env(cls, env=os.environ) -> "CallbacksSettings":
        provider = env.get("VIDEO_PROVIDER", "daily").strip().lower()
        if provider not in ("daily", "livekit"):
            raise RuntimeError(f"VIDEO_PROVIDER must be daily or livekit, not {provider!r}")
        return cls(
            video_provider=provider, daily_api_key=env.get("DAILY_API_KEY", ""),
            daily_api_url=env.get("DAILY_API_URL", "https://api.daily.co/v1"), daily_domain=env.get("DAILY_DOMAIN", ""),
            daily_webhook_secret=env.get("DAILY_WEBHOOK_SECRET", ""), livekit_url=env.get("LIVEKIT_URL", ""),
            livekit_api_key=env.get("LIVEKIT_API_KEY", ""), livekit_api_secret=env.get("LIVEKIT_API_SECRET", ""),
            livekit_join_page=env.get("LIVEKIT_JOIN_PAGE", ""),
            yookassa_check_ip=env.get("YOOKASSA_CHECK_IP", "1") != "0",
            clock_override=env.get("ALLOW_CLOCK_OVERRIDE") == "1",
        )


@dataclass(frozen=True)
class MiniAppSettings:
    """What miniapp_api needs beyond Settings (shared/miniapp/API.md)."""

    init_data_max_age: int = 86400    # MINIAPP_INIT_DATA_MAX_AGE: seconds an initData's auth_date is good for
    allowed_origins: tuple[str, ...] = ()   # MINIAPP_ALLOWED_ORIGINS: CORS origins besides our own
    static_dir: str = ""              # MINIAPP_STATIC_DIR: the built front end (default webapp/dist)
    url: str = ""                     # MINIAPP_URL: where Telegram opens the app (menu button, web_app buttons)
    frame_origins: tuple[str, ...] = ()     # MINIAPP_MEDIA_ORIGINS: the video provider's origins (CSP)

    @classmethod
    def from_env(cls, env=os.environ) -> "MiniAppSettings":
        try:
            max_age = int(env.get("MINIAPP_INIT_DATA_MAX_AGE", "86400"))
        except ValueError:
            raise RuntimeError("MINIAPP_INIT_DATA_MAX_AGE must be a number of seconds") from None
        if not 60 <= max_age <= 7 * 86400:
            raise RuntimeError("MINIAPP_INIT_DATA_MAX_AGE must be 60..604800 seconds")

        def origins(name: str) -> tuple[str, ...]:
            found = tuple(o.strip().rstrip("/") for o in env.get(name, "").split(",") if o.strip())
            for origin in found:
                # wss://: LiveKit's server, which livekit-client reaches by WebSocket (connect-src)
                if not origin.startswith(("https://", "wss://", "http://127.0.0.1", "http://localhost", "ws://127.0.0.1")) \
                        or " " in origin:
                    raise RuntimeError(f"{name}: {origin!r} is no https or wss origin")
            return found

        return cls(init_data_max_age=max_age, allowed_origins=origins("MINIAPP_ALLOWED_ORIGINS"),
                   static_dir=env.get("MINIAPP_STATIC_DIR", ""), url=env.get("MINIAPP_URL", "").strip(),
                   frame_origins=origins("MINIAPP_MEDIA_ORIGINS") or _video_origins(env))


def _video_origins(env) -> tuple[str, ...]:
    """The room page's media origins when MINIAPP_MEDIA_ORIGINS names none: the configured video provider's
    (Daily's room frame and daily-js's retry domain; LiveKit's server, by WebSocket), so that a deployment
    with only the video settings does not get a page whose CSP blocks its own rooms."""
    if env.get("VIDEO_PROVIDER", "daily").strip().lower() == "livekit":
        url = env.get("LIVEKIT_URL", "").strip().rstrip("/")
        return (url.replace("https://", "wss://", 1),) if url.startswith(("https://", "wss://")) else ()
    domain = env.get("DAILY_DOMAIN", "").strip()
    return (f"https://{domain}.daily.co", f"https://{domain}.dailywebrtc.com") if domain else ()
