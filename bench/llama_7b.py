#!/usr/bin/env python3
"""The real 7B's dimensions side by side with llama.cpp on the CPU: our q4k against its Q4_K_M
(and q8_0 against Q8_0), the same random bf16 checkpoint, the same 448x448 picture and question,
the same thread count, the two sides taking turns, medians, the machine's CPU steal over each
side's runs, and each side's decode against the memory-bandwidth bound.

Both sides start from weights already in their format (ours: the packed file a first start
keeps, see bench/seven_b.py for that first start; theirs: GGUF files converted once by llama.cpp's
own convert_hf_to_gguf.py to BF16 and quantised by llama-quantize), so the load time is a second
start's. Rows: load s, peak RSS GiB, vision s, prefill tok/s, decode tok/s, time to first token.
With --context-tokens N, decoding N tokens deep as well: ours `onevision bench --context-tokens`
(a text prompt of about N tokens), theirs `llama-bench -p 0 -d N` (decoding after N tokens).

usage: bench/llama_7b.py [--pairs q4k,q8_0] [--runs 3] [--new-tokens 16] [--threads N]
                         [--context-tokens N] [--picture-side 448] [--warmup 1] [--no-repack]
                         [--avx2-only] [--onevision target/release/onevision]
                         [--json OUT]

--avx2-only: both sides as a CPU with AVX2 and no AVX-512 runs them (bench/llama_compare.py says
how); llama-quantize of either build writes the same GGUF files.

Needs what bench/llama_compare.py needs (llama.cpp built once under $ONEVISION_BENCH_CACHE, a
Python with torch for the converter) and the 7B folder of bench/write_random_model.py --size 7b.
Disk: the BF16 GGUF (15.2 GB, removed again with --drop-bf16 once the quantised files exist),
Q4_K_M 4.7 GB, Q8_0 8.1 GB, the F16 projector 1.35 GB, our packed files 5.4-9 GB.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare import machine  # noqa: E402
from llama_compare import (  # noqa: E402
    AVX2_ONLY_ONEVISION, CACHE, LLAMA_BUILDS, LLAMA_SRC, REPACK, Steal, ensure_llama_cpp,
    memory_bandwidth, ratio, run, theirs_once, timed_process)
from seven_b import MODEL_DIR, picture, start  # noqa: E402

GGUF_DIR = os.path.join(CACHE, "gguf-7b")
# Our quantisation against llama.cpp's weight type.
PAIRS = {"q4k": "Q4_K_M", "q8_0": "Q8_0"}


def ensure_gguf(quantize, weight_type, drop_bf16):
    """The text GGUF in `weight_type` and the F16 projector, converted and quantised once."""
    os.makedirs(GGUF_DIR, exist_ok=True)
    convert = os.path.join(LLAMA_SRC, "convert_hf_to_gguf.py")
    bf16 = os.path.join(GGUF_DIR, "model-BF16.gguf")
    projector = os.path.join(GGUF_DIR, "mmproj-f16.gguf")
    model = os.path.join(GGUF_DIR, f"model-{weight_type}.gguf")
    if not os.path.isfile(projector):
        run([sys.executable, convert, MODEL_DIR, "--mmproj", "--outtype", "f16",
             "--outfile", projector + ".partial"], stdout=subprocess.DEVNULL)
        os.rename(projector + ".partial", projector)
    if not os.path.isfile(model):
        if not os.path.isfile(bf16):
            run([sys.executable, convert, MODEL_DIR, "--outtype", "bf16", "--outfile", bf16 + ".partial"],
                stdout=subprocess.DEVNULL)
            os.rename(bf16 + ".partial", bf16)
        run([quantize, bf16, model + ".partial", weight_type], stdout=subprocess.DEVNULL)
        os.rename(model + ".partial", model)
    if drop_bf16 and os.path.isfile(bf16) and all(
            os.path.isfile(os.path.join(GGUF_DIR, f"model-{t}.gguf")) for t in PAIRS.values()):
        os.remove(bf16)
    return model, projector


def ours(exe, quant, image, new_tokens, threads, context_tokens=0):
    """One second start of `onevision bench` (the packed file kept under the cache)."""
    packed = os.path.join(CACHE, f"packed-7b-{quant}")
    r = start(exe, quant, packed, image, new_tokens, threads, context_tokens)
    if not r["packed_weights"]:
        raise SystemExit(f"{exe} packed {quant} at this start: run it once before timing")
    keep = ("load_s", "peak_rss_gib", "vision_s", "prefill_tok_s", "decode_tok_s", "ttft_s", "prompt_tokens")
    return {k: r[k] for k in keep}


def theirs(mtmd, model, projector, image, new_tokens, threads, repack=True):
    """One llama-mtmd-cli run on the same picture as ours."""
    r = theirs_once(mtmd, model, projector, new_tokens, threads, image, REPACK[repack]["mtmd"])
    return {
        "load_s": r["load_ms"] / 1e3,
        "peak_rss_gib": r["peak_rss_mib"] / 1024,
        "vision_s": r["vision_ms"] / 1e3,
        "prefill_tok_s": r["prefill_tok_s"],
        "decode_tok_s": r["decode_tok_s"],
        "ttft_s": r["ttft_ms"] / 1e3,
        "prompt_tokens": r["prompt_tokens"],
    }


def theirs_deep(model, depth, new_tokens, threads, repack=True, avx2_only=False):
    """llama-bench's decode speed `depth` tokens into the context (its tg test at -d)."""
    bench = os.path.join(LLAMA_BUILDS[avx2_only][0], "bin", "llama-bench")
    cmd = [bench, "-m", model, "-p", "0", "-n", str(new_tokens), "-d", str(depth), "-t", str(threads),
           "-r", "1", "-o", "json", *REPACK[repack]["bench"]]
    out, _ = timed_process(cmd, dict(os.environ))
    (test,) = json.loads(out[out.index("["):out.rindex("]") + 1])
    return test["avg_ts"]


