//! Fetching one file of a hub repository through hf-hub's cache, verified before it is handed out.
//!
//! Online, a metadata probe (`GET` with `Range: bytes=0-0`, redirects not followed, the request
//! hf-hub itself makes) gives the file's etag, size and commit. A cached copy with that etag is
//! re-verified and used as is; otherwise hf-hub downloads it (to `blobs/<etag>.part`, resumed on
//! the next run after an interruption, then renamed to `blobs/<etag>` and linked from
//! `snapshots/<commit>/<file>`). What arrives is checked against the probe's size and, for LFS
//! files (whose etag is the content's sha256), against a sha256 computed here, because hf-hub checks
//! neither. A file that fails is removed from the cache, so no corrupt file is ever left at the
//! final path and the next run downloads it afresh.
//!
//! Offline (`--offline` or `HF_HUB_OFFLINE=1`), the cache alone is consulted and no connection
//! is opened: hf-hub's `Api` is not even built.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::Cache;

use super::catalog::HubRepo;
use super::verify;

/// Where the hub is and where its cache lives.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The hub's base URL, without a trailing slash (`https://huggingface.co`).
    pub endpoint: String,
    /// hf-hub's cache folder (`$HF_HOME/hub`, by default `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Resolve from the cache only; never open a connection.
    pub offline: bool,
    /// Show hf-hub's progress bar while downloading.
    pub progress: bool,
}

/// The default hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

impl HubConfig {
    /// From the environment, as `hf_hub::api::sync::ApiBuilder::from_env` reads it: `HF_ENDPOINT`,
    /// `HF_HOME` (the cache is `$HF_HOME/hub`), plus `HF_HUB_OFFLINE` (`1`, `true`, `yes` or `on`),
    /// which no hf-hub version reads; `offline` forces offline mode. Unlike hf-hub's default cache,
    /// a missing home folder is an error rather than a panic.
    ///
    /// # Errors
    /// Neither `HF_HOME` nor `HOME` (or `USERPROFILE`) is set.
    pub fn from_env(offline: bool) -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint = var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
        let cache_dir = match var("HF_HOME") {
            Some(home) => PathBuf::from(home).join("hub"),
            None => match var("HOME").or_else(|| var("USERPROFILE")) {
                Some(home) => PathBuf::from(home).join(".cache").join("huggingface").join("hub"),
                None => bail!("cannot place the hub cache: set HF_HOME (or HOME)"),
            },
        };
        let env_offline = var("HF_HUB_OFFLINE")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"));
        Ok(Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            cache_dir,
            offline: offline || env_offline,
            progress: true,
        })
    }
}

/// A verified file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// `snapshots/<commit>/<file>` in the cache (a link to the blob).
    pub path: PathBuf,
    /// The content's sha256 (hex), computed here.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether the hub gave a sha256 that the content was checked against (LFS files).
    pub sha256_checked: bool,
}

/// What the hub says about a file before it is downloaded.
#[derive(Debug, Clone)]
struct Meta {
    etag: String,
    size: u64,
}

/// Fetches `file` of `repo` into the cache (or finds it there) and verifies it.
///
/// # Errors
/// Offline and not cached; the hub answered with an error status (404 names the file and URL); a
/// missing or malformed metadata header; a download that failed or was cut short (its partial file
/// is kept and resumed next time); a size or sha256 that does not match what the hub announced (the
/// file is removed from the cache).
pub fn fetch(cfg: &HubConfig, repo: HubRepo, file: &str) -> Result<Fetched> {
    let cache = Cache::new(cfg.cache_dir.clone());
    let cache_repo = cache.repo(repo.to_hf());
    if cfg.offline {
        let Some(path) = cache_repo.get(file) else {
            bail!(
                "offline: {file} of {repo} is not in the cache {} (run once without --offline / HF_HUB_OFFLINE)",
                cfg.cache_dir.display()
            );
        };
        return verify_cached(&path, None).with_context(|| format!("checking cached {}", path.display()));
    }
    let url =
        format!("{}/{}/resolve/{}/{file}", cfg.endpoint, repo.to_hf().url(), repo.to_hf().url_revision());
    let token = cache.token();
    let meta = probe(&url, token.as_deref())?;
    if let Some(path) = cache_repo.get(file) {
        if blob_name(&path).as_deref() == Some(meta.etag.as_str()) {
            match verify_cached(&path, Some(meta.size)) {
                Ok(found) => return Ok(found),
                // A damaged cached copy: say so, drop it and download again below.
                Err(e) => eprintln!("warning: {e:#}; downloading {file} again"),
            }
        }
    }
    let api = ApiBuilder::from_cache(cache.clone())
        .with_endpoint(cfg.endpoint.clone())
        .with_progress(cfg.progress)
        .build()
        .context("building the hf-hub client")?;
    let hf_repo = api.repo(repo.to_hf());
    let path = match hf_repo.download(file) {
        Ok(path) => path,
        Err(hf_hub::api::sync::ApiError::InvalidResume) => {
            // A partial file longer than the real one: it cannot be resumed, start over.
            let part = cfg
                .cache_dir
                .join(repo.to_hf().folder_name())
                .join("blobs")
                .join(format!("{}.part", meta.etag));
            std::fs::remove_file(&part).with_context(|| format!("removing {}", part.display()))?;
            hf_repo.download(file).with_context(|| format!("downloading {url}"))?
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("downloading {url} (a partial file is kept and resumed next run)"))
        }
    };
    match verify::check(&path, meta.size, &meta.etag) {
        Ok(found) => Ok(found),
        Err(e) => {
            remove_from_cache(&path);
            Err(e.context(format!("{url}: the download was removed from the cache; run again to retry")))
        }
    }
}

