"""Webhook benchmark (issue 2): warm latency vs an echo bot, cold start vs bare functions, Firestore
operations per dialog step. Prints numbers; not part of the tests.

    .venv/bin/python -m benchmarks.webhook [--updates 500] [--warm-owners 20] [--cold-runs 5] [--skip-cold]

The warm target: p50 ≤ 1.2 × (echo p50 + the Firestore round trips on the update's critical path), per
dialog step. What is compared, and how it is kept honest:
- the webhook and the echo bot (PTB in webhook mode, one sendMessage per update, the production Bot API
  client) both run under functions-framework; their requests are interleaved one for one, after a warm-up
  of both (and of the emulator's JIT), so both see the same machine;
- the critical path is traced per step in-process (every gRPC call the webhook makes, with its start
  and end): the longest chain of calls that ran one after another (the owner read that runs alongside
  the claim counts once);
- each call on it is weighed by what a bare AsyncClient (the production client's configuration) takes
  for the same call: a get, a create (the claim), a commit of an update conditional on the version
  (the unit of work's), a query. The bare calls are interleaved with the updates too.
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
from collections import defaultdict
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


def dialog_updates(factory: UpdateFactory, chat: OwnerChat, first_id: int):
    """The dialog's updates for one owner, built as they are sent (a press names the newest question)."""
    for i, (kind, value) in enumerate(DIALOG):
        update = (factory.callback(value, user_id=chat.user_id) if kind == "press"
                  else factory.message(value, user_id=chat.user_id))
        update["update_id"] = first_id + i
        yield value, update


def warm_latency(info: dict, env: dict, n_updates: int, warm_owners: int) -> dict:
    """Dialog steps through functions-framework, each followed by one echo update and one bare Firestore
    call of each kind: the three are measured under the same load, after a warm-up of all of them."""
    double = BotApiDoubleClient(info["telegram_api_base"])
    headers = {SECRET_HEADER: info["webhook_secret"], "Content-Type": "application/json"}
    url = info["functions"]["telegram_webhook"]
    factory = UpdateFactory(double)
    bare = BareFirestore(os.environ.get("GOOGLE_CLOUD_PROJECT", "telemed-pet-local"))
    by_step: dict[str, list[float]] = defaultdict(list)
    dialog_times, echo_times = [], []
    proc, echo_url, started = serve("benchmarks/echo_webhook.py", "echo", env)
    try:
        with httpx.Client(timeout=30) as http:
            first_ok(echo_url, json.dumps(factory.message("warm-up", user_id=1)).encode(), headers, started)

            def post(target: str, update: dict) -> float:
                body = json.dumps(update).encode()
                t0 = time.perf_counter()
                response = http.post(target, content=body, headers=headers)
                took = (time.perf_counter() - t0) * 1000
                assert response.status_code == 200
                double.webhook_reply(response)  # a press's answer, executed as Telegram does (untimed)
                return took

            owner = 0
            while len(dialog_times) < n_updates:
                owner += 1
                timed = owner > warm_owners
                chat = OwnerChat(double, user_id=900000 + owner)
                chat.send("/start")
                chat.press("Согласен")
                for label, update in dialog_updates(factory, chat, 10_000_000 + owner * 100):
                    took = post(url, update)
                    echo = post(echo_url, factory.message(f"echo {owner} {label}", user_id=1))
                    bare.one_of_each(record=timed)
                    if timed:
                        dialog_times.append(took)
                        by_step[label].append(took)
                        echo_times.append(echo)
    finally:
        proc.terminate()
        proc.wait()
        cost = bare.close()
    d50, d99 = pct(dialog_times, 50), pct(dialog_times, 99)
    e50, e99 = pct(echo_times, 50), pct(echo_times, 99)
    print(f"warm latency over {len(dialog_times)} dialog updates, each followed by an echo update (ms; after"
          f" {warm_owners} owners' dialogs of warm-up)")
    print(f"  pet dialog (webhook):  p50 {d50:6.1f}   p99 {d99:6.1f}")
    print(f"  echo handler:          p50 {e50:6.1f}   p99 {e99:6.1f}")
    print(f"  ratio:                 p50 {d50 / e50:5.2f}×  p99 {d99 / e99:5.2f}×")
    print("bare Firestore round trips, interleaved with the updates (ms): "
          + "  ".join(f"{k} p50 {pct(v, 50):.2f} p99 {pct(v, 99):.2f}" for k, v in cost.items()))
    return {"dialog_p50": d50, "echo_p50": e50, "echo_p99": e99,
            "by_step": {k: (pct(v, 50), pct(v, 99)) for k, v in by_step.items()},
            "cost": {k: pct(v, 50) for k, v in cost.items()}}


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
        status, answer = instance.handle(info["webhook_secret"], json.dumps(update).encode())
        factory.source.webhook_reply(answer)
        stats = instance.services.stats
        print(f"  {label:<18} {stats.reads} / {stats.writes}   (HTTP {status})")


