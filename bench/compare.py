#!/usr/bin/env python3
"""Side-by-side CPU benchmark: this engine (`onevision bench`) against Hugging Face transformers
(PyTorch) on the same random mid-size Qwen2.5-VL, the same 448x448 picture and question, the same
thread count, for f32, bf16 and our q8_0 (set against transformers' bf16, its fastest CPU path).

usage: bench/compare.py [--runs N] [--new-tokens N] [--threads N] [--precisions f32,bf16,q8_0]
                        [--onevision target/release/onevision] [--json OUT]

Needs the Python environment of tests/parity (requirements.txt) and a release build of the
command (`cargo build --release -p onevision-cli`). The model (about 1.4 GB, bf16 on disk) is
written once under bench/.work/ and reused. See docs/performance.md for measured tables.
"""

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".work")
MODEL_DIR = os.path.join(WORK, "model")
PICTURE = os.path.join(WORK, "figure_448.png")
# Tokenizer files and chat template of the committed real-tokenizer fixture (the Qwen2.5 ones).
TOKENIZER_FROM = os.path.join(REPO, "tests", "parity", "fixtures", "real_tokenizer_chat", "model")
QUESTION = "In the figure, find the area of the shaded triangle and explain each step."
SEED = 2024

# Text like Qwen2.5-0.5B; vision at Qwen2.5-VL's real width with 8 of its 32 blocks.
TEXT = dict(
    vocab_size=151936,
    hidden_size=896,
    num_hidden_layers=24,
    num_attention_heads=14,
    num_key_value_heads=2,
    intermediate_size=4864,
    rope_theta=1000000.0,
    mrope_section=[8, 12, 12],  # head_dim 64 (896 / 14): half of it split 1:1.5:1.5 like the 7B's
    rms_norm_eps=1e-6,
    max_position_embeddings=32768,
)
VISION = dict(
    depth=8,
    hidden_size=1280,
    num_heads=16,
    intermediate_size=3420,
    fullatt_block_indexes=[3, 7],
    window_size=112,
    patch_size=14,
    spatial_patch_size=14,
    spatial_merge_size=2,
    temporal_patch_size=2,
    in_chans=3,
    hidden_act="silu",
    tokens_per_second=2,
    out_hidden_size=896,
)


