#!/usr/bin/env python3
"""Writes a random-weight Qwen2.5-VL checkpoint folder without torch or transformers.

The dimensions are bench/compare.py's "mid-size" model (text like Qwen2.5-0.5B, vision at
Qwen2.5-VL's real width with 8 blocks), with --size 7b those of Qwen2.5-VL-7B (and so of
R1-Onevision-7B: 28 layers of 3584, 32 vision blocks, an untied lm_head; ~16.6 GB in bf16), or with
--tiny the committed test fixture's own tiny ones.
Tensor names and how each dimension of each tensor follows from the config are read from the
committed fixture tests/parity/fixtures/real_tokenizer_chat/model (its safetensors header and
config.json), so the folder has exactly the layout the engine loads. Weights are bf16 like
compare.py's: normal(0, 0.02) from a seeded generator, RMSNorm scales 1, biases 0. The tokenizer,
chat template and preprocessor config are the fixture's (real Qwen2.5 files).

usage: bench/write_random_model.py [--out DIR] [--size mid|7b|tiny] [--force] [--seed N]

Default folder: bench/.work/model-numpy, model-numpy-7b or model-numpy-tiny. A folder that
already holds this complete model is left alone unless --force.
"""

import argparse
import json
import os
import re
import shutil
import struct
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
WORK = os.path.join(HERE, ".work")
FIXTURE = os.path.join(REPO, "tests", "parity", "fixtures", "real_tokenizer_chat", "model")
COPIED_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.json", "preprocessor_config.json")
GENERATION_CONFIG = {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": False}
MODEL_FILES = ("config.json", "model.safetensors", "generation_config.json") + COPIED_FILES
SEED = 2024
STD = 0.02
# Elements drawn per call: bounds memory (float32 plus a uint32 view) to a few tens of MB while
# the largest tensor, the 136M-element embedding, streams to disk.
CHUNK = 1 << 22
LAYERED = re.compile(r"^(model\.layers|visual\.blocks)\.(\d+)\.(.+)$")


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(1)


def read_header(path):
    """The JSON header of a safetensors file and the byte length it declares."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ValueError("too short for a safetensors header")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 * 1024 * 1024:
            raise ValueError(f"header claims {n} bytes")
        header = json.loads(f.read(n))
    return header, n


def dimensions(cfg):
    """Every size a tensor dimension can be, per tower. Query width is heads x head_dim, which
    Qwen2 keeps equal to hidden; it is its own entry so a model where they differ still scales."""
    v = cfg["vision_config"]
    head_dim = cfg["hidden_size"] // cfg["num_attention_heads"]
    text = {
        "vocab": cfg["vocab_size"],
        "hidden": cfg["hidden_size"],
        "intermediate": cfg["intermediate_size"],
        "q": cfg["num_attention_heads"] * head_dim,
        "kv": cfg["num_key_value_heads"] * head_dim,
    }
    vision = {
        "hidden": v["hidden_size"],
        "intermediate": v["intermediate_size"],
        "qkv": 3 * v["hidden_size"],
        "merged": v["hidden_size"] * v["spatial_merge_size"] ** 2,
        "out": v["out_hidden_size"],
        "channels": v["in_chans"],
        "temporal_patch": v["temporal_patch_size"],
        "patch": v["patch_size"],
    }
    return {"text": text, "vision": vision}


def layer_counts(cfg):
    return {"model.layers": cfg["num_hidden_layers"], "visual.blocks": cfg["vision_config"]["depth"]}


def plan(fixture_cfg, fixture_header, cfg):
    """(name, shape, init) for every tensor of the model `cfg` describes, sorted by name.

    Each dimension of each fixture tensor is matched to the config size it equals in the fixture
    (within its own tower, where the sizes differ), then replaced by that size in `cfg`. A
    dimension that matches nothing, or several sizes that would scale apart, stops the script:
    guessing would write a checkpoint the engine rejects, or worse, one it misreads.
    """
    untie = not cfg.get("tie_word_embeddings") and fixture_cfg.get("tie_word_embeddings")
    if cfg.get("tie_word_embeddings") and not fixture_cfg.get("tie_word_embeddings"):
        fail("the target ties its embeddings but the fixture does not; drop lm_head by hand")
    src, dst = dimensions(fixture_cfg), dimensions(cfg)

    def scale(name, shape):
        tower = "vision" if name.startswith("visual.") else "text"
        out = []
        for d in shape:
            matches = {k for k, v in src[tower].items() if v == d}
            if not matches:
                fail(f"fixture tensor {name} {shape}: no {tower} size in the fixture config is {d}")
            targets = {dst[tower][k] for k in matches}
            if len(targets) != 1:
                fail(f"fixture tensor {name} {shape}: {d} could be any of {sorted(matches)}, "
                     f"which differ in the target config")
            out.append(targets.pop())
        return out

    # Per-layer tensors: the fixture's names of layer 0, checked to be every layer's, repeated
    # for the target's layer count.
    counts = layer_counts(fixture_cfg)
    per_layer = {prefix: {} for prefix in counts}
    seen = {prefix: {} for prefix in counts}
    flat = {}
    for name, t in fixture_header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "BF16":
            fail(f"fixture tensor {name} is {t['dtype']}, expected BF16")
        m = LAYERED.match(name)
        if m:
            prefix, i, rest = m.group(1), int(m.group(2)), m.group(3)
            seen[prefix].setdefault(i, set()).add(rest)
            if i == 0:
                per_layer[prefix][rest] = t["shape"]
        else:
            flat[name] = t["shape"]
    for prefix, n in counts.items():
        if sorted(seen[prefix]) != list(range(n)):
            fail(f"the fixture has {prefix} {sorted(seen[prefix])}, its config says {n}")
        if any(s != seen[prefix][0] for s in seen[prefix].values()):
            fail(f"the fixture's {prefix} do not all hold the same tensors")

    tensors = {name: scale(name, shape) for name, shape in flat.items()}
    if untie:
        # An untied output projection has the embedding table's shape.
        tensors["lm_head.weight"] = list(tensors["model.embed_tokens.weight"])
    for prefix, n in layer_counts(cfg).items():
        for i in range(n):
            for rest, shape in per_layer[prefix].items():
                name = f"{prefix}.{i}.{rest}"
                tensors[name] = scale(name, shape)

    def init(name, shape):
        if name.endswith(".bias"):
            return "zeros"
        # The only one-dimensional weights in Qwen2.5-VL are RMSNorm scales.
        if len(shape) == 1:
            return "ones"
        return "normal"

    return [(name, tensors[name], init(name, tensors[name])) for name in sorted(tensors)]


def qwen25_vl_7b(cfg):
    """`cfg` at Qwen2.5-VL-7B-Instruct's published dimensions (its config.json on the Hugging Face
    hub, which R1-Onevision-7B keeps)."""
    cfg = json.loads(json.dumps(cfg))
    cfg.update(
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        max_window_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
        vocab_size=152064,
        max_position_embeddings=128000,
        sliding_window=32768,
        tie_word_embeddings=False,
    )
    cfg["rope_scaling"]["mrope_section"] = [16, 24, 24]
    cfg["vision_config"].update(depth=32, fullatt_block_indexes=[7, 15, 23, 31], out_hidden_size=3584)
    return cfg


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def header_bytes(tensors):
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape, _ in tensors:
        size = numel(shape) * 2
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode()
    # Pad with spaces (valid JSON) so the data starts 8-byte aligned, as the safetensors library
    # writes it; readers that map the file can then view tensors in place.
    raw += b" " * (-(8 + len(raw)) % 8)
    return raw, offset


def to_bf16(x):
    """float32 -> bf16 bit patterns, rounded to nearest even like torch's .to(bfloat16).
    Overwrites x. Finite inputs only, which is all this script makes."""
    u = x.view(np.uint32)
    lsb = (u >> 16) & 1
    lsb += 0x7FFF
    u += lsb
    u >>= 16
    return u.astype(np.uint16)


def write_safetensors(path, tensors, seed):
    raw, data_len = header_bytes(tensors)
    rng = np.random.default_rng(seed)
    one = np.uint16(0x3F80)  # 1.0 in bf16
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for name, shape, init in tensors:
            n = numel(shape)
            if init == "normal":
                for start in range(0, n, CHUNK):
                    x = rng.standard_normal(min(CHUNK, n - start), dtype=np.float32)
                    x *= STD
                    to_bf16(x).tofile(f)
            elif init == "ones":
                np.full(n, one, dtype=np.uint16).tofile(f)
            else:
                np.zeros(n, dtype=np.uint16).tofile(f)
    expected = 8 + len(raw) + data_len
    if os.path.getsize(path) != expected:
        fail(f"wrote {os.path.getsize(path)} bytes to {path}, expected {expected}")


def check_with_safetensors(path, tensors):
    """Reads the file back with the safetensors library, when installed: a second reader of the
    hand-written format, independent of this script's own header code."""
    try:
        from safetensors import safe_open
    except ImportError:
        return "not checked with the safetensors library (not installed)"
    want = {name: shape for name, shape, _ in tensors}
    with safe_open(path, framework="numpy") as f:
        got = {}
        for k in f.keys():
            s = f.get_slice(k)
            if s.get_dtype() != "BF16":
                fail(f"safetensors reads {k} back as {s.get_dtype()}")
            got[k] = list(s.get_shape())
    if got != want:
        fail(f"safetensors reads back a different tensor list from {path}")
    return "read back by the safetensors library"