/// Verifies a cached file: `size` when known, and its sha256 when its blob is named by one.
fn verify_cached(path: &Path, size: Option<u64>) -> Result<Fetched> {
    let etag = blob_name(path).unwrap_or_default();
    let size = match size {
        Some(s) => s,
        None => std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len(),
    };
    let result = verify::check(path, size, &etag);
    if result.is_err() {
        remove_from_cache(path);
    }
    result.map_err(|e| e.context(format!("cached {} is damaged and was removed", path.display())))
}

/// The blob a snapshot link points to: hf-hub names blobs by etag.
fn blob_name(path: &Path) -> Option<String> {
    let target = std::fs::canonicalize(path).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Removes a snapshot link and the blob it points to (best effort: the caller reports the error).
fn remove_from_cache(path: &Path) {
    if let Ok(blob) = std::fs::canonicalize(path) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(path);
}

/// The metadata request hf-hub makes: `GET` with `Range: bytes=0-0`, no redirects followed (the
/// hub answers LFS files with a redirect carrying `x-linked-etag` and `x-linked-size`).
fn probe(url: &str, token: Option<&str>) -> Result<Meta> {
    let agent = ureq::builder().try_proxy_from_env(true).redirects(0).build();
    let call = |target: &str| {
        let mut request = agent.get(target).set("Range", "bytes=0-0");
        if let Some(token) = token {
            request = request.set("Authorization", &format!("Bearer {token}"));
        }
        request.call().map_err(Box::new)
    };
    let mut result = call(url);
    // Like hf-hub, follow relative redirects only (a renamed repository); an absolute one is the
    // CDN's, and the metadata is on the redirect itself.
    for _ in 0..5 {
        let relative = match &result {
            Ok(r) if (300..400).contains(&r.status()) => r.header("location").filter(|l| l.starts_with('/')),
            _ => None,
        };
        let Some(location) = relative.map(str::to_string) else { break };
        let origin =
            url.find("://").and_then(|i| url[i + 3..].find('/').map(|j| &url[..i + 3 + j])).unwrap_or(url);
        result = call(&format!("{origin}{location}"));
    }
    let response = match result.map_err(|e| *e) {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            let hint = match code {
                401 | 403 => " (a gated or private repository needs a token: `huggingface-cli login`)",
                404 => " (not found: check the repository id and file path)",
                _ => "",
            };
            bail!("{url}: HTTP {code} {}{hint}", r.status_text());
        }
        Err(e) => return Err(anyhow::Error::new(e).context(format!("requesting {url}"))),
    };
    let header = |name: &str| response.header(name).map(|v| v.trim().trim_matches('"').to_string());
    let Some(etag) = header("x-linked-etag").or_else(|| header("etag")).filter(|e| !e.is_empty()) else {
        bail!("{url}: the response has no etag header (status {})", response.status());
    };
    if header("x-repo-commit").is_none() {
        bail!("{url}: the response has no x-repo-commit header");
    }
    let total = header("content-range").and_then(|r| r.rsplit('/').next().map(str::to_string));
    let size_text = header("x-linked-size").or(total);
    let Some(size) = size_text.as_deref().and_then(|s| s.parse::<u64>().ok()) else {
        bail!("{url}: no file size in x-linked-size or content-range (got {size_text:?})");
    };
    Ok(Meta { etag, size })
}
