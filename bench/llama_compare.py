#!/usr/bin/env python3
"""Side by side on the CPU: this engine (`onevision bench`) against llama.cpp (`llama-mtmd-cli`,
what LM Studio, Ollama and Jan run), on the same random mid-size Qwen2.5-VL, the same 448x448
picture and question, the same thread count, one side right after the other, medians of several
runs, with the machine's CPU steal over each side's runs (these machines are shared).

Rows: f32 / F32, f16 / F16, bf16 / BF16, q8_0 / Q8_0, q4k / Q4_K_M (llama.cpp's usual 4-bit).
Both sides read the picture with their own vision tower in their own precision (llama.cpp's
projector file is F32 for the f32 row and F16 otherwise, as its converter writes it by default).

usage: bench/llama_compare.py [--runs N] [--new-tokens N] [--threads N] [--rows f32,q4k]
                              [--picture-side 448] [--no-repack] [--avx2-only]
                              [--onevision target/release/onevision] [--json OUT]

--avx2-only sets both sides as a CPU with AVX2 but no AVX-512 would run them, on a CPU that has
AVX-512: llama.cpp built for AVX2, FMA, F16C and BMI2 only (GGML_NATIVE=OFF), and ours with
ONEVISION_VECTOR_LEVEL=avx2, which must be the binary bench/build_avx2_only.sh builds (gemm's
AVX-512 kernels are a compile-time choice); the default --onevision is then that binary.

What it needs, each made once and kept outside the repository (under $ONEVISION_BENCH_CACHE,
default ~/.cache/onevision-bench):
- llama.cpp built from source without network: the PyPI sdist of llama-cpp-python 0.3.36 vendors
  llama.cpp; built with cmake (GGML_NATIVE=ON, LLAMA_CURL=OFF, LLAMA_OPENSSL=OFF), targets
  llama-mtmd-cli and llama-quantize (about 20 minutes on 2 cores; `cmake` must be installed).
- the model, written by bench/write_random_model.py (numpy; about 1.4 GB bf16), and its GGUF
  files, written by llama.cpp's own convert_hf_to_gguf.py (text model and, with --mmproj, the
  vision projector) and llama-quantize. Run this script with a Python that has what that
  converter needs: `pip install -r <llama.cpp>/requirements/requirements-convert_hf_to_gguf.txt
  pillow` (torch, transformers, numpy, sentencepiece).
- a release build of `onevision` (`cargo build --release -p onevision-desk -p onevision-cli`).
See docs/performance.md for the measured table.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare import QUESTION, machine, picture  # noqa: E402

WORK = os.path.join(HERE, ".work")
MODEL_DIR = os.path.join(WORK, "model-numpy")
CACHE = os.environ.get("ONEVISION_BENCH_CACHE", os.path.expanduser("~/.cache/onevision-bench"))
LLAMA_SDIST = "llama-cpp-python==0.3.36"
LLAMA_SRC = os.path.join(CACHE, "llama_cpp_python-0.3.36", "vendor", "llama.cpp")
# Where llama.cpp is built, and how: for this CPU, or for AVX2 without AVX-512 (--avx2-only).
LLAMA_BUILDS = {
    False: (os.path.join(CACHE, "llama.cpp-build"), ["-DGGML_NATIVE=ON"]),
    True: (os.path.join(CACHE, "llama.cpp-build-avx2"),
           ["-DGGML_NATIVE=OFF", "-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON",
            "-DGGML_BMI2=ON", "-DGGML_AVX512=OFF"]),
}
# Our binary as an AVX2-only CPU runs it (bench/build_avx2_only.sh).
AVX2_ONLY_ONEVISION = os.path.join(CACHE, "avx2-only-target", "release", "onevision")
GGUF_DIR = os.path.join(CACHE, "gguf-mid")

# Our precision (dtype, quantisation) against llama.cpp's weight type and projector type.
ROWS = {
    "f32": (("f32", "none"), "F32", "f32"),
    "f16": (("f16", "none"), "F16", "f16"),
    "bf16": (("bf16", "none"), "BF16", "f16"),
    "q8_0": (("f32", "q8_0"), "Q8_0", "f16"),
    "q4k": (("f32", "q4k"), "Q4_K_M", "f16"),
}


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, **kw)


def ensure_llama_cpp(avx2_only=False):
    """Builds llama.cpp's tools once from the sdist that vendors it; returns the build folder's
    llama-mtmd-cli and llama-quantize."""
    build, flags = LLAMA_BUILDS[avx2_only]
    mtmd = os.path.join(build, "bin", "llama-mtmd-cli")
    quantize = os.path.join(build, "bin", "llama-quantize")
    if os.access(mtmd, os.X_OK) and os.access(quantize, os.X_OK):
        return mtmd, quantize
    if shutil.which("cmake") is None:
        raise SystemExit("cmake is needed to build llama.cpp: apt-get install cmake")
    os.makedirs(CACHE, exist_ok=True)
    if not os.path.isdir(LLAMA_SRC):
        with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
            run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
                 LLAMA_SDIST, "-d", tmp])
            (sdist,) = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")]
            with tarfile.open(os.path.join(tmp, sdist)) as t:
                t.extractall(CACHE, filter="data")
    print("building llama.cpp (about 20 minutes on 2 cores) …", file=sys.stderr, flush=True)
    run(["cmake", "-S", LLAMA_SRC, "-B", build, "-DCMAKE_BUILD_TYPE=Release", *flags,
         "-DLLAMA_CURL=OFF", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF",
         "-DLLAMA_BUILD_SERVER=OFF"], stdout=subprocess.DEVNULL)
    run(["cmake", "--build", build, "-j", str(os.cpu_count() or 2), "--target", "llama-mtmd-cli",
         "llama-quantize", "llama-bench"], stdout=subprocess.DEVNULL)
    return mtmd, quantize


def ensure_gguf(quantize, weight_type, projector_type):
    """The GGUF files for one row, converted (or quantised from the F32 file) once."""
    os.makedirs(GGUF_DIR, exist_ok=True)
    convert = os.path.join(LLAMA_SRC, "convert_hf_to_gguf.py")
    model = os.path.join(GGUF_DIR, f"model-{weight_type}.gguf")
    projector = os.path.join(GGUF_DIR, f"mmproj-{projector_type}.gguf")
    if not os.path.isfile(projector):
        run([sys.executable, convert, MODEL_DIR, "--mmproj", "--outtype", projector_type,
             "--outfile", projector + ".partial"], stdout=subprocess.DEVNULL)
        os.rename(projector + ".partial", projector)
    if not os.path.isfile(model):
        if weight_type in ("F32", "F16", "BF16"):
            run([sys.executable, convert, MODEL_DIR, "--outtype", weight_type.lower(),
                 "--outfile", model + ".partial"], stdout=subprocess.DEVNULL)
        else:
            source, _ = ensure_gguf(quantize, "F32", "f32")
            run([quantize, source, model + ".partial", weight_type], stdout=subprocess.DEVNULL)
        os.rename(model + ".partial", model)
    return model, projector


# Bytes of one block of inputs: f32/f16/bf16 per weight; ggml's Q8_0 (32 weights, f16 scale)
# and Q4_K (256 weights, 12 bytes of scales, two f16 super-scales).
BLOCK = {"f32": (1, 4), "f16": (1, 2), "bf16": (1, 2), "q8_0": (32, 34), "q4k": (256, 144)}


def our_weight_bytes(row):
    """Bytes of weights our decoder reads per generated token at `row`: every projection of
    every layer and the output matrix, in the format the loader gives each (quant.rs: an input
    width that is not a whole number of blocks takes Q8_0, then dense; the output matrix is
    Q8_0 whenever the decoder is quantised)."""
    with open(os.path.join(MODEL_DIR, "config.json")) as f:
        c = json.load(f)
    c = c.get("text_config", c)
    h, inter, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    kv = c["num_key_value_heads"] * (h // c["num_attention_heads"])
    (dtype, quant), _, _ = ROWS[row]
    layer = [(h, h), (h, kv), (h, kv), (h, h), (h, inter), (h, inter), (inter, h)]
    total = 0
    for i, (inputs, outputs) in enumerate(layer * layers + [(h, c["vocab_size"])]):
        output_matrix = i == len(layer) * layers
        kind = dtype if quant == "none" else ("q8_0" if output_matrix else quant)
        if kind == "q4k" and inputs % 256:
            kind = "q8_0"
        if kind == "q8_0" and inputs % 32:
            kind = dtype
        per, size = BLOCK[kind]
        total += inputs // per * size * outputs
    return total


def memory_bandwidth(threads):
    """Read and copy bandwidth in GB/s with `threads` threads (bench/membw.c, built once)."""
    exe = os.path.join(CACHE, "membw")
    source = os.path.join(HERE, "membw.c")
    if not os.path.isfile(exe) or os.path.getmtime(exe) < os.path.getmtime(source):
        os.makedirs(CACHE, exist_ok=True)
        run(["gcc", "-O3", "-march=native", "-fopenmp", source, "-o", exe])
    with Steal() as steal:
        out = subprocess.run([exe, "512", "9"], env=dict(os.environ, OMP_NUM_THREADS=str(threads)),
                             check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    r["steal_percent"] = steal.percent
    return r


def cpu_times():
    """(busy + idle, steal) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return sum(fields), fields[7]


