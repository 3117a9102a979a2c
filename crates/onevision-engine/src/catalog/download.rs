//! Downloading a repository into the Hugging Face cache: free space checked first, each file
//! streamed into `blobs/<hash>.incomplete` and resumed from its length after an interruption (a
//! dropped connection is retried at once; a stop or a crash resumes on the next run), hashed as
//! it arrives and renamed to its final blob only when the hub's hash matches, then linked into
//! `snapshots/<commit>/`. A stop request is honoured between two chunks.
//!
//! Done over plain HTTP rather than with the hf-hub crate: hf-hub 0.5 checks no hashes, cannot be
//! stopped mid-file, reads neither `HF_HUB_CACHE` nor the files' sizes from the API, and panics on
//! a redirect without a Location header.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::cache::{hub_cache_dir, RepoCache};
use super::error::{CatalogError, Result};
use super::hash::{hash_prefix, Hasher};
use super::hub::{endpoint_from_env, token_from_env, Hub, RepoFile};
use crate::hardware::fit::gb;

/// Left free after a download, so a model never fills a disk to the last byte.
pub const HEADROOM_BYTES: u64 = 64 << 20;

const CHUNK: usize = 256 << 10;

/// How often progress is reported (the last report of each file always goes out).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The speed is averaged over this much recent time.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

pub type FreeSpace = fn(&Path) -> std::io::Result<u64>;

#[derive(Clone)]
pub struct DownloadOptions {
    /// The hub, or a mirror: `https://huggingface.co`.
    pub endpoint: String,
    /// The hub cache to download into.
    pub cache_dir: PathBuf,
    /// A branch, tag or commit.
    pub revision: String,
    pub token: Option<String>,
    /// How many times a dropped connection is resumed before giving up on a file.
    pub retries: u32,
    /// Set it to stop the download between two chunks; what arrived stays for a resume.
    pub cancel: Arc<AtomicBool>,
    /// Free bytes on the disk holding a path (`fs4::available_space`; tests substitute it).
    pub free_space: FreeSpace,
}

impl DownloadOptions {
    /// `HF_ENDPOINT`, the standard hub cache, the revision "main" and the token from
    /// `HF_TOKEN` or `huggingface-cli login`.
    pub fn from_env() -> Result<DownloadOptions> {
        let cache_dir = hub_cache_dir().ok_or_else(|| CatalogError::Incomplete {
            path: PathBuf::from("~/.cache/huggingface/hub"),
            reason: "cannot be located: set HF_HOME or HF_HUB_CACHE".into(),
        })?;
        Ok(DownloadOptions {
            endpoint: endpoint_from_env(),
            cache_dir,
            revision: "main".into(),
            token: token_from_env(),
            retries: 5,
            cancel: Arc::new(AtomicBool::new(false)),
            free_space: |p| fs4::available_space(p),
        })
    }
}

/// Where a download stands; sent often enough to drive a progress bar.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DownloadProgress {
    pub file: String,
    /// 1-based.
    pub file_index: usize,
    pub file_count: usize,
    pub file_done: u64,
    pub file_total: u64,
    /// Bytes on disk for the whole repository, including what earlier runs fetched.
    pub done: u64,
    pub total: u64,
    /// Bytes per second over the last few seconds.
    pub bytes_per_s: f64,
    /// Seconds to go at that speed.
    pub eta_s: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Downloaded {
    pub repo: String,
    pub commit: String,
    /// The folder to load.
    pub snapshot: PathBuf,
    pub files: usize,
    pub total_bytes: u64,
    /// Bytes fetched by this run (not counting what was already there).
    pub fetched_bytes: u64,
    pub seconds: f64,
}

