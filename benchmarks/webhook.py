"""Webhook benchmark (issue 2): warm latency vs an echo bot, cold start vs bare functions, Firestore
operations per dialog step. Prints numbers; not part of the tests.

    .venv/bin/python -m benchmarks.webhook [--updates 500] [--cold-runs 5]
"""
from __future__ import annotations

import argparse
import asyncio
import compileall
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.local.bot_api_double import BotApiDoubleClient, UpdateFactory
from infra.local.owner_chat import OwnerChat
from infra.local.stack import LocalStack, free_port
from shared.bot.webhook import SECRET_HEADER

ROOT = Path(__file__).resolve().parents[1]
FF = str(Path(sys.executable).with_name("functions-framework"))

# One pass of the add-pet dialog after onboarding: (kind, value).
DIALOG = [("press", "pet:add"), ("press", "f:species:cat"), ("text", "Мурка"), ("press", "f:breed:skip"),
          ("press", "f:sex:female"), ("text", "3 года"), ("text", "4,2"), ("press", "f:neutered:yes")]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def serve(source: str, target: str, env: dict) -> tuple[subprocess.Popen, str, float]:
    port = free_port()
    started = time.perf_counter()
    proc = subprocess.Popen([FF, "--source", source, "--target", target, "--host", "127.0.0.1", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/", started


def first_ok(url: str, body: bytes, headers: dict, started: float, timeout: float = 60, expect: int = 200) -> float:
    """Seconds from process start to the first `expect` answer for `body` (polling until the port listens)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as http:
        while time.monotonic() < deadline:
            try:
                if http.post(url, content=body, headers=headers).status_code == expect:
                    return time.perf_counter() - started
            except httpx.TransportError:
                time.sleep(0.005)
    raise TimeoutError(url)


def warm_latency(info: dict, env: dict, n_updates: int) -> None:
    double = BotApiDoubleClient(info["telegram_api_base"])
    headers = {SECRET_HEADER: info["webhook_secret"], "Content-Type": "application/json"}
    url = info["functions"]["telegram_webhook"]
    factory = UpdateFactory(double)
    dialog_times, owners = [], 0
    with httpx.Client(timeout=30) as http:
        while len(dialog_times) < n_updates:
            owners += 1
            chat = OwnerChat(double, user_id=900000 + owners)
            chat.send("/start")
            chat.press("Согласен")
            for kind, value in DIALOG:
                update = (factory.callback(value, user_id=chat.user_id) if kind == "press"
                          else factory.message(value, user_id=chat.user_id))
                update["update_id"] = 10_000_000 + owners * 100 + len(dialog_times)
                t0 = time.perf_counter()
                assert http.post(url, json=update, headers=headers).status_code == 200
                dialog_times.append(time.perf_counter() - t0)
        proc, echo_url, started = serve("benchmarks/echo_webhook.py", "echo", env)
        try:
            first_ok(echo_url, json.dumps(factory.message("warm-up", user_id=1)).encode(), headers, started)
            echo_times = []
            for i in range(n_updates):
                body = json.dumps(factory.message(f"echo {i}", user_id=1)).encode()
                t0 = time.perf_counter()
                assert http.post(echo_url, content=body, headers=headers).status_code == 200
                echo_times.append(time.perf_counter() - t0)
        finally:
            proc.terminate()
            proc.wait()
    d50, d99 = pct(dialog_times, 50) * 1000, pct(dialog_times, 99) * 1000
    e50, e99 = pct(echo_times, 50) * 1000, pct(echo_times, 99) * 1000
    print(f"warm latency over {n_updates} updates (ms)")
    print(f"  pet dialog (webhook):  p50 {d50:6.1f}   p99 {d99:6.1f}")
    print(f"  echo handler:          p50 {e50:6.1f}   p99 {e99:6.1f}")
    print(f"  ratio:                 p50 {d50 / e50:5.2f}×  p99 {d99 / e99:5.2f}×   (target ≤ 1.5×)")


def cold_start(info: dict, env: dict, runs: int) -> None:
    # Installed libraries come byte-compiled (pip compiles on install); compile ours too, so both sides
    # start from bytecode (this machine sets PYTHONDONTWRITEBYTECODE, which would recompile ours every start).
    compileall.compile_dir(ROOT / "shared", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    headers = {SECRET_HEADER: info["webhook_secret"], "Content-Type": "application/json"}
    factory = UpdateFactory(BotApiDoubleClient(info["telegram_api_base"]))
    cases = {"telegram_webhook (first /start)": ("functions/telegram_webhook.py", "telegram_webhook"),
             "telegram_webhook (start-up only)": ("functions/telegram_webhook.py", "telegram_webhook"),
             "bare, same imports": ("benchmarks/bare_imports.py", "bare"),
             "bare hello": ("benchmarks/hello.py", "hello")}
    results: dict[str, list[float]] = {name: [] for name in cases}
    for run in range(runs):
        for name, (source, target) in cases.items():
            update = factory.command("start", user_id=950000 + run)
            proc, url, started = serve(source, target, env)
            forged = "start-up only" in name
            try:
                results[name].append(first_ok(url, json.dumps(update).encode(),
                                              {**headers, SECRET_HEADER: "forged"} if forged else headers,
                                              started, expect=403 if forged else 200))
            finally:
                proc.terminate()
                proc.wait()
    print(f"cold start, process start → first 200 (median of {runs}, ms); 'start-up only' = first answer to a"
          " request with a wrong secret: everything built, no update processed")
    medians = {name: statistics.median(v) * 1000 for name, v in results.items()}
    for name, value in medians.items():
        print(f"  {name:<32} {value:7.0f}")
    bare = medians["bare, same imports"]
    print(f"  ratio first /start / bare-same-imports: {medians['telegram_webhook (first /start)'] / bare:.2f}×"
          f"   start-up only / bare: {medians['telegram_webhook (start-up only)'] / bare:.2f}×   (target ≤ 1.2×)")


def operations_per_step(info: dict) -> None:
    """In-process webhook against the same emulators, reading the repositories' counters per update."""
    from shared.bootstrap import WebhookInstance
    from shared.config import Settings

    instance = WebhookInstance(Settings.from_env())
    factory = UpdateFactory(BotApiDoubleClient(info["telegram_api_base"]))
    user = 990001
    steps = [("/start", factory.command("start", user_id=user)),
             ("consent", None), *[(value, None) for _, value in DIALOG], ("/pets", None)]
    print("Firestore operations per update (reads / writes)")
    for label, update in steps:
        if update is None:
            kind = "press" if ":" in label or label == "consent" else "text"
            if label == "consent":
                update = factory.callback("consent:yes:ru", user_id=user)
            elif label == "/pets":
                update = factory.command("pets", user_id=user)
            else:
                kind = next(k for k, v in DIALOG if v == label)
                update = (factory.callback(label, user_id=user) if kind == "press"
                          else factory.message(label, user_id=user))
        instance.services.stats.reset()
        status, _ = instance.handle(info["webhook_secret"], json.dumps(update).encode())
        stats = instance.services.stats
        print(f"  {label:<18} {stats.reads} / {stats.writes}   (HTTP {status})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    with LocalStack(ROOT).running(("firestore", "telegram", "functions")) as info:
        stack_env = LocalStack(ROOT)  # for the function environment only
        stack_env.info = info
        env = dict(stack_env.function_env(), K_SERVICE="bench")
        os.environ.update({k: v for k, v in env.items() if k.startswith(("TELEGRAM_", "FIRESTORE_", "GOOGLE_"))})
        warm_latency(info, env, args.updates)
        cold_start(info, env, args.cold_runs)
        operations_per_step(info)
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
