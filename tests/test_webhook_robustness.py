"""1,000 generated updates — random, malformed, unexpected — never give a 5xx or take the webhook down."""
import json
import random
import re
import string
from pathlib import Path
from re import _parser as sre

import httpx
import pytest

from infra.local.bot_api_double import BotApiDoubleClient
from infra.local.owner_chat import OwnerChat
from shared.bot.webhook import SECRET_HEADER

pytestmark = pytest.mark.e2e

OWNER = 820001


def _button_patterns() -> list[re.Pattern]:
    """The callback data each registered button handler takes (the fallback's catch-all aside)."""
    from telegram.ext import CallbackQueryHandler

    from shared.bot.application import build_application

    app = build_application("1:FUZZ", "http://127.0.0.1:9", services=None)
    return [h.pattern for handlers in app.handlers.values() for h in handlers
            if isinstance(h, CallbackQueryHandler) and h.pattern is not None]


def _literal_prefix(pattern: re.Pattern) -> str:
    prefix = ""
    for op, arg in sre.parse(pattern.pattern):
        if op == sre.LITERAL:
            prefix += chr(arg)
        elif op != sre.AT:
            break
    return prefix


def _sample(rng, tokens) -> str:
    """A random string the parsed regular expression matches (the subset our patterns use)."""
    out = []
    for op, arg in tokens:
        if op == sre.LITERAL:
            out.append(chr(arg))
        elif op == sre.IN:
            out.append(rng.choice(_chars(arg)))
        elif op == sre.BRANCH:
            out.append(_sample(rng, rng.choice(arg[1])))
        elif op == sre.SUBPATTERN:
            out.append(_sample(rng, arg[3]))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, sub = arg
            out += [_sample(rng, sub) for _ in range(rng.randint(low, min(high, low + 8)))]
        elif op != sre.AT:
            raise ValueError(f"no sampler for {op}")
    return "".join(out)


def _chars(items) -> str:
    chars = ""
    for op, arg in items:
        if op == sre.LITERAL:
            chars += chr(arg)
        elif op == sre.RANGE:
            chars += "".join(map(chr, range(arg[0], arg[1] + 1)))
        elif op == sre.CATEGORY and arg == sre.CATEGORY_DIGIT:
            chars += string.digits
        elif op == sre.CATEGORY and arg == sre.CATEGORY_WORD:
            chars += string.ascii_letters + string.digits + "_"
        else:
            raise ValueError(f"no sampler for {op} {arg}")
    return chars


BUTTONS = _button_patterns()
CALLBACK_PREFIXES = tuple(sorted({_literal_prefix(p) for p in BUTTONS})) + ("", "💥", "x" * 64)
TEXTS = ("/start", "/pets", "/addpet", "/help", "/cancel", "/language", "/privacy", "/unknown", "/start@other_bot",
         "Мурка", "4,2", "-3", "abc", "01.01.1900", "31.12.2099", "3 года", "", " ", "\x00\x01", "🐱" * 100,
         "x" * 4096, "a" * 50_000, "/" * 30, "'; DROP TABLE pets; --", "<b>html</b>", "{\"json\": 1}")


def _user(rng, user_id=None):
    return {"id": user_id or rng.choice([OWNER, OWNER + 1, rng.randint(1, 2**40)]), "is_bot": rng.random() < 0.05,
            "first_name": rng.choice(["Анна", "", "x" * 300]),
            "language_code": rng.choice(["ru", "en", "kk", "zz", None])}


def _message(rng, text=None):
    user = _user(rng)
    message = {"message_id": rng.randint(1, 10**6), "date": rng.randint(0, 2**31),
               "chat": {"id": user["id"], "type": rng.choice(["private"] * 8 + ["group", "supergroup", "channel"])},
               "from": user}
    kind = rng.random()
    if kind < 0.6:
        message["text"] = text if text is not None else rng.choice(TEXTS)
        if message["text"].startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0,
                                    "length": len(message["text"].split()[0]) if message["text"].split() else 1}]
    elif kind < 0.7:
        message["sticker"] = {"file_id": "s", "file_unique_id": "u", "type": "regular", "width": 512,
                              "height": 512, "is_animated": False, "is_video": False}
    elif kind < 0.8:
        message["location"] = {"latitude": 55.75, "longitude": 37.61}
    elif kind < 0.9:
        message["contact"] = {"phone_number": "+7999", "first_name": "A"}
    else:
        message["voice"] = {"file_id": "v", "file_unique_id": "v", "duration": 3}
    return message