/// Files a model load can use: weights, configs, tokenizer, chat template. Pictures, READMEs,
/// and PyTorch `.bin` duplicates of the weights are left on the hub.
pub fn wanted(name: &str) -> bool {
    [".json", ".safetensors", ".txt", ".jinja"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// A hub file name is a relative path; anything that would land outside the snapshot is refused.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// Downloads `repo` as `opts` says; returns once every file is in place and checked.
pub fn download(
    repo: &str,
    opts: &DownloadOptions,
    on_progress: &mut dyn FnMut(&DownloadProgress),
) -> Result<Downloaded> {
    let started = Instant::now();
    let hub = Hub::new(&opts.endpoint, opts.token.clone());
    let info = hub.repo_info(repo, &opts.revision)?;
    let mut files: Vec<RepoFile> = info.files.into_iter().filter(|f| wanted(&f.name)).collect();
    if let Some(bad) = files.iter().find(|f| !safe_name(&f.name)) {
        return Err(CatalogError::BadAnswer {
            url: format!("{}/api/models/{repo}", hub.endpoint),
            reason: format!("it lists a file outside the repository: {:?}", bad.name),
        });
    }
    // Small files first: a broken repository shows up before gigabytes have been fetched.
    files.sort_by(|a, b| a.size.cmp(&b.size).then_with(|| a.name.cmp(&b.name)));
    let rc = RepoCache::new(&opts.cache_dir, repo);
    let blobs = rc.root.join("blobs");
    std::fs::create_dir_all(&blobs).map_err(|e| CatalogError::io(&blobs, e))?;
    let _lock = lock(&rc, repo)?;

    let have: Vec<u64> = files.iter().map(|f| bytes_present(&rc, f)).collect();
    let total: u64 = files.iter().map(|f| f.size).sum();
    let present: u64 = have.iter().sum();
    check_space(opts, &blobs, total - present)?;
    tracing::info!(repo, commit = %info.commit, files = files.len(), total, present, "download");

    let mut meter = Meter::new(present, total);
    for (i, file) in files.iter().enumerate() {
        let mut report = |file_done: u64, last: bool| {
            if let Some(p) = meter.report(file, i, files.len(), file_done, last) {
                on_progress(&p);
            }
        };
        fetch_file(&hub, repo, &info.commit, &rc, file, opts, &mut report)?;
        rc.link(&info.commit, &file.name, file.hash.hex())?;
    }
    if opts.revision != info.commit {
        rc.write_ref(&opts.revision, &info.commit)?;
    }
    let done = Downloaded {
        repo: repo.to_string(),
        snapshot: rc.snapshot(&info.commit),
        commit: info.commit,
        files: files.len(),
        total_bytes: total,
        fetched_bytes: meter.fetched,
        seconds: started.elapsed().as_secs_f64(),
    };
    tracing::info!(?done, "downloaded");
    Ok(done)
}

/// Bytes of `file` already on disk: all of them for a finished blob, else the partial's length.
fn bytes_present(rc: &RepoCache, f: &RepoFile) -> u64 {
    let len = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).ok();
    match len(rc.blob(f.hash.hex())) {
        Some(n) if n == f.size => n,
        _ => len(rc.partial(f.hash.hex()))
            .filter(|&n| n <= f.size)
            .unwrap_or(0),
    }
}

fn check_space(opts: &DownloadOptions, dir: &Path, needed: u64) -> Result<()> {
    if needed == 0 {
        return Ok(());
    }
    let free = (opts.free_space)(dir).map_err(|e| CatalogError::io(dir, e))?;
    if needed + HEADROOM_BYTES > free {
        return Err(CatalogError::DiskFull {
            path: dir.to_path_buf(),
            needed: gb(needed),
            available: gb(free),
        });
    }
    Ok(())
}

/// One download per repository at a time (the app and the command may both try).
fn lock(rc: &RepoCache, repo: &str) -> Result<std::fs::File> {
    let path = rc.root.join(".onevision-download.lock");
    let file = std::fs::File::create(&path).map_err(|e| CatalogError::io(&path, e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(CatalogError::Incomplete {
            path,
            reason: format!("is held by another download of {repo}; wait for it to finish"),
        }),
        Err(fs4::TryLockError::Error(e)) => Err(CatalogError::io(&path, e)),
    }
}

/// Why one attempt at a file ended early.
enum Interrupted {
    /// The connection failed: resume from what is on disk.
    Retry(CatalogError),
    Fatal(CatalogError),
}

fn fetch_file(
    hub: &Hub,
    repo: &str,
    commit: &str,
    rc: &RepoCache,
    file: &RepoFile,
    opts: &DownloadOptions,
    report: &mut dyn FnMut(u64, bool),
) -> Result<()> {
    let blob = rc.blob(file.hash.hex());
    if std::fs::metadata(&blob).is_ok_and(|m| m.len() == file.size) {
        report(file.size, true);
        return Ok(());
    }
    let mut attempt = 0;
    loop {
        match fetch_once(hub, repo, commit, rc, file, opts, report) {
            Ok(()) => {
                report(file.size, true);
                return Ok(());
            }
            Err(Interrupted::Retry(e)) if attempt < opts.retries => {
                attempt += 1;
                let wait = Duration::from_millis(250 << attempt.min(5));
                tracing::warn!(file = %file.name, attempt, "{e}; resuming in {wait:?}");
                std::thread::sleep(wait);
            }
            Err(Interrupted::Retry(e)) | Err(Interrupted::Fatal(e)) => return Err(e),
        }
    }
}

fn fetch_once(
    hub: &Hub,
    repo: &str,
    commit: &str,
    rc: &RepoCache,
    file: &RepoFile,
    opts: &DownloadOptions,
    report: &mut dyn FnMut(u64, bool),
) -> std::result::Result<(), Interrupted> {
    use Interrupted::{Fatal, Retry};
    let partial = rc.partial(file.hash.hex());
    let mut have = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    if have > file.size {
        have = 0;
    }
    // Hashed as it arrives; after a resume, the part already on disk is read once first.
    let mut hasher = file.hash.hasher(file.size);
    if have < file.size {
        let url = hub.file_url(repo, commit, &file.name);
        let resp = hub
            .get(&url, repo, &file.name, (have > 0).then_some(have))
            .map_err(|e| match e {
                CatalogError::Network { .. } => Retry(e),
                other => Fatal(other),
            })?;
        match resp.status().as_u16() {
            206 if content_range_start(&resp) == Some(have) => {}
            // The server sent the whole file (or a range we did not ask for): start over.
            206 | 200 => have = 0,
            // Nothing left to send: what we have is all there is; the hash decides.
            _ => {}
        }
        let out = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&partial)
            .map_err(|e| Fatal(CatalogError::io(&partial, e)))?;
        out.set_len(have)
            .map_err(|e| Fatal(CatalogError::io(&partial, e)))?;
        drop(out);
        hash_prefix(&partial, have, &mut hasher).map_err(Fatal)?;
        if resp.status().as_u16() != 416 {
            report(have, false);
            have = stream(resp, &url, &partial, have, &mut hasher, file, opts, report)?;
        }
    } else {
        hash_prefix(&partial, have, &mut hasher).map_err(Fatal)?;
    }
    if have < file.size {
        return Err(Retry(CatalogError::Network {
            url: hub.file_url(repo, commit, &file.name),
            reason: format!("the connection closed after {have} of {} bytes", file.size),
        }));
    }
    let actual = hasher.hex();
    if have != file.size || actual != file.hash.hex() {
        // A damaged partial would fail again on every resume: it goes.
        let _ = std::fs::remove_file(&partial);
        return Err(Fatal(CatalogError::HashMismatch {
            file: file.name.clone(),
            algorithm: file.hash.algorithm(),
            expected: file.hash.hex().to_string(),
            actual,
        }));
    }
    let blob = rc.blob(file.hash.hex());
    std::fs::rename(&partial, &blob).map_err(|e| Fatal(CatalogError::io(&blob, e)))?;
    Ok(())
}

/// Appends the body to `partial` (which holds `have` bytes) and feeds it to `hasher`; returns
/// the new length.
#[allow(clippy::too_many_arguments)]
fn stream(
    resp: ureq::http::Response<ureq::Body>,
    url: &str,
    partial: &Path,
    mut have: u64,
    hasher: &mut Hasher,
    file: &RepoFile,
    opts: &DownloadOptions,
    report: &mut dyn FnMut(u64, bool),
) -> std::result::Result<u64, Interrupted> {
    use Interrupted::{Fatal, Retry};
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(partial)
        .map_err(|e| Fatal(CatalogError::io(partial, e)))?;
    let mut body = resp.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let result = loop {
        if opts.cancel.load(Ordering::Relaxed) {
            break Err(Fatal(CatalogError::Cancelled));
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => {
                break Err(Retry(CatalogError::Network {
                    url: url.to_string(),
                    reason: format!(
                        "the connection broke after {have} of {} bytes: {e}",
                        file.size
                    ),
                }))
            }
        };
        if let Err(e) = out.write_all(&buf[..n]) {
            break Err(Fatal(write_error(
                partial,
                e,
                file.size.saturating_sub(have),
                opts,
            )));
        }
        hasher.update(&buf[..n]);
        have += n as u64;
        if have > file.size {
            break Ok(());
        }
        report(have, false);
    };
    // What arrived is kept for the next attempt, whatever ended this one.
    let synced = out.sync_all();
    result?;
    synced.map_err(|e| {
        Fatal(write_error(
            partial,
            e,
            file.size.saturating_sub(have),
            opts,
        ))
    })?;
    Ok(have)
}

fn write_error(path: &Path, e: std::io::Error, left: u64, opts: &DownloadOptions) -> CatalogError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    ) {
        let dir = path.parent().unwrap_or(path);
        return CatalogError::DiskFull {
            path: dir.to_path_buf(),
            needed: gb(left),
            available: gb((opts.free_space)(dir).unwrap_or(0)),
        };
    }
    CatalogError::io(path, e)
}

