//! The bicubic resize equals Pillow's byte for byte (fixtures from tests/parity/generate.py:
//! one picture resized by Pillow to sizes that exercise both pass orders, ties and extremes).

use std::path::Path;

use onevision_model::resize::resize_rgb8_bicubic;
use serde_json::Value;

#[test]
fn resize_matches_pillow_byte_for_byte() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/fixtures/resize");
    let source = image::open(dir.join("source.png")).unwrap().to_rgb8();
    let pillow = std::fs::read(dir.join("pillow.bin")).unwrap();
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let cases = cases["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    for case in cases {
        let (w, h) = (
            case["width"].as_u64().unwrap() as usize,
            case["height"].as_u64().unwrap() as usize,
        );
        let offset = case["offset"].as_u64().unwrap() as usize;
        let want = &pillow[offset..offset + w * h * 3];
        let got = resize_rgb8_bicubic(
            source.as_raw(),
            source.width() as usize,
            source.height() as usize,
            w,
            h,
        );
        let differing = got.iter().zip(want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differing, 0,
            "{w}x{h}: {differing} bytes differ from Pillow"
        );
    }
}
