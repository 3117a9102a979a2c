//! The Hugging Face hub's HTTP interface, the two calls a download needs:
//!
//! - `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`: the commit the revision
//!   resolves to and every file with its size and hash (`lfs.sha256` for LFS files, `blobId`, the
//!   git blob SHA-1, for the rest);
//! - `GET {endpoint}/{repo}/resolve/{commit}/{file}`: the file, usually through a redirect to a
//!   CDN; `Range` asks for the rest of a partial file.
//!
//! The token goes only to the hub's own host: ureq drops it on a redirect elsewhere.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use ureq::http::Response;
use ureq::Body;

use super::cache::hf_home;
use super::error::{CatalogError, Result};
use super::hash::HubHash;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// `HF_ENDPOINT` (a mirror, or a test server), else the public hub.
pub fn endpoint_from_env() -> String {
    std::env::var("HF_ENDPOINT")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The token `huggingface_hub` would use: `HF_TOKEN`, else the legacy `HUGGING_FACE_HUB_TOKEN`,
/// else the file `huggingface-cli login` writes (`HF_TOKEN_PATH`, else `HF_HOME/token`).
pub fn token_from_env() -> Option<String> {
    let nonempty = |s: String| {
        let t = s.trim().to_string();
        (!t.is_empty()).then_some(t)
    };
    std::env::var("HF_TOKEN")
        .ok()
        .and_then(nonempty)
        .or_else(|| {
            std::env::var("HUGGING_FACE_HUB_TOKEN")
                .ok()
                .and_then(nonempty)
        })
        .or_else(|| {
            let path = std::env::var_os("HF_TOKEN_PATH")
                .map(PathBuf::from)
                .or_else(|| hf_home().map(|h| h.join("token")))?;
            std::fs::read_to_string(path).ok().and_then(nonempty)
        })
}

/// One file of a repository at a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoFile {
    pub name: String,
    pub size: u64,
    pub hash: HubHash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoInfo {
    pub commit: String,
    pub files: Vec<RepoFile>,
}

#[derive(Deserialize)]
struct ApiInfo {
    sha: String,
    #[serde(default)]
    siblings: Vec<ApiSibling>,
}

#[derive(Deserialize)]
struct ApiSibling {
    rfilename: String,
    size: Option<u64>,
    #[serde(rename = "blobId")]
    blob_id: Option<String>,
    lfs: Option<ApiLfs>,
}

#[derive(Deserialize)]
struct ApiLfs {
    sha256: String,
    size: u64,
}

pub struct Hub {
    agent: ureq::Agent,
    pub endpoint: String,
    token: Option<String>,
}

impl Hub {
    pub fn new(endpoint: &str, token: Option<String>) -> Hub {
        let config = ureq::Agent::config_builder()
            // Statuses are answered here, in words (401: a token is needed...).
            .http_status_as_error(false)
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .user_agent(format!("onevision/{}", env!("CARGO_PKG_VERSION")))
            .build();
        Hub {
            agent: config.into(),
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token,
        }
    }

    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The commit `revision` resolves to and the files it holds.
    pub fn repo_info(&self, repo: &str, revision: &str) -> Result<RepoInfo> {
        // A revision such as "refs/pr/1" is one path segment here.
        let url = format!(
            "{}/api/models/{repo}/revision/{}?blobs=true",
            self.endpoint,
            revision.replace('/', "%2F")
        );
        let mut resp = self.get(&url, repo, &format!("{repo} at revision {revision}"), None)?;
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| network(&url, e))?;
        let info: ApiInfo = serde_json::from_str(&text).map_err(|e| CatalogError::BadAnswer {
            url: url.clone(),
            reason: e.to_string(),
        })?;
        let mut files = Vec::new();
        for s in info.siblings {
            let (hash, size) = match (s.lfs, s.blob_id, s.size) {
                (Some(lfs), _, _) => (HubHash::Sha256(lfs.sha256.to_ascii_lowercase()), lfs.size),
                (None, Some(blob), Some(size)) => {
                    (HubHash::GitSha1(blob.to_ascii_lowercase()), size)
                }
                _ => {
                    return Err(CatalogError::BadAnswer {
                        url,
                        reason: format!("it gives no size and hash for {}", s.rfilename),
                    })
                }
            };
            files.push(RepoFile {
                name: s.rfilename,
                size,
                hash,
            });
        }
        Ok(RepoInfo {
            commit: info.sha,
            files,
        })
    }

    pub fn file_url(&self, repo: &str, commit: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/{commit}/{file}", self.endpoint)
    }

    /// A GET with the token; `from` asks for the bytes from that offset on. Statuses other
    /// than 2xx and 416 become errors in words; `what` names the thing asked for.
    pub fn get(
        &self,
        url: &str,
        repo: &str,
        what: &str,
        from: Option<u64>,
    ) -> Result<Response<Body>> {
        let mut req = self.agent.get(url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(from) = from {
            req = req.header("Range", format!("bytes={from}-"));
        }
        let mut resp = req.call().map_err(|e| network(url, e))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() || status == 416 {
            return Ok(resp);
        }
        let code = resp
            .headers()
            .get("x-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let endpoint = self.endpoint.clone();
        let repo = repo.to_string();
        Err(match (status, code.as_str()) {
            (401 | 404, "RepoNotFound") => CatalogError::NotFound {
                what: format!(
                    "the repository {repo} (it does not exist, or it is private{})",
                    if self.has_token() {
                        ""
                    } else {
                        " and needs a token"
                    }
                ),
                url: url.to_string(),
            },
            (404, _) => CatalogError::NotFound {
                what: what.to_string(),
                url: url.to_string(),
            },
            (401, _) if !self.has_token() => CatalogError::NeedsToken { repo, endpoint },
            (403, _) if !self.has_token() => CatalogError::NeedsToken { repo, endpoint },
            (401 | 403, _) => CatalogError::Refused { repo, endpoint },
            _ => {
                let message = resp
                    .headers()
                    .get("x-error-message")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from)
                    .or_else(|| {
                        resp.body_mut()
                            .with_config()
                            .limit(4096)
                            .read_to_string()
                            .ok()
                    })
                    .unwrap_or_default();
                CatalogError::Http {
                    url: url.to_string(),
                    status,
                    message: message.chars().take(300).collect(),
                }
            }
        })
    }
}

fn network(url: &str, e: ureq::Error) -> CatalogError {
    CatalogError::Network {
        url: url.to_string(),
        reason: e.to_string(),
    }
}
