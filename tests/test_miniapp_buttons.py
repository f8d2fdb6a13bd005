"""The Mini App's web_app buttons in the chat: /pets and /consult offer it when MINIAPP_URL is an https URL
(Telegram refuses a web_app button at any other URL, and the message with it: the Bot API double does too),
and the chat works as before without one (the local stack's http:// function URL)."""
from __future__ import annotations

import pytest

from shared.bot import keyboards
from tests.booking_harness import TOKEN, BookingBot, client, double, vet, yookassa  # noqa: F401

APP = "https://app.telemed-pet.example/"


def _web_apps(message: dict) -> list[tuple[str, str]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["web_app"]["url"]) for row in rows for b in row if "web_app" in b]


def test_the_button_only_at_an_https_url():
    assert keyboards.open_app("ru", "http://127.0.0.1:8123/") is None
    assert keyboards.open_app("ru", "") is None and keyboards.open_app("ru", None) is None
    assert keyboards.open_app("ru", "HTTPS://app.example/").web_app.url == "HTTPS://app.example/"
    button = keyboards.open_app("en", APP)
    assert (button.text, button.web_app.url) == ("📱 Open the app", APP)
    base = keyboards.rows(keyboards.button("a", "x:1"))
    assert keyboards.with_app(base, "ru", "http://127.0.0.1:8123/") is base
    assert keyboards.with_app(base, "ru", APP).inline_keyboard[-1][0].web_app.url == APP


def test_the_double_refuses_a_web_app_button_at_http_like_telegram(double):  # noqa: F811
    import httpx

    markup = {"inline_keyboard": [[{"text": "App", "web_app": {"url": "http://127.0.0.1:1/"}}]]}
    r = httpx.post(f"{double.base_url}/bot{TOKEN}/sendMessage", json={"chat_id": 5, "text": "hi", "reply_markup": markup})
    assert r.status_code == 400 and "Only HTTPS links are allowed" in r.json()["description"]
    markup["inline_keyboard"][0][0]["web_app"]["url"] = APP
    r = httpx.post(f"{double.base_url}/bot{TOKEN}/sendMessage", json={"chat_id": 5, "text": "hi", "reply_markup": markup})
    assert r.status_code == 200 and _web_apps(r.json()["result"]) == [("App", APP)]


@pytest.mark.integration
@pytest.mark.parametrize("url, shown", [(APP, True), ("http://127.0.0.1:8123/", False), ("", False)])
async def test_pets_and_consult_offer_the_app(client, double, url, shown):  # noqa: F811
    owner = 7_600_000_001
    bot = BookingBot(client, double, None)
    bot.app.bot_data["miniapp_url"] = url
    await bot.owner(owner, pets=2)
    await bot.vets(vet(7_600_000_101))
    await bot.say("/pets", owner)
    pets = double.messages(owner)[-1]
    assert "Рекс" in str(pets["reply_markup"])
    assert _web_apps(pets) == ([("📱 Открыть приложение", APP)] if shown else [])
    await bot.say("/consult", owner)          # two pets: which one (with the app's button)
    which = double.messages(owner)[-1]
    assert _web_apps(which) == ([("📱 Открыть приложение", APP)] if shown else [])
    await bot.press(bot.buttons(owner)["Рекс"], owner)
    await bot.say("Чешет ухо третий день", owner)         # the reason; then the vets (with the app's button)
    vets = double.messages(owner)[-1]
    assert "Врач 7600000101" in vets["text"]
    assert bool(_web_apps(vets)) is shown
