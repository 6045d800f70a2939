//! Checking a downloaded file: its size, and its sha256 where the hub gave one.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

use super::hub::Fetched;

/// Whether `etag` is a sha256 in hex: the hub's etag of an LFS file is its content's sha256.
pub fn is_sha256(etag: &str) -> bool {
    etag.len() == 64 && etag.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The sha256 of a file's content, in lower-case hex.
///
/// # Errors
/// The file cannot be opened or read.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `path` holds `size` bytes and, when `etag` is a sha256, that its content hashes to it.
///
/// # Errors
/// An unreadable file, a size other than `size`, or a sha256 other than `etag` (both named).
pub fn check(path: &Path, size: u64, etag: &str) -> Result<Fetched> {
    let got = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?.len();
    if got != size {
        bail!("{}: expected {size} bytes, got {got}", path.display());
    }
    let sha256 = sha256_file(path)?;
    let sha256_checked = is_sha256(etag);
    if sha256_checked && !sha256.eq_ignore_ascii_case(etag) {
        bail!("{}: sha256 mismatch: expected {etag}, got {sha256}", path.display());
    }
    Ok(Fetched { path: path.to_path_buf(), sha256, size, sha256_checked })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_size_and_sha256() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc")?;
        // sha256("abc"), FIPS 180-2 appendix B.1.
        let sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let ok = check(&path, 3, sha)?;
        assert!(ok.sha256_checked && ok.sha256 == sha && ok.size == 3);
        // A git (sha1) etag cannot be checked here: size only.
        assert!(!check(&path, 3, "a9993e364706816aba3e25717850c26c9cd0d89d")?.sha256_checked);
        let err = format!("{:#}", check(&path, 4, sha).map(|_| ()).unwrap_err());
        assert!(err.contains("expected 4 bytes, got 3"), "{err}");
        let bad = "0".repeat(64);
        let err = format!("{:#}", check(&path, 3, &bad).map(|_| ()).unwrap_err());
        assert!(err.contains(&format!("sha256 mismatch: expected {bad}, got {sha}")), "{err}");
        Ok(())
    }
}
