//! Broken checkpoints and pictures get one clear sentence naming the file or field, never a panic.

use std::path::{Path, PathBuf};

use onevision_model::image::{decode_image, load_image, preprocess, ImageProcessorConfig};
use onevision_model::{LoadOptions, Model};
use serde_json::Value;

fn fixture_model(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/parity/fixtures")
        .join(case)
        .join("model")
}

/// A writable copy of a fixture checkpoint.
fn copy_model(case: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture_model(case)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    tmp
}

fn load_err(dir: &Path) -> String {
    match Model::load(dir, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded but should not have", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let path = dir.join("config.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

#[test]
fn fixture_checkpoints_load() {
    for case in [
        "single_exact",
        "resize_portrait_sharded",
        "two_pictures_nested_bf16_tied",
    ] {
        Model::load(&fixture_model(case), &LoadOptions::default()).unwrap();
    }
}

#[test]
fn missing_folder_is_named() {
    let err = load_err(Path::new("/nonexistent/model-dir"));
    assert!(err.contains("/nonexistent/model-dir"), "{err}");
}

#[test]
fn a_foreign_model_type_is_named() {
    let tmp = copy_model("single_exact");
    edit_config(tmp.path(), |v| v["model_type"] = "llama".into());
    let err = load_err(tmp.path());
    assert!(
        err.contains("config.json") && err.contains("model_type") && err.contains("llama"),
        "{err}"
    );
}

#[test]
fn impossible_dimensions_name_the_field() {
    use serde_json::json;
    // (JSON pointer, new value, words the error must hold)
    let cases = [
        ("/num_attention_heads", json!(0), "num_attention_heads"),
        ("/hidden_size", json!(66), "not divisible"),
        ("/num_key_value_heads", json!(3), "num_key_value_heads"),
        (
            "/rope_scaling/mrope_section",
            json!([2, 2, 2]),
            "mrope_section",
        ),
        ("/vision_config/num_heads", json!(5), "num_heads"),
        (
            "/vision_config/out_hidden_size",
            json!(7),
            "out_hidden_size",
        ),
        (
            "/vision_config/fullatt_block_indexes",
            json!([99]),
            "block 99",
        ),
        ("/hidden_size", json!("big"), "hidden_size"),
        ("/image_token_id", json!(1_000_000), "image_token_id"),
    ];
    for (pointer, value, needle) in cases {
        let tmp = copy_model("single_exact");
        edit_config(tmp.path(), |v| {
            *v.pointer_mut(pointer).expect("field exists") = value
        });
        let err = load_err(tmp.path());
        assert!(
            err.contains("config.json") && err.contains(needle),
            "wanted `{needle}` in: {err}"
        );
    }
}

#[test]
fn config_that_is_not_json_is_named() {
    let tmp = copy_model("single_exact");
    std::fs::write(tmp.path().join("config.json"), "{ not json").unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("config.json") && err.contains("not valid JSON"),
        "{err}"
    );
}

#[test]
fn weights_of_another_shape_are_refused() {
    let tmp = copy_model("single_exact");
    edit_config(tmp.path(), |v| v["intermediate_size"] = 96.into());
    let err = load_err(tmp.path());
    assert!(err.contains("do not fit config.json"), "{err}");
}

#[test]
fn truncated_shard_is_named() {
    let tmp = copy_model("resize_portrait_sharded");
    let shard = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .unwrap();
    let len = std::fs::metadata(&shard).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&shard)
        .unwrap();
    f.set_len(len - 100).unwrap();
    let err = load_err(tmp.path());
    let name = shard.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name) && err.contains("truncated"), "{err}");
}

#[test]
fn missing_shard_is_named() {
    let tmp = copy_model("resize_portrait_sharded");
    let shard = tmp.path().join("model-00002-of-00002.safetensors");
    std::fs::remove_file(&shard).unwrap();
    let err = load_err(tmp.path());
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn folder_without_weights_is_named() {
    let tmp = copy_model("single_exact");
    std::fs::remove_file(tmp.path().join("model.safetensors")).unwrap();
    let err = load_err(tmp.path());
    assert!(err.contains("model.safetensors"), "{err}");
}

#[test]
fn untied_config_without_lm_head_is_refused() {
    let tmp = copy_model("two_pictures_nested_bf16_tied");
    edit_config(tmp.path(), |v| v["tie_word_embeddings"] = false.into());
    let err = load_err(tmp.path());
    assert!(err.contains("lm_head"), "{err}");
}

#[test]
fn pictures_that_do_not_decode_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("scan.png");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n garbage").unwrap();
    let err = load_image(&path).unwrap_err().to_string();
    assert!(err.contains("scan.png"), "{err}");
    let err = load_image(&tmp.path().join("absent.jpg"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.jpg"), "{err}");
}

#[test]
fn extreme_aspect_ratio_is_refused_but_big_pictures_are_scaled() {
    let cfg = ImageProcessorConfig::default();
    let thin = image::RgbImage::new(2010, 10);
    let err = preprocess(&thin, &cfg).unwrap_err().to_string();
    assert!(err.contains("aspect ratio"), "{err}");
    let big = image::RgbImage::new(4000, 3000);
    let small = ImageProcessorConfig {
        max_pixels: 1_003_520,
        ..cfg
    };
    let p = preprocess(&big, &small).unwrap();
    assert!(p.num_patches() * 14 * 14 <= 1_003_520);
}

#[test]
fn every_pixel_format_becomes_rgb() {
    use image::{DynamicImage, ImageFormat};
    let encode = |img: DynamicImage, fmt: ImageFormat| {
        let mut buf = std::io::Cursor::new(Vec::new());
        img.write_to(&mut buf, fmt).unwrap();
        buf.into_inner()
    };
    let grey = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(3, 2, image::Luma([77])));
    let rgba = DynamicImage::ImageRgba8(image::RgbaImage::from_pixel(
        3,
        2,
        image::Rgba([10, 20, 30, 0]),
    ));
    let deep = DynamicImage::ImageRgb16(image::ImageBuffer::from_pixel(
        3,
        2,
        image::Rgb([65535u16, 0, 257 * 100]),
    ));
    let cases = [
        (encode(grey, ImageFormat::Png), [77, 77, 77]),
        // Alpha is dropped, not composited: what the reference processor does.
        (encode(rgba, ImageFormat::Png), [10, 20, 30]),
        (encode(deep, ImageFormat::Png), [255, 0, 100]),
    ];
    for (bytes, want) in cases {
        let img = decode_image(&bytes, "x.png").unwrap();
        assert_eq!((img.width(), img.height()), (3, 2));
        assert_eq!(img.get_pixel(1, 1).0, want);
    }
}

#[test]
fn exif_orientation_is_applied() {
    // A 4x2 JPEG tagged "rotate 90° clockwise" must come out 2x4.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/fixtures/images");
    let Some(jpeg) = std::fs::read_dir(&fixture)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpg" || e == "jpeg"))
    else {
        panic!("the parity fixtures hold an EXIF-rotated JPEG");
    };
    let raw = image::open(&jpeg).unwrap();
    let oriented = load_image(&jpeg).unwrap();
    assert_eq!(
        (oriented.width(), oriented.height()),
        (raw.height(), raw.width())
    );
}
