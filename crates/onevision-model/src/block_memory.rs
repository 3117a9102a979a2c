//! Memory for packed weights: zeroed without a pass over it, and on Linux backed by 2 MB pages.
//!
//! Decoding streams every packed weight from memory once per token. With 4 KB pages a 7B's
//! 4.3 GB take a million translation entries, so the walk misses the TLB every 4 KB and the
//! CPU's own prefetchers stop at each page's end; Linux backs a range with 2 MB pages when it
//! is asked to (`MADV_HUGEPAGE`, which its default "madvise" setting needs) before the range is
//! first touched.

use candle_core::quantized::GgmlType;

/// `count` blocks of zero bytes (a valid block: zero scales and values), the memory asked to
/// be backed by huge pages before anything touches it.
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
    ask_for_huge_pages(ptr, layout.size());
    // SAFETY: `ptr` was allocated by the global allocator with `Layout::array::<B>(count)`,
    // which is what a Vec<B> of capacity `count` frees with; every byte is zero, and a block of
    // zero bytes is a valid `B` (ggml blocks are plain f16/u8/i8 fields with no padding).
    unsafe { Vec::from_raw_parts(ptr.cast::<B>(), count, count) }
}

#[cfg(target_os = "linux")]
fn ask_for_huge_pages(ptr: *mut u8, len: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + len) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside this allocation; the advice changes only how the kernel
        // backs it, never its contents. A kernel without huge pages refuses, which is harmless.
        let refused =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        if refused != 0 {
            tracing::debug!(
                "no huge pages for packed weights: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn ask_for_huge_pages(_ptr: *mut u8, _len: usize) {}

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
        // 40 000 Q4K blocks are 5.8 MB: whole 2 MB pages inside.
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
