//! Content-addressed picture files. A picture is named by the SHA-256 of its bytes, so the same
//! screenshot attached ten times is stored once and shared by every message that uses it; it is
//! deleted when the last of those messages goes.

use std::fs;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use image::{GenericImageView, ImageFormat};
use sha2::{Digest, Sha256};
use sqlx::{Sqlite, Transaction};

use crate::clock::now_ms;
use crate::db::Store;
use crate::error::{Result, StoreError};
use crate::types::Picture;

/// Longer side of a thumbnail, in pixels.
pub const THUMBNAIL_SIZE: u32 = 256;

/// Stray files younger than this are left alone by [`Store::collect_garbage`]: another process
/// may be between writing a picture and committing its row.
const STRAY_FILE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A picture to attach to a new message.
#[derive(Debug, Clone)]
pub enum PictureInput {
    /// A file on disk; errors name it.
    File(PathBuf),
    /// Bytes already in memory (a paste, a screen capture).
    Bytes(Vec<u8>),
}

impl PictureInput {
    fn origin(&self) -> String {
        match self {
            PictureInput::File(p) => p.display().to_string(),
            PictureInput::Bytes(b) => format!("a pasted picture ({} bytes)", b.len()),
        }
    }
}

/// A picture whose file (and thumbnail) is on disk, ready for its row to be committed.
#[derive(Debug, Clone)]
pub(crate) struct StoredFile {
    pub(crate) sha256: String,
    pub(crate) ext: &'static str,
    pub(crate) mime: &'static str,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) byte_size: u64,
}

/// `images/<first two hex digits>/`: a fan-out so no folder holds tens of thousands of files.
pub(crate) fn shard_dir(images_dir: &Path, sha256: &str) -> PathBuf {
    images_dir.join(sha256.get(..2).unwrap_or("00"))
}

pub(crate) fn picture_path(images_dir: &Path, sha256: &str, ext: &str) -> PathBuf {
    shard_dir(images_dir, sha256).join(format!("{sha256}.{ext}"))
}

