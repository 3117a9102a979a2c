#!/usr/bin/env python3
"""Regenerates tests/parity/fixtures/ from scratch: tiny random Qwen2.5-VL checkpoints and the
reference outputs transformers computes for them on the CPU (float32, eager attention).

usage: python tests/parity/generate.py   (see README.md for the environment)
"""

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np
import PIL
import torch
import transformers
from PIL import Image, ImageDraw
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn
from transformers import (
    AutoProcessor,
    GenerationConfig,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
)
from transformers.image_utils import load_image
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures")
IMAGES = os.path.join(FIXTURES, "images")
REPO = os.path.dirname(os.path.dirname(HERE))
TOKENIZER_SCRIPT = os.path.join(REPO, "tests", "tokenizer", "rebuild_qwen25_tokenizer.sh")
TOKENIZER_DIR = os.path.join(REPO, "tests", "tokenizer", "qwen2.5")

MAX_TOTAL_BYTES = 45 * 1000 * 1000
MIN_MARGIN = 1e-3
MIN_LOGIT_STD = 0.5
NEW_TOKENS = 12

# Small vocabulary: ordinary text is 0..499, specials above.
VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = 500, 501, 502, 503
IM_START, IM_END, ENDOFTEXT = 504, 505, 506
ROLE = {"system": [11, 7], "user": [31, 7], "assistant": [44, 7]}  # 7 plays "\n"

PREPROCESSOR = {
    "min_pixels": 3136,
    "max_pixels": 12845056,
    "patch_size": 14,
    "temporal_patch_size": 2,
    "merge_size": 2,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
    "rescale_factor": 0.00392156862745098,
    "do_resize": True,
    "do_rescale": True,
    "do_normalize": True,
    "do_convert_rgb": True,
    "resample": 3,
    "image_processor_type": "Qwen2VLImageProcessor",
    "processor_class": "Qwen2_5_VLProcessor",
}

VISION = {
    "depth": 4,
    "hidden_size": 64,
    "num_heads": 4,
    "intermediate_size": 96,
    "fullatt_block_indexes": [1, 3],
    "window_size": 112,
    "patch_size": 14,
    "spatial_patch_size": 14,
    "spatial_merge_size": 2,
    "temporal_patch_size": 2,
    "in_chans": 3,
    "hidden_act": "silu",
    "tokens_per_second": 2,
}

SMALL_TEXT = {
    "vocab_size": 512,
    "hidden_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "rope_theta": 1000000.0,
    "mrope_section": [2, 3, 3],
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 4096,
    "hidden_act": "silu",
}
SMALL_IDS = {
    "bos_token_id": ENDOFTEXT,
    "eos_token_id": IM_END,
    "image_token_id": IMAGE_PAD,
    "video_token_id": VIDEO_PAD,
    "vision_start_token_id": VISION_START,
    "vision_end_token_id": VISION_END,
}
SMALL_GENERATION = {"bos_token_id": ENDOFTEXT, "eos_token_id": [IM_END, ENDOFTEXT], "pad_token_id": ENDOFTEXT}

# Real vocabulary. hidden 16 (not 32): one f32 logits row is 0.6 MB at this vocabulary, and the
# 40 MB fixture budget (then; 45 MB now) cannot hold a 32-wide 151,936-row embedding next to the prompt's logits.
REAL_TEXT = {
    "vocab_size": 151936,
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "intermediate_size": 64,
    "rope_theta": 1000000.0,
    "mrope_section": [1, 1, 2],
    "rms_norm_eps": 1e-6,
    "max_position_embeddings": 4096,
    "hidden_act": "silu",
}
# Wide enough for quantisation: Q4K packs 256 inputs per block, Q8_0 32, so every input width
# of the decoder's linear layers (256 and 512) is a whole number of blocks.
WIDE_TEXT = dict(SMALL_TEXT, hidden_size=256, num_hidden_layers=2, intermediate_size=512, mrope_section=[8, 12, 12])

REAL_IDS = {
    "bos_token_id": 151643,
    "eos_token_id": 151645,
    "image_token_id": 151655,
    "video_token_id": 151656,
    "vision_start_token_id": 151652,
    "vision_end_token_id": 151653,
}
REAL_GENERATION = {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "pad_token_id": 151643}
REAL_TOKENIZER_SIZE = 151665

# Qwen2.5-VL chat format, written for this project in plain Jinja (no Python-only methods), so any
# Jinja engine renders it the same.
CHAT_TEMPLATE = (
    "{%- if messages | length == 0 or messages[0]['role'] != 'system' -%}"
    "{{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'image' or part['type'] == 'image_url' -%}"
    "{{- '<|vision_start|><|image_pad|><|vision_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}"
    "{{- part['text'] -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- endif -%}"
)


