//! Writes a tiny Qwen2.5-VL checkpoint that, decoding greedily, says a fixed script: the model
//! behind the desktop app's end-to-end test, which needs an answer it can recognise (thinking,
//! then an answer with math) from a real checkpoint run by the real engine.
//!
//! How: every layer's output projections are zero, so the last hidden state is the current
//! token's embedding and the model is a bigram table. Each script token gets its own unit
//! vector as embedding, and the output row of the token that must follow it is that same
//! vector. A script token may appear only once; a repeated token is re-spelled (alone or joined
//! with the pieces after it) as unused vocabulary pieces, which decode to the same text.
//!
//! ```text
//! cargo run -p onevision-engine --example scripted_model -- \
//!     --tokenizer-from DIR --out DIR --text "…" [--loop "…"]
//! ```
//! With `--loop`, the loop text follows the script and then repeats forever (until the token
//! budget or a stop), for testing a long generation; without it the script ends the turn.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokenizers::Tokenizer;

const HIDDEN: usize = 64;
const HEADS: usize = 4;
const KV_HEADS: usize = 1;
const INTERMEDIATE: usize = 64;
const VISION_HIDDEN: usize = 64;
const VISION_INTERMEDIATE: usize = 96;
const VISION_DEPTH: usize = 2;
/// Logit of the scripted next token (others are 0) after the final norm scales the one-hot
/// hidden state to unit RMS.
const SCRIPT_LOGIT_SCALE: f32 = 10.0;

struct Args {
    tokenizer_from: PathBuf,
    out: PathBuf,
    text: String,
    looped: Option<String>,
}

fn args() -> Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut tokenizer_from, mut out, mut text, mut looped) = (None, None, None, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--tokenizer-from" => tokenizer_from = Some(PathBuf::from(value()?)),
            "--out" => out = Some(PathBuf::from(value()?)),
            "--text" => text = Some(value()?),
            "--loop" => looped = Some(value()?),
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(Args {
        tokenizer_from: tokenizer_from.context("--tokenizer-from DIR is required")?,
        out: out.context("--out DIR is required")?,
        text: text.context("--text is required")?,
        looped,
    })
}

/// Token ids that decode to `text`, none of them in `used` (which they are added to).
fn spell(tok: &Tokenizer, text: &str, used: &mut HashSet<u32>) -> Result<Vec<u32>> {
    let enc = tok
        .encode(text, false)
        .map_err(|e| anyhow::anyhow!("cannot tokenize {text:?}: {e}"))?;
    let pieces = enc
        .get_ids()
        .iter()
        .map(|&id| tok.id_to_token(id))
        .collect::<Option<Vec<_>>>()
        .context("a token without a piece")?;
    let mut out = Vec::new();
    let mut i = 0;
    'pieces: while i < pieces.len() {
        // The piece as it is, else joined with up to two of the pieces after it, spelled again
        // as one, two or three vocabulary pieces nobody has used yet.
        for span in 1..=3.min(pieces.len() - i) {
            let joined = pieces[i..i + span].concat();
            if let Some(ids) = respell(tok, &joined, used) {
                used.extend(&ids);
                out.extend(ids);
                i += span;
                continue 'pieces;
            }
        }
        bail!(
            "the piece {:?} of {text:?} repeats and cannot be re-spelled; reword the script",
            pieces[i]
        );
    }
    Ok(out)
}

/// `piece` (byte-level form) as at most three unused vocabulary pieces, whole pieces first.
fn respell(tok: &Tokenizer, piece: &str, used: &HashSet<u32>) -> Option<Vec<u32>> {
    let free = |s: &str| tok.token_to_id(s).filter(|id| !used.contains(id));
    if let Some(id) = free(piece) {
        return Some(vec![id]);
    }
    let cuts: Vec<usize> = piece.char_indices().skip(1).map(|(i, _)| i).collect();
    for &k in &cuts {
        if let (Some(a), Some(b)) = (free(&piece[..k]), free(&piece[k..])) {
            if a != b {
                return Some(vec![a, b]);
            }
        }
    }
    for (n, &k1) in cuts.iter().enumerate() {
        for &k2 in &cuts[n + 1..] {
            let parts = [&piece[..k1], &piece[k1..k2], &piece[k2..]];
            if let [Some(a), Some(b), Some(c)] = parts.map(free) {
                if a != b && b != c && a != c {
                    return Some(vec![a, b, c]);
                }
            }
        }
    }
    None
}

fn bf16_bits(x: f32) -> u16 {
    // Round to nearest even, as torch does.
    let bits = x.to_bits();
    let rounding = 0x7fff + ((bits >> 16) & 1);
    ((bits + rounding) >> 16) as u16
}

