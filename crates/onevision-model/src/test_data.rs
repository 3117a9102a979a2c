//! Seeded random tensors for unit tests, so a bound checks one known draw rather than luck:
//! candle's `randn` on the CPU cannot be seeded.

use candle_core::{Device, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub(crate) fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Standard-normal values (Box-Muller) of `shape`, on the CPU.
pub(crate) fn gaussian(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let data: Vec<f32> = (0..n)
        .map(|_| {
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
        })
        .collect();
    Tensor::from_vec(data, shape, &Device::Cpu).expect("as many values as the shape holds")
}
