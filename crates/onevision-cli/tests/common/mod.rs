//! Helpers shared by the command's end-to-end tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod recorded;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/parity/fixtures")
        .join(rel)
}

pub fn onevision(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_onevision"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs the command, which must succeed, and parses its JSON output.
pub fn json_of(args: &[&str]) -> Value {
    let out = onevision(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The real-tokenizer fixture model.
pub fn model() -> String {
    fixture("real_tokenizer_chat/model").display().to_string()
}

/// A scripted checkpoint (the engine's example writer, built by `cargo test --workspace` beside
/// this binary) that transcribes after the transcription request and answers after a question
/// ending in "?" ("What is AC?").
pub fn transcribing_model(dir: &std::path::Path) -> std::path::PathBuf {
    let bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_onevision"));
    let writer = bin.parent().unwrap().join("examples/scripted_model");
    assert!(
        writer.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        writer.display()
    );
    let out = dir.join("scripted");
    let request = onevision_engine::preset::PromptPreset::Plain.transcription_request();
    let status = std::process::Command::new(&writer)
        .args(["--tokenizer-from", &model(), "--out"])
        .arg(&out)
        .args([
            "--after",
            &request,
            "--text",
            "Kind: geometry\nAB = 3, BC = 4, angle B = 90°.",
        ])
        .args([
            "--after",
            "What is AC?",
            "--text",
            "<think>\nUse the sides.</think><answer>AC = 5</answer>",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    out
}

pub fn decode(ids: &Value) -> String {
    let tok = tokenizers::Tokenizer::from_file(fixture("real_tokenizer_chat/model/tokenizer.json"))
        .unwrap();
    let ids: Vec<u32> = ids
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    tok.decode(&ids, false).unwrap()
}