# --------------------------------------------------------------------------------------------
# Pictures


def draw_picture(width, height, seed):
    """Gradients, shapes, lines, handwriting-like strokes and noise: resampling has to matter."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [
            255.0 * x / max(width - 1, 1),
            255.0 * y / max(height - 1, 1),
            127.5 + 127.5 * np.sin((x + 2.0 * y) / (4.0 + seed % 5)),
        ],
        axis=-1,
    )
    img = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)

    def colour():
        return tuple(int(c) for c in rng.randint(0, 256, 3))

    for i in range(5):
        x0, y0 = int(rng.randint(-10, width)), int(rng.randint(-10, height))
        x1, y1 = x0 + int(rng.randint(8, width // 2 + 9)), y0 + int(rng.randint(8, height // 2 + 9))
        if i % 3 == 0:
            d.ellipse([x0, y0, x1, y1], fill=colour(), outline=colour())
        elif i % 3 == 1:
            d.rectangle([x0, y0, x1, y1], fill=colour())
        else:
            d.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=colour(), outline=colour())
    for _ in range(6):
        pts = [(int(rng.randint(0, width)), int(rng.randint(0, height))) for _ in range(2)]
        d.line(pts, fill=colour(), width=int(rng.randint(1, 4)))
    # Rows of short pen strokes, like handwriting.
    for row in range(1, 4):
        yb = row * height // 4
        xc = 3
        while xc < width - 8:
            pts = [(xc + 2 * k + int(rng.randint(0, 2)), yb + int(rng.randint(-4, 5))) for k in range(4)]
            d.line(pts, fill=(10, 10, 30), width=1)
            xc += int(rng.randint(7, 13))
    noisy = np.asarray(img).astype(np.int16) + rng.randint(-14, 15, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def draw_triangle_figure(width, height, seed):
    """A geometry exercise: grid paper, a shaded triangle, labels-like strokes."""
    rng = np.random.RandomState(seed)
    img = Image.new("RGB", (width, height), (250, 250, 244))
    d = ImageDraw.Draw(img)
    for gx in range(0, width, 6):
        d.line([(gx, 0), (gx, height)], fill=(200, 215, 235))
    for gy in range(0, height, 6):
        d.line([(0, gy), (width, gy)], fill=(200, 215, 235))
    tri = [(8, height - 9), (width - 7, height - 9), (width // 3, 7)]
    d.polygon(tri, fill=(120, 160, 220), outline=(20, 30, 90))
    for k in range(0, width, 4):
        d.line([(k, height - 9), (k + 10, height - 19)], fill=(70, 110, 180))
    d.line([(4, height - 4), (width - 4, height - 4)], fill=(0, 0, 0), width=1)
    d.line([(width // 3, 7), (width // 3, height - 9)], fill=(200, 40, 40), width=1)
    noisy = np.asarray(img).astype(np.int16) + rng.randint(-10, 11, (height, width, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def make_images():
    os.makedirs(IMAGES)
    draw_picture(140, 56, 1).save(os.path.join(IMAGES, "landscape_140x56.png"))
    draw_picture(181, 263, 2).save(os.path.join(IMAGES, "portrait_181x263.png"))
    # Stored sideways (130x70) with EXIF orientation 6: upright it is 70x130.
    exif = Image.Exif()
    exif[0x0112] = 6
    draw_picture(130, 70, 3).save(
        os.path.join(IMAGES, "exif_rot6_130x70.jpg"), "JPEG", quality=95, subsampling=0, exif=exif.tobytes()
    )
    draw_picture(160, 60, 4).save(os.path.join(IMAGES, "wide_160x60.png"))
    # A greyscale (mode L) PNG: the processor's convert-to-RGB path.
    draw_picture(62, 150, 5).convert("L").save(os.path.join(IMAGES, "grey_portrait_62x150.png"))
    draw_picture(150, 50, 6).save(os.path.join(IMAGES, "chart_150x50.png"))
    draw_triangle_figure(64, 60, 7).save(os.path.join(IMAGES, "triangle_64x60.png"))


# --------------------------------------------------------------------------------------------
# Checkpoints


def flat_config(text, ids, tied, dtype):
    """The flat layout of published checkpoints (transformers 4.49)."""
    cfg = {
        "architectures": ["Qwen2_5_VLForConditionalGeneration"],
        "model_type": "qwen2_5_vl",
        "attention_dropout": 0.0,
        "hidden_act": text["hidden_act"],
        "hidden_size": text["hidden_size"],
        "initializer_range": 0.02,
        "intermediate_size": text["intermediate_size"],
        "max_position_embeddings": text["max_position_embeddings"],
        "max_window_layers": text["num_hidden_layers"],
        "num_attention_heads": text["num_attention_heads"],
        "num_hidden_layers": text["num_hidden_layers"],
        "num_key_value_heads": text["num_key_value_heads"],
        "rms_norm_eps": text["rms_norm_eps"],
        "rope_scaling": {"type": "mrope", "mrope_section": list(text["mrope_section"])},
        "rope_theta": text["rope_theta"],
        "sliding_window": text["max_position_embeddings"],
        "tie_word_embeddings": tied,
        "torch_dtype": dtype,
        "transformers_version": "4.49.0",
        "use_cache": True,
        "use_sliding_window": False,
        "vocab_size": text["vocab_size"],
        "vision_config": dict(VISION, out_hidden_size=text["hidden_size"]),
    }
    cfg.update(ids)
    return cfg


def nested_config_object(text, ids, tied):
    """The nested layout newer transformers writes (text_config / vision_config, rope_parameters)."""
    text_fields = {k: v for k, v in text.items() if k not in ("rope_theta", "mrope_section")}
    text_fields.update(
        rope_parameters={
            "rope_type": "default",
            "rope_theta": text["rope_theta"],
            "mrope_section": list(text["mrope_section"]),
        },
        use_sliding_window=False,
        max_window_layers=text["num_hidden_layers"],
        bos_token_id=ids["bos_token_id"],
        eos_token_id=ids["eos_token_id"],
    )
    vision = {k: v for k, v in VISION.items() if k not in ("in_chans", "spatial_patch_size")}
    vision.update(in_channels=3, out_hidden_size=text["hidden_size"])
    top = {k: v for k, v in ids.items() if k not in ("bos_token_id", "eos_token_id")}
    return Qwen2_5_VLConfig(
        architectures=["Qwen2_5_VLForConditionalGeneration"],
        text_config=text_fields,
        vision_config=vision,
        tie_word_embeddings=tied,
        **top,
    )


def reinitialise(model, seed, tied, embed_std):
    """Wide random weights: transformers' std 0.02 init gives flat logits that prove nothing."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in sorted(model.named_modules(), key=lambda item: item[0]):
            if name == "lm_head" and tied:
                continue  # shares the embedding matrix
            if isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) / math.sqrt(module.in_features))
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.02)
            elif isinstance(module, nn.Conv3d):
                fan_in = module.weight[0].numel()  # 3 * 2 * 14 * 14
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) / math.sqrt(fan_in))
            elif isinstance(module, nn.Embedding):
                module.weight.copy_(torch.randn(module.weight.shape, generator=g) * embed_std)
            elif type(module).__name__.endswith("RMSNorm"):
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.weight.shape, generator=g))


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def save_checkpoint(case, model, model_dir):
    """Writes config + weights in the case's layout; returns the expected config as a dict."""
    torch_dtype = torch.bfloat16 if case["disk_dtype"] == "bf16" else torch.float32
    if torch_dtype != torch.float32:
        model = model.to(torch_dtype)
    if case["layout"] == "nested":
        # transformers 5 writes this layout (and published-style tensor names) itself; it leaves
        # the sub-configs' dtype at the construction dtype unless told.
        model.config.text_config.dtype = torch_dtype
        model.config.vision_config.dtype = torch_dtype
        model.save_pretrained(model_dir)
        return
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)  # published tensor names, tied matrix written once
        with safe_open(os.path.join(tmp, "model.safetensors"), "pt") as f:
            tensors = {k: f.get_tensor(k).contiguous() for k in f.keys()}
    dtype_name = "bfloat16" if case["disk_dtype"] == "bf16" else "float32"
    write_json(os.path.join(model_dir, "config.json"), flat_config(case["text"], case["ids"], case["tied"], dtype_name))
    meta = {"format": "pt"}
    if case.get("shards", 1) == 1:
        save_file(tensors, os.path.join(model_dir, "model.safetensors"), metadata=meta)
        return
    names = sorted(tensors)
    parts = [[n for n in names if n.startswith("visual.")], [n for n in names if not n.startswith("visual.")]]
    weight_map, total = {}, 0
    for i, part in enumerate(parts):
        fname = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        save_file({n: tensors[n] for n in part}, os.path.join(model_dir, fname), metadata=meta)
        for n in part:
            weight_map[n] = fname
            total += tensors[n].numel() * tensors[n].element_size()
    write_json(
        os.path.join(model_dir, "model.safetensors.index.json"),
        {"metadata": {"total_size": total}, "weight_map": weight_map},
    )


