"""HTTPS trigger for Telegram's webhook: every update the bot receives."""
import threading

import functions_framework

from shared.bootstrap import WebhookInstance
from shared.bot.webhook import SECRET_HEADER
from shared.config import Settings


_lock = threading.Lock()
_webhook: WebhookInstance | None = None


def _instance() -> WebhookInstance:
    global _webhook
    with _lock:  # built once per instance, on the first request
        if _webhook is None:
            _webhook = WebhookInstance(Settings.from_env())
    return _webhook


@functions_framework.http
def telegram_webhook(request):
    # body: a word, or a Bot API call for Telegram to execute (a dict, which Flask sends as JSON)
    status, body = _instance().handle(request.headers.get(SECRET_HEADER), request.get_data(cache=False))
    return body, status
