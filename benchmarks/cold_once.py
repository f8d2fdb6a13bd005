"""One cold start of a function, as a whole process for outside timers (hyperfine, /usr/bin/time): starts
it under functions-framework, posts a request until the first 200, stops it and exits (status 0, or 1 if no
200 came within 60 s). The environment is the function's: the local stack's, written by

    .venv/bin/python -m benchmarks.cold_once --stack ENV_FILE     # starts the stack's parts, writes ENV_FILE,
                                                                   # waits (Ctrl-C or kill stops it)

then, in another shell, for booking_callbacks' first task against the bare function with its imports:

    .venv/bin/python -m benchmarks.cold_once ENV_FILE callbacks
    .venv/bin/python -m benchmarks.cold_once ENV_FILE bare_callbacks

Only the standard library here, so the timer's figures are the function's start and little else."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = {  # name: (source, target, path)
    "callbacks": ("functions/booking_callbacks.py", "booking_callbacks", "/tasks/end_room"),
    "bare_callbacks": ("benchmarks/bare_callbacks.py", "bare", "/"),
    "hello": ("benchmarks/hello.py", "hello", "/"),
}


def stack(env_file: str) -> None:
    import compileall

    from infra.local.stack import LocalStack

    compileall.compile_dir(ROOT / "shared", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    local = LocalStack(ROOT, parts=("firestore", "tasks", "telegram", "providers"),
                       state_dir=ROOT / ".local" / "bench-cold-once")
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # kill PID stops the stack too (a background job ignores SIGINT)
    signal.signal(signal.SIGINT, stop)
    with local.running():
        local._function_ports = {}
        Path(env_file).write_text(json.dumps(local.function_env()))
        print(f"READY {env_file}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def once(env_file: str, case: str) -> int:
    env = json.loads(Path(env_file).read_text())
    source, target, path = CASES[case]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ff = str(Path(sys.executable).with_name("functions-framework"))
    proc = subprocess.Popen([ff, "--source", source, "--target", target, "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = json.dumps({"booking_id": "gone00", "version": "1"}).encode()
    headers = {"X-Tasks-Token": env.get("TASKS_AUTH_TOKEN", ""), "Content-Type": "application/json"}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers)
                with urllib.request.urlopen(request, timeout=30) as response:
                    if response.status == 200:
                        return 0
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.005)
        return 1
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stack"]:
        stack(sys.argv[2])
    else:
        sys.exit(once(sys.argv[1], sys.argv[2]))