/// The first byte of a 206 answer: "bytes 100-199/200" -> 100.
fn content_range_start(resp: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let v = resp.headers().get("content-range")?.to_str().ok()?;
    v.strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Bytes done overall, the recent speed, and when to report next.
struct Meter {
    done_before: u64,
    total: u64,
    /// Bytes fetched by this run.
    fetched: u64,
    /// Bytes of finished files plus the current file's bytes at the start of this run.
    base: u64,
    file_start: u64,
    last_report: Option<Instant>,
    samples: VecDeque<(Instant, u64)>,
    current: Option<usize>,
}

impl Meter {
    fn new(present: u64, total: u64) -> Meter {
        Meter {
            done_before: present,
            total,
            fetched: 0,
            base: 0,
            file_start: 0,
            last_report: None,
            samples: VecDeque::new(),
            current: None,
        }
    }

    fn report(
        &mut self,
        file: &RepoFile,
        index: usize,
        count: usize,
        file_done: u64,
        last: bool,
    ) -> Option<DownloadProgress> {
        if self.current != Some(index) {
            // A new file: what it already had on disk counts as done, not as speed.
            self.current = Some(index);
            self.file_start = file_done.min(file.size);
        }
        let fetched_in_file = file_done.saturating_sub(self.file_start);
        let now = Instant::now();
        let fetched_total = self.base + fetched_in_file;
        self.fetched = fetched_total;
        if last {
            self.base += fetched_in_file;
            self.file_start = file.size;
        }
        self.samples.push_back((now, fetched_total));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > SPEED_WINDOW)
        {
            self.samples.pop_front();
        }
        if !last
            && self
                .last_report
                .is_some_and(|t| now.duration_since(t) < REPORT_EVERY)
        {
            return None;
        }
        self.last_report = Some(now);
        let bytes_per_s = match self.samples.front() {
            Some(&(t, b)) if now.duration_since(t) > Duration::from_millis(50) => {
                (fetched_total - b) as f64 / now.duration_since(t).as_secs_f64()
            }
            _ => 0.0,
        };
        let done = (self.done_before + fetched_total).min(self.total);
        Some(DownloadProgress {
            file: file.name.clone(),
            file_index: index + 1,
            file_count: count,
            file_done,
            file_total: file.size,
            done,
            total: self.total,
            bytes_per_s,
            eta_s: (bytes_per_s > 0.0).then(|| (self.total - done) as f64 / bytes_per_s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_a_load_uses_are_fetched_and_names_stay_inside() {
        assert!(wanted("model-00001-of-00004.safetensors"));
        assert!(wanted("tokenizer.json") && wanted("merges.txt") && wanted("chat_template.jinja"));
        assert!(!wanted("pytorch_model.bin") && !wanted("README.md") && !wanted(".gitattributes"));
        assert!(safe_name("sub/config.json"));
        assert!(!safe_name("../evil.json") && !safe_name("/etc/passwd") && !safe_name(""));
    }

    #[test]
    fn the_meter_reports_speed_and_eta_once_bytes_have_flowed_for_a_while() {
        let file = RepoFile {
            name: "model.safetensors".into(),
            size: 1_000,
            hash: crate::catalog::hash::HubHash::Sha256("0".repeat(64)),
        };
        // 200 bytes were already on disk from an interrupted run: done, but not speed.
        let mut meter = Meter::new(200, 1_200);
        let first = meter.report(&file, 0, 1, 0, false).unwrap();
        assert_eq!(
            (first.done, first.bytes_per_s, first.eta_s),
            (200, 0.0, None)
        );
        assert!(
            meter.report(&file, 0, 1, 100, false).is_none(),
            "reports are spaced"
        );
        std::thread::sleep(REPORT_EVERY + Duration::from_millis(20));
        let later = meter.report(&file, 0, 1, 600, false).unwrap();
        assert_eq!(later.done, 800);
        assert!(later.bytes_per_s > 0.0);
        let eta = later.eta_s.unwrap();
        assert!((eta - 400.0 / later.bytes_per_s).abs() < 1e-9, "{eta}");
        let last = meter.report(&file, 0, 1, 1_000, true).unwrap();
        assert_eq!((last.done, last.total), (1_200, 1_200));
    }
}
