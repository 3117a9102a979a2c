#!/usr/bin/env python3
"""Items per hour of `onevision eval` on CPU: the model here, and through `onevision serve` with 1
and 4 requests at once, in one run on the same benchmark.

The benchmark is written here: N items in the fixture's JSONL layout, each with its own 448x448
picture (the figure of serve_load.py with two pixels changed, so no picture cache can answer) and
its own question. The random mid-size model (bench/write_random_model.py) never ends an answer by
itself, so every item writes exactly --new-tokens tokens: the numbers measure the machinery (picture,
prompt, decode, scoring, writing), not a model's verbosity. Greedy, as eval runs by default.

usage: bench/eval_throughput.py [--onevision PATH] [--model DIR] [--items N] [--new-tokens N]
                                [--json OUT]
Stdlib only; results go to docs/performance.md.
"""

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_load as sl  # noqa: E402  (the picture, the machine and steal helpers)

WORK = sl.WORK
DATA_DIR = os.path.join(WORK, "eval-throughput")


def write_benchmark(n):
    base = sl.read_png(sl.OWN_PICTURE) if os.path.exists(sl.OWN_PICTURE) else None
    if base is None:
        base = sl.draw_figure()
        with open(sl.OWN_PICTURE, "wb") as f:
            f.write(base.png())
    os.makedirs(DATA_DIR, exist_ok=True)
    path = os.path.join(DATA_DIR, "items.jsonl")
    levels = ["junior high school", "high school", "college", "social test"]
    with open(path, "w") as f:
        for i in range(n):
            item = {
                "index": i + 1,
                "image": base64.b64encode(base.variant(i)).decode(),
                "question": f"Item {i + 1}: in the figure, what is the area of the shaded triangle?",
                "A": "12", "B": "24", "C": "36", "D": "48",
                "answer": "ABCD"[i % 4],
                "level": levels[i % 4],
                "subject": "math",
            }
            f.write(json.dumps(item) + "\n")
    return path


def run_eval(exe, data, out, engine_args, new_tokens):
    shutil.rmtree(out, ignore_errors=True)
    before = sl.cpu_times()
    start = time.monotonic()
    p = subprocess.run(
        [exe, "eval", "--data", data, "--out", out, "--format", "json",
         "--max-new-tokens", str(new_tokens), *engine_args],
        capture_output=True, text=True)
    wall = time.monotonic() - start
    after = sl.cpu_times()
    if p.returncode not in (0, 1):
        sl.fail(f"eval failed ({p.returncode}): {p.stderr.strip()}")
    summary = json.loads(p.stdout)
    asked = summary["run"]["asked"]
    seconds = summary["run"]["seconds"]
    return {
        "items": asked,
        "eval_seconds": round(seconds, 2),
        "process_seconds": round(wall, 2),
        "items_per_hour": round(asked * 3600 / seconds, 1),
        "seconds_per_item": round(seconds / asked, 2),
        "steal_percent": sl.steal_percent(before, after),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onevision")
    ap.add_argument("--model", default=sl.DEFAULT_MODEL)
    ap.add_argument("--items", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--json", default=os.path.join(WORK, "eval_throughput.json"))
    a = ap.parse_args()
    exe = sl.resolve_binary(a.onevision)
    sl.check_model(a.model)
    data = write_benchmark(a.items)
    rows = {}
    rows["local"] = run_eval(exe, data, os.path.join(DATA_DIR, "out-local"), ["--model", a.model], a.new_tokens)
    log = open(os.path.join(WORK, "eval_throughput.server.log"), "w")
    server = subprocess.Popen([exe, "serve", "--model", a.model, "--port", "0"],
                              stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("listening on "):
            sl.fail(f"the server did not start: {line!r}")
        url = line.split("listening on ", 1)[1].strip() + "/v1"
        for c in (1, 4):
            rows[f"serve, {c} at once"] = run_eval(
                exe, data, os.path.join(DATA_DIR, f"out-serve-{c}"),
                ["--endpoint", url, "--concurrency", str(c)], a.new_tokens)
    finally:
        server.terminate()
        server.wait()
    result = {"machine": sl.machine(), "items": a.items, "new_tokens": a.new_tokens, "rows": rows}
    with open(a.json, "w") as f:
        json.dump(result, f, indent=1)
    m = result["machine"]
    print(f"{m['cpu_model']}, {m['nproc']} CPUs; {a.items} items, {a.new_tokens} new tokens each, 448x448 pictures")
    print(f"{'engine':<20} {'items/hour':>10} {'s/item':>8} {'steal %':>8}")
    local = rows["local"]["items_per_hour"]
    for k, r in rows.items():
        steal = "-" if r["steal_percent"] is None else f"{r['steal_percent']:.1f}"
        print(f"{k:<20} {r['items_per_hour']:>10.0f} {r['seconds_per_item']:>8.2f} {steal:>8}"
              f"   ({r['items_per_hour'] / local:.2f}x local)")


if __name__ == "__main__":
    main()