def medians(runs):
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", default="q4k", help="ours among q4k,q8_0 (against Q4_K_M, Q8_0)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--context-tokens", type=int, default=0,
                    help="also time decoding this deep into a text context (one run a side)")
    ap.add_argument("--no-repack", action="store_true",
                    help="llama.cpp without repacking its weights at load (-nr)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed runs a side first (the page cache; 0 for long single runs)")
    ap.add_argument("--picture-side", type=int, default=448,
                    help="the figure scaled to this square side (1024: about one megapixel)")
    ap.add_argument("--drop-bf16", action="store_true", help="remove the BF16 GGUF once quantised")
    ap.add_argument("--avx2-only", action="store_true",
                    help="both sides as a CPU with AVX2 and no AVX-512 runs them")
    ap.add_argument("--onevision", help="our binary (default: target/release/onevision, or with "
                    "--avx2-only the one bench/build_avx2_only.sh builds)")
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args()
    args.onevision = args.onevision or (AVX2_ONLY_ONEVISION if args.avx2_only
                                        else os.path.join(REPO, "target", "release", "onevision"))
    if args.avx2_only:
        os.environ["ONEVISION_VECTOR_LEVEL"] = "avx2"
    if not os.path.isfile(os.path.join(MODEL_DIR, "model.safetensors")):
        raise SystemExit(f"{MODEL_DIR} is missing: bench/write_random_model.py --size 7b")
    pairs = args.pairs.split(",")
    if unknown := [p for p in pairs if p not in PAIRS]:
        raise SystemExit(f"unknown pairs {unknown}: choose from {', '.join(PAIRS)}")
    mtmd, quantize = ensure_llama_cpp(args.avx2_only)
    image = picture(args.picture_side)
    files = {p: ensure_gguf(quantize, PAIRS[p], args.drop_bf16) for p in pairs}
    bandwidth = memory_bandwidth(args.threads)
    print(f"machine: {machine()}; {args.threads} threads; {args.new_tokens} new tokens; "
          f"{args.picture_side}x{args.picture_side} picture; llama.cpp "
          f"{'without' if args.no_repack else 'with'} repacking"
          f"{'; both sides AVX2 only' if args.avx2_only else ''}; median of "
          f"{args.runs}, the sides in turn; read bandwidth {bandwidth['read_gb_s']:.1f} GB/s", flush=True)
    results = {"machine": machine(), "bandwidth": bandwidth, "threads": args.threads, "rows": {}}
    for p in pairs:
        model, projector = files[p]
        for _ in range(args.warmup):
            ours(args.onevision, p, image, args.new_tokens, args.threads)
            theirs(mtmd, model, projector, image, args.new_tokens, args.threads, not args.no_repack)
        ours_runs, theirs_runs = [], []
        steal = {"ours": [], "theirs": []}
        for _ in range(args.runs):
            with Steal() as s:
                ours_runs.append(ours(args.onevision, p, image, args.new_tokens, args.threads))
            steal["ours"].append(s.percent)
            with Steal() as s:
                theirs_runs.append(theirs(mtmd, model, projector, image, args.new_tokens, args.threads, not args.no_repack))
            steal["theirs"].append(s.percent)
        row = {"ours": medians(ours_runs), "theirs": medians(theirs_runs),
               "steal_percent": {k: statistics.mean(v) for k, v in steal.items()},
               "gguf_bytes": os.path.getsize(model)}
        if args.context_tokens:
            deep = ours(args.onevision, p, None, args.new_tokens, args.threads, args.context_tokens)
            row["ours"]["deep_decode_tok_s"] = deep["decode_tok_s"]
            row["ours"]["deep_prompt_tokens"] = deep["prompt_tokens"]
            row["theirs"]["deep_decode_tok_s"] = theirs_deep(model, args.context_tokens, args.new_tokens,
                                                             args.threads, not args.no_repack,
                                                             args.avx2_only)
        results["rows"][p] = row

    print()
    print("| ours | llama.cpp | second-start load s | peak RSS GiB | vision s | prefill tok/s | decode tok/s "
          "| TTFT s | prompt tokens | steal %: ours / theirs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p, row in results["rows"].items():
        o, t = row["ours"], row["theirs"]

        def cell(key, higher_is_better, digits):
            return (f"{o[key]:.{digits}f} / {t[key]:.{digits}f} "
                    f"({ratio(o[key], t[key], higher_is_better):.2f}x)")

        print(f"| {p} | {PAIRS[p]} | {cell('load_s', False, 1)} | {o['peak_rss_gib']:.2f} / {t['peak_rss_gib']:.2f} "
              f"| {cell('vision_s', False, 1)} | {cell('prefill_tok_s', True, 2)} | {cell('decode_tok_s', True, 2)} "
              f"| {cell('ttft_s', False, 1)} | {o['prompt_tokens']:.0f} / {t['prompt_tokens']:.0f} "
              f"| {row['steal_percent']['ours']:.1f} / {row['steal_percent']['theirs']:.1f} |")
    if args.context_tokens:
        print()
        print(f"Decode tok/s {args.context_tokens} tokens deep (ours: a text prompt of "
              f"{', '.join(str(r['ours']['deep_prompt_tokens']) for r in results['rows'].values())} tokens):")
        for p, row in results["rows"].items():
            o, t = row["ours"]["deep_decode_tok_s"], row["theirs"]["deep_decode_tok_s"]
            print(f"  {p} / {PAIRS[p]}: {o:.2f} / {t:.2f} ({ratio(o, t, True):.2f}x)")
    print()
    print("Decode against the bound (read bandwidth over the weight bytes each side streams per token):")
    for p, row in results["rows"].items():
        ours_bytes = our_bytes_per_token(p)
        for side, n in (("ours", ours_bytes), ("theirs", row["gguf_bytes"])):
            bound = bandwidth["read_gb_s"] * 1e9 / n
            print(f"  {p} {side}: {n / 1e9:.2f} GB per token, bound {bound:.2f} tok/s, "
                  f"decode at {100 * row[side]['decode_tok_s'] / bound:.0f} % of it")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def our_bytes_per_token(quant):
    """The decoder's packed projections plus the Q8_0 output matrix, from the 7B's config."""
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        c = json.load(f)
    c = c.get("text_config", c)
    h, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = c["num_key_value_heads"] * (h // c["num_attention_heads"])
    per_weight = {"q4k": 144 / 256, "q8_0": 34 / 32}[quant]
    layer = h * h * 2 + h * kv * 2 + 3 * h * inter
    return layer * layers * per_weight + h * c["vocab_size"] * 34 / 32


if __name__ == "__main__":
    main()
