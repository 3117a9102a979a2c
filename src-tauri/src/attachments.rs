//! Pictures attached in the composer but not yet sent: kept in memory by their SHA-256 until a
//! question takes them into the store. Checked as the store checks them, so what previews also
//! stores.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use image::{EncodableLayout, ImageBuffer, PixelWithColorType};
use onevision_store::preview_picture;

use crate::dto::AttachedPicture;
use crate::error::{AppError, AppResult};

/// Largest picture file accepted (a 50-megapixel PNG is about this big); bigger ones are
/// refused with a sentence rather than decoded into gigabytes.
pub const MAX_PICTURE_BYTES: usize = 200 * 1024 * 1024;

/// Pending pictures are few (a question's worth); the cap only guards against a runaway paste
/// loop holding memory forever.
const MAX_PENDING: usize = 64;

#[derive(Default)]
pub struct Attachments {
    pending: Mutex<HashMap<String, Vec<u8>>>,
}

/// A picture as PNG bytes; `what` names it if it cannot be encoded.
pub fn encode_png<P>(img: &ImageBuffer<P, Vec<P::Subpixel>>, what: &str) -> AppResult<Vec<u8>>
where
    P: PixelWithColorType,
    [P::Subpixel]: EncodableLayout,
{
    let mut png = Vec::new();
    img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| AppError::new(format!("cannot encode {what}: {e}")))?;
    Ok(png)
}

pub fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Attachments {
    /// Checks `bytes` and keeps them for the next question. Blocking (decodes the picture).
    pub fn add(&self, bytes: Vec<u8>, origin: &str) -> AppResult<AttachedPicture> {
        if bytes.len() > MAX_PICTURE_BYTES {
            return Err(AppError::new(format!(
                "{origin} is {} MB; pictures up to {} MB are accepted",
                bytes.len() / (1024 * 1024),
                MAX_PICTURE_BYTES / (1024 * 1024)
            )));
        }
        let preview = preview_picture(&bytes, origin)?;
        let mut pending = self.lock();
        if pending.len() >= MAX_PENDING && !pending.contains_key(&preview.sha256) {
            pending.clear();
        }
        pending.insert(preview.sha256.clone(), bytes);
        Ok(AttachedPicture {
            thumbnail: data_url("image/png", &preview.thumbnail_png),
            sha256: preview.sha256,
            width: preview.width,
            height: preview.height,
            mime: preview.mime.to_owned(),
        })
    }

    pub fn add_file(&self, path: &Path) -> AppResult<AttachedPicture> {
        let meta = std::fs::metadata(path)
            .map_err(|e| AppError::new(format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(AppError::new(format!(
                "{} is not a file; drop or choose picture files",
                path.display()
            )));
        }
        if meta.len() > MAX_PICTURE_BYTES as u64 {
            return Err(AppError::new(format!(
                "{} is {} MB; pictures up to {} MB are accepted",
                path.display(),
                meta.len() / (1024 * 1024),
                MAX_PICTURE_BYTES / (1024 * 1024)
            )));
        }
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::new(format!("cannot read {}: {e}", path.display())))?;
        self.add(bytes, &path.display().to_string())
    }

    /// The bytes of a pending picture, if `sha256` is one.
    pub fn get(&self, sha256: &str) -> Option<Vec<u8>> {
        self.lock().get(sha256).cloned()
    }

    /// Forgets pictures once they are stored with a question.
    pub fn forget(&self, shas: &[String]) {
        let mut pending = self.lock();
        for s in shas {
            pending.remove(s);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts and
        // removes), so a poisoned lock is still usable.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
        let mut out = Vec::new();
        img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .unwrap();
        out
    }

    #[test]
    fn a_picture_previews_and_waits_for_its_question() {
        let a = Attachments::default();
        let bytes = png(300, 120);
        let p = a.add(bytes.clone(), "a pasted picture").unwrap();
        assert_eq!(
            (p.width, p.height, p.mime.as_str()),
            (300, 120, "image/png")
        );
        assert!(p.thumbnail.starts_with("data:image/png;base64,"));
        assert_eq!(a.get(&p.sha256), Some(bytes));
        a.forget(std::slice::from_ref(&p.sha256));
        assert_eq!(a.get(&p.sha256), None);
    }

    #[test]
    fn broken_and_missing_pictures_get_a_sentence_naming_them() {
        let a = Attachments::default();
        let e = a.add(b"not a picture".to_vec(), "clip.png").unwrap_err();
        assert!(e.to_string().contains("clip.png"), "{e}");
        let e = a.add_file(Path::new("/no/such/figure.png")).unwrap_err();
        assert!(e.to_string().contains("/no/such/figure.png"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let e = a.add_file(dir.path()).unwrap_err();
        assert!(e.to_string().contains("is not a file"), "{e}");
    }
}
