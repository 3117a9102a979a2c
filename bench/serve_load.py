#!/usr/bin/env python3
"""`onevision serve` under load, beside `onevision ask` alone, on CPU.

What it measures, in one run:
  1. `onevision ask` on the picture and question, 3 times as fresh processes: the engine's own
     timings (time to first token, decode speed; model load excluded) and each process's wall time
     (model load included).
  2. `onevision serve` with the same model, warmed with one request, then for each client count C
     (default 1, 4, 16): C threads at once, each sending --requests-per-client streamed chat
     completions one after another. Per request: time to the first content or reasoning delta
     (TTFT) and total time; per C: completed requests per second of the batch's wall time, median
     and p90 TTFT, median latency, and completion tokens per second of wall time (from the usage
     chunk). The server writes one answer at a time, so TTFT grows with C: the queue is what this
     measures.
  3. The machine: logical CPUs, CPU model, and the CPU steal time of each phase (from /proc/stat),
     since a noisy neighbour on a VM slows every number here.

Every request carries its own picture (the figure with two pixels changed, so the server's picture
cache, keyed by pixels, cannot answer it) and its own system line (so its prompt cache, keyed by
token ids, cannot either): each one costs what a different student's question would. The
`cached tokens` total printed per phase shows what the caches still saved.

usage: bench/serve_load.py [--onevision PATH] [--model DIR] [--picture PNG] [--new-tokens N]
                           [--clients 1,4,16] [--requests-per-client N] [--threads N] [--json OUT]

Defaults: target/release/onevision (else target/debug/onevision), the random mid-size model that
bench/write_random_model.py writes to bench/.work/model-numpy, and bench/.work/figure_448.png (else
a figure drawn here). Stdlib only. Run it on a quiet machine; the measured tables go to
docs/performance.md.
"""

import argparse
import base64
import http.client
import json
import math
import os
import platform
import random
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".work")
DEFAULT_MODEL = os.path.join(WORK, "model-numpy")
COMPARE_PICTURE = os.path.join(WORK, "figure_448.png")  # drawn by compare.py with PIL
OWN_PICTURE = os.path.join(WORK, "figure_448_plain.png")  # drawn here when that one is absent
SERVER_LOG = os.path.join(WORK, "serve_load.server.log")
QUESTION = "In the figure, find the area of the shaded triangle and explain each step."
SYSTEM = "[{tag}] You are a helpful assistant."
SEED = 2024
ASK_RUNS = 3
# Loading the mid-size model takes seconds in a release build, a minute or more in a debug one;
# the server prints its address only after loading.
STARTUP_TIMEOUT_S = 1800
# A queued request sees nothing but keep-alive comments (every 10 s) until its turn; this bounds
# one socket read, not the whole request.
SOCKET_TIMEOUT_S = 600


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------------------------------------
# PNG, with zlib and struct only: the figure is drawn here when compare.py's is absent, and each
# request's variant is the base picture's pixels with two bytes changed, encoded again.


class Raster:
    """8-bit pixels, row-major, `channels` bytes per pixel (PNG color types 0, 2, 4, 6)."""

    COLOR_TYPES = {0: 1, 4: 2, 2: 3, 6: 4}

    def __init__(self, width, height, color_type, pixels):
        self.width, self.height, self.color_type = width, height, color_type
        self.channels = self.COLOR_TYPES[color_type]
        self.pixels = pixels

    def png(self):
        stride = self.width * self.channels
        # Filter type 0 on every row: the engine decodes it as fast as any, and it keeps the
        # encoder trivial.
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride:(y + 1) * stride]) for y in range(self.height))

        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        ihdr = struct.pack(">IIBBBBB", self.width, self.height, 8, self.color_type, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
                + chunk(b"IEND", b""))

    def variant(self, k):
        """The picture with the first channel of its first two pixels XORed with k + 1: distinct
        for every k below 65535 and never the original."""
        px = bytearray(self.pixels)
        px[0] ^= (k + 1) & 0xFF
        px[self.channels] ^= ((k + 1) >> 8) & 0xFF
        return Raster(self.width, self.height, self.color_type, px).png()


def read_png(path):
    """Decodes an 8-bit, non-interlaced, non-palette PNG; None for anything else."""
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        return None
    width, height, depth, color_type, _, _, interlace = ihdr
    if depth != 8 or interlace != 0 or color_type not in Raster.COLOR_TYPES:
        return None
    bpp = Raster.COLOR_TYPES[color_type]
    stride = width * bpp
    raw = zlib.decompress(b"".join(idat))
    out = bytearray(stride * height)
    prev = bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        elif ftype != 0:
            return None
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return Raster(width, height, color_type, out)