pub(crate) fn thumbnail_path(images_dir: &Path, sha256: &str) -> PathBuf {
    shard_dir(images_dir, sha256).join(format!("{sha256}.thumb.png"))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for b in digest {
        hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    hex
}

fn format_names(format: ImageFormat) -> Option<(&'static str, &'static str)> {
    Some(match format {
        ImageFormat::Png => ("png", "image/png"),
        ImageFormat::Jpeg => ("jpg", "image/jpeg"),
        ImageFormat::WebP => ("webp", "image/webp"),
        ImageFormat::Gif => ("gif", "image/gif"),
        ImageFormat::Bmp => ("bmp", "image/bmp"),
        ImageFormat::Tiff => ("tiff", "image/tiff"),
        _ => return None,
    })
}

/// Reads, checks and writes one picture and its thumbnail. Blocking: decoding a photo takes
/// tens of milliseconds, so callers run it off the async threads.
fn store_file(images_dir: &Path, input: &PictureInput) -> Result<StoredFile> {
    let origin = input.origin();
    let owned;
    let bytes: &[u8] = match input {
        PictureInput::File(path) => {
            owned = fs::read(path).map_err(|e| StoreError::io(path, e))?;
            &owned
        }
        PictureInput::Bytes(b) => b,
    };
    store_bytes(images_dir, bytes, &origin)
}

/// A picture that decoded, with what is known of it before it is stored.
struct Checked {
    picture: image::DynamicImage,
    ext: &'static str,
    mime: &'static str,
    sha256: String,
}

fn check_bytes(bytes: &[u8], origin: &str) -> Result<Checked> {
    let invalid = |reason: String| StoreError::InvalidPicture {
        origin: origin.to_owned(),
        reason,
    };
    let format = image::guess_format(bytes).map_err(|e| invalid(e.to_string()))?;
    let (ext, mime) =
        format_names(format).ok_or_else(|| invalid(format!("unsupported format {format:?}")))?;
    // Decoding (not just reading the header) proves the file is usable before it is kept.
    let picture =
        image::load_from_memory_with_format(bytes, format).map_err(|e| invalid(e.to_string()))?;
    Ok(Checked {
        picture,
        ext,
        mime,
        sha256: sha256_hex(bytes),
    })
}

fn thumbnail_png(picture: &image::DynamicImage, origin: &str) -> Result<Vec<u8>> {
    let (width, height) = picture.dimensions();
    let small;
    let thumb = if width > THUMBNAIL_SIZE || height > THUMBNAIL_SIZE {
        small = picture.thumbnail(THUMBNAIL_SIZE, THUMBNAIL_SIZE);
        &small
    } else {
        picture
    };
    let mut png = Vec::new();
    thumb
        .write_to(&mut Cursor::new(&mut png), ImageFormat::Png)
        .map_err(|e| StoreError::InvalidPicture {
            origin: origin.to_owned(),
            reason: format!("cannot make its thumbnail: {e}"),
        })?;
    Ok(png)
}

/// A picture checked and measured but not stored: what a composer shows before the question is
/// sent. The same checks as storing, so a picture that previews will also store.
#[derive(Debug, Clone)]
pub struct PicturePreview {
    pub sha256: String,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
    /// A PNG at most [`THUMBNAIL_SIZE`] pixels on its longer side.
    pub thumbnail_png: Vec<u8>,
}

/// Checks `bytes` the way storing them would and makes the thumbnail. Blocking (decoding);
/// `origin` names the picture in errors.
pub fn preview_picture(bytes: &[u8], origin: &str) -> Result<PicturePreview> {
    let c = check_bytes(bytes, origin)?;
    let (width, height) = c.picture.dimensions();
    Ok(PicturePreview {
        thumbnail_png: thumbnail_png(&c.picture, origin)?,
        sha256: c.sha256,
        mime: c.mime,
        width,
        height,
    })
}

pub(crate) fn store_bytes(images_dir: &Path, bytes: &[u8], origin: &str) -> Result<StoredFile> {
    let Checked {
        picture,
        ext,
        mime,
        sha256,
    } = check_bytes(bytes, origin)?;
    let (width, height) = picture.dimensions();

    let dir = shard_dir(images_dir, &sha256);
    fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    let path = picture_path(images_dir, &sha256, ext);
    let same_size = fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64);
    if !same_size {
        write_atomically(&path, bytes)?;
    }
    let thumb_path = thumbnail_path(images_dir, &sha256);
    if !thumb_path.exists() {
        write_atomically(&thumb_path, &thumbnail_png(&picture, origin)?)?;
    }
    Ok(StoredFile {
        sha256,
        ext,
        mime,
        width,
        height,
        byte_size: bytes.len() as u64,
    })
}

/// Write to a temporary name and rename, so a crash never leaves a truncated picture under its
/// final (content-addressed, hence trusted) name.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile_in(dir)?;
    tmp.1
        .write_all(bytes)
        .and_then(|()| tmp.1.sync_all())
        .map_err(|e| StoreError::io(&tmp.0, e))?;
    drop(tmp.1);
    fs::rename(&tmp.0, path).map_err(|e| {
        let _ = fs::remove_file(&tmp.0);
        StoreError::io(path, e)
    })
}

fn tempfile_in(dir: &Path) -> Result<(PathBuf, fs::File)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        now_ms(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let path = dir.join(name);
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| StoreError::io(&path, e))?;
    Ok((path, file))
}

impl Store {
    /// Writes the files of `inputs` (skipping pictures already stored). Must be called with
    /// `picture_files` held, and the rows committed before it is released.
    pub(crate) async fn store_picture_files(
        &self,
        inputs: Vec<PictureInput>,
    ) -> Result<Vec<StoredFile>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let images_dir = self.inner.images_dir.clone();
        tokio::task::spawn_blocking(move || {
            inputs
                .iter()
                .map(|input| store_file(&images_dir, input))
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| StoreError::io(self.images_dir(), std::io::Error::other(e)))?
    }

    pub(crate) fn picture_from_row(&self, row: PictureRow) -> Picture {
        Picture {
            path: picture_path(self.images_dir(), &row.sha256, &row.ext),
            thumbnail_path: thumbnail_path(self.images_dir(), &row.sha256),
            sha256: row.sha256,
            mime: row.mime,
            ext: row.ext,
            width: row.width,
            height: row.height,
            byte_size: row.byte_size,
        }
    }