def check_config(config, case):
    """The loaded config must say what the case meant, whichever layout it came from."""
    t, v, text = config.text_config, config.vision_config, case["text"]
    got = {
        "vocab_size": t.vocab_size,
        "hidden_size": t.hidden_size,
        "num_hidden_layers": t.num_hidden_layers,
        "num_attention_heads": t.num_attention_heads,
        "num_key_value_heads": t.num_key_value_heads,
        "intermediate_size": t.intermediate_size,
        "rope_theta": t.rope_parameters["rope_theta"],
        "mrope_section": list(t.rope_parameters["mrope_section"]),
        "rms_norm_eps": t.rms_norm_eps,
        "max_position_embeddings": t.max_position_embeddings,
        "hidden_act": t.hidden_act,
    }
    assert got == text, f"{case['name']}: text config loaded as {got}"
    assert t.rope_parameters["rope_type"] == "default" and not t.use_sliding_window
    assert config.tie_word_embeddings == case["tied"], case["name"]
    for key, want in case["ids"].items():
        if key in ("bos_token_id", "eos_token_id"):
            continue
        assert getattr(config, key) == want, f"{case['name']}: {key}"
    vgot = {k: getattr(v, k) for k in VISION if k not in ("in_chans", "spatial_patch_size", "fullatt_block_indexes")}
    vwant = {k: val for k, val in VISION.items() if k in vgot}
    assert vgot == vwant and list(v.fullatt_block_indexes) == VISION["fullatt_block_indexes"], vgot
    assert v.in_channels == 3 and v.out_hidden_size == text["hidden_size"]


