//! What the model sees of a picture (DESIGN.md §10): the exact pixels after the processor's
//! resize at the chosen picture detail, the tokens they take, and a warning when small print is
//! unlikely to survive or the picture is too small to read; and cutting one problem out of a
//! picture (a worksheet photo) before it is sent.

use image::RgbImage;
use onevision_model::image::{seen_picture, ImageProcessorConfig};

use crate::attachments::{data_url, encode_png};
use crate::capture::check_region;
use crate::dto::PictureView;
use crate::error::{AppError, AppResult};

/// Below this share of its width the picture's small print (a subscript, a label on a dense
/// figure, a table's digits) is usually lost: a 12-pixel line of text becomes 5 pixels tall.
const SHRINK_WARNING: f64 = 0.45;

/// The side under which a crop holds less than one of the model's 28x28 picture tokens.
pub const MIN_CROP_SIDE: u32 = 28;

/// What the model is shown of `picture` with `cfg` (its max_pixels already the chosen detail).
/// `exact`: the app resizes it itself (a local model); a server resizes again as it likes.
pub fn view(picture: &RgbImage, cfg: &ImageProcessorConfig, exact: bool) -> AppResult<PictureView> {
    let (seen, tokens) = seen_picture(picture, cfg).map_err(|e| AppError::new(e.to_string()))?;
    let (width, height) = picture.dimensions();
    let scale = f64::from(seen.width()) / f64::from(width);
    let warning = if (width as usize) * (height as usize) < cfg.min_pixels {
        Some(format!(
            "This picture is only {width} × {height} pixels: too small to read. Attach a larger one."
        ))
    } else if scale < SHRINK_WARNING {
        Some(format!(
            "The model sees this picture at {:.0} % of its width, so small print may be lost. Raise the picture detail in Settings, or crop to the problem.",
            scale * 100.0
        ))
    } else {
        None
    };
    Ok(PictureView {
        width,
        height,
        seen_width: seen.width(),
        seen_height: seen.height(),
        tokens,
        warning,
        exact,
        image: data_url("image/png", &encode_png(&seen, "the picture")?),
    })
}

/// The rectangle (x, y, width, height) of `picture` as PNG bytes.
pub fn crop(picture: &RgbImage, region: (u32, u32, u32, u32)) -> AppResult<Vec<u8>> {
    check_region(region, picture.dimensions(), MIN_CROP_SIDE, "picture")?;
    let (x, y, w, h) = region;
    encode_png(
        &image::imageops::crop_imm(picture, x, y, w, h).to_image(),
        "the cropped picture",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picture(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 40]))
    }

    fn cfg(max_pixels: usize) -> ImageProcessorConfig {
        ImageProcessorConfig {
            max_pixels,
            ..Default::default()
        }
    }

    #[test]
    fn a_large_photo_is_shown_shrunk_with_its_tokens_and_a_warning() {
        // A 4032x3024 phone photo at the default detail of about 0.5 megapixels.
        let v = view(&picture(4032, 3024), &cfg(501_760), true).unwrap();
        assert_eq!((v.width, v.height), (4032, 3024));
        assert_eq!((v.seen_width, v.seen_height), (812, 588));
        assert_eq!(v.tokens, (812 / 28) * (588 / 28));
        assert!(v.image.starts_with("data:image/png;base64,"));
        let w = v.warning.unwrap();
        assert!(w.contains("at 20 % of its width"), "{w}");
    }

    #[test]
    fn a_picture_that_keeps_its_detail_has_no_warning() {
        let v = view(&picture(640, 480), &cfg(501_760), false).unwrap();
        assert_eq!((v.seen_width, v.seen_height), (644, 476));
        assert_eq!(v.warning, None);
        assert!(!v.exact);
    }

    #[test]
    fn a_tiny_picture_is_called_too_small_to_read() {
        let v = view(&picture(40, 30), &cfg(501_760), true).unwrap();
        assert!(v.seen_width >= 40, "enlarged to {}", v.seen_width);
        assert!(v
            .warning
            .unwrap()
            .contains("only 40 × 30 pixels: too small to read"));
    }

    #[test]
    fn a_crop_cuts_the_rectangle_and_refuses_one_outside_or_too_small() {
        let p = picture(200, 100);
        let bytes = crop(&p, (10, 20, 50, 40)).unwrap();
        let cut = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(cut.dimensions(), (50, 40));
        assert_eq!(cut.get_pixel(0, 0), p.get_pixel(10, 20));
        let e = crop(&p, (180, 20, 50, 40)).unwrap_err().to_string();
        assert!(e.contains("outside the 200x100 picture"), "{e}");
        let e = crop(&p, (0, 0, 20, 90)).unwrap_err().to_string();
        assert!(e.contains("too small to read"), "{e}");
    }
}