def config_json():
    t = TEXT
    return {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "hidden_size": t["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": t["intermediate_size"],
        "max_position_embeddings": t["max_position_embeddings"],
        "max_window_layers": t["num_hidden_layers"],
        "num_attention_heads": t["num_attention_heads"],
        "num_hidden_layers": t["num_hidden_layers"],
        "num_key_value_heads": t["num_key_value_heads"],
        "rms_norm_eps": t["rms_norm_eps"],
        "rope_scaling": {"type": "mrope", "mrope_section": t["mrope_section"]},
        "rope_theta": t["rope_theta"],
        "sliding_window": t["max_position_embeddings"],
        "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.49.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": t["vocab_size"],
        "bos_token_id": 151643,
        "eos_token_id": 151645,
        "image_token_id": 151655,
        "video_token_id": 151656,
        "vision_start_token_id": 151652,
        "vision_end_token_id": 151653,
        "vision_config": VISION,
    }


def draw_picture(path):
    """A homework-like figure: grid paper, a shaded triangle, labels, a little noise."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.RandomState(SEED)
    img = Image.new("RGB", (448, 448), (250, 250, 245))
    d = ImageDraw.Draw(img)
    for x in range(0, 448, 28):
        d.line([(x, 0), (x, 447)], fill=(200, 215, 235))
        d.line([(0, x), (447, x)], fill=(200, 215, 235))
    tri = [(60, 380), (390, 380), (150, 90)]
    d.polygon(tri, fill=(170, 200, 240), outline=(20, 20, 20))
    d.line([(150, 90), (150, 380)], fill=(200, 40, 40), width=2)
    for (x, y), name in zip(tri, "ABC"):
        d.text((x - 12, y + 4), name, fill=(0, 0, 0))
    d.text((160, 230), "h = 6", fill=(200, 40, 40))
    d.text((200, 395), "b = 11", fill=(0, 0, 0))
    noise = rng.randint(-6, 7, size=(448, 448, 3))
    arr = np.clip(np.asarray(img).astype(int) + noise, 0, 255).astype("uint8")
    Image.fromarray(arr).save(path)


def picture(side):
    """The benchmark's homework figure, scaled to side x side (448 is 256 picture tokens; 1024
    about a megapixel, 1369), under bench/.work."""
    from PIL import Image

    os.makedirs(WORK, exist_ok=True)
    if not os.path.isfile(PICTURE):
        draw_picture(PICTURE)
    if side == 448:
        return PICTURE
    path = os.path.join(WORK, f"figure_{side}.png")
    if not os.path.isfile(path):
        Image.open(PICTURE).resize((side, side), Image.BICUBIC).save(path)
    return path


def build_model():
    """Writes the random checkpoint once (weights drawn like the parity fixtures: wide enough
    that activations keep a realistic spread through 24 layers)."""
    import torch
    from torch import nn
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    if os.path.isfile(os.path.join(MODEL_DIR, "model.safetensors")):
        return
    tmp = MODEL_DIR + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config_json(), f, indent=2)
    config = Qwen2_5_VLConfig.from_pretrained(tmp)
    torch.manual_seed(SEED)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, dtype=torch.float32)
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Linear) and name != "lm_head":
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.in_features))
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.02)
            elif isinstance(m, nn.Conv3d):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) / math.sqrt(m.weight[0].numel()))
            elif isinstance(m, nn.Embedding):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.25)
    model = model.to(torch.bfloat16)
    # save_pretrained writes published tensor names and the tied matrix once; the config we keep
    # is the flat one published checkpoints have.
    saved = tmp + ".saved"
    shutil.rmtree(saved, ignore_errors=True)
    model.save_pretrained(saved)
    os.rename(os.path.join(saved, "model.safetensors"), os.path.join(tmp, "model.safetensors"))
    shutil.rmtree(saved)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.json", "preprocessor_config.json"):
        shutil.copy(os.path.join(TOKENIZER_FROM, name), tmp)
    with open(os.path.join(tmp, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": False}, f)
    shutil.rmtree(MODEL_DIR, ignore_errors=True)
    os.rename(tmp, MODEL_DIR)


def run_onevision(exe, precision, runs, new_tokens, threads):
    dtype, quant = {"f32": ("f32", "none"), "bf16": ("bf16", "none"), "q8_0": ("f32", "q8_0")}[precision]
    cmd = [
        exe, "bench", "--model", MODEL_DIR, "--image", PICTURE, "--prompt", QUESTION,
        "--runs", str(runs), "--warmup", "1", "--max-new-tokens", str(new_tokens),
        "--dtype", dtype, "--quant", quant, "--device", "cpu", "--format", "json",
    ]
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    r = json.loads(out.stdout)
    return {
        "vision_prefill_ms": statistics.median(t["vision_ms"] + t["prefill_ms"] for t in r["runs_raw"]),
        "vision_ms": r["vision_ms"]["median"],
        "prefill_ms": r["prefill_ms"]["median"],
        "decode_tok_s": r["decode_tokens_per_s"]["median"],
        "load_ms": r["load_ms"],
        "peak_rss_mib": r["peak_rss_mib"],
        "prompt_tokens": r["prompt_tokens"],
    }


TRANSFORMERS_SIDE = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import torch, transformers
from PIL import Image
from transformers import Qwen2_5_VLForConditionalGeneration, LogitsProcessor, LogitsProcessorList
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
transformers.logging.set_verbosity_error()

model_dir, picture, dtype, runs, new_tokens, threads, ids = sys.argv[1:8]
torch.set_num_threads(int(threads))
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
t0 = time.perf_counter()
model = Qwen2_5_VLForConditionalGeneration.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa").eval()
load_ms = (time.perf_counter() - t0) * 1e3
proc = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
feats = proc(images=[Image.open(picture).convert("RGB")], return_tensors="pt")
pixels = feats["pixel_values"].to(dtype)
grid = feats["image_grid_thw"]
input_ids = torch.tensor([json.loads(ids)])
mm = (input_ids == model.config.image_token_id).long()

class Clock(LogitsProcessor):
    def __init__(self): self.stamps = []
    def __call__(self, ids, scores):
        self.stamps.append(time.perf_counter())
        return scores

def one_run():
    with torch.inference_mode():
        t = time.perf_counter()
        model.model.get_image_features(pixel_values=pixels, image_grid_thw=grid)
        vision_ms = (time.perf_counter() - t) * 1e3
        clock = Clock()
        t = time.perf_counter()
        out = model.generate(
            input_ids=input_ids, attention_mask=torch.ones_like(input_ids), pixel_values=pixels,
            image_grid_thw=grid, mm_token_type_ids=mm, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
            do_sample=False, logits_processor=LogitsProcessorList([clock]), pad_token_id=151643)
    first = (clock.stamps[0] - t) * 1e3
    decode = (clock.stamps[-1] - clock.stamps[0]) / (len(clock.stamps) - 1)
    return {"vision_ms": vision_ms, "vision_prefill_ms": first, "decode_tok_s": 1.0 / decode,
            "generated": out.shape[1] - input_ids.shape[1]}

runs, new_tokens = int(runs), int(new_tokens)
one_run()  # warm-up
results = [one_run() for _ in range(runs)]
med = lambda k: sorted(r[k] for r in results)[len(results) // 2]
import resource
print(json.dumps({"vision_ms": med("vision_ms"), "vision_prefill_ms": med("vision_prefill_ms"),
                  "decode_tok_s": med("decode_tok_s"), "load_ms": load_ms,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "generated": results[0]["generated"], "torch": torch.__version__,
                  "transformers": transformers.__version__}))
"""


