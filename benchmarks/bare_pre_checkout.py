"""Baseline for the pre-checkout benchmark: answers every pre_checkout_query at once (ok) with one Bot API
call and nothing else: no Firestore read, no python-telegram-bot, no update log."""
import json
import os

import functions_framework
import httpx

_http = httpx.Client(timeout=10, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))


@functions_framework.http
def bare(request):
    query = json.loads(request.get_data())["pre_checkout_query"]
    url = f"{os.environ['TELEGRAM_API_BASE']}/bot{os.environ['TELEGRAM_BOT_TOKEN']}/answerPreCheckoutQuery"
    _http.post(url, json={"pre_checkout_query_id": query["id"], "ok": True}).raise_for_status()
    return "ok"