# ---- Firestore round trips: traced per update, weighed by a bare client ---------------------------------

RPC_KINDS = {"BatchGetDocuments": "get", "Commit": "commit", "RunQuery": "query", "BeginTransaction": "begin",
             "Rollback": "rollback", "RunAggregationQuery": "query", "BatchWrite": "commit"}


def trace_grpc() -> list:
    """Records every grpc.aio call of this process into a list: [kind, start, end] (end set when done).

    Patched at the gRPC layer, so it sees whatever the repositories (and a unit of work) do, however they
    are written; the list is global because the webhook's loop runs in its own thread."""
    import grpc.aio._channel as channel

    calls: list = []
    for cls in (channel.UnaryUnaryMultiCallable, channel.UnaryStreamMultiCallable):
        original = cls.__call__

        def traced(self, *args, _original=original, **kwargs):
            name = self._method.decode().rsplit("/", 1)[-1] if isinstance(self._method, bytes) else str(self._method)
            kind = RPC_KINDS.get(name, name)
            if kind == "commit" and args and not _conditional(args[0]):
                kind = "create"  # the claim (and consent's record): no version to match
            entry = [kind, time.perf_counter(), None]
            call = _original(self, *args, **kwargs)
            calls.append(entry)
            call.add_done_callback(lambda _c, e=entry: e.__setitem__(2, time.perf_counter()))
            return call

        cls.__call__ = traced
    return calls


def _conditional(request) -> bool:
    """A Commit with a write that names the version it expects (the unit of work's)."""
    pb = getattr(request, "_pb", request)
    return any(w.HasField("current_document") and w.current_document.HasField("update_time") for w in pb.writes)


def critical_path(rpcs: list, weight) -> tuple[float, list[str]]:
    """The chain of calls that ran one after another with the largest total ``weight(call)`` (concurrent
    calls, like the owner read started alongside the claim, count once)."""
    done = sorted((r for r in rpcs if r[2] is not None), key=lambda r: r[1])
    best: list[tuple[float, list[str]]] = []
    for i, call in enumerate(done):
        before = [best[j] for j in range(i) if done[j][2] <= call[1]]
        prev = max(before, default=(0.0, []), key=lambda b: b[0])
        best.append((prev[0] + weight(call), prev[1] + [call[0]]))
    return max(best, default=(0.0, []), key=lambda b: b[0])


