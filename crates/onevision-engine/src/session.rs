//! What carries over from one answer to the next: the tokens the model's key/value cache holds, so
//! a follow-up reads only its new turn, and the vision tower's output for recent pictures, so a
//! picture asked about again is not encoded again.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use onevision_model::image::ImageProcessorConfig;
use onevision_model::{rope_positions, CacheMark, ImageEmbedding, Model};

use crate::error::Result;

/// Pictures whose vision output is kept. A one-megapixel picture is about 1,300 tokens, so at 7B
/// width each entry is 9 to 18 MB.
const VISION_CACHE_ENTRIES: usize = 16;

/// The state one conversation leaves in the engine between answers.
#[derive(Default)]
pub struct Session {
    /// The token ids the model's cache holds, in order.
    cached: Vec<u32>,
    /// The identities (vision cache keys) of the pictures whose tokens the cache holds, in order.
    /// A picture's tokens are the same ids whatever its pixels, so the ids alone cannot tell two
    /// pictures of one size apart.
    pictures: Vec<u64>,
    vision: VisionCache,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the cached conversation (the vision cache stays: it depends on pictures only).
    pub fn forget(&mut self, model: &mut Model) {
        self.cached.clear();
        self.pictures.clear();
        model.reset();
    }

    /// Records which pictures the cache now holds, after a prefill of the whole prompt.
    pub(crate) fn set_pictures(&mut self, keys: Vec<u64>) {
        self.pictures = keys;
    }

    pub(crate) fn vision(&mut self) -> &mut VisionCache {
        &mut self.vision
    }

    /// Records a token the model has just read.
    pub(crate) fn push(&mut self, id: u32) {
        self.cached.push(id);
    }

    /// Brings the model's cache to the longest usable prefix of `prompt` and returns its length:
    /// the caller prefills the rest. `grids` and `keys` are the prompt's pictures, in order: a
    /// picture other than the one cached at its place ends the usable prefix before it.
    pub(crate) fn reuse(
        &mut self,
        model: &mut Model,
        prompt: &[u32],
        grids: &[[usize; 3]],
        keys: &[u64],
    ) -> Result<usize> {
        if model.cached_tokens() != self.cached.len() {
            // Someone else moved the model's cache: nothing in it can be trusted for us.
            self.forget(model);
            return Ok(0);
        }
        let image_token = model.config().image_token_id;
        let merge = model.config().vision.spatial_merge_size;
        let keep = usable_prefix(
            &self.cached,
            &self.pictures,
            prompt,
            grids,
            keys,
            merge * merge,
            image_token,
        );
        if keep == 0 {
            self.forget(model);
            return Ok(0);
        }
        let prefix = &prompt[..keep];
        let pictures = pictures_within(prefix, grids, merge * merge, image_token);
        self.pictures.truncate(pictures);
        let positions = rope_positions(prefix, &grids[..pictures], merge, image_token, 0)?;
        model.rewind(CacheMark {
            tokens: keep,
            next_position: positions.next,
        })?;
        self.cached.truncate(keep);
        Ok(keep)
    }
}

/// The length of the common prefix of `cached` and `prompt`, backed off so that it never ends
/// inside a picture's tokens (their positions depend on the whole picture) and leaves at least
/// one token of `prompt` to read (its logits start the answer).
fn reusable_prefix(cached: &[u32], prompt: &[u32], image_token: u32) -> usize {
    let mut keep = cached
        .iter()
        .zip(prompt)
        .take_while(|(a, b)| a == b)
        .count()
        .min(prompt.len().saturating_sub(1));
    while keep > 0 && prompt[keep - 1] == image_token && prompt[keep] == image_token {
        keep -= 1;
    }
    keep
}

/// The reusable prefix, cut before the first picture that is not the one cached at its place.
fn usable_prefix(
    cached: &[u32],
    cached_pictures: &[u64],
    prompt: &[u32],
    grids: &[[usize; 3]],
    keys: &[u64],
    merge_unit: usize,
    image_token: u32,
) -> usize {
    let keep = reusable_prefix(cached, prompt, image_token);
    let within = pictures_within(&prompt[..keep], grids, merge_unit, image_token);
    match (0..within).find(|&i| cached_pictures.get(i) != keys.get(i)) {
        Some(changed) => picture_start(prompt, grids, merge_unit, image_token, changed)
            .map_or(0, |start| start.min(keep)),
        None => keep,
    }
}

/// The position of picture `index`'s first token in `prompt`.
fn picture_start(
    prompt: &[u32],
    grids: &[[usize; 3]],
    merge_unit: usize,
    image_token: u32,
    index: usize,
) -> Option<usize> {
    let before: usize = grids[..index]
        .iter()
        .map(|g| g[0] * g[1] * g[2] / merge_unit)
        .sum();
    prompt
        .iter()
        .enumerate()
        .filter(|(_, &id)| id == image_token)
        .nth(before)
        .map(|(i, _)| i)
}

/// How many of the prompt's pictures lie wholly in `prefix` (which never cuts one).
fn pictures_within(
    prefix: &[u32],
    grids: &[[usize; 3]],
    merge_unit: usize,
    image_token: u32,
) -> usize {
    let mut left = prefix.iter().filter(|&&id| id == image_token).count();
    let mut n = 0;
    for g in grids {
        let tokens = g[0] * g[1] * g[2] / merge_unit;
        if tokens > left {
            break;
        }
        left -= tokens;
        n += 1;
    }
    n
}

