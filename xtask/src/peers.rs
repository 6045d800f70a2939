//! `cargo xtask bench --peers`: the same workloads in PyTorch, side by side with ours.
//!
//! The interpreter is `$DLS_PYTHON`, else `python3`. `$DLS_PYTHON_ENV` adds environment variables
//! for it (`KEY=VALUE` pairs separated by spaces, e.g. `CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH=/x/stubs`);
//! without it, an interpreter at `<DIR>/venv/bin/python` with a `<DIR>/stubs` folder (the layout of
//! `shared/tools/peers/setup-torch.sh`) gets `CUDA_VISIBLE_DEVICES=` and `LD_LIBRARY_PATH=<DIR>/stubs`,
//! which that CUDA build of torch needs on a machine without a GPU. When the interpreter or torch is
//! missing, or none of this run's benchmarks has a peer, one line says why and nothing else happens.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::bench::{scale_time, BenchRow};
use crate::table::{Align, Table};

/// A peer script and the criterion ids it times (it takes them as arguments).
struct PeerScript {
    /// Path under `xtask/peers/`.
    script: &'static str,
    /// The Python module it needs; the script is skipped when it cannot be imported.
    module: &'static str,
    /// Criterion ids it knows.
    ids: &'static [&'static str],
    /// Arguments placed before the ids, made ready first (for instance a corpus written to disk).
    prepare: Option<fn() -> Result<Vec<String>>>,
}

/// Every peer workload we have.
const SCRIPTS: &[PeerScript] = &[
    PeerScript {
        script: "foundations_torch.py",
        module: "torch",
        ids: &[
            "mlp_train_step/digits_64-128-64-10_b64",
            "mlp_train_step/digits_64-128-64-10_b64_bn",
            "mlp_train_step/mnist_784-256-128-10_b128",
        ],
        prepare: None,
    },
    PeerScript {
        script: "vision_torch.py",
        module: "torch",
        ids: &[
            "lenet5_train_step/b64_1x28x28",
            "resnet18_train_step/cifar_b32_3x32x32",
            "resnet18_forward/imagenet_224_b1",
            "resnet18_forward/imagenet_224_b8",
        ],
        prepare: None,
    },
    PeerScript {
        script: "sequence_torch.py",
        module: "torch",
        ids: &["lstm_train_step/vocab64_emb64_h128_seq50_b32"],
        prepare: None,
    },
    PeerScript {
        script: "bleu_sacrebleu.py",
        module: "sacrebleu",
        ids: &["bleu/corpus_10k"],
        prepare: Some(bleu_corpus),
    },
    PeerScript {
        script: "word2vec_gensim.py",
        module: "gensim",
        ids: &["word2vec/skipgram_epoch", "word2vec/cbow_epoch"],
        prepare: Some(word2vec_corpus),
    },
];

/// Writes the word2vec bench's corpus (the shipped Bible excerpt, tokenised as the bench does).
fn word2vec_corpus() -> Result<Vec<String>> {
    let dir = crate::target_dir()?.join("xtask").join("peers");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join("word2vec-corpus.txt");
    let status = crate::cargo()
        .args(["run", "--release", "--quiet", "-p", "dls-nlp", "--example", "word2vec", "--", "--corpus-out"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running the word2vec example to write the corpus")?;
    if !status.success() {
        bail!("the word2vec example could not write the corpus ({status})");
    }
    Ok(vec![file.display().to_string()])
}

/// Writes the BLEU bench's synthetic corpus (same sentences, same seed) with the `bleu` example.
fn bleu_corpus() -> Result<Vec<String>> {
    let dir = crate::target_dir()?.join("xtask").join("peers").join("bleu-corpus");
    let status = crate::cargo()
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "dls-nlp",
            "--example",
            "bleu",
            "--",
            "--write-synthetic",
        ])
        .arg(&dir)
        .status()
        .context("running the bleu example to write the synthetic corpus")?;
    if !status.success() {
        bail!("the bleu example could not write the synthetic corpus ({status})");
    }
    Ok(vec![dir.display().to_string()])
}

