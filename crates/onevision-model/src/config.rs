//! `config.json` of a Qwen2.5-VL checkpoint, in both layouts found in the wild:
//! the flat one published checkpoints ship (text fields at top level, `rope_scaling.mrope_section`)
//! and the nested one newer transformers writes (`text_config`, `vision_config`, `rope_parameters`).

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    /// How the rotary frequencies are shared out between the temporal, height and width positions.
    pub mrope_section: [usize; 3],
    pub max_position_embeddings: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub depth: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_heads: usize,
    pub in_channels: usize,
    pub patch_size: usize,
    pub spatial_merge_size: usize,
    pub temporal_patch_size: usize,
    pub window_size: usize,
    pub fullatt_block_indexes: Vec<usize>,
    pub out_hidden_size: usize,
}

impl VisionConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_heads
    }

    /// Patches merged into one language-model token.
    pub fn merge_unit(&self) -> usize {
        self.spatial_merge_size * self.spatial_merge_size
    }

    /// Length of a flattened patch: channels x temporal x patch x patch.
    pub fn patch_dim(&self) -> usize {
        self.in_channels * self.temporal_patch_size * self.patch_size * self.patch_size
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub text: TextConfig,
    pub vision: VisionConfig,
    pub tie_word_embeddings: bool,
    pub image_token_id: u32,
    pub video_token_id: Option<u32>,
    pub vision_start_token_id: u32,
    pub vision_end_token_id: Option<u32>,
}

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json_str(&text, path)
    }

    /// Parses and validates; `path` is only used to name the file in errors.
    pub fn from_json_str(json: &str, path: &Path) -> Result<Self> {
        let value: Value = serde_json::from_str(json).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let root = value.as_object().ok_or_else(|| Error::Config {
            path: path.to_path_buf(),
            reason: "the top level is not a JSON object".into(),
        })?;
        Parser {
            path: path.to_path_buf(),
            root,
        }
        .parse()
    }
}

struct Parser<'a> {
    path: PathBuf,
    root: &'a Map<String, Value>,
}