def run_transformers(precision, runs, new_tokens, threads, prompt_ids):
    cmd = [sys.executable, "-c", TRANSFORMERS_SIDE, MODEL_DIR, PICTURE, precision, str(runs),
           str(new_tokens), str(threads), json.dumps(prompt_ids)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def prompt_ids(exe):
    out = subprocess.run(
        [exe, "ask", "--model", MODEL_DIR, "--image", PICTURE, "--max-new-tokens", "1",
         "--format", "json", "--device", "cpu", QUESTION],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["prompt_token_ids"]


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--precisions", default="f32,bf16,q8_0")
    ap.add_argument("--onevision", default=os.path.join(REPO, "target", "release", "onevision"))
    ap.add_argument("--json", help="also write the measurements here")
    args = ap.parse_args()
    if not os.access(args.onevision, os.X_OK):
        raise SystemExit(f"{args.onevision} is not an executable; build it: cargo build --release -p onevision-cli")
    os.makedirs(WORK, exist_ok=True)
    if not os.path.isfile(PICTURE):
        draw_picture(PICTURE)
    build_model()
    ids = prompt_ids(args.onevision)
    print(f"machine: {machine()}; {args.threads} threads; prompt {len(ids)} tokens; "
          f"{args.new_tokens} new tokens; median of {args.runs} runs after one warm-up", flush=True)

    rows = []
    reference_cache = {}
    for p in args.precisions.split(","):
        theirs_precision = "bf16" if p == "q8_0" else p
        ours = run_onevision(args.onevision, p, args.runs, args.new_tokens, args.threads)
        if theirs_precision not in reference_cache:
            reference_cache[theirs_precision] = run_transformers(
                theirs_precision, args.runs, args.new_tokens, args.threads, ids)
        theirs = reference_cache[theirs_precision]
        rows.append({"precision": p, "against": theirs_precision, "onevision": ours, "transformers": theirs})
        print(f"  {p}: done", file=sys.stderr, flush=True)

    print()
    print("| onevision | transformers | vision+prefill ms: ours / theirs (ratio) | vision ms: ours / theirs "
          "| decode tok/s: ours / theirs (ratio) | peak RSS MiB: ours / theirs |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        o, t = r["onevision"], r["transformers"]
        print(f"| {r['precision']} | {r['against']} "
              f"| {o['vision_prefill_ms']:.0f} / {t['vision_prefill_ms']:.0f} ({t['vision_prefill_ms'] / o['vision_prefill_ms']:.2f}x) "
              f"| {o['vision_ms']:.0f} / {t['vision_ms']:.0f} "
              f"| {o['decode_tok_s']:.2f} / {t['decode_tok_s']:.2f} ({o['decode_tok_s'] / t['decode_tok_s']:.2f}x) "
              f"| {o['peak_rss_mib']:.0f} / {t['peak_rss_mib']:.0f} |")
    print("\nratios above 1 mean onevision is faster.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "threads": args.threads, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