/// What a peer script prints.
#[derive(Debug, Deserialize)]
struct PeerOutput {
    /// Criterion id to median nanoseconds.
    benchmarks: BTreeMap<String, f64>,
    /// The peer and its version, e.g. `torch 2.15.0`.
    peer: String,
    threads: u32,
}

/// The interpreter and the environment it runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Python {
    /// The program.
    pub program: PathBuf,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

impl Python {
    /// From `DLS_PYTHON` and `DLS_PYTHON_ENV` (see the module docs).
    ///
    /// # Errors
    /// A `DLS_PYTHON_ENV` item without `=`.
    pub fn from_env() -> Result<Self> {
        let var = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
        let program = PathBuf::from(var("DLS_PYTHON").unwrap_or_else(|| OsString::from("python3")));
        let env = match var("DLS_PYTHON_ENV") {
            Some(spec) => parse_env(&spec.to_string_lossy())?,
            None => stub_env(&program),
        };
        Ok(Self { program, env })
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// `KEY=VALUE KEY2=` pairs, separated by whitespace.
///
/// # Errors
/// An item without `=` or with an empty key.
pub fn parse_env(spec: &str) -> Result<Vec<(String, String)>> {
    spec.split_whitespace()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => bail!("DLS_PYTHON_ENV: expected KEY=VALUE items, got `{item}`"),
        })
        .collect()
}

/// The stub environment for `<DIR>/venv/bin/python` when `<DIR>/stubs` exists, else nothing.
pub fn stub_env(program: &Path) -> Vec<(String, String)> {
    let dir = program.parent().and_then(Path::parent).and_then(Path::parent);
    let Some(stubs) = dir.map(|d| d.join("stubs")).filter(|s| s.is_dir()) else {
        return Vec::new();
    };
    let mut lib = stubs.to_string_lossy().into_owned();
    if let Some(old) = std::env::var_os("LD_LIBRARY_PATH").filter(|v| !v.is_empty()) {
        lib = format!("{lib}:{}", old.to_string_lossy());
    }
    vec![("CUDA_VISIBLE_DEVICES".to_string(), String::new()), ("LD_LIBRARY_PATH".to_string(), lib)]
}

/// Runs the peers for `rows` and returns the text to print: a side-by-side table, or one line
/// saying why there is none.
pub fn report(rows: &[BenchRow]) -> String {
    match side_by_side(rows) {
        Ok(text) => text,
        Err(e) => format!("peers: skipped: {e:#}\n"),
    }
}

fn side_by_side(rows: &[BenchRow]) -> Result<String> {
    let wanted: Vec<(&PeerScript, Vec<&str>)> = SCRIPTS
        .iter()
        .map(|s| (s, s.ids.iter().copied().filter(|id| rows.iter().any(|r| r.benchmark == *id)).collect()))
        .filter(|(_, ids): &(_, Vec<&str>)| !ids.is_empty())
        .collect();
    if wanted.is_empty() {
        bail!(
            "no benchmark of this run has a peer workload (peers exist for mlp_train_step, bleu, word2vec)"
        );
    }
    let python = Python::from_env()?;
    let mut theirs = BTreeMap::new();
    let mut lines = Vec::new();
    for (script, ids) in wanted {
        match run_script(&python, script, &ids) {
            Ok(parsed) => {
                let plural = if parsed.threads == 1 { "" } else { "s" };
                lines.push(format!("peers: {} ({} thread{plural})", parsed.peer, parsed.threads));
                theirs.extend(parsed.benchmarks);
            }
            Err(e) => lines.push(format!("peers: skipped {}: {e:#}", script.script)),
        }
    }
    if theirs.is_empty() {
        bail!("{}", lines.iter().map(|l| l.trim_start_matches("peers: ")).collect::<Vec<_>>().join("; "));
    }
    Ok(format!("{}\n{}", lines.join("\n"), render(rows, &theirs)))
}