impl Parser<'_> {
    fn fail(&self, reason: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn section(&self, name: &str) -> Result<Option<&Map<String, Value>>> {
        match self.root.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.fail(format!("field `{name}` must be an object"))),
        }
    }

    fn parse(&self) -> Result<ModelConfig> {
        match self.root.get("model_type").and_then(Value::as_str) {
            Some("qwen2_5_vl") => {}
            Some(other) => {
                return Err(self.fail(format!(
                    "field `model_type` is \"{other}\", expected \"qwen2_5_vl\""
                )))
            }
            None => return Err(self.fail("field `model_type` is missing")),
        }
        let text_section = self.section("text_config")?;
        let vision = self
            .section("vision_config")?
            .ok_or_else(|| self.fail("field `vision_config` is missing"))?;

        // Text fields live in `text_config` (nested layout) or at the top level (flat layout);
        // transformers 4.5x writes both, so the nested value wins when present.
        let text_scope = Scope::new(&self.path, text_section, Some(self.root), "text_config");
        let vision_scope = Scope::new(&self.path, Some(vision), None, "vision_config");
        let top = Scope::new(&self.path, None, Some(self.root), "");

        let text = self.parse_text(&text_scope)?;
        let vision = parse_vision(&vision_scope)?;
        let tie_word_embeddings = match text_scope.get("tie_word_embeddings") {
            Some(v) => v
                .as_bool()
                .ok_or_else(|| text_scope.bad("tie_word_embeddings", "a boolean"))?,
            None => false,
        };
        // Token ids: top level in both layouts; older nested files also copy them into text_config.
        let id = |name: &str| -> Result<Option<u32>> {
            let v = top.opt_usize(name)?.or(text_scope.opt_usize(name)?);
            match v {
                None => Ok(None),
                Some(v) if v < text.vocab_size => Ok(Some(v as u32)),
                Some(v) => Err(self.fail(format!(
                    "field `{name}` is {v}, outside the vocabulary of {} tokens",
                    text.vocab_size
                ))),
            }
        };
        let image_token_id =
            id("image_token_id")?.ok_or_else(|| self.fail("field `image_token_id` is missing"))?;
        let vision_start_token_id = id("vision_start_token_id")?
            .ok_or_else(|| self.fail("field `vision_start_token_id` is missing"))?;
        let cfg = ModelConfig {
            video_token_id: id("video_token_id")?,
            vision_end_token_id: id("vision_end_token_id")?,
            text,
            vision,
            tie_word_embeddings,
            image_token_id,
            vision_start_token_id,
        };
        if cfg.vision.out_hidden_size != cfg.text.hidden_size {
            return Err(self.fail(format!(
                "field `vision_config.out_hidden_size` is {} but the text hidden size is {}",
                cfg.vision.out_hidden_size, cfg.text.hidden_size
            )));
        }
        Ok(cfg)
    }

    fn parse_text(&self, s: &Scope) -> Result<TextConfig> {
        let hidden_size = s.positive("hidden_size")?;
        let num_attention_heads = s.positive("num_attention_heads")?;
        let num_key_value_heads = s
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(s.invalid(format!(
                "num_key_value_heads is {num_key_value_heads}, which does not divide num_attention_heads {num_attention_heads}"
            )));
        }
        let head_dim = match s.opt_usize("head_dim")? {
            Some(d) => d,
            None => {
                if hidden_size % num_attention_heads != 0 {
                    return Err(s.invalid(format!(
                        "hidden_size {hidden_size} is not divisible by num_attention_heads {num_attention_heads}"
                    )));
                }
                hidden_size / num_attention_heads
            }
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(s.invalid(format!(
                "the head dimension {head_dim} must be even and positive"
            )));
        }
        for act in ["hidden_act"] {
            if let Some(v) = s.get(act) {
                if v.as_str() != Some("silu") {
                    return Err(s.invalid(format!("{act} is {v}, only \"silu\" is supported")));
                }
            }
        }

        let rope = s
            .object("rope_parameters")?
            .or(s.object("rope_scaling")?)
            .ok_or_else(|| {
                s.invalid(
                    "rope_scaling.mrope_section (or rope_parameters.mrope_section) is missing",
                )
            })?;
        let section = rope
            .get("mrope_section")
            .and_then(Value::as_array)
            .ok_or_else(|| s.invalid("rope_scaling.mrope_section is missing or not a list"))?;
        let section: Vec<usize> = section
            .iter()
            .map(|v| v.as_u64().map(|v| v as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                s.invalid("rope_scaling.mrope_section must hold non-negative integers")
            })?;
        let mrope_section: [usize; 3] = section.as_slice().try_into().map_err(|_| {
            s.invalid(format!(
                "rope_scaling.mrope_section has {} entries, expected 3 (temporal, height, width)",
                section.len()
            ))
        })?;
        if mrope_section.iter().sum::<usize>() != head_dim / 2 {
            return Err(s.invalid(format!(
                "rope_scaling.mrope_section {mrope_section:?} adds up to {}, but half the head dimension is {}",
                mrope_section.iter().sum::<usize>(),
                head_dim / 2
            )));
        }
        let rope_theta = match rope.get("rope_theta") {
            Some(v) => v
                .as_f64()
                .ok_or_else(|| s.invalid("rope_parameters.rope_theta must be a number"))?,
            None => s.opt_f64("rope_theta")?.unwrap_or(1_000_000.0),
        };
        if rope_theta.is_nan() || rope_theta <= 0.0 {
            return Err(s.invalid(format!("rope_theta is {rope_theta}, it must be positive")));
        }
        let rms_norm_eps = s.opt_f64("rms_norm_eps")?.unwrap_or(1e-6);
        Ok(TextConfig {
            vocab_size: s.positive("vocab_size")?,
            hidden_size,
            intermediate_size: s.positive("intermediate_size")?,
            num_hidden_layers: s.positive("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            mrope_section,
            max_position_embeddings: s.opt_usize("max_position_embeddings")?.unwrap_or(128_000),
        })
    }
}

