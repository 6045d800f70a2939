//! Project tasks for dls-rs (the cargo-xtask pattern): `cargo xtask tour`, `bench` and `download`.
//!
//! ```text
//! cargo xtask tour --quick --json out/tour.json
//! cargo xtask bench --filter optim_step --quick --peers
//! cargo xtask download fashion-mnist
//! ```
//! xtask stays free of candle: it builds and runs the examples and benches as child processes, so it
//! compiles quickly (`download` adds hf-hub and a lean parquet reader). Only xtask touches the network. Shared helpers (workspace paths, atomic JSON writes) live here; each
//! subcommand has its own module.

mod bench;
mod download;
mod peers;
mod table;
mod tour;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

/// Project tasks for dls-rs.
#[derive(Parser)]
#[command(name = "xtask", about = "Project tasks for dls-rs: tour, bench, download")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// The subcommands.
#[derive(Subcommand)]
enum Cmd {
    /// Run each domain's flagship example on shipped data and print one results table.
    Tour(tour::TourArgs),
    /// Run the criterion benches of dls-benches and print a summary table.
    Bench(bench::BenchArgs),
    /// Fetch a data set or pretrained weights from the Hugging Face Hub (verified) and convert them.
    Download(download::DownloadArgs),
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Tour(args) => tour::run(&args),
        Cmd::Bench(args) => bench::run(&args),
        Cmd::Download(args) => download::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole context chain, without a backtrace: these are user-facing messages.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the folder above `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or_else(|| manifest.to_path_buf())
}

/// A `cargo` command run from the workspace root (the `cargo` that launched us, if any).
pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` if set, else `cargo metadata`'s `target_directory`.
pub(crate) fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return Ok(if dir.is_absolute() { dir } else { workspace_root().join(dir) });
    }
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("running `cargo metadata`")?;
    if !out.status.success() {
        bail!("`cargo metadata` failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing `cargo metadata` output")?;
    match meta.get("target_directory").and_then(|v| v.as_str()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => bail!("`cargo metadata` output has no string `target_directory`"),
    }
}

/// Writes `value` as pretty JSON to `path` atomically (a temporary file beside it, then a rename),
/// creating the parent folder if needed.
pub(crate) fn write_json_atomically<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).context("serialising JSON")?;
    text.push('\n');
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating folder {}", parent.display()))?;
    let name = path.file_name().with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = parent.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    std::fs::write(&tmp, text.as_bytes()).with_context(|| format!("writing {}", tmp.display()))?;
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_parent_and_leaves_no_temp_file() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sub/out.json");
        write_json_atomically(&path, &serde_json::json!([{"a": 1.5}]))?;
        let back: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
        assert_eq!(back[0]["a"].as_f64(), Some(1.5));
        let entries = std::fs::read_dir(dir.path().join("sub"))?.count();
        assert_eq!(entries, 1, "only the final file remains");
        Ok(())
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("xtask").is_dir());
    }
}
