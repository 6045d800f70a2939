//! `cargo xtask download NAME`: data sets and pretrained weights from the Hugging Face Hub.
//!
//! ```text
//! cargo xtask download --list
//! cargo xtask download fashion-mnist            # IDX files in ~/.cache/dls-rs/fashion-mnist
//! cargo xtask download cifar10 --dir data/cifar10
//! HF_HUB_OFFLINE=1 cargo xtask download mnist  # from the cache only, no connection
//! ```
//! The hub's files go into hf-hub's cache (`HF_HOME`, `HF_ENDPOINT` honoured) and are verified there
//! ([`hub`]); then they are turned into what our crates load ([`convert`]) in the output folder:
//! `--dir DIR`, else `$DLS_DATA/NAME`, else `~/.cache/dls-rs/NAME`. A stamp file there records the
//! sha256 of each source, so a second run with the same sources does nothing.

pub mod catalog;
pub mod convert;
pub mod hub;
pub mod verify;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testserver;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::table::{Align, Table};
use catalog::{Entry, Output, CATALOG};
use hub::{Fetched, HubConfig};

/// Options of `cargo xtask download`.
#[derive(Args, Debug)]
pub struct DownloadArgs {
    /// What to fetch (see `--list`).
    #[arg(required_unless_present = "list")]
    name: Option<String>,
    /// Output folder (default `$DLS_DATA/NAME`, else `~/.cache/dls-rs/NAME`).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Use the hub cache only and never open a connection (also `HF_HUB_OFFLINE=1`).
    #[arg(long)]
    offline: bool,
    /// List what can be downloaded.
    #[arg(long)]
    list: bool,
}

/// The stamp written beside the outputs: which sources they were made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// The catalogue name.
    pub name: String,
    /// `datasets/<id>` or `<id>`.
    pub repo: String,
    /// `(file, sha256)` of each source, in catalogue order.
    pub sources: Vec<(String, String)>,
    /// The output files, relative to the output folder.
    pub outputs: Vec<String>,
}

/// The stamp's file name in the output folder.
pub const STAMP: &str = "dls-download.json";

/// Runs `cargo xtask download`.
pub fn run(args: &DownloadArgs) -> Result<()> {
    if args.list {
        print!("{}", list());
        return Ok(());
    }
    let Some(name) = args.name.as_deref() else { bail!("give a NAME to download, or --list") };
    let entry = catalog::find(name)?;
    let cfg = HubConfig::from_env(args.offline)?;
    let out_dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => default_dir(entry.name)?,
    };
    let mode = if cfg.offline { " (offline)" } else { "" };
    println!("{}: {} from {}{mode}, cache {}", entry.name, entry.repo, cfg.endpoint, cfg.cache_dir.display());
    let stamp = download(entry, &cfg, &out_dir)?;
    println!("{} ready in {}:", entry.name, out_dir.display());
    for out in &stamp.outputs {
        println!("  {out}");
    }
    Ok(())
}

/// The `--list` table.
pub fn list() -> String {
    let mut table = Table::new(&[("name", Align::Left), ("repository", Align::Left), ("what", Align::Left)]);
    for e in CATALOG {
        table.push(vec![e.name.to_string(), e.repo.to_string(), e.about.to_string()]);
    }
    table.render()
}

/// `$DLS_DATA/NAME`, else `~/.cache/dls-rs/NAME`.
fn default_dir(name: &str) -> Result<PathBuf> {
    let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(root) = var("DLS_DATA") {
        return Ok(root.join(name));
    }
    match var("HOME").or_else(|| var("USERPROFILE")) {
        Some(home) => Ok(home.join(".cache").join("dls-rs").join(name)),
        None => bail!("no output folder: pass --dir DIR or set DLS_DATA"),
    }
}

