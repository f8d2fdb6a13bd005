"""Plays a pet owner in a private chat: sends texts, presses buttons, and renders what the bot did.

Works against any Bot API double reachable through `BotApiDoubleClient` (the local stack's or a
test's). Each action delivers one update to the webhook (Telegram-style) and returns the Bot API
calls it caused, so tests can assert on them and the demo can print them as a chat.

Anyone can be played: a vet in their private chat, an ops person pressing buttons in the ops group
(``chat_id`` the group's). ``a.join(b, c)`` makes one scene of several people: one transcript, in which
each turn shows what the bot sent to any of them, every line naming whom it went to ("🤖 → Ирина: ...").
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from infra.local.bot_api_double import BotApiDoubleClient, UpdateFactory

# What the owner can see; getFile, answerCallbackQuery without text etc. are plumbing.
VISIBLE = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument",
           "answerCallbackQuery", "deleteMessage", "editMessageCaption", "sendInvoice", "sendMediaGroup"}


@dataclass
class Turn:
    said: str
    calls: list[dict]
    statuses: list[int] = field(default_factory=list)

    def texts(self, chat_id: int | None = None) -> list[str]:
        """What the bot wrote (to `chat_id` only, when given)."""
        return [c["params"].get("text") or c["params"].get("caption") or "" for c in self.calls
                if c["method"] in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")
                and (chat_id is None or str(c["params"].get("chat_id")) == str(chat_id))]

    @property
    def text(self) -> str:
        return "\n".join(self.texts())


class OwnerChat:
    def __init__(self, client: BotApiDoubleClient, user_id: int, language_code: str = "ru",
                 first_name: str = "Анна", *, chat_id: int | None = None, icon: str = "👤",
                 label: str | None = None):
        self.client = client
        self.user_id = user_id
        self.chat_id = user_id if chat_id is None else chat_id   # another (a group) for ops in the ops chat
        self.language_code = language_code
        self.name = first_name
        self.icon = icon                  # how the transcript shows this person: "👤 Анна: ..."
        self.label = label or first_name  # and, in a scene, whom the bot's lines go to: "🤖 → Анна: ..."
        self.updates = UpdateFactory(client, user_id=user_id, first_name=first_name, language_code=language_code)
        self.transcript: list[str] = []
        self.cast: list[OwnerChat] = [self]

    def join(self, *others: "OwnerChat") -> "OwnerChat":
        """One scene with `others`: everyone writes to this chat's transcript, and a turn of anyone shows
        what the bot sent to all of them."""
        for other in others:
            if other not in self.cast:
                self.cast.append(other)
        for chat in self.cast:
            chat.cast, chat.transcript = self.cast, self.transcript
        return self

    # --- actions -------------------------------------------------------------------------------
    def send(self, text: str) -> Turn:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            update = self.updates.command(command, args, user_id=self.user_id, language_code=self.language_code)
        else:
            update = self.updates.message(text, user_id=self.user_id, language_code=self.language_code)
        return self._deliver(update, text)

    def press(self, label: str | None = None, *, data: str | None = None, where=None) -> Turn:
        """Presses the newest button whose text contains `label` (or whose callback data is `data`, or
        starts with it when it ends with ":"), as a user scrolling up would find it; `where(message)`
        narrows the messages looked at."""
        message, found, text = self._find(label, data, where)
        update = self.updates.callback(found, message=message, user_id=self.user_id, language_code=self.language_code)
        return self._deliver(update, f"[{text}]")

    def reply(self, text: str, to: dict) -> Turn:
        """Telegram's "Reply" to the bot's message `to` (a stored message of this chat)."""
        update = self.updates.message(text, user_id=self.user_id, language_code=self.language_code,
                                      reply_to_message=to)
        return self._deliver(update, f"(replying to «{_first_line(to)}») {text}")

    def photo(self, data: bytes, name: str = "photo.jpg", caption: str | None = None) -> Turn:
        info = self.client.put_file(data, name=name, mime_type="image/jpeg")
        return self._deliver(self.updates.photo(info, user_id=self.user_id, caption=caption,
                                                language_code=self.language_code),
                             f"[photo {name}]" + (f" {caption}" if caption else ""))

    def pay(self, message: dict | None = None, *, provider_payment_charge_id: str | None = None,
            yookassa=None, email: str = "owner@example.com") -> tuple[Turn, dict]:
        """Pays the newest invoice of this chat (or `message`) in Telegram's payment form: the
        pre-checkout query, then, if the bot said yes, the successful payment. A payment in money needs
        the provider's payment: `provider_payment_charge_id`, or `yookassa` (its double) to make one.
        (the Turn, the double's pay() result)"""
        message = message or next(m for m in reversed(self.messages()) if "invoice" in m)
        ref = {"chat_id": self.chat_id, "message_id": message["message_id"]}
        invoice = self.client.invoice(ref)
        if invoice["currency"] != "XTR" and provider_payment_charge_id is None:
            provider_payment_charge_id = yookassa.create_payment(invoice["total_amount"], invoice["currency"])["id"]
        since = self._last_seq()
        paid = self.client.pay(ref, self.user_id, provider_payment_charge_id=provider_payment_charge_id,
                               email=email, language_code=self.language_code)
        shown = _amount(invoice["total_amount"], invoice["currency"])
        how = "in Stars" if invoice["currency"] == "XTR" else f"by card, receipt to {email}"
        said = f"[pays {shown} in Telegram's payment form, {how}]"
        if not paid["ok"]:  # what Telegram would show, and why (a late answer is refused after 10 s)
            query = self.client.pre_checkout_answers(paid["pre_checkout"]["pre_checkout_query"]["id"])
            late = [a["elapsed"] for q in query for a in q["refused"]]
            said += f" · Telegram: {paid['error_message']}" + (f" (answered late: {late} s)" if late else "")
        return self._record(said, since, [200]), paid

    def press_data(self, data: str, message_id: int | None = None) -> Turn:
        """Sends raw callback data, the way a forged or outdated client could."""
        update = self.updates.callback(data, message_id=message_id, user_id=self.user_id,
                                       language_code=self.language_code)
        return self._deliver(update, f"[callback {data}]")

    def send_update(self, update: dict, said: str, times: int = 1) -> Turn:
        return self._deliver(update, said, times=times)

    def show_since(self, since: int) -> list[dict]:
        """Renders what the bot sent this scene since `since` outside anyone's turn (a task, a job)."""
        calls = [c for c in self.client.calls(since=since) if self._mine(c) and c["method"] != "answerCallbackQuery"]
        self._render_calls(calls)
        return calls

    def wait_for(self, predicate, timeout: float = 30.0, since: int | None = None) -> list[dict]:
        """Waits for bot calls made outside a webhook turn (e.g. the triage function editing a message)."""
        since = self._last_seq() if since is None else since
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            calls = [c for c in self.client.calls(since=since) if self._mine(c)]
            if any(predicate(c) for c in calls):
                self._render_calls(calls)
                return calls
            time.sleep(0.1)
        raise TimeoutError("the bot did not do the expected thing in time")

    # --- reading the chat ----------------------------------------------------------------------
    def buttons(self, message: dict | None = None) -> list[tuple[str, str]]:
        message = message or self.messages()[-1]
        markup = message.get("reply_markup") or {}
        return [(b["text"], b.get("callback_data", "")) for row in markup.get("inline_keyboard", []) for b in row]

    def messages(self) -> list[dict]:
        return self.client.messages(self.chat_id)

    # --- internals -----------------------------------------------------------------------------
    def _find_button(self, label: str) -> tuple[dict, str]:
        message, data, _ = self._find(label, None, None)
        return message, data

    def _find(self, label: str | None, data: str | None, where) -> tuple[dict, str, str]:
        for message in reversed(self.messages()):
            if where is not None and not where(message):
                continue
            for text, callback in self.buttons(message):
                if (label is not None and label.lower() in text.lower()) or (data is not None and callback and (
                        callback == data or (data.endswith(":") and callback.startswith(data)))):
                    return message, callback, text
        raise LookupError(f"no button {label or data!r} in the chat")

    def _last_seq(self) -> int:
        return self.client.last_seq()

    def _mine(self, call: dict) -> bool:
        chat = str(call["params"].get("chat_id"))
        return call["method"] == "answerCallbackQuery" or any(chat == str(c.chat_id) for c in self.cast)

    def _deliver(self, update: dict, said: str, times: int = 1) -> Turn:
        since = self._last_seq()
        result = self.client.deliver(update, times=times)
        return self._record(said, since, result["statuses"])

    def _record(self, said: str, since: int, statuses: list[int]) -> Turn:
        calls = [c for c in self.client.calls(since=since) if self._mine(c)]
        shown = said if len(said) <= 120 else f"{said[:20]}… ({len(said)} characters)"
        self.transcript.append(f"{self.icon} {self.name}: {shown}")
        self._render_calls(calls, actor=self)
        return Turn(said, calls, statuses)

    def _render_calls(self, calls: list[dict], actor: "OwnerChat | None" = None) -> None:
        scene = len(self.cast) > 1
        for call in calls:
            to = None
            if scene:
                chat = str(call["params"].get("chat_id"))
                to = next((c.label for c in self.cast if str(c.chat_id) == chat), None) or (actor or self).label
            line = render_call(call, to)
            if line:
                self.transcript.append(line)


def _amount(total: int, currency: str | None) -> str:
    if currency == "XTR":
        return f"{total} ⭐"
    roubles, kopecks = divmod(total, 100)
    text = f"{roubles:,}".replace(",", " ") + (f",{kopecks:02d}" if kopecks else "")
    return f"{text} ₽" if currency == "RUB" else f"{text} {currency}"


def _first_line(message: dict) -> str:
    line = (message.get("text") or message.get("caption") or "").split("\n")[0]
    return line if len(line) <= 40 else line[:39] + "…"


def render_call(call: dict, to: str | None = None) -> str | None:
    """A Bot API call as the chat shows it; `to` names whom it went to (in a scene of several people)."""
    method, p = call["method"], call["params"]
    if method not in VISIBLE or not call.get("response", {}).get("ok", True):
        return None
    bot = f"🤖 → {to}:" if to else "🤖"
    if method == "answerCallbackQuery":
        return f"   {bot} (popup) {p['text']}" if p.get("text") else None
    if method == "editMessageReplyMarkup":
        return None  # the keyboard under an answered question disappears; nothing to read
    if method == "deleteMessage":
        return f"   {bot} (deleted a message)"
    prefix = {"sendMessage": bot, "editMessageText": f"{bot} (edited)", "sendPhoto": f"{bot} [photo]",
              "sendDocument": f"{bot} [document]", "editMessageCaption": f"{bot} (edited caption)",
              "sendInvoice": f"{bot} [invoice]", "sendMediaGroup": f"{bot} [album]"}[method]
    body = p.get("text") or p.get("caption") or ""
    if method == "sendDocument":
        name = next((f.get("filename") for f in call.get("files") or []), None)
        body = f"{name or ''} {body}".strip()
    elif method == "sendInvoice":
        prices = p.get("prices") or []
        if isinstance(prices, str):
            import json

            prices = json.loads(prices)
        total = sum(x.get("amount", 0) for x in prices)
        body = f"{p.get('title', '')}: {p.get('description', '')} — {_amount(total, p.get('currency'))}"
    elif method == "sendMediaGroup":
        media = p.get("media") or []
        body = f"{len(media)} photos" if isinstance(media, list) else "photos"
    lines = f"{prefix} {body}".rstrip().split("\n")
    markup = p.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        lines += ["  ".join(f"[{b['text']}]" for b in row) for row in markup["inline_keyboard"]]
    return "\n".join("   " + line if i else line for i, line in enumerate(lines))
