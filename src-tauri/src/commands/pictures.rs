//! Getting pictures into the composer: file dialog, dropped paths, pasted bytes and screen-region
//! capture; and opening a link from an answer in the system browser.

use std::path::PathBuf;

use base64::Engine as _;
use tauri::{AppHandle, Manager, State, WebviewWindow};
use tauri_plugin_opener::OpenerExt;

use super::blocking;
use crate::capture::grab_screen_at;
use crate::dto::{AttachedPicture, CaptureRegion, PictureCrop, PictureView, ScreenCapture};
use crate::error::{AppError, AppResult};
use crate::job::MIN_MAX_PIXELS;
use crate::seen;
use crate::state::AppState;

/// The extensions the file dialog offers: the formats the engine decodes.
const PICTURE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"];

#[tauri::command(rename_all = "snake_case")]
pub async fn pick_pictures(app: AppHandle) -> AppResult<Vec<AttachedPicture>> {
    let paths: Vec<PathBuf> = blocking(|| {
        Ok(rfd::FileDialog::new()
            .set_title("Attach pictures")
            .add_filter("Pictures", PICTURE_EXTENSIONS)
            .pick_files()
            .unwrap_or_default())
    })
    .await?;
    blocking(move || {
        let state = app.state::<AppState>();
        paths
            .iter()
            .map(|p| state.attachments.add_file(p))
            .collect()
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn attach_picture_path(app: AppHandle, path: String) -> AppResult<AttachedPicture> {
    blocking(move || {
        app.state::<AppState>()
            .attachments
            .add_file(&PathBuf::from(path))
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn attach_picture_bytes(
    app: AppHandle,
    data_base64: String,
) -> AppResult<AttachedPicture> {
    blocking(move || {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data_base64.trim())
            .map_err(|e| AppError::new(format!("the pasted picture is not valid base64: {e}")))?;
        app.state::<AppState>()
            .attachments
            .add(bytes, "the pasted picture")
    })
    .await
}

/// Hides the window, grabs the screen it is on, then shows the window again full-screen so the
/// overlay can cover the whole capture.
#[tauri::command(rename_all = "snake_case")]
pub async fn capture_screen(app: AppHandle, window: WebviewWindow) -> AppResult<ScreenCapture> {
    let pos = window.outer_position()?;
    let size = window.outer_size()?;
    let (cx, cy) = (
        pos.x + (size.width / 2) as i32,
        pos.y + (size.height / 2) as i32,
    );
    window.hide()?;
    // Give the compositor a moment to take the window off the screen.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shot = blocking(move || grab_screen_at(cx, cy)).await;
    window.show()?;
    let shot = shot?;
    let shown = blocking(move || app.state::<AppState>().captures.hold(shot)).await?;
    window.set_fullscreen(true)?;
    window.set_focus()?;
    Ok(shown)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn crop_capture(
    app: AppHandle,
    window: WebviewWindow,
    region: CaptureRegion,
) -> AppResult<AttachedPicture> {
    window.set_fullscreen(false)?;
    blocking(move || {
        let state = app.state::<AppState>();
        let png = state.captures.crop(&region)?;
        state.attachments.add(png, "the screen capture")
    })
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub fn cancel_capture(
    state: State<'_, AppState>,
    window: WebviewWindow,
    capture_id: String,
) -> AppResult<()> {
    state.captures.release(&capture_id);
    window.set_fullscreen(false)?;
    Ok(())
}

/// The bytes of a picture waiting in the composer, decoded.
fn pending_picture(state: &AppState, sha256: &str) -> AppResult<image::RgbImage> {
    let bytes = state
        .attachments
        .get(sha256)
        .ok_or_else(|| AppError::new("that picture is no longer attached; attach it again"))?;
    onevision_model::image::decode_image(&bytes, "the attached picture")
        .map_err(|e| AppError::new(e.to_string()))
}

/// What the model will see of an attached picture at the picture detail `max_pixels`.
#[tauri::command(rename_all = "snake_case")]
pub async fn view_picture(
    app: AppHandle,
    sha256: String,
    max_pixels: usize,
) -> AppResult<PictureView> {
    if max_pixels < MIN_MAX_PIXELS {
        return Err(AppError::new(format!(
            "picture detail of {max_pixels} pixels is too small; use at least {MIN_MAX_PIXELS}"
        )));
    }
    blocking(move || {
        let state = app.state::<AppState>();
        // With no model chosen yet, Qwen2.5-VL's own processor settings, marked as a guess.
        let (mut cfg, exact) = match state.loaded() {
            Some(engine) => engine.image_config(),
            None => (Default::default(), false),
        };
        cfg.max_pixels = max_pixels.max(cfg.min_pixels);
        seen::view(&pending_picture(&state, &sha256)?, &cfg, exact)
    })
    .await
}

/// Attaches a rectangle of an attached picture (one problem off a worksheet photo); the whole
/// stays attached until the composer lets it go.
#[tauri::command(rename_all = "snake_case")]
pub async fn crop_picture(app: AppHandle, crop: PictureCrop) -> AppResult<AttachedPicture> {
    blocking(move || {
        let state = app.state::<AppState>();
        let picture = pending_picture(&state, &crop.sha256)?;
        let png = seen::crop(&picture, (crop.x, crop.y, crop.width, crop.height))?;
        state.attachments.add(png, "the cropped picture")
    })
    .await
}

/// Only web links leave the app, and only to the system browser.
pub fn checked_web_link(url: &str) -> AppResult<&str> {
    let lower = url.trim_start().to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        Ok(url.trim_start())
    } else {
        Err(AppError::new(format!(
            "only http and https links open; {url:?} was not opened"
        )))
    }
}

#[tauri::command(rename_all = "snake_case")]
pub fn open_link(app: AppHandle, url: String) -> AppResult<()> {
    let url = checked_web_link(&url)?;
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| AppError::new(format!("cannot open {url}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_links_open() {
        assert_eq!(
            checked_web_link("https://example.org/a").unwrap(),
            "https://example.org/a"
        );
        assert!(checked_web_link("HTTP://example.org").is_ok());
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "data:text/html,x",
            " vbscript:x",
            "ftp://x",
        ] {
            let e = checked_web_link(bad).unwrap_err().to_string();
            assert!(e.contains("was not opened"), "{bad}: {e}");
        }
    }
}
