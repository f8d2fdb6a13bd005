"""Cloud Tasks (the ``TaskQueue`` port) with google-cloud-tasks: one HTTP task per thing that happens
at a time in a consultation, aimed at the ``booking_callbacks`` function.

- A task is ``POST <function URL>/tasks/<kind>`` with the JSON body ``{"booking_id", "version", ...}``,
  the header ``X-Tasks-Token`` (the shared secret ``TASKS_AUTH_TOKEN``, checked by the function) and, in
  production, an OIDC token of the service account ``TASKS_SERVICE_ACCOUNT`` (``oidc_token``): Cloud Tasks
  needs that account's ``roles/iam.serviceAccountUser`` for the caller and the account needs
  ``roles/run.invoker`` on the function (infra/deploy.py grants both). The function also takes the
  providers' webhooks, so it is deployed ``--allow-unauthenticated`` and the token header is what
  authenticates a task there; the OIDC token lets ``booking_callbacks`` check the caller is that account
  (``TASKS_SERVICE_ACCOUNT`` set: see ``functions/booking_callbacks.py``).
- Names are deterministic (:func:`task_id`: booking, kind and a version - the booking's start, so a
  moved booking schedules new tasks while the old ones find a start that is not theirs and do nothing).
  Creating a name that exists is ALREADY_EXISTS for Cloud Tasks: scheduling twice is fine. Cloud Tasks
  keeps a name taken for a while after its task ran or was deleted (about an hour), which is another
  reason a version is part of the name.
- Locally ``CLOUD_TASKS_EMULATOR_HOST`` (host:port) points the client at gcloud-tasks-emulator over an
  insecure gRPC channel. The emulator dispatches a task once its ``schedule_time`` has passed (it polls
  every 0.1 s, with the real clock), sends the task's headers plus ``X-CloudTasks-*`` ones (TaskName,
  TaskRetryCount, TaskETA), retries any 4xx/5xx answer at once (no backoff) up to its max retries,
  ignores ``oidc_token`` - and accepts a duplicate name (it would run both): handlers are idempotent
  anyway, tasks being at-least-once. It cannot delete tasks in a way that matters here, hence
  cancellation is a status in Firestore the handlers check.

google-cloud-tasks is imported on first use only (the function's cold path does not schedule).
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any

__all__ = ["CloudTasksQueue", "task_id", "TOKEN_HEADER", "MAX_TASK_ID"]

TOKEN_HEADER = "X-Tasks-Token"
MAX_TASK_ID = 500
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def task_id(kind: str, booking_id: str, version: str) -> str:
    """The task's id in its queue: a hash prefix (Cloud Tasks spreads names that do not share a prefix)
    then the readable parts, only [A-Za-z0-9_-] and at most 500 characters."""
    digest = hashlib.sha256(f"{booking_id}\x00{kind}\x00{version}".encode()).hexdigest()[:12]
    readable = _UNSAFE.sub("_", f"{booking_id}-{kind}-{version}")
    return f"{digest}-{readable}"[:MAX_TASK_ID]


class CloudTasksQueue:
    """``CloudTasksQueue(queue, target_url, token, *, service_account=None, emulator_host=None)``.

    ``queue``: ``projects/P/locations/L/queues/Q``; ``target_url``: the function's URL (tasks go to
    ``<target_url>/tasks/<kind>``); ``token``: sent as ``X-Tasks-Token``; ``service_account``: the e-mail
    whose OIDC token Cloud Tasks attaches (audience: the function's URL).
    """

    def __init__(self, queue: str, target_url: str, token: str, *, service_account: str | None = None,
                 emulator_host: str | None = None, client: Any = None):
        if not queue.count("/") == 5 or not queue.startswith("projects/"):
            raise ValueError(f"not a queue name: {queue!r}")
        if not target_url.startswith(("https://", "http://")):
            raise ValueError("target_url must be the function's http(s) URL")
        if not token:
            raise ValueError("a task token is required (TASKS_AUTH_TOKEN)")
        self.queue = queue
        self.target_url = target_url.rstrip("/")
        self._token = token
        self._service_account = service_account
        self._emulator_host = emulator_host
        self._client = client

    def _get_client(self):
        if self._client is None:  # on the running loop: grpc.aio channels belong to one loop
            from google.cloud import tasks_v2

            if self._emulator_host:
                import grpc
                from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcAsyncIOTransport

                channel = grpc.aio.insecure_channel(self._emulator_host)
                self._client = tasks_v2.CloudTasksAsyncClient(
                    transport=CloudTasksGrpcAsyncIOTransport(channel=channel))
            else:
                self._client = tasks_v2.CloudTasksAsyncClient()
        return self._client

    def task(self, kind: str, booking_id: str, at: datetime, version: str,
             payload: dict | None = None) -> dict:
        """The Task message (as a dict) that :meth:`schedule` creates."""
        if at.tzinfo is None:
            raise ValueError("schedule times must be timezone-aware")
        if not re.fullmatch(r"[a-z0-9_]{1,40}", kind):
            raise ValueError(f"bad task kind {kind!r}")
        body = {"booking_id": booking_id, "version": version, **(payload or {})}
        request: dict[str, Any] = {
            "url": f"{self.target_url}/tasks/{kind}",
            "http_method": "POST",
            "headers": {"Content-Type": "application/json", TOKEN_HEADER: self._token},
            "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
        }
        if self._service_account:
            request["oidc_token"] = {"service_account_email": self._service_account,
                                     "audience": self.target_url}
        from google.protobuf import timestamp_pb2

        when = timestamp_pb2.Timestamp()
        when.FromDatetime(at)
        return {"name": f"{self.queue}/tasks/{task_id(kind, booking_id, version)}",
                "schedule_time": when, "http_request": request}

    async def schedule(self, kind: str, booking_id: str, at: datetime, version: str,
                       payload: dict | None = None) -> bool:
        """Creates the task; False when a task of that name exists already (scheduled before)."""
        from google.api_core import exceptions

        task = self.task(kind, booking_id, at, version, payload)
        try:
            await self._get_client().create_task(parent=self.queue, task=task)
        except exceptions.AlreadyExists:
            return False
        return True
