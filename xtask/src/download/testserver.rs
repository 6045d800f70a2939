//! A tiny stand-in for the Hugging Face Hub on 127.0.0.1, for the download tests.
//!
//! It serves hf-hub's file route `GET /{repo}/resolve/{revision}/{file}` with what hf-hub reads:
//! `ETag`, `X-Repo-Commit`, `Content-Range`/`Content-Length`, relative redirects and byte ranges (`bytes=a-` and
//! `bytes=a-b`, for the metadata probe and for resuming). Unknown paths get 404. Each file can be
//! served honestly, cut short (the body stops half way though `Content-Length` says more), or with
//! corrupted content under the right etag. One request per connection; requests are read with a
//! timeout and a size bound; the server thread stops when dropped, or by itself after a minute.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The commit every response names.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// How a file is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// As it is.
    Honest,
    /// The next `n` body requests (more than one byte) stop half way.
    Truncate(usize),
    /// Every byte flipped, same length and etag.
    Corrupt,
}

/// One file of the fake hub.
#[derive(Debug, Clone)]
pub struct FileSpec {
    /// The content.
    pub body: Vec<u8>,
    /// The etag announced (the sha256 for "LFS" files).
    pub etag: String,
    /// How it is served.
    pub serve: Serve,
}

type Files = Arc<Mutex<HashMap<String, FileSpec>>>;
type Redirects = Arc<Mutex<HashMap<String, String>>>;

/// A running fake hub; stops when dropped.
pub struct HubServer {
    endpoint: String,
    files: Files,
    redirects: Redirects,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// Starts serving on a free port of 127.0.0.1.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let files: Files = Arc::default();
        let redirects: Redirects = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (f, m, r, s) = (files.clone(), redirects.clone(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while !s.load(Ordering::SeqCst) && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        r.fetch_add(1, Ordering::SeqCst);
                        let _ = handle(stream, &f, &m);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Ok(Self { endpoint, files, redirects, requests, stop, thread: Some(thread) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Connections served so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Serves `spec` at `path` (`/datasets/owner/name/resolve/main/file`), replacing what was there.
    pub fn put(&self, path: &str, spec: FileSpec) {
        if let Ok(mut files) = self.files.lock() {
            files.insert(path.to_string(), spec);
        }
    }

    /// Answers `from` with a `307` to the relative `to` (a renamed repository, as the hub does).
    pub fn redirect(&self, from: &str, to: &str) {
        if let Ok(mut r) = self.redirects.lock() {
            r.insert(from.to_string(), to.to_string());
        }
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one request (at most 16 KiB of head, 5 s) and answers it.
fn handle(mut stream: TcpStream, files: &Files, redirects: &Redirects) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let path = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("/").to_string();
    let range = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("range"))
        .map(|(_, v)| v.trim().to_string());
    if let Some(to) = redirects.lock().ok().and_then(|r| r.get(&path).cloned()) {
        let head = format!("HTTP/1.1 307 Temporary Redirect\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return stream.write_all(head.as_bytes());
    }
    let spec = files.lock().ok().and_then(|mut f| {
        let spec = f.get_mut(&path)?;
        let out = spec.clone();
        if let Serve::Truncate(n) = spec.serve {
            let is_body = !matches!(range.as_deref(), Some("bytes=0-0"));
            if is_body {
                spec.serve = if n > 1 { Serve::Truncate(n - 1) } else { Serve::Honest };
            }
        }
        Some(out)
    });
    let Some(spec) = spec else {
        let body = b"Entry not found";
        let head = format!(
            "HTTP/1.1 404 Not Found\r\nX-Error-Code: EntryNotFound\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes())?;
        return stream.write_all(body);
    };
    let body: Vec<u8> = match spec.serve {
        Serve::Corrupt => spec.body.iter().map(|b| !b).collect(),
        _ => spec.body.clone(),
    };
    let len = body.len();
    let (status, start, end) = match range.as_deref().and_then(parse_range) {
        Some((a, b)) if a < len => ("206 Partial Content", a, b.unwrap_or(len - 1).min(len - 1)),
        Some(_) => {
            let head = format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            return stream.write_all(head.as_bytes());
        }
        None => ("200 OK", 0, len.saturating_sub(1)),
    };
    let slice = body.get(start..=end).unwrap_or(&[]);
    let mut head = format!(
        "HTTP/1.1 {status}\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nContent-Length: {}\r\nConnection: close\r\n",
        spec.etag,
        slice.len()
    );
    if status.starts_with("206") {
        head.push_str(&format!("Content-Range: bytes {start}-{end}/{len}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    let cut = matches!(spec.serve, Serve::Truncate(_)) && slice.len() > 1;
    stream.write_all(if cut { &slice[..slice.len() / 2] } else { slice })?;
    stream.flush()
}

/// `bytes=a-` or `bytes=a-b`.
fn parse_range(v: &str) -> Option<(usize, Option<usize>)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let a = a.trim().parse().ok()?;
    let b = if b.trim().is_empty() { None } else { Some(b.trim().parse().ok()?) };
    Some((a, b))
}
