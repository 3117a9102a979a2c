//! Choosing the next token with transformers' semantics: repetition penalty over prompt and
//! generated ids, then temperature, top-k and top-p, then a draw from a seeded generator; a
//! temperature of 0 means greedy decoding (argmax after the penalty).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy.
    pub temperature: f32,
    /// 1 means off.
    pub top_p: f32,
    /// 0 means off.
    pub top_k: usize,
    /// 1 means off.
    pub repetition_penalty: f32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        SamplingParams {
            temperature: 0.0,
            top_p: 1.0,
            top_k: 0,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl SamplingParams {
    /// Refuses values transformers would refuse, naming the flag.
    pub fn validate(&self) -> Result<(), String> {
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(format!(
                "--temperature must be 0 (greedy) or positive, not {}",
                self.temperature
            ));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(format!("--top-p must be in (0, 1], not {}", self.top_p));
        }
        if !self.repetition_penalty.is_finite() || self.repetition_penalty <= 0.0 {
            return Err(format!(
                "--repetition-penalty must be positive, not {}",
                self.repetition_penalty
            ));
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature == 0.0
    }
}

pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    seen: Vec<bool>,
}

impl Sampler {
    pub fn new(params: SamplingParams) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler {
            params,
            rng,
            seen: Vec::new(),
        }
    }

    /// Picks the next token; `history` is every id so far (prompt and generated).
    pub fn sample(&mut self, logits: &[f32], history: &[u32]) -> u32 {
        let mut scores = logits.to_vec();
        if self.params.repetition_penalty != 1.0 {
            self.penalise(&mut scores, history);
        }
        if self.params.is_greedy() {
            return argmax(&scores);
        }
        let t = self.params.temperature;
        for s in &mut scores {
            *s /= t;
        }
        if self.params.top_k > 0 && self.params.top_k < scores.len() {
            top_k_filter(&mut scores, self.params.top_k);
        }
        if self.params.top_p < 1.0 {
            top_p_filter(&mut scores, self.params.top_p);
        }
        let probs = softmax(&scores);
        let u: f64 = self.rng.random();
        let mut acc = 0.0f64;
        let mut last = 0;
        for (i, &p) in probs.iter().enumerate() {
            if p > 0.0 {
                acc += f64::from(p);
                last = i;
                if u < acc {
                    return i as u32;
                }
            }
        }
        // Rounding left the total a hair under u: the last possible token.
        last as u32
    }

    fn penalise(&mut self, scores: &mut [f32], history: &[u32]) {
        self.seen.clear();
        self.seen.resize(scores.len(), false);
        let p = self.params.repetition_penalty;
        for &id in history {
            let i = id as usize;
            if i < scores.len() && !self.seen[i] {
                self.seen[i] = true;
                let s = &mut scores[i];
                *s = if *s < 0.0 { *s * p } else { *s / p };
            }
        }
    }
}

pub fn argmax(scores: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &s) in scores.iter().enumerate() {
        if s > scores[best] {
            best = i;
        }
    }
    best as u32
}

fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut out: Vec<f32> = scores.iter().map(|&s| (s - max).exp()).collect();
    let sum: f32 = out.iter().sum();
    for p in &mut out {
        *p /= sum;
    }
    out
}

