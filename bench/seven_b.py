#!/usr/bin/env python3
"""The real 7B's dimensions on the CPU: load time on a first and a second start, peak resident
memory, vision, prefill and decode speed, for each quantisation asked for.

The model is a random bf16 checkpoint at Qwen2.5-VL-7B's dimensions (what R1-Onevision-7B has),
written once by bench/write_random_model.py --size 7b (16.6 GB, about 6 minutes). Each
quantisation gets an empty packed-weights folder, then `onevision bench` runs twice in a row:
the first start reads the bf16 checkpoint and packs it (keeping the packed file), the second
reads the packed file back. Peak memory is the process's own high-water mark (wait4's maxrss),
the CPU steal is the machine's over each run (these machines are shared).

usage: bench/seven_b.py [--quants q4k,q8_0] [--side 448] [--new-tokens 16] [--threads N]
                        [--onevision target/release/onevision] [--json OUT]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare import QUESTION, machine, picture  # noqa: E402
from llama_compare import Steal, timed_process  # noqa: E402

WORK = os.path.join(HERE, ".work")
MODEL_DIR = os.path.join(WORK, "model-numpy-7b")


def start(exe, quant, packed_dir, image, new_tokens, threads, context_tokens=0):
    """One start of `onevision bench`: `image` may be None (a text prompt), `context_tokens`
    puts about that many tokens of earlier text before the question."""
    cmd = [exe, "bench", "--model", MODEL_DIR, "--prompt", QUESTION,
           "--runs", "1", "--warmup", "0", "--max-new-tokens", str(new_tokens),
           "--quant", quant, "--device", "cpu", "--packed-dir", packed_dir,
           "--format", "json"]
    if image:
        cmd += ["--image", image]
    if context_tokens:
        cmd += ["--context-tokens", str(context_tokens)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    with Steal() as steal:
        out, rss = timed_process(cmd, env)
    r = json.loads(out[out.index("{"):])
    return {
        "packed_weights": r["packed_weights"],
        "load_s": r["load_ms"] / 1e3,
        "peak_rss_gib": rss / 1024,
        "vision_s": r["vision_ms"]["median"] / 1e3,
        "prefill_tok_s": r["prefill_tokens_per_s"]["median"],
        "decode_tok_s": r["decode_tokens_per_s"]["median"],
        "ttft_s": r["time_to_first_token_ms"]["median"] / 1e3,
        "prompt_tokens": r["prompt_tokens"],
        "image_tokens": r["image_tokens"],
        "steal_percent": steal.percent,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quants", default="q4k,q8_0")
    ap.add_argument("--side", type=int, default=448, help="the picture's width and height")
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--onevision", default=os.path.join(REPO, "target", "release", "onevision"))
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args()
    if not os.path.isfile(args.onevision):
        raise SystemExit(f"{args.onevision} is missing: cargo build --release -p onevision-cli")
    subprocess.run([sys.executable, os.path.join(HERE, "write_random_model.py"), "--size", "7b"],
                   check=True)
    image = picture(args.side)
    results = {"machine": machine(), "threads": args.threads, "side": args.side, "rows": {}}
    print(f"{'quant':<6} {'start':<7} {'load s':>7} {'peak GiB':>9} {'vision s':>9} "
          f"{'prefill t/s':>12} {'decode t/s':>11} {'TTFT s':>7} {'steal %':>8}")
    for quant in args.quants.split(","):
        with tempfile.TemporaryDirectory(prefix="packed-") as packed:
            rows = []
            for which in ("first", "second"):
                r = start(args.onevision, quant, packed, image, args.new_tokens, args.threads)
                rows.append(r)
                print(f"{quant:<6} {which:<7} {r['load_s']:>7.1f} {r['peak_rss_gib']:>9.2f} "
                      f"{r['vision_s']:>9.1f} {r['prefill_tok_s']:>12.1f} {r['decode_tok_s']:>11.2f} "
                      f"{r['ttft_s']:>7.1f} {r['steal_percent']:>8.1f}", flush=True)
            results["rows"][quant] = {"first": rows[0], "second": rows[1]}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
