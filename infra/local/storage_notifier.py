"""Turns new objects in a Storage emulator bucket into CloudEvents, like Eventarc does in the cloud.

gcp-storage-emulator sends no notifications, so this polls the bucket listing and, for each new
(name, generation), POSTs a binary-mode CloudEvent ``google.cloud.storage.object.v1.finalized`` to
every target URL. Non-2xx answers and connection errors are retried with backoff (at-least-once, as
Eventarc); every retry of one event carries the same ``ce-id``.

    notifier = StorageNotifier("http://127.0.0.1:9023", "bucket", ["http://127.0.0.1:8081/"])
    notifier.start()   # background thread
    ...
    notifier.stop()

Only the standard library is used, so this runs in any interpreter.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

log = logging.getLogger("storage_notifier")

EVENT_TYPE = "google.cloud.storage.object.v1.finalized"
OBJECT_FIELDS = (
    "kind", "id", "selfLink", "mediaLink", "name", "bucket", "generation", "metageneration",
    "contentType", "storageClass", "size", "md5Hash", "crc32c", "etag", "metadata",
    "timeCreated", "updated", "timeStorageClassUpdated", "contentEncoding", "contentDisposition",
    "cacheControl", "contentLanguage",
)


@dataclass
class Delivery:
    target: str
    event_id: str
    name: str
    generation: str
    status: int | None
    attempts: int
    ok: bool


def object_event(bucket: str, obj: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent for a finalized object."""
    name = obj["name"]
    generation = str(obj.get("generation", ""))
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data: dict[str, Any] = {k: obj[k] for k in OBJECT_FIELDS if k in obj}
    data.setdefault("kind", "storage#object")
    data["bucket"] = bucket
    data["name"] = name
    data["generation"] = generation
    data.setdefault("metageneration", "1")
    data.setdefault("contentType", "application/octet-stream")
    data["size"] = str(data.get("size", "0"))
    data.setdefault("metadata", {})
    data.setdefault("timeCreated", now)
    data.setdefault("updated", data["timeCreated"])
    data.setdefault("id", f"{bucket}/{name}/{generation}")
    event_id = hashlib.sha256(f"{bucket}/{name}#{generation}".encode()).hexdigest()[:24]
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": EVENT_TYPE,
        "ce-source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "ce-subject": f"objects/{name}",
        "ce-time": data["updated"],
    }
    return headers, json.dumps(data).encode()


@dataclass
class StorageNotifier:
    storage_host: str  # e.g. http://127.0.0.1:9023 (STORAGE_EMULATOR_HOST)
    bucket: str
    targets: list[str]
    interval: float = 0.2
    max_attempts: int = 6
    backoff: float = 0.25  # first retry delay; doubles each time (capped at 4 s)
    request_timeout: float = 120.0
    skip_existing: bool = True  # objects already there at start() produce no events
    on_delivery: Callable[[Delivery], None] | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.storage_host = self.storage_host.rstrip("/")
        if "://" not in self.storage_host:
            self.storage_host = "http://" + self.storage_host
        self._seen: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # ---- listing -------------------------------------------------------------------------------
    def list_objects(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = None
        bucket = urllib.parse.quote(self.bucket, safe="")
        while True:
            q = {"maxResults": "1000"}
            if token:
                q["pageToken"] = token
            url = f"{self.storage_host}/storage/v1/b/{bucket}/o?{urllib.parse.urlencode(q)}"
            with urllib.request.urlopen(url, timeout=10) as resp:
                page = json.loads(resp.read() or b"{}")
            items.extend(page.get("items") or [])
            token = page.get("nextPageToken")
            if not token:
                return items

    def poll_once(self) -> list[dict[str, Any]]:
        """List the bucket once; return the objects not seen before (and mark them seen)."""
        try:
            objects = self.list_objects()
        except urllib.error.HTTPError as e:
            if e.code == 404:  # bucket not there (yet)
                return []
            raise
        new = []
        for obj in objects:
            key = (obj["name"], str(obj.get("generation", "")))
            if key not in self._seen:
                self._seen.add(key)
                new.append(obj)
        return new

    # ---- delivery ------------------------------------------------------------------------------
    def deliver(self, obj: dict[str, Any], target: str) -> Delivery:
        headers, body = object_event(self.bucket, obj)
        delay = self.backoff
        status: int | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            req = urllib.request.Request(target, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.request_timeout) as resp:
                    status = resp.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                status = None
                log.warning("event %s to %s: %s", obj["name"], target, e)
            if status is not None and 200 <= status < 300:
                break
            if attempt < self.max_attempts and not self._stop.is_set():
                log.warning("event %s to %s: status %s, retry in %.2fs", obj["name"], target, status, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 4.0)
            else:
                break
        d = Delivery(
            target=target,
            event_id=headers["ce-id"],
            name=obj["name"],
            generation=str(obj.get("generation", "")),
            status=status,
            attempts=attempt,
            ok=status is not None and 200 <= status < 300,
        )
        with self._lock:
            self.deliveries.append(d)
        if not d.ok:
            log.error("event %s to %s: gave up after %d attempts (status %s)", d.name, target, attempt, status)
        if self.on_delivery:
            self.on_delivery(d)
        return d

    def _dispatch(self, objects: Iterable[dict[str, Any]]) -> None:
        assert self._pool is not None
        for obj in objects:
            for target in self.targets:
                self._pool.submit(self.deliver, obj, target)

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self) -> "StorageNotifier":
        if self._thread:
            return self
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="notifier-deliver")
        if self.skip_existing:
            try:
                self.poll_once()
            except OSError as e:
                log.warning("initial listing of %s failed: %s", self.bucket, e)
        self._thread = threading.Thread(target=self._run, name="storage-notifier", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._dispatch(self.poll_once())
            except OSError as e:
                log.debug("listing %s failed: %s", self.bucket, e)
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            self._thread = None
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "StorageNotifier":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Poll a Storage emulator bucket and POST CloudEvents.")
    p.add_argument("--storage", required=True, help="STORAGE_EMULATOR_HOST, e.g. http://127.0.0.1:9023")
    p.add_argument("--bucket", required=True)
    p.add_argument("--target", action="append", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    n = StorageNotifier(args.storage, args.bucket, args.target).start()
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        n.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