class BareFirestore:
    """A bare AsyncClient (configured as the webhook's: firestore.AsyncClient(project=...)) on a loop of
    its own, timing one call of each kind the webhook makes: get (BatchGetDocuments), create (a Commit
    with one create, like the claim), commit (a Commit of one update conditional on the document's
    version, with a server timestamp, like the unit of work's) and query."""

    def __init__(self, project: str):
        from google.cloud import firestore

        self._firestore = firestore
        self._loop = asyncio.new_event_loop()
        self._client = firestore.AsyncClient(project=project)
        self._col = self._client.collection("bench_bare")
        self._seed = self._col.document("seed")
        self._n = 0
        self.times: dict[str, list[float]] = defaultdict(list)
        result = self._run(self._seed.set({"n": 0}))
        self._version = result.update_time

    def _run(self, coro):
        return self._loop.run_until_complete(coro)

    def one_of_each(self, record: bool = True) -> None:
        from google.cloud.firestore_v1.base_query import FieldFilter

        self._n += 1
        fs, n = self._firestore, self._n
        client = self._client

        async def commit():
            batch = client.batch()
            batch.update(self._seed, {"n": n, "written_at": fs.SERVER_TIMESTAMP},
                         option=client.write_option(last_update_time=self._version))
            self._version = (await batch.commit())[-1].update_time

        for kind, op in (("get", lambda: self._seed.get()),
                         ("create", lambda: self._col.document(f"d{os.getpid()}-{n}").create({"n": n})),
                         ("commit", commit),
                         ("query", lambda: _drain(self._col.where(filter=FieldFilter("n", "==", 0)).limit(1).stream()))):
            t0 = time.perf_counter()
            self._run(op())
            if record:
                self.times[kind].append((time.perf_counter() - t0) * 1000)

    def close(self) -> dict[str, list[float]]:
        self._loop.close()
        return dict(self.times)


async def _drain(stream) -> None:
    async for _ in stream:
        pass


def step_updates(factory: UpdateFactory, user: int) -> list[tuple[str, dict]]:
    steps = [("/start", factory.command("start", user_id=user)),
             ("consent", factory.callback("consent:yes:ru", user_id=user))]
    for kind, value in DIALOG:
        steps.append((value, factory.callback(value, user_id=user) if kind == "press"
                      else factory.message(value, user_id=user)))
    return steps + [("/pets", factory.command("pets", user_id=user))]


