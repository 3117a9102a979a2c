//! Picture -> flattened pixel patches + `grid_thw`, equal to transformers' PIL image processor for
//! Qwen2-VL: smart_resize, Pillow-compatible bicubic resize, rescale, normalise, a still picture
//! repeated to `temporal_patch_size` frames, and the processor's patch order.

use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, RgbImage};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::resize::resize_rgb8_bicubic;

/// Pictures more elongated than this are refused, as the reference processor does.
pub const MAX_ASPECT_RATIO: f64 = 200.0;

/// The fields of `preprocessor_config.json` that decide the pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageProcessorConfig {
    pub min_pixels: usize,
    pub max_pixels: usize,
    pub patch_size: usize,
    pub merge_size: usize,
    pub temporal_patch_size: usize,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
    pub rescale_factor: f64,
    pub do_resize: bool,
    pub do_rescale: bool,
    pub do_normalize: bool,
}

impl Default for ImageProcessorConfig {
    /// The values Qwen2.5-VL checkpoints ship.
    fn default() -> Self {
        ImageProcessorConfig {
            min_pixels: 56 * 56,
            max_pixels: 28 * 28 * 16384,
            patch_size: 14,
            merge_size: 2,
            temporal_patch_size: 2,
            image_mean: [0.481_454_66, 0.457_827_5, 0.408_210_73],
            image_std: [0.268_629_54, 0.261_302_6, 0.275_777_1],
            rescale_factor: 1.0 / 255.0,
            do_resize: true,
            do_rescale: true,
            do_normalize: true,
        }
    }
}

impl ImageProcessorConfig {
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|source| Error::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let bad = |field: &str, what: &str| Error::Config {
            path: path.to_path_buf(),
            reason: format!("field `{field}` must be {what}"),
        };
        let d = Self::default();
        let uint = |field: &str| -> Result<Option<usize>> {
            match v.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(x) => x
                    .as_u64()
                    .map(|x| Some(x as usize))
                    .ok_or_else(|| bad(field, "a non-negative integer")),
            }
        };
        let size_field = |key: &str| {
            v.get("size")
                .and_then(|s| s.get(key))
                .and_then(Value::as_u64)
        };
        let triple = |field: &str, default: [f32; 3]| -> Result<[f32; 3]> {
            match v.get(field) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0f32; 3];
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.as_f64().ok_or_else(|| bad(field, "three numbers"))? as f32;
                    }
                    Ok(out)
                }
                Some(_) => Err(bad(field, "three numbers")),
            }
        };
        let flag = |field: &str| v.get(field).and_then(Value::as_bool).unwrap_or(true);
        let cfg = ImageProcessorConfig {
            min_pixels: uint("min_pixels")?
                .or(size_field("shortest_edge").map(|x| x as usize))
                .unwrap_or(d.min_pixels),
            max_pixels: uint("max_pixels")?
                .or(size_field("longest_edge").map(|x| x as usize))
                .unwrap_or(d.max_pixels),
            patch_size: uint("patch_size")?.unwrap_or(d.patch_size),
            merge_size: uint("merge_size")?.unwrap_or(d.merge_size),
            temporal_patch_size: uint("temporal_patch_size")?.unwrap_or(d.temporal_patch_size),
            image_mean: triple("image_mean", d.image_mean)?,
            image_std: triple("image_std", d.image_std)?,
            rescale_factor: match v.get("rescale_factor") {
                None | Some(Value::Null) => d.rescale_factor,
                Some(x) => x
                    .as_f64()
                    .ok_or_else(|| bad("rescale_factor", "a number"))?,
            },
            do_resize: flag("do_resize"),
            do_rescale: flag("do_rescale"),
            do_normalize: flag("do_normalize"),
        };
        if cfg.patch_size == 0 || cfg.merge_size == 0 || cfg.temporal_patch_size == 0 {
            return Err(Error::Config {
                path: path.to_path_buf(),
                reason: "patch_size, merge_size and temporal_patch_size must be positive".into(),
            });
        }
        if cfg.image_std.contains(&0.0) {
            return Err(bad("image_std", "three non-zero numbers"));
        }
        Ok(cfg)
    }

    /// Side lengths are rounded to multiples of this.
    pub fn factor(&self) -> usize {
        self.patch_size * self.merge_size
    }
}