fn parse_vision(s: &Scope) -> Result<VisionConfig> {
    let hidden_size = s
        .positive("hidden_size")
        .or_else(|_| s.positive("embed_dim"))?;
    let num_heads = s.positive("num_heads")?;
    if hidden_size % num_heads != 0 {
        return Err(s.invalid(format!(
            "hidden_size {hidden_size} is not divisible by num_heads {num_heads}"
        )));
    }
    // The 2-D rotary embedding splits half of each head between rows and columns.
    if (hidden_size / num_heads) % 4 != 0 {
        return Err(s.invalid(format!(
            "the vision head dimension {} must be a multiple of 4",
            hidden_size / num_heads
        )));
    }
    if let Some(v) = s.get("hidden_act") {
        if v.as_str() != Some("silu") {
            return Err(s.invalid(format!("hidden_act is {v}, only \"silu\" is supported")));
        }
    }
    let depth = s.positive("depth")?;
    let patch_size = s.opt_usize("patch_size")?.unwrap_or(14);
    let spatial_merge_size = s.opt_usize("spatial_merge_size")?.unwrap_or(2);
    let temporal_patch_size = s.opt_usize("temporal_patch_size")?.unwrap_or(2);
    if patch_size == 0 || spatial_merge_size == 0 || temporal_patch_size == 0 {
        return Err(
            s.invalid("patch_size, spatial_merge_size and temporal_patch_size must be positive")
        );
    }
    let window_size = s.opt_usize("window_size")?.unwrap_or(112);
    if window_size == 0 || window_size % (patch_size * spatial_merge_size) != 0 {
        return Err(s.invalid(format!(
            "window_size {window_size} is not a positive multiple of patch_size x spatial_merge_size ({})",
            patch_size * spatial_merge_size
        )));
    }
    let fullatt_block_indexes: Vec<usize> = match s.get("fullatt_block_indexes") {
        None => Vec::new(),
        Some(v) => v
            .as_array()
            .and_then(|a| a.iter().map(|x| x.as_u64().map(|x| x as usize)).collect())
            .ok_or_else(|| s.invalid("fullatt_block_indexes must be a list of block numbers"))?,
    };
    if let Some(bad) = fullatt_block_indexes.iter().find(|&&i| i >= depth) {
        return Err(s.invalid(format!(
            "fullatt_block_indexes names block {bad}, but the tower has {depth} blocks"
        )));
    }
    let in_channels = match s.opt_usize("in_channels")? {
        Some(c) => c,
        None => s.opt_usize("in_chans")?.unwrap_or(3),
    };
    if in_channels != 3 {
        return Err(s.invalid(format!("in_channels is {in_channels}, expected 3 (RGB)")));
    }
    Ok(VisionConfig {
        depth,
        hidden_size,
        intermediate_size: s.positive("intermediate_size")?,
        num_heads,
        in_channels,
        patch_size,
        spatial_merge_size,
        temporal_patch_size,
        window_size,
        fullatt_block_indexes,
        out_hidden_size: s.positive("out_hidden_size")?,
    })
}

/// Looks a field up in a primary object, then a fallback, and words errors with the field's full name.
struct Scope<'a> {
    path: &'a Path,
    primary: Option<&'a Map<String, Value>>,
    fallback: Option<&'a Map<String, Value>>,
    prefix: &'a str,
}

impl<'a> Scope<'a> {
    fn new(
        path: &'a Path,
        primary: Option<&'a Map<String, Value>>,
        fallback: Option<&'a Map<String, Value>>,
        prefix: &'a str,
    ) -> Self {
        Scope {
            path,
            primary,
            fallback,
            prefix: if primary.is_some() { prefix } else { "" },
        }
    }

    fn name(&self, field: &str) -> String {
        if self.prefix.is_empty() {
            field.to_string()
        } else {
            format!("{}.{field}", self.prefix)
        }
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        let found = |m: Option<&'a Map<String, Value>>| {
            m.and_then(|m| m.get(field)).filter(|v| !v.is_null())
        };
        found(self.primary).or_else(|| found(self.fallback))
    }

    fn invalid(&self, reason: impl Into<String>) -> Error {
        let reason = reason.into();
        Error::Config {
            path: self.path.to_path_buf(),
            reason: if self.prefix.is_empty() {
                reason
            } else {
                format!("in `{}`, {reason}", self.prefix)
            },
        }
    }

    fn bad(&self, field: &str, expected: &str) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            reason: format!("field `{}` must be {expected}", self.name(field)),
        }
    }

    fn object(&self, field: &str) -> Result<Option<&'a Map<String, Value>>> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(_) => Err(self.bad(field, "an object")),
        }
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|v| Some(v as usize))
                .ok_or_else(|| self.bad(field, "a non-negative integer")),
        }
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.bad(field, "a number")),
        }
    }

    fn positive(&self, field: &str) -> Result<usize> {
        match self.opt_usize(field)? {
            None => Err(Error::Config {
                path: self.path.to_path_buf(),
                reason: format!("field `{}` is missing", self.name(field)),
            }),
            Some(0) => Err(Error::Config {
                path: self.path.to_path_buf(),
                reason: format!("field `{}` is 0, it must be positive", self.name(field)),
            }),
            Some(v) => Ok(v),
        }
    }
}
