//! What top-p costs per generated token over a 152k vocabulary: the filter the sampler uses
//! (sorting only the tokens above (1 - top_p) / n) against the same rule sorting every token,
//! in turn on the same logits, for a confident, a middling and an unsure (nearly flat)
//! distribution at temperature 0.6 and top-p 0.95.
//!
//! ```text
//! cargo run --release -p onevision-engine --example top_p_cost
//! ```

use std::time::Instant;

use onevision_engine::sampler::{top_p_filter, top_p_filter_sorting_all};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const VOCAB: usize = 151_936;
const CALLS: usize = 100;

/// Logits with `peak` extra on a handful of tokens over a spread of `spread`.
fn logits(rng: &mut StdRng, peak: f32, spread: f32) -> Vec<f32> {
    (0..VOCAB)
        .map(|i| {
            let u: f32 = rng.random();
            let lift = if i % 20_000 == 7 { peak } else { 0.0 };
            (lift + spread * u) / 0.6
        })
        .collect()
}

fn ms_per_call(filter: fn(&mut [f32], f32), logits: &[f32]) -> (f64, usize) {
    let mut kept = 0;
    let start = Instant::now();
    for _ in 0..CALLS {
        let mut scores = logits.to_vec();
        filter(&mut scores, 0.95);
        kept = scores.iter().filter(|s| s.is_finite()).count();
    }
    (start.elapsed().as_secs_f64() * 1e3 / CALLS as f64, kept)
}

fn main() {
    let mut rng = StdRng::seed_from_u64(7);
    println!("| distribution | tokens kept | sorting all ms | sorting the likely ms | ratio |");
    println!("|---|---|---|---|---|");
    for (name, peak, spread) in [
        ("confident", 25.0f32, 4.0f32),
        ("middling", 12.0, 4.0),
        ("unsure", 0.0, 0.5),
    ] {
        let l = logits(&mut rng, peak, spread);
        // In turn, several rounds, so a busy moment of the machine falls on both.
        let (mut all, mut likely) = (Vec::new(), Vec::new());
        let mut kept = (0, 0);
        for _ in 0..5 {
            let (a, ka) = ms_per_call(top_p_filter_sorting_all, &l);
            let (b, kb) = ms_per_call(top_p_filter, &l);
            all.push(a);
            likely.push(b);
            kept = (ka, kb);
        }
        assert_eq!(kept.0, kept.1, "the two filters disagree");
        all.sort_by(f64::total_cmp);
        likely.sort_by(f64::total_cmp);
        let (a, b) = (all[2], likely[2]);
        println!("| {name} | {} | {a:.2} | {b:.2} | {:.1}x |", kept.0, a / b);
    }
}
