//! Memory for packed weights, zeroed without a pass over it: `vec![B::zeros(); n]` writes every
//! block (the compiler does not know a block of zeros is all zero bytes), touching a 7B's 5 GB
//! once before the weights are read or packed into it; fresh pages from the allocator come
//! zeroed already.
//!
//! Backing the blocks with 2 MB pages (`MADV_HUGEPAGE`) was tried: a streamed 3584x18944 Q4K
//! product ran 15-20 % faster in isolation, but the 7B's second start took 2 s longer (the kernel
//! zeroes each huge page on one thread as it is first touched) and decoding did not move.

use candle_core::quantized::GgmlType;

/// `count` blocks of zero bytes (a valid block: zero scales and values).
pub(crate) fn zeroed_blocks<B: GgmlType>(count: usize) -> Vec<B> {
    if count == 0 || std::mem::size_of::<B>() == 0 {
        return vec![B::zeros(); count];
    }
    let Ok(layout) = std::alloc::Layout::array::<B>(count) else {
        // More than the address space: let Vec report it as it would.
        return vec![B::zeros(); count];
    };
    // SAFETY: the layout's size is non-zero (checked above).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        std::alloc::handle_alloc_error(layout);
    }
    // SAFETY: `ptr` was allocated by the global allocator with `Layout::array::<B>(count)`,
    // which is what a Vec<B> of capacity `count` frees with; every byte is zero, and a block of
    // zero bytes is a valid `B` (ggml blocks are plain f16/u8/i8 fields with no padding).
    unsafe { Vec::from_raw_parts(ptr.cast::<B>(), count, count) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::k_quants::{BlockQ4K, BlockQ8_0};

    fn all_zero<B>(blocks: &[B]) -> bool {
        // SAFETY: ggml blocks are plain bytes without padding; the slice covers the vector.
        let bytes = unsafe {
            std::slice::from_raw_parts(blocks.as_ptr().cast::<u8>(), std::mem::size_of_val(blocks))
        };
        bytes.iter().all(|&b| b == 0)
    }

    #[test]
    fn blocks_start_zeroed_at_every_size() {
        for count in [0, 1, 7, 40_000] {
            let q8 = zeroed_blocks::<BlockQ8_0>(count);
            assert_eq!((q8.len(), q8.capacity()), (count, count));
            assert!(all_zero(&q8));
            let mut q4 = zeroed_blocks::<BlockQ4K>(count);
            assert_eq!(q4.len(), count);
            assert!(all_zero(&q4));
            // Freed as an ordinary vector, after growing like one.
            q4.push(BlockQ4K::zeros());
            assert_eq!(q4.len(), count + 1);
        }
    }
}