def build_model(case, seed, model_dir):
    """Random model -> checkpoint on disk -> loaded back in float32 (bf16-rounded where stored so)."""
    torch.manual_seed(seed)
    if case["layout"] == "nested":
        config = nested_config_object(case["text"], case["ids"], case["tied"])
    else:
        with tempfile.TemporaryDirectory() as tmp:
            dtype_name = "bfloat16" if case["disk_dtype"] == "bf16" else "float32"
            write_json(os.path.join(tmp, "config.json"), flat_config(case["text"], case["ids"], case["tied"], dtype_name))
            config = Qwen2_5_VLConfig.from_pretrained(tmp)
    model = Qwen2_5_VLForConditionalGeneration._from_config(config, attn_implementation="eager", dtype=torch.float32)
    if case["tied"]:
        assert model.lm_head.weight is model.model.language_model.embed_tokens.weight
    reinitialise(model, seed, case["tied"], case.get("embed_std", 1.0))
    original = {k: v.clone() for k, v in model.state_dict().items()}
    save_checkpoint(case, model, model_dir)

    loaded, info = Qwen2_5_VLForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    problems = {k: v for k, v in info.items() if v}
    assert not problems, f"{case['name']}: loading problems {problems}"
    loaded.eval()
    check_config(loaded.config, case)
    for k, v in loaded.state_dict().items():
        want = original[k]
        if case["disk_dtype"] == "bf16":
            want = want.to(torch.bfloat16).to(torch.float32)
        assert torch.equal(v, want), f"{case['name']}: weight {k} did not round-trip"
    return loaded


# --------------------------------------------------------------------------------------------
# Prompts


