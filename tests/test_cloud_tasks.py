"""The TaskQueue adapter against the real gcloud-tasks-emulator: what it creates, and how the emulator
dispatches it (at its schedule_time, with our headers, retried on failure)."""
from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import pytest
from google.api_core import exceptions

from infra.local.stack import run_due_tasks, tasks_client
from shared.adapters.cloud_tasks import MAX_TASK_ID, TOKEN_HEADER, CloudTasksQueue, task_id
from tests.test_local_stack import Receiver, wait_for


def test_task_ids_are_deterministic_safe_and_differ_by_version():
    a = task_id("remind_24h", "bk1", "1700000000")
    assert a == task_id("remind_24h", "bk1", "1700000000")
    assert a != task_id("remind_24h", "bk1", "1700003600") and a != task_id("remind_15m", "bk1", "1700000000")
    odd = task_id("remind_24h", "b/k:ä" * 200, "1")
    assert len(odd) <= MAX_TASK_ID and all(c.isalnum() and c.isascii() or c in "-_" for c in odd)


def test_the_task_it_creates():
    queue = CloudTasksQueue("projects/p/locations/l/queues/consultations", "https://fn.example/", "tok",
                            service_account="tasks@p.iam.gserviceaccount.com")
    at = datetime(2026, 3, 10, 11, 45, tzinfo=timezone.utc)
    task = queue.task("create_room", "bk1", at, "1773143100")
    request = task["http_request"]
    assert request["url"] == "https://fn.example/tasks/create_room"
    assert request["headers"][TOKEN_HEADER] == "tok"
    assert json.loads(request["body"]) == {"booking_id": "bk1", "version": "1773143100"}
    assert request["oidc_token"] == {"service_account_email": "tasks@p.iam.gserviceaccount.com",
                                     "audience": "https://fn.example"}
    assert task["schedule_time"].ToDatetime(tzinfo=timezone.utc) == at
    assert task["name"].startswith("projects/p/locations/l/queues/consultations/tasks/")
    with pytest.raises(ValueError):
        queue.task("create_room", "bk1", at.replace(tzinfo=None), "1")


def test_scheduling_an_existing_name_is_not_an_error():
    class Client:  # Cloud Tasks answers ALREADY_EXISTS for a name taken (the emulator does not)
        async def create_task(self, parent, task):
            raise exceptions.AlreadyExists("task exists")

    queue = CloudTasksQueue("projects/p/locations/l/queues/q", "https://fn.example", "tok", client=Client())
    assert asyncio.run(queue.schedule("end_room", "bk1", datetime.now(timezone.utc), "1")) is False


def test_the_emulator_dispatches_at_the_schedule_time_with_our_headers(local_stack):
    info = local_stack.ensure(("tasks",))
    name = info["tasks_queues"]["consultations"]
    with Receiver() as recv:
        queue = CloudTasksQueue(name, recv.url, "s3cret", emulator_host=info["tasks_emulator_host"])
        at = datetime.now(timezone.utc) + timedelta(seconds=2)

        async def schedule():
            return await queue.schedule("send_links", "bkE2E1", at, "42")

        assert asyncio.run(schedule()) is True
        wait_for(lambda: recv.ok(), timeout=15)
        got = recv.ok()[0]
        assert time.time() >= at.timestamp() - 0.05  # not before its time
        assert got["path"] == "/tasks/send_links"
        assert got["headers"]["x-tasks-token"] == "s3cret"
        assert got["headers"]["content-type"] == "application/json"
        assert json.loads(got["body"]) == {"booking_id": "bkE2E1", "version": "42"}
        assert float(got["headers"]["x-cloudtasks-tasketa"]) == pytest.approx(at.timestamp(), abs=0.01)
        assert got["headers"]["x-cloudtasks-taskname"] == task_id("send_links", "bkE2E1", "42")


def test_the_clock_mover_runs_tasks_due_by_then_and_leaves_the_rest(local_stack):
    info = local_stack.ensure(("tasks",))
    name = info["tasks_queues"]["consultations"]
    with Receiver() as recv:
        queue = CloudTasksQueue(name, recv.url, "s3cret", emulator_host=info["tasks_emulator_host"])
        soon = datetime.now(timezone.utc) + timedelta(hours=1)
        later = soon + timedelta(days=1)

        async def schedule():
            await queue.schedule("remind_15m", "bkMove", soon, "1")
            await queue.schedule("close_followup", "bkMove", later, "1")

        asyncio.run(schedule())
        ran = run_due_tasks(info["tasks_emulator_host"], name, soon + timedelta(minutes=1), match="bkMove")
        assert ran == [task_id("remind_15m", "bkMove", "1")]
        wait_for(lambda: recv.ok())
        assert [r["path"] for r in recv.ok()] == ["/tasks/remind_15m"]
        left = [t.name.rsplit("/", 1)[-1] for t in tasks_client(info["tasks_emulator_host"]).list_tasks(parent=name)]
        assert task_id("close_followup", "bkMove", "1") in left
        run_due_tasks(info["tasks_emulator_host"], name, later, match="bkMove")  # leave nothing behind
        wait_for(lambda: len(recv.ok()) == 2)
