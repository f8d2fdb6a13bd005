"""The local stack: every emulator, the Bot API double and each function, on 127.0.0.1.

    python -m infra.local.stack                 # everything; Ctrl-C stops it all
    python -m infra.local.stack --only firestore,storage

Python API (tests, demo):

    from infra.local.stack import LocalStack
    with LocalStack().running() as info:          # info == the stack.json dict
        ...
    s = LocalStack(parts={"firestore"}); info = s.start(); ...; s.stop()

Parts: firestore, storage, tasks, telegram (the Bot API double), providers (in-process doubles of the
video provider - Daily, or LiveKit with VIDEO_PROVIDER=livekit - and of YooKassa: ``stack.video``,
``stack.yookassa``), functions, notifier. "functions" brings in every other part (the functions get all
the emulator hosts); "notifier" brings in storage and functions.

Time: the Cloud Tasks emulator dispatches each task once its schedule_time has passed on the real clock.
Tests and the demo may move the clock on: ``run_due_tasks(until)`` runs (RunTask) every task due by
``until``; booking_callbacks, started with ALLOW_CLOCK_OVERRIDE=1 here only, then reads the time as
the task's ETA. ``move_clock(to)`` moves the functions' own clock (the webhook's, booking_callbacks' and
scheduled_jobs': real time plus an offset read from <state>/clock_offset, LOCAL_CLOCK_FILE) so that a
consultation days ahead can be played now: the vet's conclusion after its start, the video provider's
webhooks stamped at the moved time; ``move_clock(None)`` (and every start) puts it back.

Payments: with the Bot API double the webhook gets a test PROVIDER_TOKEN (BotFather's YooKassa test
format) unless the environment names one, so the default provider mode takes money locally; the double's
``pay()`` plays the payment form, YooKassa's double holds the payment. ``start_function(name, as_, env)``
starts another instance of a function with other settings (e.g. a Stars-mode webhook:
PAYMENTS_MODE=stars), for the Bot API double to be pointed at.

Each child runs in its own process group, logging to <state>/logs/NAME.log;
stop() ends the groups (TERM, then KILL). <state> is <root>/.local unless given.
"""
from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from infra import serverless_config
from infra.local.storage_notifier import StorageNotifier

REPO_ROOT = Path(__file__).resolve().parents[2]
ALL_PARTS = ("firestore", "storage", "tasks", "telegram", "providers", "functions", "notifier")
DEFAULT_PROJECT = "telemed-pet-local"
DEFAULT_BOT_TOKEN = "123456:LOCAL-TEST-TOKEN"
LOCAL_REGION = "europe-west1"
OWN_DOUBLE_VAR = "TELEMED_LOCAL_DOUBLE_URL"  # set beside TELEGRAM_API_BASE when that names a stack's double
STACK_KEYS = (
    "functions", "telegram_api_base", "bot_token", "webhook_secret", "project",
    "firestore_emulator_host", "storage_emulator_host", "tasks_emulator_host", "photos_bucket",
    "jobs_auth_token", "photo_path_key", "tasks_auth_token", "tasks_queues", "video_provider", "video_api_url",
    "yookassa_api_url", "ops_user_ids", "ops_chat_id", "clock_file",
)
# Roles on the local stack (OPS_USER_IDS / OPS_CHAT_ID from the environment win): two ops people, and a
# group the Bot API double holds as the ops chat.
LOCAL_OPS_IDS, LOCAL_OPS_CHAT_ID = (700001, 700002), -1007000001
LOCAL_PROVIDER_TOKEN = "381764678:TEST:70001"  # BotFather's test tokens of YooKassa look like this
DAILY_API_KEY = "local-daily-api-key-of-32-characters"
DAILY_DOMAIN = "telemed-test"
LIVEKIT_API_KEY, LIVEKIT_API_SECRET = "local-livekit-key", "local-livekit-secret-of-32-characters!"


class StackError(RuntimeError):
    pass


def livekit_env(server_url: str) -> dict[str, str]:
    """A function's LiveKit settings (VIDEO_PROVIDER=livekit) for the LiveKit double at `server_url`."""
    return {"VIDEO_PROVIDER": "livekit", "LIVEKIT_URL": server_url, "LIVEKIT_API_KEY": LIVEKIT_API_KEY,
            "LIVEKIT_API_SECRET": LIVEKIT_API_SECRET, "LIVEKIT_JOIN_PAGE": f"{server_url}/join"}


