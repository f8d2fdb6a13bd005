"""HTTPS target of Cloud Tasks (consultation tasks), the video provider's webhooks and YooKassa's notifications.

    POST /tasks/<kind>      X-Tasks-Token: $TASKS_AUTH_TOKEN (and, with TASKS_SERVICE_ACCOUNT set, Cloud Tasks'
                            OIDC token of that account); body {"booking_id", "version"}
    POST /webhooks/video    Daily (X-Webhook-Signature/-Timestamp) or LiveKit (signed JWT), per VIDEO_PROVIDER
    POST /webhooks/yookassa YooKassa's notification, from its networks; re-read from its API before it counts

Answers: 403 a wrong token, a forged or stale webhook, a notification from elsewhere; 400 a malformed body;
200 with the outcome for everything taken, a task whose booking is gone, moved or cancelled included
(acknowledged, nothing done); 500 only for transient failures (Cloud Tasks and YooKassa retry).
"""
import hmac
import json
import logging
import os
import threading
from datetime import datetime, timezone

import functions_framework

from shared.config import CallbacksSettings, Settings

log = logging.getLogger(__name__)
_lock = threading.Lock()
_callbacks = None


def _instance():
    global _callbacks
    with _lock:  # built once per instance, on the first request that passed its check
        if _callbacks is None:
            from shared.bootstrap import CallbacksInstance

            _callbacks = CallbacksInstance(Settings.from_env(), CallbacksSettings.from_env())
    return _callbacks


def _reply(status: int, body: dict):
    return json.dumps(body), status, {"Content-Type": "application/json"}


def _task(request, kind: str):
    expected = os.environ.get("TASKS_AUTH_TOKEN", "")
    given = request.headers.get("X-Tasks-Token", "")
    # bytes, not str: compare_digest refuses non-ASCII str (a TypeError, a 500); any wrong token is a 403
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _reply(403, {"error": "forbidden"})
    account = os.environ.get("TASKS_SERVICE_ACCOUNT", "")
    if account:
        from shared.adapters.google_oidc import tasks_caller_ok

        audience = os.environ.get("FUNCTION_URL_BOOKING_CALLBACKS", "").rstrip("/")
        if not tasks_caller_ok(request.headers.get("Authorization"), audience, account):
            return _reply(403, {"error": "forbidden"})
    from shared.services.consultation_tasks import BadTask, TaskRequest

    try:
        task = TaskRequest.parse(kind, request.get_json(force=True, silent=True))
    except BadTask as err:
        return _reply(400, {"error": str(err)})
    eta = None
    try:
        eta = datetime.fromtimestamp(float(request.headers.get("X-CloudTasks-TaskETA", "")), timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        pass
    return _reply(200, {"outcome": _instance().run_task(task, eta)})


def _video(request):
    from shared.services.ports import WebhookRejected

    try:
        outcome = _instance().video_webhook(dict(request.headers), request.get_data(cache=False))
    except WebhookRejected as err:
        log.warning("video webhook refused: %s", err)
        return _reply(403, {"error": "rejected"})
    return _reply(200, {"outcome": outcome})


def _yookassa(request):
    from shared.adapters import yookassa
    from shared.services.ports import WebhookRejected

    if CallbacksSettings.from_env().yookassa_check_ip:
        # Google's front end appends the address it saw to whatever X-Forwarded-For the caller sent: the last
        # entry is the caller's, the first anybody's (behind a load balancer that adds its own, this refuses
        # every notification - safe, and seen at once)
        forwarded = request.headers.get("X-Forwarded-For", "")
        source = forwarded.rsplit(",", 1)[-1].strip() if forwarded else (request.remote_addr or "")
        if not yookassa.notification_ip_allowed(source):
            return _reply(403, {"error": "forbidden"})
    try:
        note = yookassa.parse_notification(request.get_data(cache=False))
    except WebhookRejected as err:
        return _reply(400, {"error": str(err)})
    if note is None:
        return _reply(200, {"outcome": "ignored"})
    try:
        outcome = _instance().payment_notification(note.event, note.object_id)
    except yookassa.YooKassaNotFound:  # no such object in our shop: forged; nothing changes, nothing to retry
        return _reply(200, {"outcome": "ignored"})
    return _reply(200, {"outcome": outcome})


@functions_framework.http
def booking_callbacks(request):
    path = request.path.rstrip("/")
    if request.method != "POST":
        return _reply(405 if path.startswith(("/tasks/", "/webhooks/")) else 404, {"error": "not found"})
    if path.startswith("/tasks/"):
        return _task(request, path[len("/tasks/"):])
    if path == "/webhooks/video":
        return _video(request)
    if path == "/webhooks/yookassa":
        return _yookassa(request)
    return _reply(404, {"error": "not found"})
