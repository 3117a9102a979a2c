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