struct Tensors {
    entries: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Tensors {
    fn add(&mut self, name: &str, shape: &[usize], data: Vec<f32>) {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
        self.entries.insert(name.to_owned(), (shape.to_vec(), data));
    }

    fn random(&mut self, rng: &mut StdRng, name: &str, shape: &[usize]) {
        let n = shape.iter().product();
        let data = (0..n).map(|_| rng.random_range(-0.04f32..0.04)).collect();
        self.add(name, shape, data);
    }

    fn fill(&mut self, name: &str, shape: &[usize], value: f32) {
        self.add(name, shape, vec![value; shape.iter().product()]);
    }

    /// The safetensors layout: a little-endian header length, a JSON header, the raw data.
    fn write(&self, path: &Path) -> Result<()> {
        let mut header = serde_json::Map::new();
        let mut offset = 0usize;
        for (name, (shape, data)) in &self.entries {
            let len = data.len() * 2;
            header.insert(
                name.clone(),
                json!({"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + len]}),
            );
            offset += len;
        }
        header.insert("__metadata__".into(), json!({"format": "pt"}));
        let mut head = serde_json::to_vec(&Value::Object(header))?;
        while head.len() % 8 != 0 {
            head.push(b' ');
        }
        let mut bytes = Vec::with_capacity(8 + head.len() + offset);
        bytes.extend((head.len() as u64).to_le_bytes());
        bytes.extend(head);
        for (_, data) in self.entries.values() {
            for &x in data {
                bytes.extend(bf16_bits(x).to_le_bytes());
            }
        }
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
    }
}

fn main() -> Result<()> {
    let a = args()?;
    let tok = Tokenizer::from_file(a.tokenizer_from.join("tokenizer.json"))
        .map_err(|e| anyhow::anyhow!("cannot read the tokenizer: {e}"))?;
    let special = |s: &str| tok.token_to_id(s).with_context(|| format!("no {s} token"));
    let im_end = special("<|im_end|>")?;
    let prompt_end = tok
        .encode("<|im_start|>assistant\n", false)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .get_ids()
        .last()
        .copied()
        .context("empty generation prompt")?;

    let mut used = HashSet::from([prompt_end, im_end]);
    let script = spell(&tok, &a.text, &mut used)?;
    let looped = match &a.looped {
        Some(t) => spell(&tok, t, &mut used)?,
        None => Vec::new(),
    };
    // The chain of (token, the token after it).
    let mut chain = vec![prompt_end];
    chain.extend(&script);
    chain.extend(&looped);
    let mut next: Vec<(u32, u32)> = chain.windows(2).map(|w| (w[0], w[1])).collect();
    let last = *chain.last().context("empty script")?;
    next.push((last, looped.first().copied().unwrap_or(im_end)));
    if chain.len() > HIDDEN {
        bail!(
            "the script takes {} tokens; at most {} fit this model",
            chain.len() - 1,
            HIDDEN - 1
        );
    }

    let vocab = 151_936usize;
    let mut rng = StdRng::seed_from_u64(20261122);
    let mut t = Tensors {
        entries: BTreeMap::new(),
    };
    let mut embed: Vec<f32> = (0..vocab * HIDDEN)
        .map(|_| rng.random_range(-0.04f32..0.04))
        .collect();
    let mut lm_head = vec![0f32; vocab * HIDDEN];
    for (slot, &(from, to)) in next.iter().enumerate() {
        let row = &mut embed[from as usize * HIDDEN..][..HIDDEN];
        row.fill(0.0);
        row[slot] = 1.0;
        lm_head[to as usize * HIDDEN + slot] = SCRIPT_LOGIT_SCALE;
    }
    t.add("model.embed_tokens.weight", &[vocab, HIDDEN], embed);
    t.add("lm_head.weight", &[vocab, HIDDEN], lm_head);
    t.fill("model.norm.weight", &[HIDDEN], 1.0);
    let head_dim = HIDDEN / HEADS;
    let kv = KV_HEADS * head_dim;
    let p = "model.layers.0";
    t.fill(&format!("{p}.input_layernorm.weight"), &[HIDDEN], 1.0);
    t.fill(
        &format!("{p}.post_attention_layernorm.weight"),
        &[HIDDEN],
        1.0,
    );
    t.random(
        &mut rng,
        &format!("{p}.self_attn.q_proj.weight"),
        &[HIDDEN, HIDDEN],
    );
    t.random(&mut rng, &format!("{p}.self_attn.q_proj.bias"), &[HIDDEN]);
    t.random(
        &mut rng,
        &format!("{p}.self_attn.k_proj.weight"),
        &[kv, HIDDEN],
    );
    t.random(&mut rng, &format!("{p}.self_attn.k_proj.bias"), &[kv]);
    t.random(
        &mut rng,
        &format!("{p}.self_attn.v_proj.weight"),
        &[kv, HIDDEN],
    );
    t.random(&mut rng, &format!("{p}.self_attn.v_proj.bias"), &[kv]);
    // Zero outputs keep the residual stream equal to the token's embedding.
    t.fill(
        &format!("{p}.self_attn.o_proj.weight"),
        &[HIDDEN, HIDDEN],
        0.0,
    );
    t.random(
        &mut rng,
        &format!("{p}.mlp.gate_proj.weight"),
        &[INTERMEDIATE, HIDDEN],
    );
    t.random(
        &mut rng,
        &format!("{p}.mlp.up_proj.weight"),
        &[INTERMEDIATE, HIDDEN],
    );
    t.fill(
        &format!("{p}.mlp.down_proj.weight"),
        &[HIDDEN, INTERMEDIATE],
        0.0,
    );

    let (vh, vi) = (VISION_HIDDEN, VISION_INTERMEDIATE);
    t.random(
        &mut rng,
        "visual.patch_embed.proj.weight",
        &[vh, 3, 2, 14, 14],
    );
    for b in 0..VISION_DEPTH {
        let p = format!("visual.blocks.{b}");
        t.fill(&format!("{p}.norm1.weight"), &[vh], 1.0);
        t.fill(&format!("{p}.norm2.weight"), &[vh], 1.0);
        t.random(&mut rng, &format!("{p}.attn.qkv.weight"), &[3 * vh, vh]);
        t.random(&mut rng, &format!("{p}.attn.qkv.bias"), &[3 * vh]);
        t.random(&mut rng, &format!("{p}.attn.proj.weight"), &[vh, vh]);
        t.random(&mut rng, &format!("{p}.attn.proj.bias"), &[vh]);
        for (name, shape) in [
            ("gate_proj", [vi, vh]),
            ("up_proj", [vi, vh]),
            ("down_proj", [vh, vi]),
        ] {
            t.random(&mut rng, &format!("{p}.mlp.{name}.weight"), &shape);
            t.random(&mut rng, &format!("{p}.mlp.{name}.bias"), &shape[..1]);
        }
    }
    t.fill("visual.merger.ln_q.weight", &[vh], 1.0);
    t.random(&mut rng, "visual.merger.mlp.0.weight", &[4 * vh, 4 * vh]);
    t.random(&mut rng, "visual.merger.mlp.0.bias", &[4 * vh]);
    t.random(&mut rng, "visual.merger.mlp.2.weight", &[HIDDEN, 4 * vh]);
    t.random(&mut rng, "visual.merger.mlp.2.bias", &[HIDDEN]);

    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    t.write(&a.out.join("model.safetensors"))?;
    for name in [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.json",
        "preprocessor_config.json",
    ] {
        std::fs::copy(a.tokenizer_from.join(name), a.out.join(name))
            .with_context(|| format!("cannot copy {name}"))?;
    }
    let mut config: Value = serde_json::from_str(
        &std::fs::read_to_string(a.tokenizer_from.join("config.json"))
            .context("cannot read config.json")?,
    )?;
    config["hidden_size"] = json!(HIDDEN);
    config["intermediate_size"] = json!(INTERMEDIATE);
    config["num_hidden_layers"] = json!(1);
    config["max_window_layers"] = json!(1);
    config["num_attention_heads"] = json!(HEADS);
    config["num_key_value_heads"] = json!(KV_HEADS);
    config["tie_word_embeddings"] = json!(false);
    config["rope_scaling"]["mrope_section"] = json!([2, 3, 3]);
    config["max_position_embeddings"] = json!(32768);
    config["vision_config"]["depth"] = json!(VISION_DEPTH);
    config["vision_config"]["fullatt_block_indexes"] = json!([1]);
    config["vision_config"]["hidden_size"] = json!(vh);
    config["vision_config"]["intermediate_size"] = json!(vi);
    config["vision_config"]["out_hidden_size"] = json!(HIDDEN);
    std::fs::write(
        a.out.join("config.json"),
        serde_json::to_string_pretty(&config)?,
    )?;
    std::fs::write(
        a.out.join("generation_config.json"),
        serde_json::to_string_pretty(&json!({
            "do_sample": false,
            "eos_token_id": [im_end, special("<|endoftext|>")?],
        }))?,
    )?;
    println!(
        "wrote {} ({} script tokens{})",
        a.out.display(),
        script.len(),
        if looped.is_empty() {
            String::new()
        } else {
            format!(", then {} looping", looped.len())
        }
    );
    Ok(())
}
