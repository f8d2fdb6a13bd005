"""Baseline for the latency benchmark: python-telegram-bot in webhook mode echoing each text, no storage.

Its one unavoidable call goes through the webhook's own Bot API client (shared.bot.request.RetryingRequest
with the same TLS settings), and each request runs on a LoopThread like the webhook's."""
import json
import os
import ssl
from functools import cache

import functions_framework
from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from shared.bootstrap import LoopThread
from shared.bot.request import RetryingRequest


async def _echo(update: Update, context) -> None:
    await update.effective_chat.send_message(update.message.text)


@cache
def _instance() -> tuple[LoopThread, Application]:
    # Built on the first request like the real webhook (the server may fork after import).
    runner = LoopThread()
    base = os.environ["TELEGRAM_API_BASE"]
    request = RetryingRequest(httpx_kwargs={"verify": ssl.create_default_context()})
    app = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"]).base_url(f"{base}/bot").request(request)
           .updater(None).build())
    app.add_handler(MessageHandler(filters.TEXT, _echo))
    runner.run(app.initialize())
    return runner, app


@functions_framework.http
def echo(request):
    runner, app = _instance()
    runner.run(app.process_update(Update.de_json(json.loads(request.get_data()), app.bot)))
    return "ok"