/// Pixel patches of one picture, flattened as the vision tower reads them.
#[derive(Debug, Clone)]
pub struct PixelPatches {
    /// `grid_t * grid_h * grid_w` rows of `3 * temporal_patch_size * patch_size^2` values.
    pub data: Vec<f32>,
    /// (frames, rows, columns) in patches.
    pub grid_thw: [usize; 3],
    pub patch_dim: usize,
}

impl PixelPatches {
    pub fn num_patches(&self) -> usize {
        self.grid_thw.iter().product()
    }

    /// Tokens this picture occupies in the prompt after the patch merger.
    pub fn num_tokens(&self, merge_size: usize) -> usize {
        self.num_patches() / (merge_size * merge_size)
    }
}

/// Python's `round`: halves go to the even neighbour.
fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 && r % 2.0 != 0.0 {
        r - x.signum()
    } else {
        r
    }
}

/// The target size (height, width): multiples of `factor`, area within [min_pixels, max_pixels],
/// aspect ratio kept as closely as the rounding allows.
pub fn smart_resize(
    height: usize,
    width: usize,
    factor: usize,
    min_pixels: usize,
    max_pixels: usize,
) -> Result<(usize, usize)> {
    if height == 0 || width == 0 {
        return Err(Error::Input(format!(
            "a picture of {width}x{height} pixels is empty"
        )));
    }
    let (h, w, f) = (height as f64, width as f64, factor as f64);
    let ratio = h.max(w) / h.min(w);
    if ratio > MAX_ASPECT_RATIO {
        return Err(Error::Input(format!(
            "a picture of {width}x{height} pixels has an aspect ratio of {ratio:.0}, above the limit of {MAX_ASPECT_RATIO}"
        )));
    }
    let mut h_bar = (f * round_half_even(h / f)).max(f);
    let mut w_bar = (f * round_half_even(w / f)).max(f);
    if h_bar * w_bar > max_pixels as f64 {
        let beta = (h * w / max_pixels as f64).sqrt();
        h_bar = f.max((h / beta / f).floor() * f);
        w_bar = f.max((w / beta / f).floor() * f);
    } else if h_bar * w_bar < min_pixels as f64 {
        let beta = (min_pixels as f64 / (h * w)).sqrt();
        h_bar = (h * beta / f).ceil() * f;
        w_bar = (w * beta / f).ceil() * f;
    }
    Ok((h_bar as usize, w_bar as usize))
}

/// Decodes a picture file: EXIF orientation applied, any pixel format turned into 8-bit RGB.
pub fn load_image(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_image(&bytes, &path.display().to_string())
}

