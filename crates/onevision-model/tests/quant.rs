//! How far in-situ quantisation moves the logits from transformers' float32 ones, on the
//! `quant_width256` fixture (a decoder whose layer widths are whole Q8_0 and Q4K blocks).
//!
//! Drift is measured relative to the spread of the reference logits (their standard deviation over
//! the whole prompt), so the bound means the same thing for any checkpoint scale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use onevision_model::{
    DType, Device, LoadOptions, Logits, Model, PixelPatches, Quantization, Tensor,
};
use serde_json::Value;

fn case_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/parity/fixtures/quant_width256")
}

struct Drift {
    /// Largest |quantised - reference| over every position and token, over the reference std.
    max_rel: f32,
    /// Root-mean-square difference over the reference std.
    rms_rel: f32,
    /// Share of prompt positions whose most likely next token is unchanged.
    top1_agree: f32,
    /// The widest reference top-2 margin (over the reference std) among positions whose most
    /// likely token changed: near-ties may flip under any rounding, clear winners must not.
    widest_flipped_margin: f32,
}

fn logits_with(quant: Quantization) -> (Tensor, Tensor) {
    let dir = case_dir();
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let reference: HashMap<String, Tensor> =
        candle_core::safetensors::load(dir.join("reference.safetensors"), &Device::Cpu).unwrap();
    let mut model = Model::load(
        &dir.join("model"),
        &LoadOptions {
            device: Device::Cpu,
            dtype: Some(DType::F32),
            quant,
        },
    )
    .unwrap();
    assert_eq!(model.quantization(), quant);
    // The processor's own pixels: this test is about the decoder, not the picture pipeline.
    let pixels = &reference["pixel_values"];
    let grid: Vec<usize> = case["image_grid_thw"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let patches = PixelPatches {
        data: pixels.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        grid_thw: [grid[0], grid[1], grid[2]],
        patch_dim: pixels.dim(1).unwrap(),
    };
    let ids: Vec<u32> = case["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let embeds = model.encode_images(&[&patches]).unwrap();
    let logits = model.prefill(&ids, &embeds, Logits::All).unwrap();
    (logits, reference["logits"].clone())
}

fn drift(quant: Quantization) -> Drift {
    let (got, want) = logits_with(quant);
    let std = want
        .broadcast_sub(&want.mean_all().unwrap())
        .unwrap()
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let d = (&got - &want).unwrap();
    let max = d
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let rms = d
        .sqr()
        .unwrap()
        .mean_all()
        .unwrap()
        .sqrt()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let a = got.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    let b = want.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    let same = a.iter().zip(&b).filter(|(x, y)| x == y).count();
    let rows = want.to_vec2::<f32>().unwrap();
    let widest_flipped_margin = a
        .iter()
        .zip(&b)
        .zip(&rows)
        .filter(|((x, y), _)| x != y)
        .map(|(_, row)| {
            let mut sorted = row.clone();
            sorted.sort_by(|p, q| q.total_cmp(p));
            (sorted[0] - sorted[1]) / std
        })
        .fold(0f32, f32::max);
    let out = Drift {
        max_rel: max / std,
        rms_rel: rms / std,
        top1_agree: same as f32 / a.len() as f32,
        widest_flipped_margin,
    };
    eprintln!(
        "{quant}: max {:.4} rms {:.4} (of the reference std {std:.3}); top-1 agrees at {:.1} % of {} positions, widest flipped margin {:.4}",
        out.max_rel,
        out.rms_rel,
        out.top1_agree * 100.0,
        a.len(),
        out.widest_flipped_margin
    );
    out
}

#[test]
fn unquantised_matches_the_reference() {
    let d = drift(Quantization::None);
    assert!(d.max_rel < 1e-4, "f32 max drift {}", d.max_rel);
    assert_eq!(d.top1_agree, 1.0);
}

// Measured (x86-64, candle 0.11.1): q8_0 max 0.091, rms 0.020, two near-ties flipped (margin at
// most 0.009); q4k max 0.65, rms 0.14, top-1 kept at 84 % of positions, flipped margins at most
// 0.13. Activations are rounded to 8 bits too, so the drift is that of two roundings per layer.
#[test]
fn q8_0_drift_is_small() {
    let d = drift(Quantization::Q8_0);
    assert!(d.max_rel < 0.15 && d.rms_rel < 0.03, "q8_0 drift");
    assert!(
        d.widest_flipped_margin < 0.05,
        "q8_0 flipped a clear winner"
    );
}

#[test]
fn q4k_drift_is_bounded() {
    let d = drift(Quantization::Q4K);
    assert!(d.max_rel < 1.0 && d.rms_rel < 0.2, "q4k drift");
    assert!(d.top1_agree >= 0.75, "q4k top-1 agreement");
    assert!(d.widest_flipped_margin < 0.3, "q4k flipped a clear winner");
}
