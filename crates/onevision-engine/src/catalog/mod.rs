//! The models this app knows (DESIGN.md §3), where copies already sit on disk, and getting them:
//! the Hugging Face cache layout ([`cache`]), finding models ([`discover`]), checking a folder
//! ([`verify`]), the hub's HTTP interface ([`hub`]) and resumable, hash-checked downloads
//! ([`download`]).

pub mod cache;
pub mod discover;
pub mod download;
pub mod error;
pub mod hash;
pub mod hub;
pub mod remove;
pub mod verify;

use serde::Serialize;

pub use error::{CatalogError, Result};

use crate::hardware::size::{ModelSize, TextDims, VisionDims};
use crate::preset::PromptPreset;

/// One model a student can pick without knowing where it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CatalogEntry {
    /// Stable id used by the command and the app ("r1-onevision-7b").
    pub id: &'static str,
    pub name: &'static str,
    /// The Hugging Face repository ("Fancy-MLLM/R1-Onevision-7B").
    pub repo: &'static str,
    /// About how many bytes a download fetches (bf16 safetensors plus tokenizer and configs).
    pub download_bytes: u64,
    pub licence: &'static str,
    pub preset: PromptPreset,
    /// Picture detail: the most pixels a picture is resized to.
    pub max_pixels: usize,
    /// The hub serves the files only to a signed-in user who accepted the model's conditions.
    pub gated: bool,
    pub tied_embeddings: bool,
    pub size: ModelSize,
    /// What a user should know before choosing it.
    pub note: &'static str,
}

/// About one megapixel: 1280 merged 28x28 tiles, what the Qwen2.5-VL model cards suggest for
/// documents and figures, and what keeps a 7B's vision pass under a second on a GPU.
pub const DEFAULT_MAX_PIXELS: usize = 1280 * 28 * 28;

const VISION: VisionDims = VisionDims {
    depth: 32,
    hidden: 1280,
    intermediate: 3420,
    in_channels: 3,
    patch: 14,
    temporal_patch: 2,
    merge: 2,
    out_hidden: 0, // set per text width below
};

const TEXT_7B: TextDims = TextDims {
    vocab: 152_064,
    hidden: 3584,
    intermediate: 18_944,
    layers: 28,
    heads: 28,
    kv_heads: 4,
    head_dim: 128,
};

const TEXT_3B: TextDims = TextDims {
    vocab: 151_936,
    hidden: 2048,
    intermediate: 11_008,
    layers: 36,
    heads: 16,
    kv_heads: 2,
    head_dim: 128,
};

const SIZE_7B: ModelSize = ModelSize::qwen25_vl(
    TEXT_7B,
    VisionDims {
        out_hidden: 3584,
        ..VISION
    },
    false,
);

const SIZE_3B: ModelSize = ModelSize::qwen25_vl(
    TEXT_3B,
    VisionDims {
        out_hidden: 2048,
        ..VISION
    },
    true,
);

/// bf16 on disk, plus ~20 MB of tokenizer and configs.
const fn download_bytes(size: ModelSize) -> u64 {
    size.total_params() * 2 + 20_000_000
}

const QWEN_7B_LICENCE: &str = "Apache-2.0 (Qwen2.5-VL-7B-Instruct)";