def image_block(grid):
    t, h, w = grid
    return [VISION_START] + [IMAGE_PAD] * (t * h * w // 4) + [VISION_END]


def turn(role, body):
    return [IM_START] + ROLE[role] + body + [IM_END, 7]


def small_prompt(case, grids, rng):
    def text(n):
        return [int(x) for x in rng.randint(0, 500, n)]

    kind = case["prompt"]
    if kind == "one_picture":
        ids = turn("user", text(2) + image_block(grids[0]) + text(9))
    elif kind == "two_pictures":
        ids = turn("user", text(3) + image_block(grids[0]) + text(2) + image_block(grids[1]) + text(5))
    elif kind == "multi_turn":
        ids = (
            turn("system", text(5))
            + turn("user", image_block(grids[0]) + text(6))
            + turn("assistant", text(8))
            + turn("user", text(7))
            + turn("assistant", text(5))
            + turn("user", text(6))
        )
    else:
        raise ValueError(kind)
    return ids + [IM_START] + ROLE["assistant"]


# --------------------------------------------------------------------------------------------
# Reference computation


def top2_margin(logits):
    top = torch.topk(logits.double(), 2, dim=-1).values
    return (top[..., 0] - top[..., 1]).min().item()


def reference(model, input_ids, pixel_values, grid, eos_ids, pad_id):
    """Everything the Rust side compares against, plus internal consistency checks."""
    ids = torch.tensor([input_ids], dtype=torch.long)
    image_token_id = model.config.image_token_id
    mm = (ids == image_token_id).int()
    grid_t = torch.tensor(grid, dtype=torch.long)
    attn = torch.ones_like(ids)
    with torch.no_grad():
        position_ids, rope_delta = model.model.get_rope_index(ids, mm_token_type_ids=mm, image_grid_thw=grid_t)
        vision = model.model.get_image_features(pixel_values, grid_t).pooler_output
        vision_embeds = torch.cat(vision, dim=0)
        out = model(input_ids=ids, attention_mask=attn, pixel_values=pixel_values, image_grid_thw=grid_t,
                    mm_token_type_ids=mm)
        logits = out.logits[0]
        explicit = model(input_ids=ids, attention_mask=attn, pixel_values=pixel_values, image_grid_thw=grid_t,
                         position_ids=position_ids).logits[0]
        assert torch.equal(logits, explicit), "implicit and explicit 3-D positions disagree"

        gen_config = GenerationConfig(
            do_sample=False, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, eos_token_id=eos_ids,
            pad_token_id=pad_id, output_logits=True, return_dict_in_generate=True,
        )
        gen = model.generate(input_ids=ids, attention_mask=attn, pixel_values=pixel_values, image_grid_thw=grid_t,
                             mm_token_type_ids=mm, generation_config=gen_config)
        new_tokens = gen.sequences[0, len(input_ids):].tolist()
        step_logits = torch.stack([l[0] for l in gen.logits])  # raw, before min_new_tokens masking
        assert len(new_tokens) == NEW_TOKENS

        # The same continuation recomputed without a KV cache.
        full = torch.tensor([input_ids + new_tokens[:-1]], dtype=torch.long)
        full_mm = (full == image_token_id).int()
        full_logits = model(input_ids=full, attention_mask=torch.ones_like(full), pixel_values=pixel_values,
                            image_grid_thw=grid_t, mm_token_type_ids=full_mm).logits[0, len(input_ids) - 1:]
        cache_gap = (full_logits - step_logits).abs().max().item()
        assert cache_gap < 1e-3, f"cached decoding drifts from the full forward by {cache_gap}"
        assert (logits[-1] - step_logits[0]).abs().max().item() < 1e-3

    return {
        "position_ids": position_ids[:, 0, :],
        "rope_delta": int(rope_delta.reshape(-1)[0]),
        "vision_embeds": vision_embeds,
        "logits": logits,
        "new_tokens": new_tokens,
        "raw_greedy": step_logits.argmax(-1).tolist(),
        "margin": min(top2_margin(step_logits), top2_margin(logits[-1:])),
        "min_logit_std": logits.std(dim=-1).min().item(),
        "cache_gap": cache_gap,
    }


def acceptable(ref, eos_ids, vocab_limit):
    """Why a seed is rejected, or None."""
    if ref["margin"] < MIN_MARGIN:
        return f"top-2 margin {ref['margin']:.2e}"
    if ref["min_logit_std"] < MIN_LOGIT_STD:
        return f"logit std {ref['min_logit_std']:.3f}"
    # Greedy must not want EOS: then "EOS ignored" and "EOS suppressed" decode the same tokens.
    if ref["raw_greedy"] != ref["new_tokens"] or any(t in eos_ids for t in ref["new_tokens"]):
        return "greedy decoding reaches EOS"
    if any(t >= vocab_limit for t in ref["new_tokens"]):
        return "greedy decoding produces a special or unused id"
    if len(set(ref["new_tokens"])) < 3:
        return f"greedy output too repetitive {ref['new_tokens']}"
    return None


# --------------------------------------------------------------------------------------------
# Cases


CASES = [
    {
        "name": "single_exact",
        "description": "flat config, untied, f32, one landscape picture already a multiple of 28 (no resize)",
        "layout": "flat", "tied": False, "disk_dtype": "f32", "vocab": "small", "seed": 101,
        "images": ["landscape_140x56.png"], "max_pixels": None, "min_pixels": None, "prompt": "one_picture",
    },
    {
        "name": "resize_portrait_sharded",
        "description": "flat config, untied, f32 in 2 shards, portrait picture downscaled by a max_pixels override",
        "layout": "flat", "tied": False, "disk_dtype": "f32", "vocab": "small", "seed": 202, "shards": 2,
        "images": ["portrait_181x263.png"], "max_pixels": 16000, "min_pixels": None, "prompt": "one_picture",
    },
    {
        "name": "exif_jpeg",
        "description": "flat config, untied, bf16, 4:4:4 JPEG with EXIF orientation 6 (upright 70x130), resized",
        "layout": "flat", "tied": False, "disk_dtype": "bf16", "vocab": "small", "seed": 303,
        "images": ["exif_rot6_130x70.jpg"], "max_pixels": None, "min_pixels": None, "prompt": "one_picture",
    },
    {
        "name": "two_pictures_nested_bf16_tied",
        "description": "nested config (transformers 5 layout), tied, bf16, landscape RGB + greyscale portrait, both resized",
        "layout": "nested", "tied": True, "disk_dtype": "bf16", "vocab": "small", "seed": 404,
        # Tied, 64 wide, 512 tokens: with std 1 embeddings every step echoes the input token.
        "embed_std": 0.25,
        "images": ["wide_160x60.png", "grey_portrait_62x150.png"], "max_pixels": None, "min_pixels": None,
        "prompt": "two_pictures",
    },
    {
        "name": "multi_turn",
        "description": "flat config, untied, f32, system + three user turns with two answers, picture in the first user turn",
        "layout": "flat", "tied": False, "disk_dtype": "f32", "vocab": "small", "seed": 505,
        "images": ["chart_150x50.png"], "max_pixels": None, "min_pixels": None, "prompt": "multi_turn",
    },
    {
        "name": "real_tokenizer_chat",
        "description": "real Qwen2.5 tokenizer and ids, own chat template (default system turn), tied, bf16, picture resized 64x60 -> 56x56",
        "layout": "flat", "tied": True, "disk_dtype": "bf16", "vocab": "real", "seed": 606,
        "embed_std": 0.25,
        "images": ["triangle_64x60.png"], "max_pixels": None, "min_pixels": None, "prompt": "chat",
        "question": "Area of the shaded triangle?",
    },
    {
        "name": "quant_width256",
        "description": "flat config, untied, bf16, decoder 256 wide (whole Q4K blocks): the quantisation drift test",
        "layout": "flat", "tied": False, "disk_dtype": "bf16", "vocab": "small", "seed": 707,
        "text": WIDE_TEXT,
        "images": ["landscape_140x56.png"], "max_pixels": None, "min_pixels": None, "prompt": "one_picture",
    },
]
for _case in CASES:
    real = _case["vocab"] == "real"
    _case.setdefault("text", REAL_TEXT if real else SMALL_TEXT)
    _case["ids"] = REAL_IDS if real else SMALL_IDS
    _case["generation"] = REAL_GENERATION if real else SMALL_GENERATION


def image_processor_for(model_dir, case):
    proc = Qwen2VLImageProcessorPil.from_pretrained(model_dir)
    size = {"shortest_edge": proc.size.shortest_edge, "longest_edge": proc.size.longest_edge}
    if case["min_pixels"] is not None:
        size["shortest_edge"] = case["min_pixels"]
    if case["max_pixels"] is not None:
        size["longest_edge"] = case["max_pixels"]
    return proc, size


def rebuild_tokenizer():
    env = dict(os.environ, PYTHON=sys.executable)
    subprocess.run(["bash", TOKENIZER_SCRIPT, TOKENIZER_DIR], check=True, env=env)


def check_chat_template(processor):
    """The template's other paths: explicit system turn, string contents, history, no generation prompt."""
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "image", "image": "x.png"}]},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Why?"},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    expected = (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi <|vision_start|><|image_pad|><|vision_end|><|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nWhy?<|im_end|>\n"
    )
    assert text == expected, repr(text)