/// Keeps the `k` highest scores (and any tied with the k-th).
fn top_k_filter(scores: &mut [f32], k: usize) {
    let mut sorted = scores.to_vec();
    let (_, kth, _) = sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    let kth = *kth;
    for s in scores.iter_mut() {
        if *s < kth {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Removes the least likely tokens whose probabilities add up to at most `1 - top_p`, keeping
/// at least the most likely one (transformers' rule, in ascending order of probability).
///
/// Only the likelier tokens are sorted: any token with at most `(1 - top_p) / n` of the
/// probability goes, since all such tokens together hold at most `1 - top_p`, and they are the
/// first the ascending walk would remove. A confident model leaves a few hundred tokens above
/// that line out of 152k; sorting the whole vocabulary for every token cost more than the rest
/// of sampling.
pub fn top_p_filter(scores: &mut [f32], top_p: f32) {
    let probs = softmax(scores);
    let budget = 1.0 - top_p;
    let floor = budget / scores.len() as f32;
    let mut removed = 0.0f32;
    let mut head: Vec<u32> = Vec::new();
    for (i, &p) in probs.iter().enumerate() {
        if p > floor {
            head.push(i as u32);
        } else {
            removed += p;
            scores[i] = f32::NEG_INFINITY;
        }
    }
    // The likeliest token is always above the line (it holds at least 1 / n).
    head.sort_unstable_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
    for &i in &head[..head.len().saturating_sub(1)] {
        removed += probs[i as usize];
        if removed > budget {
            break;
        }
        scores[i as usize] = f32::NEG_INFINITY;
    }
}

/// [`top_p_filter`]'s rule written plainly, every token sorted: what it is checked against,
/// and timed against (examples/top_p_cost.rs).
pub fn top_p_filter_sorting_all(scores: &mut [f32], top_p: f32) {
    let probs = softmax(scores);
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| scores[a as usize].total_cmp(&scores[b as usize]));
    let mut cumulative = 0.0f32;
    for &i in &order[..order.len() - 1] {
        cumulative += probs[i as usize];
        if cumulative > 1.0 - top_p {
            break;
        }
        scores[i as usize] = f32::NEG_INFINITY;
    }
}

/// The `k` most likely tokens of the model's own distribution, with their log-probabilities.
pub fn top_logprobs(logits: &[f32], k: usize) -> Vec<(u32, f32)> {
    if k == 0 || logits.is_empty() {
        return Vec::new();
    }
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let log_z = max
        + logits
            .iter()
            .map(|&l| f64::from(l - max).exp())
            .sum::<f64>()
            .ln() as f32;
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let k = k.min(idx.len());
    idx.select_nth_unstable_by(k - 1, |&a, &b| {
        logits[b as usize].total_cmp(&logits[a as usize])
    });
    idx.truncate(k);
    idx.sort_unstable_by(|&a, &b| {
        logits[b as usize]
            .total_cmp(&logits[a as usize])
            .then(a.cmp(&b))
    });
    idx.into_iter()
        .map(|i| (i, logits[i as usize] - log_z))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(
        temperature: f32,
        top_p: f32,
        top_k: usize,
        repetition_penalty: f32,
    ) -> SamplingParams {
        SamplingParams {
            temperature,
            top_p,
            top_k,
            repetition_penalty,
            seed: 42,
        }
    }

    #[test]
    fn greedy_takes_the_argmax_after_the_penalty() {
        let logits = [1.0, 3.0, 2.9, -1.0];
        assert_eq!(
            Sampler::new(params(0.0, 1.0, 0, 1.0)).sample(&logits, &[]),
            1
        );
        // Token 1 was seen: 3.0 / 1.2 = 2.5 < 2.9.
        assert_eq!(
            Sampler::new(params(0.0, 1.0, 0, 1.2)).sample(&logits, &[1, 1]),
            2
        );
    }

    #[test]
    fn penalty_multiplies_negative_and_divides_positive_scores() {
        let mut s = Sampler::new(params(0.0, 1.0, 0, 2.0));
        let mut scores = vec![4.0, -4.0, 1.0];
        s.penalise(&mut scores, &[0, 1, 0]);
        assert_eq!(scores, vec![2.0, -8.0, 1.0]);
    }

    #[test]
    fn top_k_keeps_k_and_ties() {
        let mut scores = vec![1.0, 5.0, 3.0, 3.0, 0.0];
        top_k_filter(&mut scores, 2);
        assert_eq!(
            scores,
            vec![f32::NEG_INFINITY, 5.0, 3.0, 3.0, f32::NEG_INFINITY]
        );
    }

    #[test]
    fn top_p_keeps_the_smallest_likely_set() {
        // Probabilities 0.5, 0.25, 0.125, 0.125 (log scale).
        let base = [0.5f32, 0.25, 0.125, 0.125].map(f32::ln);
        let mut scores = base.to_vec();
        top_p_filter(&mut scores, 0.7);
        assert!(scores[0].is_finite() && scores[1].is_finite());
        assert!(scores[2] == f32::NEG_INFINITY && scores[3] == f32::NEG_INFINITY);
        let mut scores = base.to_vec();
        top_p_filter(&mut scores, 0.01);
        assert_eq!(scores.iter().filter(|s| s.is_finite()).count(), 1);
    }

    #[test]
    fn top_p_on_a_few_candidates_keeps_what_sorting_everything_keeps() {
        let mut rng = StdRng::seed_from_u64(11);
        let n = 151_936;
        // Peaked (a model sure of itself), middling, and nearly flat distributions (where
        // nearly every token is above the line and everything is sorted).
        for (spread, top_p) in [
            (12.0f32, 0.95f32),
            (6.0, 0.9),
            (3.0, 0.95),
            (0.5, 0.7),
            (0.05, 0.99),
        ] {
            let logits: Vec<f32> = (0..n)
                .map(|_| {
                    let u: f32 = rng.random();
                    spread * u * u * u
                })
                .collect();
            let mut fast = logits.clone();
            let mut full = logits.clone();
            top_p_filter(&mut fast, top_p);
            top_p_filter_sorting_all(&mut full, top_p);
            let kept = |s: &[f32]| s.iter().filter(|x| x.is_finite()).count();
            assert!(kept(&full) >= 1);
            let differ = (0..n)
                .filter(|&i| fast[i].is_finite() != full[i].is_finite())
                .count();
            assert_eq!(
                differ,
                0,
                "spread {spread}, top-p {top_p}: {} kept against {}",
                kept(&fast),
                kept(&full)
            );
        }
    }

    #[test]
    fn sampling_is_reproducible_and_follows_the_distribution() {
        let logits = [0.0f32, 1.0, 2.0].map(|x| x * 0.5);
        let run = |seed| {
            let mut s = Sampler::new(SamplingParams {
                seed,
                ..params(1.0, 1.0, 0, 1.0)
            });
            (0..3000)
                .map(|_| s.sample(&logits, &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let draws = run(7);
        let probs = softmax(&logits);
        for (t, p) in probs.iter().enumerate() {
            let freq = draws.iter().filter(|&&d| d == t as u32).count() as f32 / draws.len() as f32;
            assert!((freq - p).abs() < 0.03, "token {t}: {freq} vs {p}");
        }
    }

    #[test]
    fn logprobs_are_the_models_own() {
        let lp = top_logprobs(&[0.0, 2.0, 1.0], 2);
        let z = (1.0f32 + 2f32.exp() + 1f32.exp()).ln();
        assert_eq!(lp.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 2]);
        assert!((lp[0].1 - (2.0 - z)).abs() < 1e-6 && (lp[1].1 - (1.0 - z)).abs() < 1e-6);
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        assert!(params(-0.1, 1.0, 0, 1.0)
            .validate()
            .unwrap_err()
            .contains("--temperature"));
        assert!(params(1.0, 1.5, 0, 1.0)
            .validate()
            .unwrap_err()
            .contains("--top-p"));
        assert!(params(1.0, 0.0, 0, 1.0)
            .validate()
            .unwrap_err()
            .contains("--top-p"));
        assert!(params(1.0, 1.0, 0, 0.0)
            .validate()
            .unwrap_err()
            .contains("--repetition-penalty"));
        assert!(params(0.7, 0.9, 50, 1.05).validate().is_ok());
    }
}