def _callback(rng):
    user = _user(rng)
    if rng.random() < 0.5:  # what one of our buttons could carry (ids of nobody's pets): every handler is reached
        data = _sample(rng, sre.parse(rng.choice(BUTTONS).pattern))
    else:
        data = rng.choice(CALLBACK_PREFIXES) + rng.choice(["", "abc", "cat", "ru", "weight_kg", "AbC123xyz",
                                                           "../../x", ":1:2:3", ":99"])
    return {"id": str(rng.randint(1, 10**9)), "from": user, "chat_instance": "1", "data": data,
            "message": {"message_id": rng.randint(1, 1000), "date": 0, "chat": {"id": user["id"], "type": "private"},
                        "text": "old keyboard"}}


def _update(rng, update_id):
    """A body as Telegram might send it, or as a fuzzer or a broken proxy would."""
    roll = rng.random()
    if roll < 0.35:
        return {"update_id": update_id, "message": _message(rng)}
    if roll < 0.55:
        return {"update_id": update_id, "callback_query": _callback(rng)}
    if roll < 0.62:
        return {"update_id": update_id, "edited_message": _message(rng)}
    if roll < 0.67:
        post = _message(rng)
        post["chat"] = {"id": -100123, "type": "channel", "title": "news"}
        post.pop("from")
        return {"update_id": update_id, "channel_post": post}
    if roll < 0.72:
        return {"update_id": update_id, "my_chat_member": {"chat": {"id": OWNER, "type": "private"},
                "from": _user(rng), "date": 0,
                "old_chat_member": {"status": "member", "user": _user(rng)},
                "new_chat_member": {"status": "kicked", "user": _user(rng), "until_date": 0}}}
    if roll < 0.77:
        return {"update_id": update_id, rng.choice(["poll", "unknown_kind", "message_reaction"]): {"x": 1}}
    if roll < 0.82:  # the right keys with the wrong types
        return {"update_id": update_id, "message": rng.choice([None, 5, "text", [], {"text": 5}])}
    if roll < 0.86:
        return rng.choice([[], "update", 42, None, {"update_id": str(update_id)}, {"message": {}},
                           {"update_id": -1}, {"update_id": 2**70}])
    if roll < 0.9:
        return b"\xff\xfe not json" if rng.random() < 0.5 else b'{"update_id": 1, "message": '
    return {"update_id": update_id, "message": _message(rng, text="x" * rng.randint(4000, 200_000))}


def test_the_fuzz_covers_every_button_handler():
    rng = random.Random(7)
    assert len(BUTTONS) >= 15
    for pattern in BUTTONS:
        samples = [_sample(rng, sre.parse(pattern.pattern)) for _ in range(50)]
        assert all(pattern.match(s) and len(s.encode()) <= 64 for s in samples), pattern
    assert {"dy:", "dyd:", "ph:", "rm:", "tz:", "tr:b:"} <= set(CALLBACK_PREFIXES)


def test_a_thousand_hostile_updates_never_give_a_5xx(stack):
    url, secret = stack["functions"]["telegram_webhook"], stack["webhook_secret"]
    log = Path(stack["logs"]) / "fn-telegram_webhook.log"
    crashes_before = log.read_text().count("handler failed")
    with BotApiDoubleClient(stack["telegram_api_base"]) as double:
        owner = OwnerChat(double, user_id=OWNER)
        owner.send("/start")
        owner.press("Согласен")  # a consented owner, so updates reach the deep handlers
        rng = random.Random(20261124)
        statuses = []
        with httpx.Client(timeout=30) as http:
            for n in range(1000):
                body = _update(rng, 50_000_000 + n)
                content = body if isinstance(body, bytes) else json.dumps(body).encode()
                statuses.append(http.post(url, content=content, headers={
                    SECRET_HEADER: secret, "Content-Type": "application/json"}).status_code)
        assert len(statuses) == 1000
        assert not [s for s in statuses if s >= 500], f"5xx: {statuses.count(500)}"
        assert statuses.count(200) > 800  # the bulk was real work, not refusals
        assert log.read_text().count("handler failed") == crashes_before  # no handler crashed either
        # the webhook is still alive and the owner's state is sound
        owner.send("/cancel")
        pets = owner.send("/pets").text
        if "/privacy" in pets:  # a generated "forget my data" press of theirs erased them: sound too
            owner.press("Согласен")
            pets = owner.send("/pets").text
        assert pets in ("У вас пока нет питомцев.", "Ваши питомцы:", "You have no pets yet.", "Your pets:")