/// Probes the script's module, prepares its inputs, runs it and parses its output.
fn run_script(python: &Python, script: &PeerScript, ids: &[&str]) -> Result<PeerOutput> {
    let probe = python
        .command()
        .args(["-c", &format!("import {}", script.module)])
        .output()
        .with_context(|| format!("cannot run {} (set DLS_PYTHON)", python.program.display()))?;
    if !probe.status.success() {
        let err = String::from_utf8_lossy(&probe.stderr);
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        bail!("{} cannot import {} ({last})", python.program.display(), script.module);
    }
    let leading = match script.prepare {
        Some(prepare) => prepare()?,
        None => Vec::new(),
    };
    let path = crate::workspace_root().join("xtask/peers").join(script.script);
    let out = python
        .command()
        .arg(&path)
        .args(&leading)
        .args(ids)
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    if !out.status.success() {
        bail!("{} failed ({}): {}", path.display(), out.status, String::from_utf8_lossy(&out.stderr).trim());
    }
    serde_json::from_slice(&out.stdout).with_context(|| format!("parsing the output of {}", path.display()))
}

/// The side-by-side table: each of our rows that has a peer figure, both medians, and the peer's
/// time over ours (above 1: we are faster).
pub fn render(rows: &[BenchRow], theirs: &BTreeMap<String, f64>) -> String {
    let mut table = Table::new(&[
        ("benchmark", Align::Left),
        ("dls-rs", Align::Right),
        ("peer", Align::Right),
        ("peer/dls-rs", Align::Right),
    ]);
    let time = |ns: f64| {
        let (v, unit) = scale_time(ns);
        format!("{v:.2} {unit}")
    };
    for r in rows {
        if let Some(&peer) = theirs.get(&r.benchmark) {
            table.push(vec![
                r.benchmark.clone(),
                time(r.median_ns),
                time(peer),
                format!("{:.2}x", peer / r.median_ns),
            ]);
        }
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, ns: f64) -> BenchRow {
        BenchRow { benchmark: id.to_string(), median_ns: ns, throughput_per_s: None, throughput_unit: None }
    }

    #[test]
    fn table_puts_ours_and_theirs_side_by_side() {
        let rows = [
            row("mlp_train_step/a", 500_000.0),
            row("optim_step/adam", 22_000.0),
            row("mlp_train_step/b", 6.5e6),
        ];
        let theirs = BTreeMap::from([
            ("mlp_train_step/a".to_string(), 670_000.0),
            ("mlp_train_step/b".to_string(), 2.3e6),
        ]);
        let text = render(&rows, &theirs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "benchmark            dls-rs       peer  peer/dls-rs");
        assert_eq!(lines[2], "mlp_train_step/a  500.00 µs  670.00 µs        1.34x");
        assert_eq!(lines[3], "mlp_train_step/b    6.50 ms    2.30 ms        0.35x");
        assert_eq!(lines.len(), 4, "rows without a peer are left out");
    }

    #[test]
    fn env_spec_and_stub_detection() -> Result<()> {
        let env = parse_env("CUDA_VISIBLE_DEVICES= LD_LIBRARY_PATH=/x/stubs")?;
        assert_eq!(
            env,
            [("CUDA_VISIBLE_DEVICES".into(), "".into()), ("LD_LIBRARY_PATH".into(), "/x/stubs".into())]
        );
        let err = format!("{:#}", parse_env("A=1 oops").map(|_| ()).unwrap_err());
        assert!(err.contains("got `oops`"), "{err}");

        let tmp = tempfile::tempdir()?;
        let python = tmp.path().join("venv/bin/python");
        assert!(stub_env(&python).is_empty());
        std::fs::create_dir_all(tmp.path().join("stubs"))?;
        let env = stub_env(&python);
        assert_eq!(env[0], ("CUDA_VISIBLE_DEVICES".to_string(), String::new()));
        assert!(env[1].1.starts_with(&tmp.path().join("stubs").to_string_lossy().into_owned()));
        assert!(stub_env(Path::new("python3")).is_empty());
        Ok(())
    }

    #[test]
    fn no_matching_benchmark_skips_in_one_line() {
        let text = report(&[row("optim_step/sgd", 9_600.0)]);
        assert_eq!(
            text,
            "peers: skipped: no benchmark of this run has a peer workload (peers exist for mlp_train_step, bleu, word2vec)\n"
        );
    }
}