/// Vision outputs of recent pictures, keyed by the picture's pixels and the processor settings that
/// shaped its patches.
#[derive(Default)]
pub(crate) struct VisionCache {
    entries: HashMap<u64, ImageEmbedding>,
    order: VecDeque<u64>,
}

impl VisionCache {
    pub(crate) fn key(picture: &image::RgbImage, cfg: &ImageProcessorConfig) -> u64 {
        let mut h = DefaultHasher::new();
        picture.dimensions().hash(&mut h);
        picture.as_raw().hash(&mut h);
        // Every setting, floats included, shows in the debug form.
        format!("{cfg:?}").hash(&mut h);
        h.finish()
    }

    pub(crate) fn get(&self, key: u64) -> Option<&ImageEmbedding> {
        self.entries.get(&key)
    }

    pub(crate) fn insert(&mut self, key: u64, embedding: ImageEmbedding) {
        if self.entries.insert(key, embedding).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > VISION_CACHE_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: u32 = 9;

    #[test]
    fn prefix_is_the_common_part() {
        assert_eq!(reusable_prefix(&[1, 2, 3, 4], &[1, 2, 3, 5, 6], IMG), 3);
        assert_eq!(reusable_prefix(&[], &[1, 2], IMG), 0);
        assert_eq!(reusable_prefix(&[7, 2], &[1, 2], IMG), 0);
    }

    #[test]
    fn prefix_leaves_one_token_to_read() {
        assert_eq!(reusable_prefix(&[1, 2, 3], &[1, 2, 3], IMG), 2);
        assert_eq!(reusable_prefix(&[1, 2, 3, 4], &[1, 2], IMG), 1);
        assert_eq!(reusable_prefix(&[1], &[1], IMG), 0);
    }

    #[test]
    fn prefix_never_cuts_a_picture() {
        // Same picture tokens, different picture after them: back off to before the run.
        let cached = [1, 8, IMG, IMG, IMG, 2];
        let prompt = [1, 8, IMG, IMG, IMG, IMG, 2];
        assert_eq!(reusable_prefix(&cached, &prompt, IMG), 2);
        // A whole picture followed by different text is kept.
        let prompt = [1, 8, IMG, IMG, IMG, 3];
        assert_eq!(reusable_prefix(&cached, &prompt, IMG), 5);
    }

    #[test]
    fn another_picture_of_the_same_size_is_not_reused() {
        // Text, a picture of 2 tokens, text, a second picture of 2 tokens, text.
        let grids = [[1, 2, 4], [1, 2, 4]];
        let prompt = [1, 8, IMG, IMG, 2, 8, IMG, IMG, 3, 4];
        let cached = [1, 8, IMG, IMG, 2, 8, IMG, IMG, 3, 5];
        // Same pictures: everything up to the differing text is reused.
        assert_eq!(
            usable_prefix(&cached, &[10, 20], &prompt, &grids, &[10, 20], 4, IMG),
            9
        );
        // The second picture changed: stop before its first token.
        assert_eq!(
            usable_prefix(&cached, &[10, 20], &prompt, &grids, &[10, 21], 4, IMG),
            6
        );
        // The first changed: only the text before it.
        assert_eq!(
            usable_prefix(&cached, &[10, 20], &prompt, &grids, &[11, 20], 4, IMG),
            2
        );
        // Nothing known of the cached pictures: nothing past the first picture is trusted.
        assert_eq!(
            usable_prefix(&cached, &[], &prompt, &grids, &[10, 20], 4, IMG),
            2
        );
    }

    #[test]
    fn pictures_in_a_prefix_are_counted_whole() {
        // Two pictures of 2x4 patches (2 tokens each with 2x2 merging).
        let grids = [[1, 2, 4], [1, 2, 4]];
        assert_eq!(pictures_within(&[1, IMG, IMG, 2], &grids, 4, IMG), 1);
        assert_eq!(
            pictures_within(&[1, IMG, IMG, 2, IMG, IMG], &grids, 4, IMG),
            2
        );
        assert_eq!(pictures_within(&[1, 2], &grids, 4, IMG), 0);
    }

    #[test]
    fn vision_cache_keeps_the_most_recent() {
        let mut cache = VisionCache::default();
        let dev = onevision_model::Device::Cpu;
        let e = ImageEmbedding {
            grid_thw: [1, 2, 2],
            embeds: onevision_model::Tensor::zeros((1, 4), onevision_model::DType::F32, &dev)
                .unwrap(),
        };
        for k in 0..(VISION_CACHE_ENTRIES as u64 + 3) {
            cache.insert(k, e.clone());
        }
        assert_eq!(cache.len(), VISION_CACHE_ENTRIES);
        assert!(cache.get(0).is_none() && cache.get(2).is_none());
        assert!(cache.get(3).is_some() && cache.get(VISION_CACHE_ENTRIES as u64 + 2).is_some());
    }

    #[test]
    fn vision_key_depends_on_pixels_and_settings() {
        let cfg = ImageProcessorConfig::default();
        let a = image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]));
        let mut b = a.clone();
        b.put_pixel(3, 3, image::Rgb([1, 2, 4]));
        assert_ne!(VisionCache::key(&a, &cfg), VisionCache::key(&b, &cfg));
        assert_eq!(
            VisionCache::key(&a, &cfg),
            VisionCache::key(&a.clone(), &cfg)
        );
        let smaller = ImageProcessorConfig {
            max_pixels: cfg.max_pixels / 2,
            ..cfg.clone()
        };
        assert_ne!(VisionCache::key(&a, &cfg), VisionCache::key(&a, &smaller));
    }
}
