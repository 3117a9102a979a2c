//! The downloads the model panel started: at most one per catalog model, each with the flag
//! that stops it. A download runs on a blocking thread and outlives the panel, so closing the
//! panel neither stops nor loses it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::{AppError, AppResult};

#[derive(Clone, Default)]
pub struct Downloads {
    running: Arc<Mutex<HashMap<String, Arc<AtomicBool>>>>,
}

/// A running download's place in [`Downloads`]; dropping it frees the place.
pub struct Running {
    downloads: Downloads,
    id: String,
    pub cancel: Arc<AtomicBool>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = self.downloads.lock();
        // Only our own entry: a later download of the same model has its own flag.
        if running
            .get(&self.id)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cancel))
        {
            running.remove(&self.id);
        }
    }
}

impl Downloads {
    /// The map is only inserted into and removed from, which a panic cannot leave half-done.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<AtomicBool>>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the place for `id` (a catalog id), or says that it is already downloading.
    pub fn begin(&self, id: &str, name: &str) -> AppResult<Running> {
        let mut running = self.lock();
        if running.contains_key(id) {
            return Err(AppError::new(format!("{name} is already downloading")));
        }
        let cancel = Arc::new(AtomicBool::new(false));
        running.insert(id.to_owned(), cancel.clone());
        Ok(Running {
            downloads: self.clone(),
            id: id.to_owned(),
            cancel,
        })
    }

    pub fn any_running(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Asks the download of `id` to stop (it does between two chunks); false when none runs.
    pub fn stop(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(cancel) => {
                cancel.store(true, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_download_per_model_and_stop_reaches_its_flag() {
        let downloads = Downloads::default();
        let first = downloads.begin("qwen2.5-vl-3b", "Qwen2.5-VL-3B").unwrap();
        let again = downloads.begin("qwen2.5-vl-3b", "Qwen2.5-VL-3B");
        assert_eq!(
            again.err().map(|e| e.to_string()).as_deref(),
            Some("Qwen2.5-VL-3B is already downloading")
        );
        // Another model downloads alongside.
        let other = downloads
            .begin("r1-onevision-7b", "R1-Onevision-7B")
            .unwrap();

        assert!(downloads.stop("qwen2.5-vl-3b"));
        assert!(first.cancel.load(Ordering::SeqCst));
        assert!(!other.cancel.load(Ordering::SeqCst));

        drop(first);
        assert!(
            !downloads.stop("qwen2.5-vl-3b"),
            "a finished download cannot be stopped"
        );
        let resumed = downloads.begin("qwen2.5-vl-3b", "Qwen2.5-VL-3B").unwrap();
        assert!(
            !resumed.cancel.load(Ordering::SeqCst),
            "a new download starts unstopped"
        );
    }
}