def decomposition(info: dict, warm: dict, owners: int = 7) -> None:
    """Per dialog step: the Firestore calls on its critical path (traced in-process, median over owners,
    weighed by the bare client's interleaved p50 for the same kind of call) against the step's warm p50
    and p99 through functions-framework and the echo baseline."""
    from shared.bootstrap import WebhookInstance
    from shared.config import Settings

    rpcs = trace_grpc()
    instance = WebhookInstance(Settings.from_env())
    factory = UpdateFactory(BotApiDoubleClient(info["telegram_api_base"]))
    cost = warm["cost"]
    paths: dict[str, list[tuple[float, list[str]]]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(list)
    actual: dict[str, list[float]] = defaultdict(list)
    for owner in range(owners):
        for label, update in step_updates(factory, 991000 + owner):
            rpcs.clear()
            status, answer = instance.handle(info["webhook_secret"], json.dumps(update).encode())
            assert status == 200, (label, status)
            snapshot = list(rpcs)
            factory.source.webhook_reply(answer)
            paths[label].append(critical_path(snapshot, lambda c: cost[c[0]]))
            # the same, weighed by how long each call really took inside the webhook
            actual[label].append(critical_path(snapshot, lambda c: (c[2] - c[1]) * 1000)[0])
            counts[label].append(len(rpcs))
    echo = warm["echo_p50"]
    print(f"decomposition of the warm p50 per step (ms); target: p50 ≤ 1.2 × (echo p50 {echo:.1f} + Firestore"
          f" critical path); 'own' = p50 − echo − FS: what the webhook adds over the I/O it cannot avoid")
    print(f"  {'step':<16} {'RPCs':>4}  {'critical path (kinds)':<22} {'FS ms':>6} {'(in webhook)':>12} "
          f"{'target':>7} {'p50':>7} {'p99':>7} {'own':>6} {'ratio':>6}")
    bounds, over = [], []
    for label in [value for _, value in DIALOG]:
        fs_ms, kinds = sorted(paths[label], key=lambda p: p[0])[len(paths[label]) // 2]
        p50, p99 = warm["by_step"][label]
        bound = echo + fs_ms
        bounds.append(bound)
        if p50 > 1.2 * bound:
            over.append(label)
        print(f"  {label:<16} {statistics.median(counts[label]):>4.0f}  {'+'.join(kinds):<22} {fs_ms:6.2f} "
              f"{statistics.median(actual[label]):12.2f} {1.2 * bound:7.1f} {p50:7.1f} {p99:7.1f} "
              f"{p50 - bound:6.1f} {p50 / bound:5.2f}×")
    for label in ("/start", "consent", "/pets"):
        fs_ms, kinds = sorted(paths[label], key=lambda p: p[0])[len(paths[label]) // 2]
        print(f"  {label:<16} {statistics.median(counts[label]):>4.0f}  {'+'.join(kinds):<22} {fs_ms:6.2f}"
              f"   (not in the warm run)")
    overall = warm["dialog_p50"] / statistics.median(bounds)
    print(f"  all dialog steps: p50 {warm['dialog_p50']:.1f} vs echo + FS {statistics.median(bounds):.1f} → "
          f"{overall:.2f}×   (target ≤ 1.20×: {'met' if overall <= 1.2 else 'NOT met'}; steps over it: "
          f"{', '.join(over) or 'none'})")
    webhook_reply_saving(instance, info, factory)


# ---- what riding in the webhook's response saves ------------------------------------------------------


def webhook_reply_saving(instance, info: dict, factory: UpdateFactory, owners: int = 40) -> None:
    """What answering through the webhook response saves, in-process, with and without it on alternate
    owners (the same steps, the same minute): with it (as shipped), a dialog's next question rides in the
    response (request.last_word; after a press, as the edit of the pressed question, the press's answer
    sent while the step commits);
    without it, every call is a request of its own. Whatever a webhook answers is then executed by the
    double, as Telegram would (untimed)."""
    webhook = instance.webhook
    shipped = webhook._reply_in_response
    double = factory.source
    times: dict[tuple[str, bool], list[float]] = defaultdict(list)
    kinds = {v: k for k, v in DIALOG}
    try:
        for owner in range(owners):
            for label, update in step_updates(factory, 993000 + owner):
                kind = kinds.get(label)
                in_response = owner % 2 == 1
                webhook._reply_in_response = in_response
                t0 = time.perf_counter()
                _, answer = instance.handle(info["webhook_secret"], json.dumps(update).encode())
                took = (time.perf_counter() - t0) * 1000
                if kind and owner >= 4:  # the first owners warm both paths up
                    times[kind, in_response].append(took)
                double.webhook_reply(answer)  # Telegram executes the method of the webhook's answer
    finally:
        webhook._reply_in_response = shipped
    print("the next question in the webhook's response, in-process p50 (ms), alternate owners with and without it:")
    for kind, calls in (("press", "answer sent while committing; pressed question edited"),
                        ("text", "question (the only call)")):
        normal, reply = pct(times[kind, False], 50), pct(times[kind, True], 50)
        print(f"  {kind:<5} steps ({calls:<54}) sent {normal:5.1f}   in the response {reply:5.1f}"
              f"   → saves {normal - reply:4.1f}   (n = {len(times[kind, False])}+{len(times[kind, True])})")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--warm-owners", type=int, default=20, help="untimed dialogs first (emulator JIT)")
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    with LocalStack(ROOT).running(("firestore", "telegram", "functions")) as info:
        stack_env = LocalStack(ROOT)  # for the function environment only
        stack_env.info = info
        env = dict(stack_env.function_env(), K_SERVICE="bench")
        os.environ.update({k: v for k, v in env.items() if k.startswith(("TELEGRAM_", "FIRESTORE_", "GOOGLE_", "PHOTO_"))})
        warm = warm_latency(info, env, args.updates, args.warm_owners)
        if not args.skip_cold:
            cold_start(info, env, args.cold_runs)
        operations_per_step(info)
        decomposition(info, warm)
    return 0


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    sys.exit(main())