    /// Deletes pictures no message uses any more, then any file in the images folder that has
    /// no row (left by a crash between writing a file and committing). Returns how many
    /// pictures went. Deleting a conversation already collects its pictures; this is for
    /// housekeeping, e.g. once at start-up.
    pub async fn collect_garbage(&self) -> Result<usize> {
        let _files = self.inner.picture_files.lock().await;
        let mut tx = self.write_tx().await?;
        let removed = delete_unused_rows(&mut tx).await?;
        tx.commit().await?;
        self.remove_files(&removed);
        let known: std::collections::HashSet<String> =
            sqlx::query_scalar("SELECT sha256 FROM pictures")
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .collect();
        let images_dir = self.inner.images_dir.clone();
        let strays = tokio::task::spawn_blocking(move || remove_strays(&images_dir, &known))
            .await
            .unwrap_or(0);
        if strays > 0 {
            tracing::info!(strays, "removed picture files that had no database row");
        }
        Ok(removed.len())
    }

    /// Deletes the files of pictures whose rows are already gone (committed). A file that
    /// cannot be deleted is logged, not fatal: it is only wasted space, and a later
    /// `collect_garbage` retries it.
    pub(crate) fn remove_files(&self, removed: &[(String, String)]) {
        for (sha256, ext) in removed {
            for path in [
                picture_path(self.images_dir(), sha256, ext),
                thumbnail_path(self.images_dir(), sha256),
            ] {
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "could not delete picture file")
                    }
                }
            }
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PictureRow {
    pub(crate) sha256: String,
    pub(crate) ext: String,
    pub(crate) mime: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) byte_size: u64,
}

/// Inserts picture rows (if new) and links them, in order, to a message.
pub(crate) async fn link_pictures(
    tx: &mut Transaction<'static, Sqlite>,
    message_id: i64,
    files: &[StoredFile],
    now: i64,
) -> Result<()> {
    for (position, f) in files.iter().enumerate() {
        sqlx::query(
            "INSERT INTO pictures (sha256, ext, mime, width, height, byte_size, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&f.sha256)
        .bind(f.ext)
        .bind(f.mime)
        .bind(f.width)
        .bind(f.height)
        .bind(i64::try_from(f.byte_size).unwrap_or(i64::MAX))
        .bind(now)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO message_pictures (message_id, position, picture_sha256) VALUES (?1, ?2, ?3)",
        )
        .bind(message_id)
        .bind(position as i64)
        .bind(&f.sha256)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Removes the rows of pictures no message links to; returns `(sha256, ext)` of each so the
/// caller can delete the files once the transaction has committed.
pub(crate) async fn delete_unused_rows(
    tx: &mut Transaction<'static, Sqlite>,
) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "DELETE FROM pictures
         WHERE NOT EXISTS (SELECT 1 FROM message_pictures mp WHERE mp.picture_sha256 = pictures.sha256)
         RETURNING sha256, ext",
    )
    .fetch_all(&mut **tx)
    .await?)
}

/// Deletes files under `images_dir` that belong to no known picture and are old enough not to
/// be a picture another process is adding right now. Returns how many were removed.
fn remove_strays(images_dir: &Path, known: &std::collections::HashSet<String>) -> usize {
    let Ok(shards) = fs::read_dir(images_dir) else {
        return 0;
    };
    let mut removed = 0;
    for shard in shards.flatten() {
        let Ok(files) = fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let name = name.to_string_lossy();
            let stem = name.split('.').next().unwrap_or("");
            let ours = stem.len() == 64 || name.starts_with(".tmp-");
            if !ours || known.contains(stem) {
                continue;
            }
            let old_enough = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= STRAY_FILE_GRACE);
            if old_enough && fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lower_case_hex() {
        // SHA-256 of "abc" from FIPS 180-2.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn rejects_bytes_that_are_not_a_picture() {
        let dir = tempfile::tempdir().unwrap();
        let err = store_bytes(dir.path(), b"hello, not a picture", "note.txt").unwrap_err();
        assert!(matches!(err, StoreError::InvalidPicture { .. }), "{err}");
        assert!(err.to_string().contains("note.txt"));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
