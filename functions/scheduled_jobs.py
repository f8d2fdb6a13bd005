"""HTTPS target for Cloud Scheduler: due vaccination/treatment reminders (every 15 min) and the pruning of
vets' calendars and slot locks (daily).

POST {"job": "due_reminders" | "prune_calendars"} with header X-Jobs-Token: $JOBS_AUTH_TOKEN. With ALLOW_CLOCK_OVERRIDE=1
(local stack, demo) the body may carry "now" (ISO 8601) to move the clock.
"""
import hmac
import json
import os
import threading
from datetime import datetime, timezone

import functions_framework

from shared.bootstrap import JobsInstance
from shared.config import Settings

_lock = threading.Lock()
_jobs: JobsInstance | None = None


def _instance() -> JobsInstance:
    global _jobs
    with _lock:
        if _jobs is None:
            _jobs = JobsInstance(Settings.from_env())
    return _jobs


def _reply(status: int, body: dict):
    return json.dumps(body), status, {"Content-Type": "application/json"}


@functions_framework.http
def scheduled_jobs(request):
    expected = os.environ.get("JOBS_AUTH_TOKEN", "")
    given = request.headers.get("X-Jobs-Token", "")
    # bytes, not str: compare_digest refuses non-ASCII str (a TypeError, a 500); any wrong token is a 403
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _reply(403, {"error": "forbidden"})
    body = request.get_json(force=True, silent=True)  # whatever the Content-Type says
    if not isinstance(body, dict):
        return _reply(400, {"error": "the body must be a JSON object"})
    now = None
    if body.get("now") and os.environ.get("ALLOW_CLOCK_OVERRIDE") == "1":
        try:
            now = datetime.fromisoformat(body["now"])
        except (TypeError, ValueError):
            return _reply(400, {"error": "bad now"})
        now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    if body.get("job") not in JobsInstance.JOBS:
        return _reply(400, {"error": "unknown job"})
    return _reply(200, _instance().run(body["job"], now))