def completeness(folder, cfg, tensors):
    """None when `folder` holds exactly this model, else why not."""
    for name in MODEL_FILES:
        if not os.path.isfile(os.path.join(folder, name)):
            return f"{name} is missing"
    try:
        with open(os.path.join(folder, "config.json")) as f:
            if json.load(f) != cfg:
                return "its config.json describes another model"
        path = os.path.join(folder, "model.safetensors")
        header, n = read_header(path)
    except (OSError, ValueError) as e:
        return f"it cannot be read ({e})"
    want = {name: shape for name, shape, _ in tensors}
    got = {k: v.get("shape") for k, v in header.items() if k != "__metadata__"}
    if got != want or any(v.get("dtype") != "BF16" for k, v in header.items() if k != "__metadata__"):
        return "its model.safetensors holds other tensors"
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    if os.path.getsize(path) != 8 + n + end:
        return "its model.safetensors is truncated"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="the folder to write (default: bench/.work/model-numpy[-7b|-tiny])")
    ap.add_argument("--size", choices=("mid", "7b", "tiny"), default="mid")
    ap.add_argument("--tiny", action="store_true", help="the same as --size tiny")
    ap.add_argument("--force", action="store_true", help="rewrite even a complete folder")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    if args.tiny:
        args.size = "tiny"
    folder = {"mid": "model-numpy", "7b": "model-numpy-7b", "tiny": "model-numpy-tiny"}[args.size]
    out = os.path.abspath(args.out or os.path.join(WORK, folder))

    try:
        with open(os.path.join(FIXTURE, "config.json")) as f:
            fixture_cfg = json.load(f)
        fixture_header, _ = read_header(os.path.join(FIXTURE, "model.safetensors"))
    except (OSError, ValueError) as e:
        fail(f"cannot read the fixture model in {FIXTURE} ({e})")
    if args.size == "tiny":
        cfg = fixture_cfg
    else:
        # compare.py's module level is stdlib only (torch is imported inside its functions), so
        # its dimensions are used as they are rather than copied here.
        sys.path.insert(0, HERE)
        import compare

        cfg = compare.config_json()
        if args.size == "7b":
            cfg = qwen25_vl_7b(cfg)
    tensors = plan(fixture_cfg, fixture_header, cfg)

    if os.path.isdir(out) and os.listdir(out):
        why_not = completeness(out, cfg, tensors)
        if why_not is None and not args.force:
            print(f"{out} already holds this model; nothing to do (--force rewrites it)")
            return
        strangers = set(os.listdir(out)) - set(MODEL_FILES)
        if strangers:
            fail(f"{out} holds files other than a model's ({', '.join(sorted(strangers)[:3])}); "
                 f"choose another --out")
        if why_not is not None and not args.force:
            fail(f"{out} exists but does not hold this model ({why_not}); pass --force to replace it")
    elif os.path.exists(out) and not os.path.isdir(out):
        fail(f"{out} exists and is not a folder")

    # Written beside the target and renamed at the end, so an interrupted run never leaves a
    # folder that looks complete.
    tmp = out + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    started = time.monotonic()
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(tmp, "generation_config.json"), "w") as f:
        json.dump(GENERATION_CONFIG, f, indent=2)
    for name in COPIED_FILES:
        shutil.copy(os.path.join(FIXTURE, name), tmp)
    weights = os.path.join(tmp, "model.safetensors")
    write_safetensors(weights, tensors, args.seed)
    checked = check_with_safetensors(weights, tensors)
    why_not = completeness(tmp, cfg, tensors)
    if why_not is not None:
        fail(f"the folder just written is not complete: {why_not}")
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.rename(tmp, out)

    params = sum(numel(s) for _, s, _ in tensors)
    size = os.path.getsize(os.path.join(out, "model.safetensors"))
    print(f"wrote {out}: {len(tensors)} tensors, {params / 1e6:.1f}M parameters, "
          f"{size / 1e9:.2f} GB bf16, seed {args.seed}, {time.monotonic() - started:.1f} s; {checked}")


if __name__ == "__main__":
    main()
