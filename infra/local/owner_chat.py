"""Plays a pet owner in a private chat: sends texts, presses buttons, and renders what the bot did.

Works against any Bot API double reachable through `BotApiDoubleClient` (the local stack's or a
test's). Each action delivers one update to the webhook (Telegram-style) and returns the Bot API
calls it caused, so tests can assert on them and the demo can print them as a chat.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from infra.local.bot_api_double import BotApiDoubleClient, UpdateFactory

# What the owner can see; getFile, answerCallbackQuery without text etc. are plumbing.
VISIBLE = {"sendMessage", "editMessageText", "editMessageReplyMarkup", "sendPhoto", "sendDocument",
           "answerCallbackQuery", "deleteMessage", "editMessageCaption"}


@dataclass
class Turn:
    said: str
    calls: list[dict]
    statuses: list[int] = field(default_factory=list)

    def texts(self) -> list[str]:
        return [c["params"].get("text") or c["params"].get("caption") or "" for c in self.calls
                if c["method"] in ("sendMessage", "editMessageText", "sendPhoto", "sendDocument")]

    @property
    def text(self) -> str:
        return "\n".join(self.texts())


class OwnerChat:
    def __init__(self, client: BotApiDoubleClient, user_id: int, language_code: str = "ru",
                 first_name: str = "Анна"):
        self.client = client
        self.user_id = user_id
        self.language_code = language_code
        self.name = first_name
        self.updates = UpdateFactory(client, user_id=user_id, first_name=first_name, language_code=language_code)
        self.transcript: list[str] = []

    # --- actions -------------------------------------------------------------------------------
    def send(self, text: str) -> Turn:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            update = self.updates.command(command, args, user_id=self.user_id, language_code=self.language_code)
        else:
            update = self.updates.message(text, user_id=self.user_id, language_code=self.language_code)
        return self._deliver(update, text)

    def press(self, label: str) -> Turn:
        """Presses the newest button whose text contains `label`, as a user scrolling up would find it."""
        message, data = self._find_button(label)
        update = self.updates.callback(data, message_id=message["message_id"], user_id=self.user_id,
                                       language_code=self.language_code)
        return self._deliver(update, f"[{label}]")

    def press_data(self, data: str, message_id: int | None = None) -> Turn:
        """Sends raw callback data, the way a forged or outdated client could."""
        update = self.updates.callback(data, message_id=message_id, user_id=self.user_id,
                                       language_code=self.language_code)
        return self._deliver(update, f"[callback {data}]")

    def send_update(self, update: dict, said: str, times: int = 1) -> Turn:
        return self._deliver(update, said, times=times)

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
        return self.client.messages(self.user_id)

    # --- internals -----------------------------------------------------------------------------
    def _find_button(self, label: str) -> tuple[dict, str]:
        for message in reversed(self.messages()):
            for text, data in self.buttons(message):
                if label.lower() in text.lower():
                    return message, data
        raise LookupError(f"no button {label!r} in the chat")

    def _last_seq(self) -> int:
        calls = self.client.calls()
        return calls[-1]["seq"] if calls else 0

    def _mine(self, call: dict) -> bool:
        chat = call["params"].get("chat_id")
        return call["method"] == "answerCallbackQuery" or str(chat) == str(self.user_id)

    def _deliver(self, update: dict, said: str, times: int = 1) -> Turn:
        since = self._last_seq()
        result = self.client.deliver(update, times=times)
        calls = [c for c in self.client.calls(since=since) if self._mine(c)]
        shown = said if len(said) <= 120 else f"{said[:20]}… ({len(said)} characters)"
        self.transcript.append(f"👤 {self.name}: {shown}")
        self._render_calls(calls)
        return Turn(said, calls, result["statuses"])

    def _render_calls(self, calls: list[dict]) -> None:
        for call in calls:
            line = render_call(call)
            if line:
                self.transcript.append(line)


def render_call(call: dict) -> str | None:
    method, p = call["method"], call["params"]
    if method not in VISIBLE or not call.get("response", {}).get("ok", True):
        return None
    if method == "answerCallbackQuery":
        return f"   🤖 (popup) {p['text']}" if p.get("text") else None
    if method == "editMessageReplyMarkup":
        return None  # the keyboard under an answered question disappears; nothing to read
    if method == "deleteMessage":
        return "   🤖 (deleted a message)"
    prefix = {"sendMessage": "🤖", "editMessageText": "🤖 (edited)", "sendPhoto": "🤖 [photo]",
              "sendDocument": "🤖 [document]", "editMessageCaption": "🤖 (edited caption)"}[method]
    body = p.get("text") or p.get("caption") or ""
    if method == "sendDocument":
        name = next((f.get("filename") for f in call.get("files") or []), None)
        body = f"{name or ''} {body}".strip()
    lines = f"{prefix} {body}".rstrip().split("\n")
    markup = p.get("reply_markup")
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        lines += ["  ".join(f"[{b['text']}]" for b in row) for row in markup["inline_keyboard"]]
    return "\n".join("   " + line if i else line for i, line in enumerate(lines))