class Steal:
    """The share of CPU time the hypervisor gave to other guests while a side ran."""

    def __enter__(self):
        self.start = cpu_times()
        return self

    def __exit__(self, *exc):
        total, steal = cpu_times()
        span = total - self.start[0]
        self.percent = 100.0 * (steal - self.start[1]) / span if span else 0.0


def timed_process(cmd, env):
    """Runs one process; returns its output and its peak resident memory in MiB (wait4)."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{out[-3000:]}")
    return out, usage.ru_maxrss / 1024


def ours(exe, dtype, quant, runs, new_tokens, threads, picture):
    cmd = [exe, "bench", "--model", MODEL_DIR, "--image", picture, "--prompt", QUESTION,
           "--runs", str(runs), "--warmup", "1", "--max-new-tokens", str(new_tokens),
           "--dtype", dtype, "--quant", quant, "--device", "cpu", "--format", "json"]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    with Steal() as steal:
        out, rss = timed_process(cmd, env)
    r = json.loads(out[out.index("{"):])
    return {
        "decode_tok_s": r["decode_tokens_per_s"]["median"],
        "prefill_tok_s": r["prefill_tokens_per_s"]["median"],
        "vision_ms": r["vision_ms"]["median"],
        "ttft_ms": r["time_to_first_token_ms"]["median"],
        "load_ms": r["load_ms"],
        "peak_rss_mib": rss,
        "prompt_tokens": r["prompt_tokens"],
        "steal_percent": steal.percent,
    }


PERF = {
    "load_ms": re.compile(r"load time =\s*([\d.]+) ms"),
    "prompt": re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens"),
    "decode": re.compile(r"\beval time =\s*([\d.]+) ms /\s*(\d+) runs"),
    "encode_ms": re.compile(r"(?:image slice encoded|mtmd batch encoding done) in (\d+) ms"),
}


def theirs_once(mtmd, model, projector, new_tokens, threads, picture, extra=()):
    # --perf and log verbosity 4 make it print libllama's timings (prompt and decode).
    cmd = [mtmd, "-m", model, "--mmproj", projector, "--image", picture, "-p", QUESTION,
           "-n", str(new_tokens), "--ignore-eos", "--temp", "0", "-t", str(threads), "-tb", str(threads),
           "-c", "4096", "--no-warmup", "--perf", "-lv", "4", *extra]
    out, rss = timed_process(cmd, dict(os.environ))
    found = {k: p.findall(out) for k, p in PERF.items()}
    missing = [k for k, v in found.items() if not v]
    if missing:
        raise SystemExit(f"llama-mtmd-cli printed no {missing}:\n{out[-3000:]}")
    prompt_ms, prompt_tokens = float(found["prompt"][-1][0]), int(found["prompt"][-1][1])
    decode_ms, decode_runs = float(found["decode"][-1][0]), int(found["decode"][-1][1])
    encode_ms = float(found["encode_ms"][-1])
    return {
        "decode_tok_s": decode_runs / decode_ms * 1e3,
        "prefill_tok_s": prompt_tokens / prompt_ms * 1e3,
        "vision_ms": encode_ms,
        # The first token comes from the prompt's last logits: encoding, then the prompt's
        # evaluation (which includes decoding the picture's embeddings).
        "ttft_ms": encode_ms + prompt_ms,
        "load_ms": float(found["load_ms"][-1]),
        "peak_rss_mib": rss,
        "prompt_tokens": prompt_tokens,
    }


# llama.cpp repacks Q4_K and Q8_0 weights for its CPU kernels at load unless told not to (on a
# Xeon with AMX its repacked Q8_0 path crashes: llama.cpp issue 20824).
REPACK = {True: {"mtmd": (), "bench": ()}, False: {"mtmd": ("-nr",), "bench": ("--repack", "0")}}


def theirs(mtmd, model, projector, runs, new_tokens, threads, picture, repack=True):
    extra = REPACK[repack]["mtmd"]
    with Steal() as steal:
        # One untimed process first, as ours has one untimed run (the page cache, mostly).
        theirs_once(mtmd, model, projector, new_tokens, threads, picture, extra=extra)
        each = [theirs_once(mtmd, model, projector, new_tokens, threads, picture, extra=extra)
                for _ in range(runs)]
    row = {k: statistics.median(r[k] for r in each) for k in each[0]}
    row["steal_percent"] = steal.percent
    return row


def ratio(ours_value, theirs_value, higher_is_better):
    if not ours_value or not theirs_value:
        return float("nan")
    return ours_value / theirs_value if higher_is_better else theirs_value / ours_value


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--onevision", help="our binary (default: target/release/onevision, or with "
                    "--avx2-only the one bench/build_avx2_only.sh builds)")
    ap.add_argument("--json", help="also write the measurements here")
    ap.add_argument("--no-repack", action="store_true",
                    help="run llama.cpp without repacking its weights (-nr)")
    ap.add_argument("--picture-side", type=int, default=448,
                    help="the figure scaled to this square (1024: about a megapixel)")
    ap.add_argument("--avx2-only", action="store_true",
                    help="both sides as a CPU with AVX2 and no AVX-512 runs them (see above)")
    args = ap.parse_args()
    args.onevision = args.onevision or (AVX2_ONLY_ONEVISION if args.avx2_only
                                        else os.path.join(REPO, "target", "release", "onevision"))
    if args.avx2_only:
        os.environ["ONEVISION_VECTOR_LEVEL"] = "avx2"
    rows = args.rows.split(",")
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        raise SystemExit(f"unknown rows {unknown}: choose from {', '.join(ROWS)}")
    if not os.access(args.onevision, os.X_OK):
        raise SystemExit(f"{args.onevision} is not an executable; build it: "
                         "cargo build --release -p onevision-desk -p onevision-cli")
    os.makedirs(WORK, exist_ok=True)
    image = picture(args.picture_side)
    if not os.path.isfile(os.path.join(MODEL_DIR, "model.safetensors")):
        run([sys.executable, os.path.join(HERE, "write_random_model.py")])
    mtmd, quantize = ensure_llama_cpp(args.avx2_only)
    files = {r: ensure_gguf(quantize, ROWS[r][1], ROWS[r][2]) for r in rows}

    print(f"machine: {machine()}; {args.threads} threads; {args.new_tokens} new tokens; "
          f"median of {args.runs} runs after one untimed; llama.cpp "
          f"{'without' if args.no_repack else 'with'} repacking"
          f"{'; both sides AVX2 only' if args.avx2_only else ''}; {args.picture_side}x{args.picture_side} "
          "picture", flush=True)
    bandwidth = memory_bandwidth(args.threads)
    print(f"memory bandwidth with {args.threads} threads: read {bandwidth['read_gb_s']:.1f} GB/s, "
          f"copy {bandwidth['copy_gb_s']:.1f} GB/s (steal {bandwidth['steal_percent']:.1f} %)", flush=True)
    results = []
    for r in rows:
        (dtype, quant), weight_type, projector_type = ROWS[r]
        o = ours(args.onevision, dtype, quant, args.runs, args.new_tokens, args.threads, image)
        t = theirs(mtmd, *files[r], args.runs, args.new_tokens, args.threads, image, not args.no_repack)
        ours_bytes = our_weight_bytes(r)
        theirs_bytes = os.path.getsize(files[r][0])
        o["weight_bytes_per_token"] = ours_bytes
        o["bound_tok_s"] = bandwidth["read_gb_s"] * 1e9 / ours_bytes
        # Every tensor of llama.cpp's text file is read once per token (its output matrix is the
        # tied embedding), so the file's size is what it streams.
        t["weight_bytes_per_token"] = theirs_bytes
        t["bound_tok_s"] = bandwidth["read_gb_s"] * 1e9 / theirs_bytes
        results.append({"row": r, "llama_cpp": f"{weight_type} (projector {projector_type.upper()})",
                        "onevision": o, "llama.cpp": t})
        print(f"  {r}: done", file=sys.stderr, flush=True)

    print()
    print("| onevision | llama.cpp | decode tok/s: ours / theirs (ratio) | prefill tok/s: ours / theirs (ratio) "
          "| vision ms: ours / theirs (ratio) | TTFT ms: ours / theirs (ratio) | peak RSS MiB: ours / theirs "
          "| steal %: ours / theirs |")
    print("|---|---|---|---|---|---|---|---|")
    for x in results:
        o, t = x["onevision"], x["llama.cpp"]
        print(f"| {x['row']} | {x['llama_cpp']} "
              f"| {o['decode_tok_s']:.2f} / {t['decode_tok_s']:.2f} ({ratio(o['decode_tok_s'], t['decode_tok_s'], True):.2f}x) "
              f"| {o['prefill_tok_s']:.0f} / {t['prefill_tok_s']:.0f} ({ratio(o['prefill_tok_s'], t['prefill_tok_s'], True):.2f}x) "
              f"| {o['vision_ms']:.0f} / {t['vision_ms']:.0f} ({ratio(o['vision_ms'], t['vision_ms'], False):.2f}x) "
              f"| {o['ttft_ms']:.0f} / {t['ttft_ms']:.0f} ({ratio(o['ttft_ms'], t['ttft_ms'], False):.2f}x) "
              f"| {o['peak_rss_mib']:.0f} / {t['peak_rss_mib']:.0f} "
              f"| {o['steal_percent']:.1f} / {t['steal_percent']:.1f} |")
    print()
    print("| onevision | weights read per token MB: ours / theirs | decode bound tok/s: ours / theirs "
          "| decode as % of its bound: ours / theirs |")
    print("|---|---|---|---|")
    for x in results:
        o, t = x["onevision"], x["llama.cpp"]
        print(f"| {x['row']} | {o['weight_bytes_per_token'] / 1e6:.0f} / {t['weight_bytes_per_token'] / 1e6:.0f} "
              f"| {o['bound_tok_s']:.1f} / {t['bound_tok_s']:.1f} "
              f"| {100 * o['decode_tok_s'] / o['bound_tok_s']:.0f} / {100 * t['decode_tok_s'] / t['bound_tok_s']:.0f} |")
    print(f"\nratios above 1 mean onevision is faster. Prompt tokens: ours {results[0]['onevision']['prompt_tokens']}, "
          f"llama.cpp {results[0]['llama.cpp']['prompt_tokens']}.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "platform": platform.platform(), "threads": args.threads,
                       "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "bandwidth": bandwidth,
                       "rows": results}, f, indent=2)


if __name__ == "__main__":
    main()