def prepare_inputs(case, case_dir, model_dir):
    """Pictures -> pixel_values/grid, and the prompt ids (small vocab: by hand; real: the processor)."""
    paths = [os.path.join(IMAGES, name) for name in case["images"]]
    pictures = [load_image(p) for p in paths]  # applies EXIF orientation, like transformers does for paths
    extra = {}
    if case["vocab"] == "small":
        proc, size = image_processor_for(model_dir, case)
        feats = proc(images=pictures, size=size, return_tensors="pt")
        grids = feats["image_grid_thw"].tolist()
        rng = np.random.RandomState(case["seed"])
        input_ids = small_prompt(case, grids, rng)
        return feats["pixel_values"], grids, input_ids, extra

    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(TOKENIZER_DIR, name), os.path.join(model_dir, name))
    write_json(os.path.join(model_dir, "chat_template.json"), {"chat_template": CHAT_TEMPLATE})
    # AutoProcessor alone would pick the torchvision image backend, whose pixels differ.
    processor = AutoProcessor.from_pretrained(model_dir, image_processor=Qwen2VLImageProcessorPil.from_pretrained(model_dir))
    assert isinstance(processor.image_processor, Qwen2VLImageProcessorPil), type(processor.image_processor)
    rel = [os.path.relpath(p, case_dir) for p in paths]
    messages = [{"role": "user", "content": [{"type": "image", "image": rel[0]}, {"type": "text", "text": case["question"]}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    expected = (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        f"<|vision_start|><|image_pad|><|vision_end|>{case['question']}<|im_end|>\n<|im_start|>assistant\n"
    )
    assert text == expected, repr(text)
    check_chat_template(processor)
    kwargs = {}
    if case["max_pixels"] is not None or case["min_pixels"] is not None:
        _, kwargs["size"] = image_processor_for(model_dir, case)
    batch = processor(text=[text], images=pictures, return_tensors="pt", **kwargs)
    input_ids = batch["input_ids"][0].tolist()
    assert batch["mm_token_type_ids"][0].tolist() == [int(t == REAL_IDS["image_token_id"]) for t in input_ids]
    # The processor's pictures must be exactly the PIL processor's.
    proc, size = image_processor_for(model_dir, case)
    alone = proc(images=pictures, size=size, return_tensors="pt")
    assert torch.equal(alone["pixel_values"], batch["pixel_values"])
    extra = {"messages": messages, "prompt_text": text}
    return batch["pixel_values"], batch["image_grid_thw"].tolist(), input_ids, extra


def generate_case(case):
    case_dir = os.path.join(FIXTURES, case["name"])
    vocab_limit = REAL_TOKENIZER_SIZE if case["vocab"] == "real" else 500
    eos_ids = case["generation"]["eos_token_id"]
    rejected = []
    for attempt in range(40):
        seed = case["seed"] + 1000 * attempt
        if os.path.exists(case_dir):
            shutil.rmtree(case_dir)
        model_dir = os.path.join(case_dir, "model")
        os.makedirs(model_dir)
        model = build_model(case, seed, model_dir)
        write_json(os.path.join(model_dir, "preprocessor_config.json"), PREPROCESSOR)
        write_json(
            os.path.join(model_dir, "generation_config.json"),
            dict(case["generation"], do_sample=False, transformers_version=transformers.__version__),
        )
        pixel_values, grids, input_ids, extra = prepare_inputs(case, case_dir, model_dir)
        ref = reference(model, input_ids, pixel_values, grids, eos_ids, case["generation"]["pad_token_id"])
        why = acceptable(ref, eos_ids, vocab_limit)
        if why is None:
            break
        rejected.append(f"seed {seed}: {why}")
    else:
        raise SystemExit(f"{case['name']}: no acceptable seed ({'; '.join(rejected)})")

    n_image_tokens = sum(t * h * w // 4 for t, h, w in grids)
    assert ref["vision_embeds"].shape == (n_image_tokens, case["text"]["hidden_size"])
    assert input_ids.count(case["ids"]["image_token_id"]) == n_image_tokens
    save_file(
        {
            "pixel_values": pixel_values.to(torch.float32).contiguous(),
            "vision_embeds": ref["vision_embeds"].to(torch.float32).contiguous(),
            "logits": ref["logits"].to(torch.float32).contiguous(),
        },
        os.path.join(case_dir, "reference.safetensors"),
        metadata={"format": "pt"},
    )
    case_json = {
        "description": case["description"],
        "images": [f"../images/{name}" for name in case["images"]],
        "max_pixels": case["max_pixels"],
        "min_pixels": case["min_pixels"],
        "input_ids": [int(t) for t in input_ids],
        "image_grid_thw": [[int(x) for x in g] for g in grids],
        "position_ids": [[int(x) for x in row] for row in ref["position_ids"].tolist()],
        "rope_delta": ref["rope_delta"],
        "greedy_new_tokens": [int(t) for t in ref["new_tokens"]],
        "min_top2_margin": ref["margin"],
        "disk_dtype": case["disk_dtype"],
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
    }
    case_json.update(extra)
    # One key per line, values compact: readable diffs without a line per token id.
    lines = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in case_json.items()]
    with open(os.path.join(case_dir, "case.json"), "w", encoding="utf-8") as f:
        f.write("{\n" + ",\n".join(lines) + "\n}\n")
    return {
        "seed": seed,
        "rejected": rejected,
        "tokens": len(input_ids),
        "image_tokens": n_image_tokens,
        "grids": grids,
        "margin": ref["margin"],
        "logit_std": ref["min_logit_std"],
        "cache_gap": ref["cache_gap"],
        "new_tokens": ref["new_tokens"],
        "model_bytes": dir_bytes(os.path.join(case_dir, "model")),
        "reference_bytes": os.path.getsize(os.path.join(case_dir, "reference.safetensors")),
        "case_bytes": dir_bytes(case_dir),
    }


def dir_bytes(path):
    return sum(os.path.getsize(os.path.join(root, f)) for root, _, files in os.walk(path) for f in files)


def check_versions():
    """Other versions give other fixtures; say so rather than silently rewrite them."""
    pins = {}
    with open(os.path.join(HERE, "requirements.txt"), encoding="utf-8") as f:
        for line in f:
            if "==" in line:
                name, version = line.strip().split("==")
                pins[name.lower()] = version
    installed = {
        "torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
        "pillow": PIL.__version__, "numpy": np.__version__,
    }
    for name, version in installed.items():
        if pins.get(name) != version:
            print(f"warning: {name} {version} is installed, requirements.txt pins {pins.get(name)}")


# (width, height) targets for a 97x61 source: both pass orders of Pillow 13 (vertical first when the
# height loses more than twice as many pixels as the width), the tie, up- and downscales, extremes.
RESIZE_TARGETS = [
    (112, 56), (84, 28), (97, 30), (90, 47), (87, 41), (56, 56), (196, 140), (28, 168),
    (5, 3), (300, 7), (96, 61), (97, 60), (140, 28), (61, 97),
]


def make_resize_reference():
    """Pillow's bicubic output for one picture at many sizes, byte for byte."""
    out_dir = os.path.join(FIXTURES, "resize")
    os.makedirs(out_dir, exist_ok=True)
    source = draw_picture(97, 61, 9)
    source.save(os.path.join(out_dir, "source.png"))
    blob = bytearray()
    cases = []
    for w, h in RESIZE_TARGETS:
        data = np.asarray(source.resize((w, h), resample=Image.BICUBIC), dtype=np.uint8).tobytes()
        cases.append({"width": w, "height": h, "offset": len(blob)})
        blob += data
    with open(os.path.join(out_dir, "pillow.bin"), "wb") as f:
        f.write(bytes(blob))
    write_json(os.path.join(out_dir, "cases.json"), {"pillow_version": PIL.__version__, "cases": cases})


def main():
    # Names on the command line regenerate only those cases (for debugging); default: everything.
    only = sys.argv[1:]
    unknown = set(only) - {c["name"] for c in CASES}
    if unknown:
        raise SystemExit(f"unknown case(s): {', '.join(sorted(unknown))}")
    torch.set_num_threads(1)  # same arithmetic on every run; the machine is shared anyway
    torch.use_deterministic_algorithms(True)
    rebuild_tokenizer()
    if not only and os.path.exists(FIXTURES):
        shutil.rmtree(FIXTURES)
    if os.path.exists(IMAGES):
        shutil.rmtree(IMAGES)
    make_images()
    make_resize_reference()
    check_versions()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, pillow {PIL.__version__}")
    for case in CASES:
        if only and case["name"] not in only:
            continue
        s = generate_case(case)
        mb = 1e-6
        print(
            f"{case['name']:32s} seed {s['seed']:5d}  tokens {s['tokens']:3d} (image {s['image_tokens']:3d})  "
            f"grid {s['grids']}  min margin {s['margin']:.4f}  min logit std {s['logit_std']:.2f}  "
            f"model {s['model_bytes'] * mb:.2f} MB  reference {s['reference_bytes'] * mb:.2f} MB  "
            f"case {s['case_bytes'] * mb:.2f} MB"
        )
        for r in s["rejected"]:
            print(f"    rejected {r}")
    for root, _, files in os.walk(FIXTURES):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)  # safetensors writes 0600
    total = dir_bytes(FIXTURES)
    print(f"images {dir_bytes(IMAGES) * 1e-6:.2f} MB; total {total * 1e-6:.2f} MB")
    if total >= MAX_TOTAL_BYTES:
        raise SystemExit(f"fixtures take {total} bytes, over the {MAX_TOTAL_BYTES} byte budget")


if __name__ == "__main__":
    main()