def draw_figure(seed=SEED, size=448):
    """A homework-like figure: grid paper, a shaded triangle with its height, a circle, a box, and
    a little seeded noise so it compresses like a photo of paper rather than a flat drawing."""
    rng = random.Random(seed)
    px = bytearray(size * size * 3)
    tri = ((60, 380), (390, 380), (150, 90))

    def inside_triangle(x, y):
        (x1, y1), (x2, y2), (x3, y3) = tri
        d1 = (x - x2) * (y1 - y2) - (x1 - x2) * (y - y2)
        d2 = (x - x3) * (y2 - y3) - (x2 - x3) * (y - y3)
        d3 = (x - x1) * (y3 - y1) - (x3 - x1) * (y - y1)
        return not ((d1 < 0 or d2 < 0 or d3 < 0) and (d1 > 0 or d2 > 0 or d3 > 0))

    for y in range(size):
        for x in range(size):
            c = (250, 250, 245)
            if x % 28 == 0 or y % 28 == 0:
                c = (200, 215, 235)
            if inside_triangle(x, y):
                c = (170, 200, 240)
            if (x - 340) ** 2 + (y - 110) ** 2 <= 45 ** 2:
                c = (240, 200, 170)
            if 40 <= x <= 130 and 30 <= y <= 100 and (x in (40, 130) or y in (30, 100)):
                c = (20, 20, 20)
            if x in (150, 151) and 90 <= y <= 380:
                c = (200, 40, 40)
            i = (y * size + x) * 3
            for ch in range(3):
                px[i + ch] = min(255, max(0, c[ch] + rng.randint(-6, 6)))
    return Raster(size, size, 2, px)


# ---------------------------------------------------------------------------------------------
# The machine