/// Decodes picture bytes; `name` only labels errors.
pub fn decode_image(bytes: &[u8], name: &str) -> Result<RgbImage> {
    let fail = |reason: String| Error::Image {
        name: name.to_string(),
        reason,
    };
    if bytes.is_empty() {
        return Err(fail("the file is empty".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| fail(format!("cannot be read: {e}")))?;
    if reader.format().is_none() {
        return Err(fail(
            "is not a picture in a known format (PNG, JPEG, WebP, GIF, BMP, TIFF)".into(),
        ));
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| fail(format!("does not decode: {e}")))?;
    let orientation = decoder.orientation().ok();
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| fail(format!("does not decode: {e}")))?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    if img.width() == 0 || img.height() == 0 {
        return Err(fail("has no pixels".into()));
    }
    Ok(to_rgb8(img))
}

/// Pillow's `convert("RGB")` semantics for the formats pictures come in: alpha is dropped (not
/// composited), grey is replicated, palettes are already expanded by the decoder, and 16-bit
/// samples are scaled to 8 bits.
fn to_rgb8(img: DynamicImage) -> RgbImage {
    match img {
        DynamicImage::ImageRgb8(rgb) => rgb,
        other => other.to_rgb8(),
    }
}

/// The picture at the size the vision tower reads it (height, width, packed RGB bytes).
fn resized(img: &RgbImage, cfg: &ImageProcessorConfig) -> Result<(usize, usize, Vec<u8>)> {
    let (width, height) = (img.width() as usize, img.height() as usize);
    let (out_h, out_w) = if cfg.do_resize {
        smart_resize(height, width, cfg.factor(), cfg.min_pixels, cfg.max_pixels)?
    } else {
        (height, width)
    };
    let unit = cfg.factor();
    if out_h % unit != 0 || out_w % unit != 0 {
        return Err(Error::Input(format!(
            "a picture of {out_w}x{out_h} pixels is not made of whole {unit}x{unit} blocks and resizing is off"
        )));
    }
    let pixels = resize_rgb8_bicubic(img.as_raw(), width, height, out_w, out_h);
    Ok((out_h, out_w, pixels))
}

/// Exactly the pixels the model is shown of a picture (what [`preprocess`] normalises), and the
/// tokens they take in the prompt: for showing the student what survives the resize.
pub fn seen_picture(img: &RgbImage, cfg: &ImageProcessorConfig) -> Result<(RgbImage, usize)> {
    let (out_h, out_w, pixels) = resized(img, cfg)?;
    let tokens =
        (out_h / cfg.patch_size) * (out_w / cfg.patch_size) / (cfg.merge_size * cfg.merge_size);
    let seen = RgbImage::from_raw(out_w as u32, out_h as u32, pixels)
        .ok_or_else(|| Error::Input(format!("cannot hold a {out_w}x{out_h} picture")))?;
    Ok((seen, tokens))
}

/// Turns a decoded picture into the vision tower's input. Callers that want less detail than the
/// checkpoint's default (the app does) lower `cfg.max_pixels`.
pub fn preprocess(img: &RgbImage, cfg: &ImageProcessorConfig) -> Result<PixelPatches> {
    let (out_h, out_w, pixels) = resized(img, cfg)?;

    // Per-channel lookup: 256 possible bytes -> normalised value, computed in the reference's
    // precision (float64 rescale, then float32 normalise).
    let mut table = [[0f32; 256]; 3];
    for (c, t) in table.iter_mut().enumerate() {
        for (b, v) in t.iter_mut().enumerate() {
            let mut x = if cfg.do_rescale {
                (b as f64 * cfg.rescale_factor) as f32
            } else {
                b as f32
            };
            if cfg.do_normalize {
                x = (x - cfg.image_mean[c]) / cfg.image_std[c];
            }
            *v = x;
        }
    }

    let (p, m, tp) = (cfg.patch_size, cfg.merge_size, cfg.temporal_patch_size);
    let (grid_h, grid_w) = (out_h / p, out_w / p);
    let patch_dim = 3 * tp * p * p;
    let mut data = Vec::with_capacity(grid_h * grid_w * patch_dim);
    // Row order: merge block row, block column, row inside the block, column inside the block;
    // inside a row: channel, frame, pixel row, pixel column.
    for bh in 0..grid_h / m {
        for bw in 0..grid_w / m {
            for mh in 0..m {
                for mw in 0..m {
                    let y0 = (bh * m + mh) * p;
                    let x0 = (bw * m + mw) * p;
                    for (c, t) in table.iter().enumerate() {
                        // A still picture is the same in every frame.
                        for _frame in 0..tp {
                            for y in y0..y0 + p {
                                let row = &pixels[(y * out_w + x0) * 3..(y * out_w + x0 + p) * 3];
                                data.extend(row.chunks_exact(3).map(|px| t[px[c] as usize]));
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(PixelPatches {
        data,
        grid_thw: [1, grid_h, grid_w],
        patch_dim,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_pythons() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(2.4999), 2.0);
        assert_eq!(round_half_even(2.6), 3.0);
    }

    #[test]
    fn smart_resize_matches_known_sizes() {
        let (min, max) = (56 * 56, 28 * 28 * 1280);
        // Already multiples of 28: untouched.
        assert_eq!(smart_resize(168, 224, 28, min, max).unwrap(), (168, 224));
        // 70 / 28 = 2.5 rounds to 2 (even), 98 / 28 = 3.5 rounds to 4.
        assert_eq!(smart_resize(70, 98, 28, min, max).unwrap(), (56, 112));
        // Too small: scaled up to at least min_pixels.
        assert_eq!(smart_resize(10, 10, 28, min, max).unwrap(), (56, 56));
        // Too big: scaled down under max_pixels, never refused for size alone.
        let (h, w) = smart_resize(3000, 4000, 28, min, max).unwrap();
        assert!(h * w <= max && h % 28 == 0 && w % 28 == 0, "{h}x{w}");
        assert_eq!((h, w), (840, 1148));
    }

    #[test]
    fn smart_resize_refuses_extreme_aspect_and_empty() {
        let err = smart_resize(10, 2010, 28, 3136, 1 << 24)
            .unwrap_err()
            .to_string();
        assert!(err.contains("aspect ratio of 201"), "{err}");
        assert!(smart_resize(0, 10, 28, 3136, 1 << 24).is_err());
        assert!(smart_resize(10, 2000, 28, 3136, 1 << 24).is_ok());
    }

    #[test]
    fn patch_order_follows_the_processor() {
        // 56x28 picture (W x H): 4x2 patches of 14, one merge block row with two blocks.
        let mut img = RgbImage::new(56, 28);
        for (x, y, px) in img.enumerate_pixels_mut() {
            *px = image::Rgb([x as u8, y as u8, 7]);
        }
        let cfg = ImageProcessorConfig {
            do_normalize: false,
            do_rescale: false,
            min_pixels: 28 * 28,
            ..Default::default()
        };
        let out = preprocess(&img, &cfg).unwrap();
        assert_eq!(out.grid_thw, [1, 2, 4]);
        assert_eq!(out.patch_dim, 3 * 2 * 14 * 14);
        let row = |r: usize| &out.data[r * out.patch_dim..(r + 1) * out.patch_dim];
        // Row 1 is the second patch of the first 2x2 block: x0 = 14, y0 = 0.
        assert_eq!(row(1)[0], 14.0);
        assert_eq!(row(1)[1], 15.0);
        // Row 2: first block, second patch row: x0 = 0, y0 = 14; red of pixel row 1 is x.
        assert_eq!(row(2)[14], 0.0);
        // Green channel starts after 2 frames x 196 red values; its first value is y0.
        assert_eq!(row(2)[2 * 196], 14.0);
        // The second frame repeats the first.
        assert_eq!(row(5)[..196], row(5)[196..392]);
        // Row 4 starts the second merge block: x0 = 28.
        assert_eq!(row(4)[0], 28.0);
        assert_eq!(row(4)[4 * 196], 7.0);
    }

    #[test]
    fn the_seen_picture_is_what_preprocess_reads() {
        let img = RgbImage::from_fn(300, 170, |x, y| {
            image::Rgb([(x * 7 % 251) as u8, (y * 3) as u8, ((x + y) % 256) as u8])
        });
        let cfg = ImageProcessorConfig {
            do_normalize: false,
            do_rescale: false,
            max_pixels: 28 * 28 * 30,
            ..Default::default()
        };
        let (seen, tokens) = seen_picture(&img, &cfg).unwrap();
        let (h, w) = smart_resize(170, 300, 28, cfg.min_pixels, cfg.max_pixels).unwrap();
        assert_eq!((seen.height() as usize, seen.width() as usize), (h, w));
        assert!(w < 300, "shrunk to {w} wide");
        let out = preprocess(&img, &cfg).unwrap();
        assert_eq!(tokens, out.num_tokens(2));
        // Patch row 1 is the second 14x14 patch of the first 2x2 block: pixels from x = 14.
        let row1 = &out.data[out.patch_dim..2 * out.patch_dim];
        for (i, x) in (14..28).enumerate() {
            assert_eq!(row1[i], f32::from(seen.get_pixel(x, 0)[0]));
            assert_eq!(row1[2 * 196 + i], f32::from(seen.get_pixel(x, 0)[1]));
        }
    }

    #[test]
    fn broken_bytes_name_the_picture() {
        let err = decode_image(b"definitely not a png", "homework.png")
            .unwrap_err()
            .to_string();
        assert!(err.contains("homework.png"), "{err}");
        let err = decode_image(b"", "empty.jpg").unwrap_err().to_string();
        assert!(err.contains("empty.jpg") && err.contains("empty"), "{err}");
        let mut png = Vec::new();
        RgbImage::new(4, 4)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png.truncate(png.len() / 2);
        let err = decode_image(&png, "cut.png").unwrap_err().to_string();
        assert!(err.contains("cut.png"), "{err}");
    }
}
