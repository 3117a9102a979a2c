//! 3-D rotary positions (temporal, height, width) for a prompt with pictures, as the reference's
//! `get_rope_index` assigns them: text advances all three together; a picture's tokens take
//! (0, row, column) offsets from the position after the preceding text, and the text after a
//! picture resumes one past the largest position the picture used.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RopePositions {
    /// `[temporal, height, width]`, one entry per token.
    pub axes: [Vec<i64>; 3],
    /// Position of the token that would come next (all three axes share it).
    pub next: i64,
}

impl RopePositions {
    pub fn len(&self) -> usize {
        self.axes[0].len()
    }

    pub fn is_empty(&self) -> bool {
        self.axes[0].is_empty()
    }
}

/// Positions for `ids`, starting at `start` (0 for a fresh prompt, or the `next` of the prompt this
/// one continues). `grids` are the pictures' (t, h, w) in patches, in order of appearance.
pub fn rope_positions(
    ids: &[u32],
    grids: &[[usize; 3]],
    spatial_merge_size: usize,
    image_token_id: u32,
    start: i64,
) -> Result<RopePositions> {
    let mut axes = [
        Vec::with_capacity(ids.len()),
        Vec::with_capacity(ids.len()),
        Vec::with_capacity(ids.len()),
    ];
    let mut next = start;
    let mut pictures = grids.iter();
    let mut i = 0;
    while i < ids.len() {
        if ids[i] != image_token_id {
            for axis in &mut axes {
                axis.push(next);
            }
            next += 1;
            i += 1;
            continue;
        }
        let [t, h, w] = *pictures.next().ok_or_else(|| {
            Error::Input(format!(
                "the prompt has more picture placeholders than the {} picture(s) given",
                grids.len()
            ))
        })?;
        let (h, w) = (h / spatial_merge_size, w / spatial_merge_size);
        let n = t * h * w;
        if i + n > ids.len() || ids[i..i + n].iter().any(|&id| id != image_token_id) {
            return Err(Error::Input(format!(
                "a picture of {h}x{w} merged patches needs {n} consecutive image tokens at position {i}"
            )));
        }
        // Still pictures sit at temporal offset 0 in every frame.
        for _frame in 0..t {
            for row in 0..h {
                for col in 0..w {
                    axes[0].push(next);
                    axes[1].push(next + row as i64);
                    axes[2].push(next + col as i64);
                }
            }
        }
        next += h.max(w) as i64;
        i += n;
    }
    if pictures.next().is_some() {
        return Err(Error::Input(format!(
            "{} picture(s) were given but the prompt has fewer picture placeholders",
            grids.len()
        )));
    }
    Ok(RopePositions { axes, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: u32 = 9;

    #[test]
    fn text_only_counts_up() {
        let p = rope_positions(&[1, 2, 3], &[], 2, IMG, 0).unwrap();
        assert_eq!(p.axes, [vec![0, 1, 2], vec![0, 1, 2], vec![0, 1, 2]]);
        assert_eq!(p.next, 3);
    }

    #[test]
    fn picture_takes_row_and_column_offsets() {
        // 2 text tokens, a 4x6-patch picture (2x3 merged tokens), 1 text token.
        let ids = [1, 2, IMG, IMG, IMG, IMG, IMG, IMG, 3];
        let p = rope_positions(&ids, &[[1, 4, 6]], 2, IMG, 0).unwrap();
        assert_eq!(p.axes[0], vec![0, 1, 2, 2, 2, 2, 2, 2, 5]);
        assert_eq!(p.axes[1], vec![0, 1, 2, 2, 2, 3, 3, 3, 5]);
        assert_eq!(p.axes[2], vec![0, 1, 2, 3, 4, 2, 3, 4, 5]);
        assert_eq!(p.next, 6);
        // Continuing from `next` equals computing the whole sequence at once.
        let tail = rope_positions(&[4, 5], &[], 2, IMG, p.next).unwrap();
        let whole = rope_positions(&[&ids[..], &[4, 5]].concat(), &[[1, 4, 6]], 2, IMG, 0).unwrap();
        assert_eq!(whole.axes[1][9..], tail.axes[1][..]);
    }

    #[test]
    fn placeholder_and_picture_counts_must_agree() {
        assert!(rope_positions(&[IMG, IMG], &[], 2, IMG, 0).is_err());
        assert!(rope_positions(&[1], &[[1, 2, 2]], 2, IMG, 0).is_err());
        assert!(rope_positions(&[IMG, IMG], &[[1, 4, 4]], 2, IMG, 0).is_err());
    }
}
