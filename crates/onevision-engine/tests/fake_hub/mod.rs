//! A stand-in for the Hugging Face hub on 127.0.0.1, serving small fixture models in the hub's
//! URL layout, with the faults a real download meets: a connection dropped mid-file, a file whose
//! bytes do not match its hash, a gated repository, a slow link. Shared with the command's tests.
#![allow(dead_code)] // each test binary uses a different subset

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha1::Digest as _;

pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

struct Repo {
    files: Vec<(String, Vec<u8>)>,
    /// The token the repository wants; `None` for a public one.
    token: Option<String>,
}

#[derive(Default)]
struct State {
    repos: HashMap<String, Repo>,
    seen: Vec<Seen>,
    /// File name -> bytes after which the connection drops, once.
    drop_after: HashMap<String, usize>,
    /// Files served with one byte changed.
    corrupt: HashSet<String>,
    /// Pause between 64 KiB pieces of a body.
    slow: Option<Duration>,
}

#[derive(Clone)]
pub struct FakeHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// LFS files are served through a redirect and hashed with SHA-256, as on the hub.
fn is_lfs(name: &str) -> bool {
    name.ends_with(".safetensors") || name == "tokenizer.json"
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256(data: &[u8]) -> String {
    hex(&sha2::Sha256::digest(data))
}

pub fn git_sha1(data: &[u8]) -> String {
    let mut h = sha1::Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex(&h.finalize())
}

/// The hash the hub names this file by.
pub fn hub_hash(name: &str, data: &[u8]) -> String {
    if is_lfs(name) {
        sha256(data)
    } else {
        git_sha1(data)
    }
}

/// Every file of `dir`, plus `extra` files from elsewhere (a tokenizer the fixture lacks).
pub fn files_of(dir: &Path, extra: &[&Path]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .chain(extra.iter().map(|p| p.to_path_buf()))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

impl FakeHub {
    pub fn start() -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &state);
                });
            }
        });
        FakeHub { url, state }
    }

    pub fn add_repo(&self, repo: &str, files: Vec<(String, Vec<u8>)>, token: Option<&str>) {
        self.state.lock().unwrap().repos.insert(
            repo.to_string(),
            Repo {
                files,
                token: token.map(String::from),
            },
        );
    }

    pub fn drop_after(&self, file: &str, bytes: usize) {
        self.state
            .lock()
            .unwrap()
            .drop_after
            .insert(file.to_string(), bytes);
    }

    pub fn corrupt(&self, file: &str) {
        self.state.lock().unwrap().corrupt.insert(file.to_string());
    }

    pub fn slow(&self, pause: Duration) {
        self.state.lock().unwrap().slow = Some(pause);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }
}

fn serve(conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    let auth = headers.get("authorization").cloned();
    state.lock().unwrap().seen.push(Seen {
        path: target.clone(),
        range: range.clone(),
        authorization: auth.clone(),
    });
    let path = target.split('?').next().unwrap_or("").to_string();
    let mut out = conn;

    if let Some(rest) = path.strip_prefix("/api/models/") {
        // {org}/{name}/revision/{rev}
        let parts: Vec<&str> = rest.split('/').collect();
        let repo = format!("{}/{}", parts[0], parts.get(1).unwrap_or(&""));
        let st = state.lock().unwrap();
        let Some(r) = st.repos.get(&repo) else {
            return respond(
                &mut out,
                401,
                &[("X-Error-Code", "RepoNotFound")],
                b"{\"error\":\"Repository not found\"}",
            );
        };
        let siblings: Vec<serde_json::Value> = r
            .files
            .iter()
            .map(|(name, data)| {
                let mut s = serde_json::json!({
                    "rfilename": name,
                    "size": data.len(),
                    "blobId": git_sha1(data),
                });
                if is_lfs(name) {
                    s["lfs"] = serde_json::json!({"sha256": sha256(data), "size": data.len(), "pointerSize": 134});
                }
                s
            })
            .collect();
        let body = serde_json::json!({"id": repo, "sha": COMMIT, "siblings": siblings}).to_string();
        return respond(
            &mut out,
            200,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
    }

    // /{org}/{name}/resolve/{rev}/{file}, or /cdn/{org}/{name}/{file} after the LFS redirect.
    let (cdn, rest) = match path.strip_prefix("/cdn/") {
        Some(r) => (true, r),
        None => (false, path.trim_start_matches('/')),
    };
    let parts: Vec<&str> = rest.splitn(5, '/').collect();
    let (repo, file) = if cdn && parts.len() >= 3 {
        (format!("{}/{}", parts[0], parts[1]), parts[2..].join("/"))
    } else if !cdn && parts.len() == 5 && parts[2] == "resolve" {
        (format!("{}/{}", parts[0], parts[1]), parts[4].to_string())
    } else {
        return respond(&mut out, 404, &[], b"not found");
    };
    let (data, slow, drop_at) = {
        let mut st = state.lock().unwrap();
        let Some(r) = st.repos.get(&repo) else {
            return respond(&mut out, 401, &[("X-Error-Code", "RepoNotFound")], b"");
        };
        if !cdn {
            if let Some(t) = &r.token {
                if auth.as_deref() != Some(&format!("Bearer {t}")) {
                    return respond(&mut out, 401, &[("X-Error-Code", "GatedRepo")], b"gated");
                }
            }
        }
        let Some((_, data)) = r.files.iter().find(|(n, _)| *n == file) else {
            return respond(&mut out, 404, &[("X-Error-Code", "EntryNotFound")], b"");
        };
        let mut data = data.clone();
        if !cdn && is_lfs(&file) {
            let location = format!("/cdn/{repo}/{file}");
            let etag = format!("\"{}\"", sha256(&data));
            return respond(
                &mut out,
                302,
                &[
                    ("Location", &location),
                    ("X-Linked-Etag", &etag),
                    ("X-Repo-Commit", COMMIT),
                ],
                b"",
            );
        }
        if st.corrupt.contains(&file) {
            let mid = data.len() / 2;
            data[mid] ^= 0xff;
        }
        let drop_at = st.drop_after.remove(&file);
        (data, st.slow, drop_at)
    };
    let start = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
    let (status, body, content_range) = match start {
        Some(s) if s >= data.len() => {
            let cr = format!("bytes */{}", data.len());
            return respond(&mut out, 416, &[("Content-Range", &cr)], b"");
        }
        Some(s) => (
            206,
            &data[s..],
            Some(format!("bytes {s}-{}/{}", data.len() - 1, data.len())),
        ),
        None => (200, &data[..], None),
    };
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\nX-Repo-Commit: {COMMIT}\r\n",
        body.len()
    );
    if let Some(cr) = content_range {
        head.push_str(&format!("Content-Range: {cr}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    let limit = drop_at.unwrap_or(usize::MAX).min(body.len());
    for piece in body[..limit].chunks(64 << 10) {
        out.write_all(piece)?;
        if let Some(p) = slow {
            std::thread::sleep(p);
        }
    }
    out.flush()?;
    if drop_at.is_some() {
        // A dropped connection: close without sending the rest.
        out.shutdown(std::net::Shutdown::Both)?;
    }
    Ok(())
}

fn respond(
    out: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}