def function_url_var(name: str) -> str:
    """Env var holding a function's URL: FUNCTION_URL_TELEGRAM_WEBHOOK etc. (set locally and deployed)."""
    return "FUNCTION_URL_" + name.upper()


def _ephemeral_ports() -> range:
    """The kernel's range for outgoing connections' local ports (Linux; the usual default elsewhere)."""
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return range(lo, hi + 1)


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, for a server that binds it seconds later (Java and Python start-up).

    Taken outside the ephemeral range: anything that binds port 0 in between may get an ephemeral one
    - the Firestore emulator's own WebSocket server did, in CI, and the emulator then died with
    "Address already in use" on its API port - and so may any outgoing connection. Never the same port
    twice from one process.
    """
    ephemeral = _ephemeral_ports()
    pool = range(10000, ephemeral.start) if ephemeral.start > 12000 else range(ephemeral.stop, 65536)
    rng = random.SystemRandom()
    for _ in range(500 if pool else 0):
        port = rng.choice(pool)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StackError(f"no free port in {pool.start}-{pool.stop - 1}")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """(status, body) for any HTTP answer; raises OSError when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read() or b""


def clear_firestore(host: str, project: str, database: str = "(default)") -> None:
    """Delete every document in the Firestore emulator's database (between tests)."""
    url = f"http://{host}/emulator/v1/projects/{project}/databases/{database}/documents"
    req = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status >= 300:
            raise StackError(f"clearing Firestore failed: {r.status}")


def ensure_bucket(storage_host: str, bucket: str, project: str) -> None:
    """Create a bucket in the Storage emulator unless it exists."""
    base = storage_host.rstrip("/")
    status, _ = http_get(f"{base}/storage/v1/b/{bucket}")
    if status == 200:
        return
    req = urllib.request.Request(
        f"{base}/storage/v1/b?project={project}",
        data=json.dumps({"name": bucket}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10):
            pass
    except urllib.error.HTTPError as e:
        if e.code != 409:
            raise


def ensure_queue(tasks_host: str, project: str, location: str = LOCAL_REGION, queue: str = "default") -> str:
    """Create a Cloud Tasks queue in the emulator unless it exists (google-cloud-tasks over gRPC)."""
    import grpc
    from google.api_core import exceptions
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    name = f"projects/{project}/locations/{location}/queues/{queue}"
    client = tasks_v2.CloudTasksClient(
        transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(tasks_host))
    )
    try:
        client.get_queue(name=name)
    except exceptions.NotFound:
        client.create_queue(parent=f"projects/{project}/locations/{location}", queue={"name": name})
    return name


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.popen.poll() is None


def _expand(parts: Iterable[str] | None) -> set[str]:
    want = set(ALL_PARTS if parts is None else parts)
    unknown = want - set(ALL_PARTS)
    if unknown:
        raise ValueError(f"unknown parts {sorted(unknown)}; choose from {ALL_PARTS}")
    if "notifier" in want:
        want |= {"storage", "functions"}
    if "functions" in want:
        want |= {"firestore", "storage", "tasks", "telegram", "providers"}
    return want