pub static CATALOG: [CatalogEntry; 5] = [
    CatalogEntry {
        id: "r1-onevision-7b",
        name: "R1-Onevision-7B",
        repo: "Fancy-MLLM/R1-Onevision-7B",
        download_bytes: download_bytes(SIZE_7B),
        licence: "see the model card; a fine-tune of Qwen2.5-VL-7B-Instruct (Apache-2.0)",
        preset: PromptPreset::R1Onevision,
        max_pixels: DEFAULT_MAX_PIXELS,
        gated: false,
        tied_embeddings: false,
        size: SIZE_7B,
        note: "reasons step by step, then ends with the answer",
    },
    CatalogEntry {
        id: "r1-onevision-7b-rl",
        name: "R1-Onevision-7B-RL",
        repo: "Fancy-MLLM/R1-Onevision-7B-RL",
        download_bytes: download_bytes(SIZE_7B),
        licence: "see the model card; a fine-tune of Qwen2.5-VL-7B-Instruct (Apache-2.0)",
        preset: PromptPreset::R1OnevisionRl,
        max_pixels: DEFAULT_MAX_PIXELS,
        gated: false,
        tied_embeddings: false,
        size: SIZE_7B,
        note: "answers in <think> and <answer> tags",
    },
    CatalogEntry {
        id: "ovr-7b-rl",
        name: "OVR-7B-RL",
        repo: "Kangheng/OVR-7B-RL",
        download_bytes: download_bytes(SIZE_7B),
        licence: "Apache-2.0 per the OVR model cards; accept the conditions on the hub first",
        preset: PromptPreset::Plain,
        max_pixels: DEFAULT_MAX_PIXELS,
        gated: true,
        tied_embeddings: false,
        size: SIZE_7B,
        note: "needs a Hugging Face token; answers in \\boxed{} after reasoning that can run 10k+ tokens",
    },
    CatalogEntry {
        id: "qwen2.5-vl-7b",
        name: "Qwen2.5-VL-7B-Instruct",
        repo: "Qwen/Qwen2.5-VL-7B-Instruct",
        download_bytes: download_bytes(SIZE_7B),
        licence: QWEN_7B_LICENCE,
        preset: PromptPreset::Plain,
        max_pixels: DEFAULT_MAX_PIXELS,
        gated: false,
        tied_embeddings: false,
        size: SIZE_7B,
        note: "the base chat model: short answers, no long reasoning",
    },
    CatalogEntry {
        id: "qwen2.5-vl-3b",
        name: "Qwen2.5-VL-3B-Instruct",
        repo: "Qwen/Qwen2.5-VL-3B-Instruct",
        download_bytes: download_bytes(SIZE_3B),
        licence: "Qwen Research License (non-commercial use)",
        preset: PromptPreset::Plain,
        max_pixels: DEFAULT_MAX_PIXELS,
        gated: false,
        tied_embeddings: true,
        size: SIZE_3B,
        note: "smaller and faster; plain chat",
    },
];

/// The entry with this id.
pub fn find(id: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.id == id)
}

/// The entry whose repository this is (case-insensitive, as the hub's names are).
pub fn find_by_repo(repo: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| e.repo.eq_ignore_ascii_case(repo))
}

/// The entry for a user's model folder named after its repository ("R1-Onevision-7B").
pub fn find_by_folder_name(name: &str) -> Option<&'static CatalogEntry> {
    CATALOG.iter().find(|e| {
        e.repo
            .rsplit('/')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_published_parameter_counts() {
        // The hub lists 8.29B parameters for the 7B checkpoints and 3.75B for the 3B.
        let p7 = SIZE_7B.total_params() as f64 / 1e9;
        let p3 = SIZE_3B.total_params() as f64 / 1e9;
        assert!((p7 - 8.29).abs() < 0.01, "{p7}");
        assert!((p3 - 3.75).abs() < 0.01, "{p3}");
        // bf16 safetensors of the 7B are about 16.6 GB.
        let d7 = find("r1-onevision-7b").unwrap().download_bytes as f64 / 1e9;
        assert!((d7 - 16.6).abs() < 0.1, "{d7}");
    }

    #[test]
    fn entries_are_unique_and_found_by_id_repo_and_folder() {
        for (i, e) in CATALOG.iter().enumerate() {
            assert!(CATALOG[i + 1..]
                .iter()
                .all(|o| o.id != e.id && o.repo != e.repo));
            assert_eq!(find(e.id).unwrap().repo, e.repo);
        }
        assert_eq!(
            find_by_repo("fancy-mllm/r1-onevision-7b-rl").unwrap().id,
            "r1-onevision-7b-rl"
        );
        assert_eq!(
            find_by_folder_name("R1-Onevision-7B").unwrap().id,
            "r1-onevision-7b"
        );
        assert!(find_by_folder_name("R1-Onevision").is_none());
        assert!(find("ovr-7b-rl").unwrap().gated);
        assert!(find("qwen2.5-vl-3b").unwrap().tied_embeddings);
        assert_eq!(
            find("r1-onevision-7b-rl").unwrap().preset,
            PromptPreset::R1OnevisionRl
        );
        assert_eq!(DEFAULT_MAX_PIXELS, 1_003_520);
    }
}
