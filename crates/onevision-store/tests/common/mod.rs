//! Helpers shared by the integration tests: a store in a temporary folder and real pictures.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Cursor;
use std::path::Path;

use image::{ImageFormat, Rgb, RgbImage};
use onevision_store::{ConversationId, NewMessage, Store};
use sha2::{Digest, Sha256};
use tempfile::TempDir;

/// A fresh store in its own temporary folder (kept alive by the returned guard).
pub async fn fresh_store() -> (TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_in(dir.path()).await.expect("open fresh store");
    (dir, store)
}

/// A real PNG, distinct for each `seed`.
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| {
        Rgb([
            (x as u8).wrapping_mul(3).wrapping_add(seed),
            (y as u8).wrapping_mul(5),
            seed,
        ])
    });
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .expect("encode png");
    out
}

/// A real JPEG.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 128]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
        .expect("encode jpeg");
    out
}

pub fn sha256_file(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read file to hash");
    format!("{:x}", Sha256::digest(bytes))
}

/// Files (not folders) under `dir`, recursively.
pub fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                count_files(&p)
            } else {
                1
            }
        })
        .sum()
}

/// A new conversation holding one user question.
pub async fn conversation_with(store: &Store, question: &str) -> ConversationId {
    store
        .create_conversation("m", vec![NewMessage::user(question)])
        .await
        .unwrap()
        .conversation
}