class LocalStack:
    def __init__(
        self,
        root: Path | str = REPO_ROOT,
        *,
        parts: Iterable[str] | None = None,
        state_dir: Path | str | None = None,
        project: str = DEFAULT_PROJECT,
        bot_token: str | None = None,
        region: str = LOCAL_REGION,
        photos_bucket: str | None = None,
        telegram_api_base: str | None = None,
        startup_timeout: float = 60.0,
        verbose: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        self.parts = _expand(parts)
        self.state_dir = Path(state_dir) if state_dir else self.root / ".local"
        self.log_dir = self.state_dir / "logs"
        self.project = project
        self.region = region
        self.startup_timeout = startup_timeout
        self.verbose = verbose
        env = dict(os.environ)
        if photos_bucket:
            env["PHOTOS_BUCKET"] = photos_bucket
        self.config = serverless_config.load(self.root / "serverless.yml", env=env)
        self.photos_bucket = self.config.environment.get("PHOTOS_BUCKET") or "telemed-pet-photos"
        # An outside Bot API server named in the environment wins: no double is started then.
        # (Not when that is just another LocalStack's double, exported by the test fixtures.)
        env_base = os.environ.get("TELEGRAM_API_BASE")
        if env_base and env_base == os.environ.get(OWN_DOUBLE_VAR):
            env_base = None
        self.external_api_base = telegram_api_base or env_base or None
        # Someone else's Bot API server knows the owner's bot by its token, and sends the secret that
        # was given to setWebhook: take both from the environment (the double gets built-in ones).
        if self.external_api_base:
            bot_token = bot_token or os.environ.get("TELEGRAM_BOT_TOKEN")
            webhook_secret = os.environ.get("TELEGRAM_WEBHOOK_SECRET")
        else:
            webhook_secret = None
        self.children: dict[str, Child] = {}
        self.notifier: StorageNotifier | None = None
        self.variants: dict[str, str] = {}  # start_function's instances: name -> URL
        self.video: Any = None      # DailyDouble or LiveKitDouble (part "providers")
        self.yookassa: Any = None   # YooKassaDouble
        self.video_provider = (os.environ.get("VIDEO_PROVIDER") or "daily").strip().lower()
        self.started: set[str] = set()
        self.skipped_functions: list[str] = []
        self._lock = threading.RLock()
        # Children run in their own sessions (Ctrl-C does not reach them): stop them when this
        # interpreter exits, even if the caller forgot stop().
        ref = weakref.ref(self)
        atexit.register(lambda: (lambda s: s and s.stop(timeout=5))(ref()))
        self.info: dict[str, Any] = {
            "functions": {},
            "telegram_api_base": self.external_api_base,
            "bot_token": bot_token or DEFAULT_BOT_TOKEN,
            "webhook_secret": webhook_secret or secrets.token_urlsafe(24),
            "project": project,
            "firestore_emulator_host": None,
            "storage_emulator_host": None,
            "tasks_emulator_host": None,
            "photos_bucket": self.photos_bucket,
            "jobs_auth_token": secrets.token_urlsafe(24),
            "photo_path_key": secrets.token_urlsafe(24),
            "region": region,
            "tasks_queue": f"projects/{project}/locations/{region}/queues/default",
            "tasks_queues": {q["name"]: f"projects/{project}/locations/{region}/queues/{q['name']}"
                             for q in self.config.queues} or {"default": f"projects/{project}/locations/{region}/queues/default"},
            "tasks_auth_token": secrets.token_urlsafe(24),
            "video_provider": self.video_provider,
            "video_api_url": None,
            "video_webhook_secret": None,
            "yookassa_api_url": None,
            "ops_user_ids": os.environ.get("OPS_USER_IDS") or ",".join(map(str, LOCAL_OPS_IDS)),
            "ops_chat_id": os.environ.get("OPS_CHAT_ID") or str(LOCAL_OPS_CHAT_ID),
            "clock_file": str(self.state_dir / "clock_offset"),
            "logs": str(self.log_dir),
        }

    # ---- helpers -------------------------------------------------------------------------------
    def _say(self, msg: str) -> None:
        print(f"[stack] {msg}", file=sys.stderr, flush=True)

    @property
    def stack_json(self) -> Path:
        return self.state_dir / "stack.json"

    def _bin(self, name: str) -> str:
        here = Path(sys.executable).parent / name
        if here.exists():
            return str(here)
        venv = self.root / ".venv" / "bin" / name
        if venv.exists():
            return str(venv)
        found = shutil.which(name)
        if not found:
            raise StackError(f"{name} not found (run infra/setup.sh)")
        return found

    def _python(self) -> str:
        venv = self.root / ".venv" / "bin" / "python"
        return sys.executable if sys.prefix != sys.base_prefix or not venv.exists() else str(venv)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ if env is None else env)
        # `python -m infra.local.X` must find this package even when root is another tree.
        paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        if str(REPO_ROOT) not in paths:
            env["PYTHONPATH"] = os.pathsep.join(paths + [str(REPO_ROOT)])
        log = self.log_dir / f"{name}.log"
        fh = open(log, "wb")
        try:
            popen = subprocess.Popen(
                cmd,
                cwd=self.root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: stop() kills the whole tree
            )
        finally:
            fh.close()
        child = Child(name, popen, log)
        with self._lock:
            self.children[name] = child
        if self.verbose:
            self._say(f"started {name} (pid {popen.pid}): {' '.join(cmd)}")
        return child

    def _wait(self, child: Child, check: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not child.alive():
                raise StackError(
                    f"{child.name} exited with {child.popen.returncode} before {what}; "
                    f"log {child.log}:\n{child.tail()}"
                )
            try:
                got = check()
            except OSError:
                got = None
            if got:
                return got
            time.sleep(0.1)
        raise StackError(f"{child.name}: no {what} within {self.startup_timeout}s; log {child.log}:\n{child.tail()}")

    def _ready_line(self, child: Child, prefix: str = "READY ") -> Callable[[], str | None]:
        def check() -> str | None:
            for line in child.log.read_text(errors="replace").splitlines():
                if line.startswith(prefix):
                    return line[len(prefix):].strip()
            return None

        return check

    def function_env(self) -> dict[str, str]:
        """The environment every local function gets."""
        env = os.environ.copy()
        env.update(self.config.environment)
        i = self.info
        env.update(
            {
                "PYTHONPATH": os.pathsep.join([str(self.root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])),
                "PYTHONUNBUFFERED": "1",
                "GOOGLE_CLOUD_PROJECT": self.project,
                "GCLOUD_PROJECT": self.project,
                "TELEGRAM_BOT_TOKEN": i["bot_token"],
                "TELEGRAM_WEBHOOK_SECRET": i["webhook_secret"],
                "TELEGRAM_API_BASE": i["telegram_api_base"] or "https://api.telegram.org",
                "PHOTOS_BUCKET": self.photos_bucket,
                "JOBS_AUTH_TOKEN": i["jobs_auth_token"],
                "PHOTO_PATH_KEY": i["photo_path_key"],
                "TASKS_LOCATION": self.region,
                "TASKS_QUEUE": "default",
                "TASKS_AUTH_TOKEN": i["tasks_auth_token"],
                "TASKS_SERVICE_ACCOUNT": "",  # the emulator attaches no OIDC token
                "VIDEO_PROVIDER": self.video_provider,
                "OPS_USER_IDS": i["ops_user_ids"],
                "OPS_CHAT_ID": i["ops_chat_id"],
                "LOCAL_STACK": "1",
                "LOCAL_CLOCK_FILE": i["clock_file"],  # read only with ALLOW_CLOCK_OVERRIDE (below)
            }
        )
        if not self.external_api_base and not env.get("PROVIDER_TOKEN"):
            env["PROVIDER_TOKEN"] = LOCAL_PROVIDER_TOKEN  # the Bot API double takes it as Telegram would
        if self.video is not None and self.video_provider == "livekit":
            env.update(livekit_env(self.video.url))
            # the Mini App's room page connects to it by WebSocket (its CSP's connect-src)
            env["MINIAPP_MEDIA_ORIGINS"] = self.video.url.replace("http://", "ws://", 1)
        elif self.video is not None:
            env.update({"DAILY_API_KEY": DAILY_API_KEY, "DAILY_API_URL": self.video.api_url,
                        "DAILY_DOMAIN": DAILY_DOMAIN, "DAILY_WEBHOOK_SECRET": self.video.webhook_secret,
                        # the Mini App's room page frames the domain's rooms (its CSP's frame-src); daily-js
                        # retries a room page that does not load on its dailywebrtc.com twin
                        "MINIAPP_MEDIA_ORIGINS": f"https://{DAILY_DOMAIN}.daily.co,https://{DAILY_DOMAIN}.dailywebrtc.com"})
        if self.yookassa is not None:
            env.update({"YOOKASSA_SHOP_ID": self.yookassa.shop_id, "YOOKASSA_SECRET_KEY": self.yookassa.secret_key,
                        "YOOKASSA_API_URL": self.yookassa.api_url, "YOOKASSA_CHECK_IP": "1"})
        # Every function's URL (ports are chosen before any starts), e.g. for Cloud Tasks targets.
        for name, port in (getattr(self, "_function_ports", None) or {}).items():
            if self.config.functions[name].source_path(self.root).exists():
                env[function_url_var(name)] = f"http://127.0.0.1:{port}/"
                if name == "miniapp_api" and not env.get("MINIAPP_URL"):  # the webhook's web_app buttons
                    env["MINIAPP_URL"] = f"http://127.0.0.1:{port}/"        # (shown only at https: none here)
        for key, var in (
            ("firestore_emulator_host", "FIRESTORE_EMULATOR_HOST"),
            ("storage_emulator_host", "STORAGE_EMULATOR_HOST"),
            ("tasks_emulator_host", "CLOUD_TASKS_EMULATOR_HOST"),
        ):
            if i[key]:
                env[var] = i[key]
        return env

    # ---- parts ---------------------------------------------------------------------------------
    def _start_firestore(self) -> Callable[[], None]:
        gcloud = shutil.which("gcloud")
        if not gcloud:
            raise StackError("gcloud not found: install google-cloud-cli-firestore-emulator (infra/setup.sh)")
        port = free_port()
        child = self._spawn(
            "firestore",
            [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"],
        )
        host = self.info["firestore_emulator_host"] = f"127.0.0.1:{port}"

        def wait() -> None:
            self._wait(child, lambda: http_get(f"http://{host}/")[1].strip().startswith(b"Ok"), "HTTP 'Ok'")

        return wait

    def _start_storage(self) -> Callable[[], None]:
        port = free_port()
        child = self._spawn(
            "storage",
            [
                self._bin("gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port),
                "--in-memory", "--default-bucket", self.photos_bucket,
            ],
        )
        base = self.info["storage_emulator_host"] = f"http://127.0.0.1:{port}"

        def wait() -> None:
            self._wait(child, lambda: http_get(f"{base}/storage/v1/b")[0] == 200, "bucket listing")
            ensure_bucket(base, self.photos_bucket, self.project)

        return wait

    def _start_tasks(self) -> Callable[[], None]:
        candidates = [self.root / ".venv-tasks" / "bin" / "python", REPO_ROOT / ".venv-tasks" / "bin" / "python"]
        py = next((c for c in candidates if c.exists()), candidates[0])
        py_s = os.environ.get("TELEMED_TASKS_PYTHON") or str(py)
        if not Path(py_s).exists():
            raise StackError(f"{py_s} missing: run infra/setup.sh (it creates .venv-tasks)")
        port = free_port()  # known now, so the functions started before it answers get it
        queues = [arg for name in self.info["tasks_queues"].values() for arg in ("--queue", name)]
        child = self._spawn("tasks", [py_s, "-m", "infra.local.tasks_emulator", "--port", str(port), *queues])
        self.info["tasks_emulator_host"] = f"127.0.0.1:{port}"

        def wait() -> None:
            self.info["tasks_emulator_host"] = self._wait(child, self._ready_line(child), "READY line")

        return wait

    def _start_telegram(self) -> Callable[[], None]:
        if self.external_api_base:
            self._say(f"using the Bot API server at {self.external_api_base} (no double)")
            if self.info["bot_token"] == DEFAULT_BOT_TOKEN:
                self._say("WARNING: TELEGRAM_BOT_TOKEN is not set: that server gets the built-in test token")
            self.info["telegram_api_base"] = self.external_api_base
            return lambda: None
        if not (REPO_ROOT / "infra" / "local" / "bot_api_double.py").exists():
            self._say("WARNING: infra/local/bot_api_double.py missing; TELEGRAM_API_BASE left unset")
            return lambda: None
        fn = self.config.functions.get("telegram_webhook")
        port = self._function_ports.get("telegram_webhook") if fn else None
        cmd = [
            self._python(), "-m", "infra.local.bot_api_double", "--port", "0",
            f"--token={self.info['bot_token']}", f"--secret={self.info['webhook_secret']}",  # "=": a secret may start with "-"
        ]
        if port and fn and fn.source_path(self.root).exists():
            cmd += ["--webhook-url", f"http://127.0.0.1:{port}/"]
        child = self._spawn("bot_api_double", cmd)

        def wait() -> None:
            self.info["telegram_api_base"] = self._wait(child, self._ready_line(child), "READY line").rstrip("/")

        return wait

    def _start_providers(self) -> Callable[[], None]:
        """The video provider's and YooKassa's doubles, in this process (tests and the demo drive them:
        joins, leaves, payments); the video double's webhooks go to booking_callbacks."""
        from infra.local.yookassa_double import YooKassaDouble

        port = self._function_ports.get("booking_callbacks")
        hook = f"http://127.0.0.1:{port}/webhooks/video" if port else None
        if self.video_provider == "livekit":
            from infra.local.livekit_double import LiveKitDouble

            self.video = LiveKitDouble(LIVEKIT_API_KEY, LIVEKIT_API_SECRET, webhook_url=hook,
                                       clock=lambda: stack_time(self.info)).start()
            self.info["video_api_url"] = self.video.url
        else:
            from infra.local.daily_double import DailyDouble

            self.video = DailyDouble(DAILY_API_KEY, DAILY_DOMAIN, webhook_url=hook).start()
            self.info["video_api_url"] = self.video.api_url
            self.info["video_webhook_secret"] = self.video.webhook_secret
        self.yookassa = YooKassaDouble().start()
        self.info["yookassa_api_url"] = self.yookassa.api_url
        return lambda: None

    def _start_functions(self) -> list[Callable[[], None]]:
        env = self.function_env()
        waits = []
        for fn in self.config.functions.values():
            src = fn.source_path(self.root)
            if not src.exists():
                self._say(f"WARNING: skipping {fn.name}: {fn.source} does not exist")
                self.skipped_functions.append(fn.name)
                continue
            waits.append(self._spawn_function(fn, fn.name, self._function_ports[fn.name], env, self.info["functions"]))
        return waits

    def _spawn_function(self, fn, name: str, port: int, env: dict[str, str], urls: dict[str, str]) -> Callable[[], None]:
        cmd = [
            self._bin("functions-framework"), "--source", str(fn.source_path(self.root)), "--target", fn.target,
            "--signature-type", fn.signature_type, "--host", "127.0.0.1", "--port", str(port),
        ]
        fn_env = dict(env, K_SERVICE=fn.name, FUNCTION_TARGET=fn.target)
        if fn.name in CLOCKED_FUNCTIONS:     # local only (never deployed): tests and the demo move the clock
            fn_env["ALLOW_CLOCK_OVERRIDE"] = "1"
        child = self._spawn(f"fn-{name}", cmd, env=fn_env)
        url = f"http://127.0.0.1:{port}/"

        def wait() -> None:
            self._wait(child, lambda: http_get(url)[0] > 0, "HTTP answer")
            urls[name] = url

        return wait

    def start_function(self, function: str, as_: str, env: dict[str, str]) -> str:
        """Another instance of `function` (its name in serverless.yml) under the name `as_`, with `env` over
        the stack's environment (e.g. PAYMENTS_MODE=stars); started once, stopped with the stack (not in
        stack.json's functions: nothing calls it unless pointed at it). Its URL."""
        if as_ in self.variants:
            return self.variants[as_]
        if "functions" not in self.started:
            raise StackError("start the functions first")
        self._run_all([self._spawn_function(self.config.functions[function], as_, free_port(),
                                            {**self.function_env(), **env}, self.variants)])
        return self.variants[as_]

    def _start_notifier(self) -> None:
        targets = [
            self.info["functions"][f.name]
            for f in self.config.functions_for_bucket_finalize(self.photos_bucket)
            if f.name in self.info["functions"]
        ]
        if not targets:
            self._say("storage notifier: no running function listens to the photos bucket")
            return
        self.notifier = StorageNotifier(self.info["storage_emulator_host"], self.photos_bucket, targets).start()

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, parts: Iterable[str] | None = None) -> dict[str, Any]:
        """Start the given parts (default: those given to the constructor) that are not up yet."""
        want = _expand(parts) if parts is not None else set(self.parts)
        self.parts |= want
        todo = want - self.started
        if not todo:
            return self.info
        t0 = time.monotonic()
        try:
            self._function_ports = getattr(self, "_function_ports", None) or {
                name: free_port() for name in self.config.functions
            }
            waits: list[Callable[[], None]] = []
            for part in ("firestore", "storage", "tasks", "telegram", "providers"):
                if part in todo:
                    waits.append(getattr(self, f"_start_{part}")())
            # The functions need the double's URL (port 0): wait for it before starting them.
            if "telegram" in todo:
                waits.pop(-2 if "providers" in todo else -1)()
            if "functions" in todo:
                waits.extend(self._start_functions())
            self._run_all(waits)
            if "miniapp_api" in self.info["functions"]:  # the Mini App (page and API) at the top level too
                self.info["miniapp_api"] = self.info["functions"]["miniapp_api"]
            if "notifier" in todo:
                self._start_notifier()
            self.started |= todo
        except BaseException:
            self.stop()
            raise
        move_clock(self.info, None)  # a clock moved by a run that died stays not moved
        self._write_json()
        self._say(f"up in {time.monotonic() - t0:.1f}s: {', '.join(sorted(self.started))}")
        _LIVE.add(self)
        return self.info

    @staticmethod
    def _run_all(waits: list[Callable[[], None]]) -> None:
        if not waits:
            return
        with ThreadPoolExecutor(max_workers=len(waits)) as pool:
            futures = [pool.submit(w) for w in waits]
            errors = [f.exception() for f in futures if f.exception()]
        if errors:
            raise errors[0]

    def _write_json(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.stack_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.info, indent=2) + "\n")
        tmp.replace(self.stack_json)

    def pids(self) -> list[int]:
        return [c.popen.pid for c in self.children.values()]

    def stop(self, timeout: float = 10.0) -> None:
        if self.notifier:
            self.notifier.stop()
            self.notifier = None
        for double in (self.video, self.yookassa):
            if double is not None:
                double.stop()
        self.video = self.yookassa = None
        with self._lock:
            children = list(self.children.values())
            self.children.clear()
        for c in children:  # TERM every group first, then wait: parallel shutdown
            _signal_group(c.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for c in children:
            try:
                c.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for c in children:  # the leader may be gone while its children (java, gunicorn workers) linger
            if _group_alive(c.popen.pid):
                t_end = time.monotonic() + 2
                while _group_alive(c.popen.pid) and time.monotonic() < t_end:
                    time.sleep(0.05)
            _signal_group(c.popen.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                c.popen.wait(2)
        # Killed grandchildren (the emulator's JVM) are reaped by init a moment later: return once gone.
        t_end = time.monotonic() + 5
        while any(_group_alive(c.popen.pid) for c in children) and time.monotonic() < t_end:
            time.sleep(0.05)
        self.started.clear()
        self.variants.clear()
        if self.stack_json.exists() and children:
            with contextlib.suppress(OSError):
                self.stack_json.unlink()

    @contextlib.contextmanager
    def running(self, parts: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        try:
            yield self.start(parts)
        finally:
            self.stop()

    def clear_firestore(self) -> None:
        clear_firestore(self.info["firestore_emulator_host"], self.project)

    def move_clock(self, to) -> None:
        """The functions' clock reads `to` (a datetime) now, and runs on from there; None: the real time."""
        move_clock(self.info, to)

    @staticmethod
    def of(info: dict[str, Any]) -> "LocalStack":
        """The running stack (in this process) whose stack.json dict `info` is: tests and the demo reach
        its in-process doubles (``video``, ``yookassa``) through it."""
        found = next((s for s in list(_LIVE) if s.info is info), None)
        if found is None:
            raise StackError("no stack of this process has this info")
        return found

    def run_due_tasks(self, until, queue: str = "consultations", match: str | None = None) -> list[str]:
        """Moves the clock of the queue's tasks on to `until` (a datetime): every task whose schedule_time is
        at or before it (and whose id contains `match`, e.g. a booking id) runs now (RunTask), earliest
        first, each as if at its own time (the function reads the ETA under ALLOW_CLOCK_OVERRIDE). Returns
        the task ids run. Tests and the demo only."""
        return run_due_tasks(self.info["tasks_emulator_host"], self.info["tasks_queues"][queue], until, match)


_LIVE: "weakref.WeakSet[LocalStack]" = weakref.WeakSet()
# the functions whose clock tests and the demo move (ALLOW_CLOCK_OVERRIDE: never deployed)
CLOCKED_FUNCTIONS = ("telegram_webhook", "scheduled_jobs", "booking_callbacks", "miniapp_api")


def move_clock(info: dict[str, Any], to) -> None:
    """Writes how far the functions' clock is moved on (LOCAL_CLOCK_FILE); `to` None moves it back."""
    path = Path(info["clock_file"])
    if to is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    from datetime import datetime, timezone

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{(to - datetime.now(timezone.utc)).total_seconds():.3f}\n")
    tmp.replace(path)


def stack_time(info: dict[str, Any]) -> float:
    """The functions' clock (seconds), moved by move_clock or the real time: for the in-process doubles."""
    try:
        offset = float(Path(info["clock_file"]).read_text() or 0)
    except (OSError, ValueError):
        offset = 0.0
    return time.time() + offset


def ops_cli(info: dict[str, Any], *args: str, timeout: float = 120) -> tuple[int, list[str]]:
    """`python -m infra.ops ARGS` against the stack, as an operator would run it: exit code, output lines."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(REPO_ROOT),
           "GOOGLE_CLOUD_PROJECT": info["project"], "FIRESTORE_EMULATOR_HOST": info["firestore_emulator_host"],
           "STORAGE_EMULATOR_HOST": info["storage_emulator_host"], "PHOTOS_BUCKET": info["photos_bucket"],
           "OPS_USER_IDS": info["ops_user_ids"], "PHOTO_PATH_KEY": info["photo_path_key"]}
    done = subprocess.run([sys.executable, "-m", "infra.ops", *args], env=env, cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=timeout)
    return done.returncode, (done.stdout + done.stderr).strip().splitlines()


def tasks_client(tasks_host: str):
    """google-cloud-tasks' client on the emulator (insecure gRPC)."""
    import grpc
    from google.cloud import tasks_v2
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(tasks_host)))


def run_due_tasks(tasks_host: str, queue: str, until, match: str | None = None) -> list[str]:
    from google.api_core import exceptions

    client = tasks_client(tasks_host)
    due = sorted((t for t in client.list_tasks(parent=queue) if t.schedule_time and t.schedule_time <= until
                  and (match is None or match in t.name.rsplit("/", 1)[-1])), key=lambda t: t.schedule_time)
    ran = []
    for task in due:
        for _ in range(20):
            try:
                client.run_task(name=task.name)
            except exceptions.NotFound:
                # the emulator's dispatcher holds it for a moment (it pops and re-appends tasks not yet due),
                # or has run it: look again
                time.sleep(0.05)
                if any(t.name == task.name for t in client.list_tasks(parent=queue)):
                    continue
            else:
                ran.append(task.name.rsplit("/", 1)[-1])
            break
    return ran


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m infra.local.stack", description="Run the local stack.")
    p.add_argument("--only", help=f"comma-separated parts of {','.join(ALL_PARTS)} (default all)")
    p.add_argument("--state-dir", help="where stack.json and logs/ go (default .local/)")
    p.add_argument("--project", default=DEFAULT_PROJECT)
    p.add_argument("--verbose", "-v", action="store_true")
    p.add_argument("--no-demo-vets", action="store_true",
                   help="do not make the demo vets (python -m infra.ops vets demo: bookable vets to talk to)")
    args = p.parse_args(argv)
    parts = [x.strip() for x in args.only.split(",") if x.strip()] if args.only else None
    stack = LocalStack(parts=parts, state_dir=args.state_dir, project=args.project, verbose=args.verbose)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (&)
    try:
        info = stack.start()
    except StackError as e:
        print(f"[stack] FAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    try:
        for name, url in info["functions"].items():
            print(f"{name:<24} {url}")
        for key in ("telegram_api_base", "firestore_emulator_host", "storage_emulator_host", "tasks_emulator_host"):
            print(f"{key:<24} {info[key]}")
        if not args.no_demo_vets and {"firestore", "storage"} <= stack.started:
            ops_id = info["ops_user_ids"].split(",")[0]
            code, lines = ops_cli(info, "vets", "demo", "--as", ops_id)
            print(f"{'demo vets':<24} " + ("; ".join(lines) if code == 0 else f"not made (exit {code}): {lines[-1:]}"))
        print(f"{'stack.json':<24} {stack.stack_json}")
        print(f"{'logs':<24} {stack.log_dir}")
        print("Ctrl-C to stop.", flush=True)
        while not stop.is_set():
            stop.wait(0.5)
            dead = [c.name for c in list(stack.children.values()) if not c.alive()]
            if dead:
                print(f"[stack] {', '.join(dead)} exited; see logs. Stopping.", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        pass
    finally:
        print("[stack] stopping ...", file=sys.stderr)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