/// Fetches and verifies every file of `entry`, converts them into `out_dir` (unless its stamp says
/// they were already made from the same sources) and returns the stamp.
///
/// # Errors
/// Any fetch or verification error ([`hub::fetch`]), a conversion error naming the file and row, or
/// an output that cannot be written.
pub fn download(entry: &Entry, cfg: &HubConfig, out_dir: &Path) -> Result<Stamp> {
    let mut fetched = Vec::new();
    for file in entry.files {
        let f = hub::fetch(cfg, entry.repo, file)
            .with_context(|| format!("fetching {} of {}", file, entry.name))?;
        let how = if f.sha256_checked { "sha256 verified" } else { "size verified" };
        println!("  {file}: {} bytes, {how}", f.size);
        fetched.push(f);
    }
    let sources: Vec<(String, String)> =
        entry.files.iter().zip(&fetched).map(|(file, f)| (file.to_string(), f.sha256.clone())).collect();
    let stamp_path = out_dir.join(STAMP);
    if let Some(old) = read_stamp(&stamp_path) {
        let all_there = old.outputs.iter().all(|o| out_dir.join(o).is_file());
        if old.sources == sources && old.name == entry.name && all_there {
            println!("  outputs are up to date");
            return Ok(old);
        }
    }
    let outputs = convert_into(entry, &fetched, out_dir)?;
    let outputs =
        outputs.iter().map(|p| p.strip_prefix(out_dir).unwrap_or(p).to_string_lossy().into_owned()).collect();
    let stamp = Stamp { name: entry.name.to_string(), repo: entry.repo.to_string(), sources, outputs };
    crate::write_json_atomically(&stamp_path, &stamp)?;
    Ok(stamp)
}

fn read_stamp(path: &Path) -> Option<Stamp> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Converts the fetched files of `entry` (train then test, or the weights) into `out_dir`.
fn convert_into(entry: &Entry, fetched: &[Fetched], out_dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut outputs = Vec::new();
    match entry.output {
        Output::Idx { image_column } | Output::Cifar { image_column } => {
            let [train, test] = fetched else {
                bail!("{}: a data set needs a train and a test file, got {}", entry.name, fetched.len());
            };
            let cifar = matches!(entry.output, Output::Cifar { .. });
            for (f, is_test) in [(train, false), (test, true)] {
                let images = convert::read_images(&f.path, image_column, if cifar { 3 } else { 1 })?;
                println!("  decoded {} images of {}x{}", images.len(), images.width, images.height);
                if cifar {
                    outputs.extend(convert::write_cifar(out_dir, is_test, &images)?);
                } else {
                    outputs.extend(convert::write_idx(
                        out_dir,
                        if is_test { "t10k" } else { "train" },
                        &images,
                    )?);
                }
            }
            if cifar {
                let meta = out_dir.join("batches.meta.txt");
                let mut text = entry.classes.join("\n");
                text.push('\n');
                convert::write_atomically(&meta, text.as_bytes())?;
                outputs.push(meta);
            }
        }
        Output::Weights => {
            let [weights] = fetched else {
                bail!("{}: weights need one file, got {}", entry.name, fetched.len());
            };
            let dest = out_dir.join(format!("{}.safetensors", entry.name));
            link_or_copy(&weights.path, &dest)?;
            outputs.push(dest);
        }
        Output::Darknet { floats, extras } => {
            let [weights] = fetched else {
                bail!("{}: darknet weights need one file, got {}", entry.name, fetched.len());
            };
            convert::check_darknet_weights(&weights.path, floats)?;
            let dest = out_dir.join(format!("{}.weights", entry.name));
            link_or_copy(&weights.path, &dest)?;
            outputs.push(dest);
            for (file, text) in extras {
                let path = out_dir.join(file);
                convert::write_atomically(&path, text.as_bytes())?;
                outputs.push(path);
            }
        }
    }
    Ok(outputs)
}

/// Places `src` at `dest`: a hard link to the cache blob where possible, else a copy, both through a
/// temporary name and a rename.
fn link_or_copy(src: &Path, dest: &Path) -> Result<()> {
    let blob = std::fs::canonicalize(src).with_context(|| format!("resolving {}", src.display()))?;
    let parent = dest.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}.tmp-{}",
        dest.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    if std::fs::hard_link(&blob, &tmp).is_err() {
        std::fs::copy(&blob, &tmp)
            .with_context(|| format!("copying {} to {}", blob.display(), tmp.display()))?;
    }
    if let Err(e) = std::fs::rename(&tmp, dest) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()));
    }
    Ok(())
}
