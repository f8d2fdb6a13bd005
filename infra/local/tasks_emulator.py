"""Runs gcloud-tasks-emulator bound to 127.0.0.1 only (its CLI binds [::]).

Run with the .venv-tasks interpreter (the emulator pins protobuf<5, so it has its own venv):

    .venv-tasks/bin/python -m infra.local.tasks_emulator --port 0 \
        --queue projects/P/locations/L/queues/default

Prints ``READY 127.0.0.1:PORT`` once the gRPC server listens. Imports nothing from the project.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--queue", action="append", default=[], help="queue to create (full name)")
    p.add_argument("--max-retries", type=int, default=10)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    import grpc
    from concurrent import futures
    from gcloud_tasks_emulator import server as tasks_server

    bound: dict[str, int] = {}
    started = threading.Event()

    def run(self: tasks_server.APIThread) -> None:  # replaces APIThread.run: bind loopback only
        self._httpd = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        tasks_server.add_CloudTasksServicer_to_server(tasks_server.Greeter(self._state), self._httpd)
        bound["port"] = self._httpd.add_insecure_port(f"{args.host}:{args.port}")
        self._httpd.start()
        self._is_running.set()
        started.set()
        while self._is_running.is_set():
            time.sleep(0.1)

    tasks_server.APIThread.run = run
    tasks_server.Processor._process_queue = _dispatch_due_tasks
    # target host/port only matter for App Engine tasks; HTTP tasks go to their own URL.
    srv = tasks_server.create_server(
        args.host, args.port, "127.0.0.1", 8080, args.queue, args.max_retries
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    srv.start()
    if not started.wait(10) or not bound.get("port"):
        print("FAILED to bind", file=sys.stderr, flush=True)
        srv.stop()
        return 1
    print(f"READY {args.host}:{bound['port']}", flush=True)
    try:
        while not stop.is_set():
            stop.wait(0.5)
    finally:
        srv.stop()
    return 0


def _dispatch_due_tasks(self, queue: str) -> None:
    """Replaces Processor._process_queue, which every 0.1 s popped, logged twice and re-appended each task
    not yet due (a linear search apiece): with a test session's tasks scheduled days ahead that kept a
    core busy and wrote hundreds of MB of log. Here a task not yet due is left where it is; a due one is
    dispatched as before (submit_task: a failure goes to the back of the queue, up to --max-retries)."""
    from datetime import datetime, timezone

    from google.cloud.tasks_v2 import Queue
    from gcloud_tasks_emulator.server import _LOOP_SLEEP_TIME, logger

    state = self._state
    while self._is_running.is_set() and queue in state._queues and queue in state._queue_tasks:
        if state.queue(queue).state == Queue.State.RUNNING:
            now = datetime.now(timezone.utc)
            for task in [t for t in state._queue_tasks[queue] if not (t.schedule_time and t.schedule_time >= now)]:
                logger.info("[TASKS] Processing next task %s", task.name)
                state.submit_task(task.name)
        time.sleep(_LOOP_SLEEP_TIME)


if __name__ == "__main__":
    sys.exit(main())
