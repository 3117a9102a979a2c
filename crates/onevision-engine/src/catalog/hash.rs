//! The hashes the hub names files by: the SHA-256 of an LFS file (weights, tokenizer.json) and the
//! git blob SHA-1 of a small file kept in git itself (configs), which is the SHA-1 of
//! `"blob <length>\0"` followed by the content.

use std::io::Read;
use std::path::Path;

use sha1::Digest as _;

use super::error::{CatalogError, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubHash {
    Sha256(String),
    GitSha1(String),
}

impl HubHash {
    /// A blob's file name in the cache, read as the hash it is: 64 hex digits are a SHA-256,
    /// 40 a git SHA-1.
    pub fn from_blob_name(name: &str) -> Option<HubHash> {
        if !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        match name.len() {
            64 => Some(HubHash::Sha256(name.to_ascii_lowercase())),
            40 => Some(HubHash::GitSha1(name.to_ascii_lowercase())),
            _ => None,
        }
    }

    pub fn hex(&self) -> &str {
        match self {
            HubHash::Sha256(h) | HubHash::GitSha1(h) => h,
        }
    }

    pub fn algorithm(&self) -> &'static str {
        match self {
            HubHash::Sha256(_) => "sha256",
            HubHash::GitSha1(_) => "git-sha1",
        }
    }

    /// A hasher for a file of `len` bytes.
    pub fn hasher(&self, len: u64) -> Hasher {
        match self {
            HubHash::Sha256(_) => Hasher::Sha256(sha2::Sha256::new()),
            HubHash::GitSha1(_) => {
                let mut h = sha1::Sha1::new();
                h.update(format!("blob {len}\0").as_bytes());
                Hasher::GitSha1(h)
            }
        }
    }
}

pub enum Hasher {
    Sha256(sha2::Sha256),
    GitSha1(sha1::Sha1),
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::GitSha1(h) => h.update(bytes),
        }
    }

    pub fn hex(self) -> String {
        match self {
            Hasher::Sha256(h) => to_hex(&h.finalize()),
            Hasher::GitSha1(h) => to_hex(&h.finalize()),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds the first `len` bytes of `path` into `hasher`.
pub fn hash_prefix(path: &Path, len: u64, hasher: &mut Hasher) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| CatalogError::io(path, e))?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file.take(len));
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| CatalogError::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// The hash of a whole file, as `expected`'s algorithm computes it.
pub fn hash_file(path: &Path, expected: &HubHash) -> Result<String> {
    let len = std::fs::metadata(path)
        .map_err(|e| CatalogError::io(path, e))?
        .len();
    let mut hasher = expected.hasher(len);
    hash_prefix(path, len, &mut hasher)?;
    Ok(hasher.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        // `printf 'hello\n' | sha256sum` and `printf 'hello\n' | git hash-object --stdin`.
        let sha = HubHash::Sha256("x".into());
        assert_eq!(
            hash_file(&p, &sha).unwrap(),
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        let git = HubHash::GitSha1("x".into());
        assert_eq!(
            hash_file(&p, &git).unwrap(),
            "ce013625030ba8dba906f756967f9e9ca394464a"
        );
        assert!(HubHash::from_blob_name("ce013625030ba8dba906f756967f9e9ca394464a").is_some());
        assert!(HubHash::from_blob_name("config.json").is_none());
    }
}
