#!/usr/bin/env python3
"""Start-up time of the desktop app: from starting the process to the window's first painted
frame, measured from outside (this script's clock from spawn to the app's "window painted" log
line, which the window sends two animation frames after its first render). Each run has a fresh
data folder (an empty history, no model), so it measures the first start a student sees.

usage: bench/startup.py [--app PATH] [--runs N] [--json OUT]
Needs a display: uses $DISPLAY, else starts its own Xvfb. Stdlib only; results go to
docs/performance.md.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_load as sl  # noqa: E402  (machine and steal helpers)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAINTED = re.compile(r"window painted")
TIMEOUT_S = 60


def one_start(app, env):
    data = tempfile.mkdtemp(prefix="onevision-startup-")
    run_env = dict(env, ONEVISION_DESK_DATA_DIR=data, RUST_LOG="info,sqlx=warn", NO_COLOR="1")
    start = time.perf_counter()
    proc = subprocess.Popen([app], env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = start + TIMEOUT_S
        for line in proc.stderr:
            if PAINTED.search(line):
                return (time.perf_counter() - start) * 1e3
            if time.perf_counter() > deadline:
                break
        sl.fail(f"{app} did not log a painted window within {TIMEOUT_S} s")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--app", default=os.path.join(ROOT, "target/debug/onevision-desk"))
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--json")
    a = p.parse_args()
    if not os.access(a.app, os.X_OK):
        sl.fail(f"{a.app} is not an executable: build the app first (cargo test --workspace --no-run)")
    env = dict(os.environ, WEBKIT_DISABLE_COMPOSITING_MODE="1")
    xvfb = None
    if not env.get("DISPLAY"):
        # A display no other server holds (a previous run's Xvfb may still be exiting).
        number = next(n for n in range(93, 200) if not os.path.exists(f"/tmp/.X{n}-lock"))
        env["DISPLAY"] = f":{number}"
        xvfb = subprocess.Popen(["Xvfb", env["DISPLAY"], "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    try:
        one_start(a.app, env)  # warms the page cache; not counted
        before = sl.cpu_times()
        times = [one_start(a.app, env) for _ in range(a.runs)]
        after = sl.cpu_times()
    finally:
        if xvfb:
            xvfb.kill()
            xvfb.wait()
    result = {
        "machine": sl.machine(),
        "app": os.path.relpath(a.app, ROOT),
        "runs": a.runs,
        "first_paint_ms": {"min": min(times), "median": sl.median(times), "max": max(times)},
        "steal_percent": sl.steal_percent(before, after),
        "all_ms": [round(t, 1) for t in times],
    }
    m = result["first_paint_ms"]
    steal = result["steal_percent"]
    print(f"start to first paint over {a.runs} runs: median {m['median']:.0f} ms "
          f"(min {m['min']:.0f}, max {m['max']:.0f}); CPU steal {'-' if steal is None else f'{steal:.1f} %'}")
    print(f"machine: {result['machine']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
