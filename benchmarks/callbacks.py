"""booking_callbacks' cold start against a bare function importing the same libraries (manual, not a test).

    .venv/bin/python -m benchmarks.callbacks [--runs 7]

Starts the local stack's emulators and doubles, then, per run, each function in a fresh functions-framework
process (after one uncounted round: the emulator's first requests are slow): the time from process start
to the first 200 answer to a Cloud Tasks callback (a task whose booking is gone: the instance is built -
Firestore client, bare Bot, Daily adapter - and one document is read) against the same for benchmarks/bare_callbacks.py (same imports, answers at once) and a bare hello.
Target: ≤ 1.2× the bare function with the same imports.
"""
from __future__ import annotations

import argparse
import compileall
import json
import statistics

from benchmarks.webhook import ROOT, first_ok, serve
from infra.local.stack import LocalStack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    compileall.compile_dir(ROOT / "shared", quiet=1)
    compileall.compile_dir(ROOT / "functions", quiet=1)
    stack = LocalStack(ROOT, parts=("firestore", "tasks", "telegram", "providers"), state_dir=ROOT / ".local" / "bench-callbacks")
    with stack.running():
        stack._function_ports = {}
        env = stack.function_env()
        body = json.dumps({"booking_id": "gone00", "version": "1"}).encode()
        headers = {"X-Tasks-Token": env["TASKS_AUTH_TOKEN"], "Content-Type": "application/json"}
        cases = {"booking_callbacks (first task)": ("functions/booking_callbacks.py", "booking_callbacks", "/tasks/end_room"),
                 "bare, same imports": ("benchmarks/bare_callbacks.py", "bare", "/"),
                 "bare hello": ("benchmarks/hello.py", "hello", "/")}
        results: dict[str, list[float]] = {name: [] for name in cases}
        for run in range(args.runs + 1):  # run 0 is not counted: the emulator's own first requests are slow
            for name, (source, target, path) in cases.items():
                proc, url, started = serve(source, target, env)
                try:
                    took = first_ok(url.rstrip("/") + path, body, headers, started)
                finally:
                    proc.terminate()
                    proc.wait()
                if run:
                    results[name].append(took)
    medians = {name: statistics.median(v) * 1000 for name, v in results.items()}
    print(f"cold start, process start → first 200 (median of {args.runs}, ms)")
    for name, value in medians.items():
        print(f"  {name:<32} {value:7.0f}   runs: {' '.join(f'{x * 1000:.0f}' for x in results[name])}")
    fastest = {name: min(v) * 1000 for name, v in results.items()}
    fn, bare = "booking_callbacks (first task)", "bare, same imports"
    print(f"  ratio booking_callbacks / bare-same-imports: median {medians[fn] / medians[bare]:.2f}×, fastest run"
          f" {fastest[fn] / fastest[bare]:.2f}×   (target ≤ 1.2×; on a busy machine the fastest runs say more)")


if __name__ == "__main__":
    main()