def cpu_times():
    """(steal, total) jiffies of all CPUs, or None off Linux."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu" or len(fields) < 9:
        return None
    # user nice system idle iowait irq softirq steal: guest time is already inside user.
    values = [int(v) for v in fields[1:9]]
    return values[7], sum(values)


def steal_percent(before, after):
    if before is None or after is None or after[1] <= before[1]:
        return None
    return 100.0 * (after[0] - before[0]) / (after[1] - before[1])


def machine():
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem_gib = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_gib = int(line.split()[1]) / 2 ** 20
    except OSError:
        pass
    return {
        "nproc": usable,
        "cpu_model": model or platform.processor() or "unknown",
        "memory_gib": round(mem_gib, 1) if mem_gib else None,
        "os": f"{platform.system()} {platform.release()}",
    }


# ---------------------------------------------------------------------------------------------
# Statistics


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    """Nearest rank: an observed value, which with a handful of samples is more honest than an
    interpolated one (with 4 samples it is the largest)."""
    if not xs:
        return None
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


# ---------------------------------------------------------------------------------------------
# onevision ask


def run_ask(exe, model, picture, new_tokens, env, tag):
    cmd = [exe, "ask", "--model", model, "--image", picture, "--temperature", "0",
           "--max-new-tokens", str(new_tokens), "--format", "json",
           "--system", SYSTEM.format(tag=tag), QUESTION]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        fail(f"`onevision ask` exited with {out.returncode}: {out.stderr.strip()[-2000:]}")
    try:
        r = json.loads(out.stdout)
        t = r["timings"]
        answer_ms = t["time_to_first_token_ms"] + t["decode_ms"]
        return {
            "wall_s": wall,
            "load_ms": t["load_ms"],
            "ttft_ms": t["time_to_first_token_ms"],
            "vision_ms": t["vision_ms"],
            "prefill_ms": t["prefill_ms"],
            "decode_ms": t["decode_ms"],
            "decode_tok_s": t["decode_tokens_per_s"],
            # ttft covers the pictures, the prompt and the first token; decode the steps after.
            "answer_s": answer_ms / 1000,
            "prompt_tokens": r["usage"]["prompt_tokens"],
            "completion_tokens": r["usage"]["completion_tokens"],
            "finish_reason": r["finish_reason"],
        }
    except (ValueError, KeyError, TypeError) as e:
        fail(f"`onevision ask --format json` printed something unexpected ({e}): {out.stdout[:500]}")


# ---------------------------------------------------------------------------------------------
# onevision serve


class Server:
    def __init__(self, exe, model, env):
        os.makedirs(WORK, exist_ok=True)
        self.log = open(SERVER_LOG, "w")
        cmd = [exe, "serve", "--model", model, "--port", "0", "--max-queue", "64"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True)
        first = []
        reader = threading.Thread(target=lambda: first.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(STARTUP_TIMEOUT_S)
        line = first[0].strip() if first else ""
        prefix = "listening on http://"
        if not line.startswith(prefix):
            self.stop()
            why = "did not start within the time allowed" if not first else "stopped before listening"
            fail(f"`onevision serve` {why}; its log {SERVER_LOG} ends: {self.log_tail()}")
        host, _, port = line[len(prefix):].rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)

    def log_tail(self):
        self.log.flush()
        with open(SERVER_LOG) as f:
            return f.read()[-1500:].strip()

    def stop(self):
        if self.proc.poll() is None:
            # The server stops cleanly on Ctrl-C; SIGKILL only if it does not.
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def request_body(png, new_tokens, tag):
    return json.dumps({
        "messages": [
            {"role": "system", "content": SYSTEM.format(tag=tag)},
            {"role": "user", "content": [
                {"type": "image_url",
                 "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
                {"type": "text", "text": QUESTION},
            ]},
        ],
        "temperature": 0,
        "max_tokens": new_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }).encode()


def chat(host, port, body):
    """One streamed chat completion; times from just before the request is sent."""
    rec = {"ttft_s": None, "total_s": None, "completion_tokens": None, "prompt_tokens": None,
           "cached_tokens": None, "finish_reason": None, "error": None}
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=SOCKET_TIMEOUT_S)
    try:
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            rec["error"] = f"HTTP {resp.status}: {resp.read()[:300].decode(errors='replace')}"
            return rec
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            # Blank separators and ": keep-alive" comments carry no data.
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            obj = json.loads(data)
            if "error" in obj:
                rec["error"] = json.dumps(obj["error"])[:300]
            for choice in obj.get("choices") or []:
                delta = choice.get("delta") or {}
                # The opening chunk has an empty content: the first token is the first non-empty.
                if rec["ttft_s"] is None and (delta.get("content") or delta.get("reasoning_content")):
                    rec["ttft_s"] = time.perf_counter() - t0
                if choice.get("finish_reason"):
                    rec["finish_reason"] = choice["finish_reason"]
            usage = obj.get("usage")
            if usage:
                rec["completion_tokens"] = usage.get("completion_tokens")
                rec["prompt_tokens"] = usage.get("prompt_tokens")
                rec["cached_tokens"] = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        rec["total_s"] = time.perf_counter() - t0
        if rec["error"] is None and rec["completion_tokens"] is None:
            rec["error"] = "the stream ended without a usage chunk"
    except (OSError, http.client.HTTPException, ValueError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    finally:
        conn.close()
    return rec


def batch(server, bodies, clients, per_client):
    """`clients` threads at once, each sending its `per_client` bodies in turn."""
    records = [[None] * per_client for _ in range(clients)]
    gate = threading.Barrier(clients + 1)

    def client(c):
        gate.wait()
        for r in range(per_client):
            records[c][r] = chat(server.host, server.port, bodies[c][r])

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    before = cpu_times()
    gate.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    after = cpu_times()
    flat = [rec for per in records for rec in per]
    ok = [r for r in flat if r["error"] is None]
    ttfts = [r["ttft_s"] for r in ok if r["ttft_s"] is not None]
    tokens = sum(r["completion_tokens"] for r in ok)
    return {
        "clients": clients,
        "requests": len(flat),
        "completed": len(ok),
        "failed": [r["error"] for r in flat if r["error"] is not None],
        # A request whose every token decoded to nothing printable has no first delta.
        "without_text": sum(1 for r in ok if r["ttft_s"] is None),
        "wall_s": wall,
        "requests_per_s": len(ok) / wall,
        "ttft_median_s": median(ttfts),
        "ttft_p90_s": p90(ttfts),
        "latency_median_s": median([r["total_s"] for r in ok]),
        "tokens_per_s": tokens / wall,
        "completion_tokens": tokens,
        "cached_tokens": sum(r["cached_tokens"] or 0 for r in ok),
        "prompt_tokens_median": median([r["prompt_tokens"] for r in ok if r["prompt_tokens"] is not None]),
        "steal_percent": steal_percent(before, after),
        "records": flat,
    }


# ---------------------------------------------------------------------------------------------


def resolve_binary(given):
    if given:
        if not (os.path.isfile(given) and os.access(given, os.X_OK)):
            fail(f"{given} is not an executable file.")
        return os.path.abspath(given)
    for kind in ("release", "debug"):
        path = os.path.join(REPO, "target", kind, "onevision")
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    fail("no onevision binary in target/release or target/debug; build one with "
         "`cargo build --release -p onevision-cli` or pass --onevision.")


def check_model(folder):
    has_weights = any(os.path.isfile(os.path.join(folder, f))
                      for f in ("model.safetensors", "model.safetensors.index.json"))
    if not (os.path.isfile(os.path.join(folder, "config.json")) and has_weights):
        fail(f"{folder} is not a model folder (it needs config.json and model.safetensors); "
             f"write the random one with bench/write_random_model.py.")
    return os.path.abspath(folder)


def load_picture(given):
    """The base picture's path and its pixels, from which every request's variant is made."""
    if given:
        if not os.path.isfile(given):
            fail(f"{given} does not exist.")
        raster = read_png(given)
        if raster is None:
            fail(f"{given} is not an 8-bit, non-interlaced RGB, RGBA or gray PNG, which this script "
                 f"needs to give each request its own variant of it.")
        return os.path.abspath(given), raster
    for path in (COMPARE_PICTURE, OWN_PICTURE):
        if os.path.isfile(path):
            raster = read_png(path)
            if raster is not None:
                return path, raster
    raster = draw_figure()
    os.makedirs(WORK, exist_ok=True)
    with open(OWN_PICTURE, "wb") as f:
        f.write(raster.png())
    return OWN_PICTURE, raster


def parse_clients(text):
    try:
        counts = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        counts = []
    if not counts or any(c < 1 for c in counts):
        fail(f"--clients takes positive whole numbers separated by commas, not {text!r}.")
    return counts


def fmt(x, unit="", digits=2):
    return "—" if x is None else f"{x:.{digits}f}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onevision", help="the binary (default: target/release/onevision, else target/debug/onevision)")
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--picture", help="an 8-bit PNG (default: bench/.work/figure_448.png, else one drawn here)")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--clients", default="1,4,16")
    ap.add_argument("--requests-per-client", type=int, default=2)
    ap.add_argument("--threads", type=int, help="compute threads (default: the CPUs this process may use)")
    ap.add_argument("--json", help="also write every measurement here")
    args = ap.parse_args()

    exe = resolve_binary(args.onevision)
    model = check_model(args.model)
    clients = parse_clients(args.clients)
    if args.new_tokens < 1 or args.requests_per_client < 1:
        fail("--new-tokens and --requests-per-client must be at least 1.")
    host = machine()
    threads = args.threads or host["nproc"]
    # candle's matmuls run on rayon (RAYON_NUM_THREADS); candle 0.11's own worker pool reads
    # CANDLE_NUM_THREADS first, so both are set to keep one inherited from the shell from winning.
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), CANDLE_NUM_THREADS=str(threads))
    picture, raster = load_picture(args.picture)
    debug_build = os.sep + "debug" + os.sep in exe

    print(f"machine: {host['cpu_model']}, {host['nproc']} CPUs, {host['memory_gib']} GiB, {host['os']}", flush=True)
    print(f"binary: {exe}{' (debug build: not representative)' if debug_build else ''}; model: {model}; "
          f"picture: {picture} ({raster.width}x{raster.height}); {threads} threads; "
          f"{args.new_tokens} new tokens", flush=True)

    # (a) ask alone, each a fresh process.
    before = cpu_times()
    asks = []
    for i in range(ASK_RUNS):
        # Tagged like the served requests, so both prompts have the same number of tokens.
        asks.append(run_ask(exe, model, picture, args.new_tokens, env, f"r{99990 + i:05d}"))
        print(f"  ask {i + 1}/{ASK_RUNS}: {asks[-1]['wall_s']:.2f} s", file=sys.stderr, flush=True)
    ask_steal = steal_percent(before, cpu_times())

    # (b) serve: the variants are encoded before any clock starts.
    total = sum(clients) * args.requests_per_client + 1
    if total >= 65535:
        fail("too many requests for distinct picture variants; lower --clients or --requests-per-client.")
    next_variant = iter(range(total))

    def bodies_for(clients_now, per):
        bodies = []
        for c in range(clients_now):
            bodies.append([])
            for _ in range(per):
                k = next(next_variant)
                bodies[c].append(request_body(raster.variant(k), args.new_tokens, f"r{k:05d}"))
        return bodies

    warm_body = bodies_for(1, 1)[0][0]
    planned = [(c, bodies_for(c, args.requests_per_client)) for c in clients]
    server = Server(exe, model, env)
    try:
        warm = chat(server.host, server.port, warm_body)
        if warm["error"]:
            fail(f"the warm-up request failed: {warm['error']}; server log {SERVER_LOG} ends: {server.log_tail()}")
        batches = []
        for c, bodies in planned:
            batches.append(batch(server, bodies, c, args.requests_per_client))
            b = batches[-1]
            print(f"  serve, {c} client{'s' if c > 1 else ''}: {b['completed']}/{b['requests']} in {b['wall_s']:.2f} s",
                  file=sys.stderr, flush=True)
    finally:
        server.stop()

    # Results.
    ask_ttft = [a["ttft_ms"] / 1000 for a in asks]
    ask_answer = median([a["answer_s"] for a in asks])
    ask_wall = median([a["wall_s"] for a in asks])
    rows = [
        {"row": "ask alone", "requests_per_s": 1 / ask_answer, "ttft_median_s": median(ask_ttft),
         "ttft_p90_s": p90(ask_ttft), "latency_median_s": ask_answer,
         "tokens_per_s": median([a["completion_tokens"] / a["answer_s"] for a in asks]),
         "steal_percent": ask_steal},
        {"row": "ask alone, whole process", "requests_per_s": 1 / ask_wall, "ttft_median_s": None,
         "ttft_p90_s": None, "latency_median_s": ask_wall,
         "tokens_per_s": median([a["completion_tokens"] / a["wall_s"] for a in asks]),
         "steal_percent": ask_steal},
    ]
    for b in batches:
        rows.append({"row": f"serve, {b['clients']} client{'s' if b['clients'] > 1 else ''}",
                     **{k: b[k] for k in ("requests_per_s", "ttft_median_s", "ttft_p90_s",
                                          "latency_median_s", "tokens_per_s", "steal_percent")}})

    print()
    print("| run | requests/s | TTFT median s | TTFT p90 s | latency median s | tokens/s | steal % |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['row']} | {fmt(r['requests_per_s'], digits=3)} | {fmt(r['ttft_median_s'])} "
              f"| {fmt(r['ttft_p90_s'])} | {fmt(r['latency_median_s'])} | {fmt(r['tokens_per_s'])} "
              f"| {fmt(r['steal_percent'], digits=1)} |")
    print()
    print(f"ask alone: the engine's own timings of a fresh process's first answer, median of {ASK_RUNS} (model load excluded: "
          f"{median([a['load_ms'] for a in asks]):.0f} ms median); whole process: wall time of each "
          f"`onevision ask`, load included. Decode {median([a['decode_tok_s'] for a in asks]):.2f} tok/s "
          f"median after the first token; prompt {asks[0]['prompt_tokens']} tokens.")
    print("serve: TTFT is from sending the request to the first non-empty delta (upload, picture "
          "decoding and the queue included); requests/s and tokens/s are per second of each batch's "
          "wall time; tokens are the usage chunk's completion tokens.")
    one = next((b for b in batches if b["clients"] == 1), None)
    if one and one["ttft_median_s"] and one["latency_median_s"]:
        print(f"server overhead at 1 client against ask alone: TTFT {one['ttft_median_s'] / median(ask_ttft):.2f}x, "
              f"per answer {one['latency_median_s'] / ask_answer:.2f}x "
              f"({one['latency_median_s'] / ask_wall:.2f}x of a whole `ask` process).")
    for b in batches:
        notes = [f"cached tokens {b['cached_tokens']} of {b['completed']} prompts of "
                 f"{fmt(b['prompt_tokens_median'], digits=0)}"]
        if b["without_text"]:
            notes.append(f"{b['without_text']} answers without a text delta (no TTFT)")
        if b["failed"]:
            notes.append(f"{len(b['failed'])} failed, first: {b['failed'][0]}")
        print(f"serve, {b['clients']} client{'s' if b['clients'] > 1 else ''}: " + "; ".join(notes))

    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "machine": host, "binary": exe, "debug_build": debug_build, "model": model,
                "picture": picture, "threads": threads, "new_tokens": args.new_tokens,
                "requests_per_client": args.requests_per_client, "question": QUESTION,
                "rows": rows, "ask_runs": asks, "warm_request": warm, "serve_batches": batches,
            }, f, indent=2)
    if any(b["failed"] for b in batches):
        sys.exit(1)


if __name__ == "__main__":
    main()
