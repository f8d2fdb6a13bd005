"""The telegram_webhook function with its pre-checkout answers sent as Bot API requests of their own, as before
they rode in the webhook's response (shared.bot.request.IN_RESPONSE): benchmarks/pre_checkout.py's comparison."""
from shared.bot import request

request.IN_RESPONSE = tuple(m for m in request.IN_RESPONSE if m != "answerPreCheckoutQuery")

from functions.telegram_webhook import telegram_webhook  # noqa: E402,F401 - the target functions-framework serves
