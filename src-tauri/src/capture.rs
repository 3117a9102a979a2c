//! Screen-region capture: the whole screen the window is on is grabbed while the window is
//! hidden, shown back full-screen under a selection overlay, and cropped to the rectangle the
//! student drags. Only the latest capture is kept, in memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use image::RgbaImage;

use crate::attachments::{data_url, encode_png};
use crate::dto::{CaptureRegion, ScreenCapture};
use crate::error::{AppError, AppResult};

#[derive(Default)]
pub struct Captures {
    latest: Mutex<Option<(String, RgbaImage)>>,
    next: AtomicU64,
}

/// Refuses a rectangle (x, y, width, height) smaller than `min_side` on a side or reaching outside
/// a `size` picture, naming it and the `what` it was cut from.
pub(crate) fn check_region(
    (x, y, width, height): (u32, u32, u32, u32),
    size: (u32, u32),
    min_side: u32,
    what: &str,
) -> AppResult<()> {
    if width < 2 || height < 2 {
        return Err(AppError::new(
            "the selected region is empty; drag a rectangle over the problem",
        ));
    }
    let x_end = x.checked_add(width);
    let y_end = y.checked_add(height);
    if x_end.is_none_or(|e| e > size.0) || y_end.is_none_or(|e| e > size.1) {
        return Err(AppError::new(format!(
            "the region {width}x{height} at ({x}, {y}) lies outside the {}x{} {what}",
            size.0, size.1
        )));
    }
    if width < min_side || height < min_side {
        return Err(AppError::new(format!(
            "the region {width}x{height} is too small to read; take at least {min_side}x{min_side} pixels"
        )));
    }
    Ok(())
}

/// Grabs the monitor that holds the point (x, y), in screen coordinates; blocking.
pub fn grab_screen_at(x: i32, y: i32) -> AppResult<RgbaImage> {
    let fail = |e: xcap::XCapError| {
        AppError::new(format!(
            "the screen cannot be captured here ({e}); paste a screenshot with Ctrl+V instead"
        ))
    };
    let monitor = match xcap::Monitor::from_point(x, y) {
        Ok(m) => m,
        Err(_) => xcap::Monitor::all()
            .map_err(fail)?
            .into_iter()
            .next()
            .ok_or_else(|| AppError::new("no screen was found to capture"))?,
    };
    let shot = monitor.capture_image().map_err(fail)?;
    // xcap builds against its own copy of `image`; go through raw bytes so the two versions
    // never have to agree.
    let (w, h) = (shot.width(), shot.height());
    RgbaImage::from_raw(w, h, shot.into_raw())
        .ok_or_else(|| AppError::new("the screen capture came back malformed"))
}

impl Captures {
    /// Keeps `img` as the capture to crop and returns what the overlay shows.
    pub fn hold(&self, img: RgbaImage) -> AppResult<ScreenCapture> {
        let png = encode_png(&img, "the screen capture")?;
        let id = format!("capture-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let out = ScreenCapture {
            capture_id: id.clone(),
            width: img.width(),
            height: img.height(),
            image: data_url("image/png", &png),
        };
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some((id, img));
        Ok(out)
    }

    /// The chosen rectangle as PNG bytes; the capture is released either way.
    pub fn crop(&self, r: &CaptureRegion) -> AppResult<Vec<u8>> {
        let held = self.latest.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some((_, img)) = held.filter(|(id, _)| *id == r.capture_id) else {
            return Err(AppError::new(
                "that screen capture is no longer available; capture again",
            ));
        };
        check_region(
            (r.x, r.y, r.width, r.height),
            img.dimensions(),
            2,
            "capture",
        )?;
        let part = image::imageops::crop_imm(&img, r.x, r.y, r.width, r.height).to_image();
        encode_png(&part, "the screen capture")
    }

    pub fn release(&self, capture_id: &str) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if latest.as_ref().is_some_and(|(id, _)| id == capture_id) {
            *latest = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(id: &str, x: u32, y: u32, width: u32, height: u32) -> CaptureRegion {
        CaptureRegion {
            capture_id: id.into(),
            x,
            y,
            width,
            height,
        }
    }

    #[test]
    fn a_held_capture_crops_to_the_dragged_rectangle_once() {
        let c = Captures::default();
        let img = RgbaImage::from_fn(100, 80, |x, y| image::Rgba([x as u8, y as u8, 0, 255]));
        let shown = c.hold(img).unwrap();
        assert_eq!((shown.width, shown.height), (100, 80));
        assert!(shown.image.starts_with("data:image/png;base64,"));
        let png = c.crop(&region(&shown.capture_id, 10, 20, 30, 40)).unwrap();
        let part = image::load_from_memory(&png).unwrap().to_rgba8();
        assert_eq!(part.dimensions(), (30, 40));
        assert_eq!(part.get_pixel(0, 0).0, [10, 20, 0, 255]);
        let again = c.crop(&region(&shown.capture_id, 0, 0, 5, 5)).unwrap_err();
        assert!(again.to_string().contains("no longer available"), "{again}");
    }

    #[test]
    fn regions_outside_or_empty_are_refused_in_words() {
        let c = Captures::default();
        let id = c.hold(RgbaImage::new(50, 50)).unwrap().capture_id;
        let e = c
            .crop(&region(&id, 40, 40, 20, 20))
            .unwrap_err()
            .to_string();
        assert!(e.contains("outside the 50x50 capture"), "{e}");
        let id = c.hold(RgbaImage::new(50, 50)).unwrap().capture_id;
        let e = c.crop(&region(&id, 0, 0, 1, 0)).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let id = c.hold(RgbaImage::new(50, 50)).unwrap().capture_id;
        c.release(&id);
        assert!(c.crop(&region(&id, 0, 0, 10, 10)).is_err());
    }
}
