//! How many answers may wait for the one engine thread. Beyond that a request is turned away at
//! once with 503 and Retry-After rather than left waiting behind a queue it cannot see.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Admission {
    taken: Arc<AtomicUsize>,
    capacity: usize,
}

/// One place in the queue (or at the engine); given back when dropped, which happens when the
/// engine thread has finished with the job and dropped its event sink.
#[derive(Debug)]
pub struct Slot {
    taken: Arc<AtomicUsize>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.taken.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Admission {
    /// `capacity` counts the answer being written and those waiting for it.
    pub fn new(capacity: usize) -> Self {
        Admission {
            taken: Arc::new(AtomicUsize::new(0)),
            capacity: capacity.max(1),
        }
    }

    pub fn try_enter(&self) -> Option<Slot> {
        self.taken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot {
                taken: self.taken.clone(),
            })
    }

    /// Answers being written or waiting.
    pub fn busy(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_given_back() {
        let a = Admission::new(2);
        let one = a.try_enter().unwrap();
        let two = a.try_enter().unwrap();
        assert!(a.try_enter().is_none());
        assert_eq!(a.busy(), 2);
        drop(one);
        let three = a.try_enter().unwrap();
        drop((two, three));
        assert_eq!(a.busy(), 0);
    }
}
