//! `cargo xtask bench`: runs the criterion benches of `dls-benches` and prints one summary table.
//!
//! Figures come from criterion's own files, `<target>/criterion/**/new/estimates.json` (median point
//! estimate, ns) and `benchmark.json` (id, throughput), keeping only those written by this
//! invocation (modified after it started), so earlier runs never leak into the table.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::{Deserialize, Serialize};

use crate::table::{Align, Table};

/// Options of `cargo xtask bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Also write the summary rows as a JSON array here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Run only the benchmarks whose id contains this (criterion's filter).
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Criterion's quick mode: stop as soon as the estimate is significant.
    #[arg(long)]
    quick: bool,
    /// Side-by-side figures from PyTorch where `$DLS_PYTHON` (else python3) has torch (see peers.rs).
    #[arg(long)]
    peers: bool,
}

/// One summary row (and one object of the `--json` array).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// Criterion's full id, `group/function[/value]`.
    pub benchmark: String,
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// Elements, bytes or bits per second, when the bench declared a throughput.
    pub throughput_per_s: Option<f64>,
    /// `elements/s`, `bytes/s` or `bits/s`, beside `throughput_per_s`.
    pub throughput_unit: Option<String>,
}

/// The part of criterion's `benchmark.json` we read.
#[derive(Debug, Deserialize)]
struct BenchmarkId {
    full_id: String,
    #[serde(default)]
    throughput: Option<Throughput>,
}

/// Criterion's `Throughput`, as it serialises it.
#[derive(Debug, Deserialize)]
enum Throughput {
    Bits(u64),
    Bytes(u64),
    BytesDecimal(u64),
    Elements(u64),
    ElementsAndBytes { elements: u64 },
}

impl Throughput {
    /// Units processed per iteration, and the unit per second.
    fn per_iteration(&self) -> (u64, &'static str) {
        match *self {
            Throughput::Bits(n) => (n, "bits/s"),
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (n, "bytes/s"),
            Throughput::Elements(n) | Throughput::ElementsAndBytes { elements: n } => (n, "elements/s"),
        }
    }
}

/// The part of criterion's `estimates.json` we read.
#[derive(Debug, Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Debug, Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Runs the benches and prints the summary.
pub fn run(args: &BenchArgs) -> Result<()> {
    // Coarse file-system clocks can stamp a file slightly before "now": allow a little slack.
    let since = SystemTime::now() - Duration::from_secs(2);
    // `--bench '*'` selects the bench targets only: the library's libtest harness would reject
    // criterion's flags such as `--quick`.
    let mut cmd = crate::cargo();
    cmd.args(["bench", "-p", "dls-benches", "--bench", "*", "--"]);
    if let Some(filter) = &args.filter {
        cmd.arg(filter);
    }
    if args.quick {
        cmd.arg("--quick");
    }
    let status = cmd.status().context("running `cargo bench`")?;
    if !status.success() {
        bail!("`cargo bench -p dls-benches` failed ({status})");
    }
    let root = crate::target_dir()?.join("criterion");
    let rows = collect(&root, since)?;
    println!();
    if rows.is_empty() {
        let filter = args.filter.as_deref().unwrap_or("");
        bail!("no benchmark results written under {} by this run (filter `{filter}`)", root.display());
    }
    print!("{}", render(&rows));
    if let Some(path) = &args.json {
        crate::write_json_atomically(path, &rows)?;
        println!("rows written to {}", path.display());
    }
    if args.peers {
        print!("{}", crate::peers::report(&rows));
    }
    Ok(())
}

/// Reads every benchmark under `root` (criterion's folder) whose `new/estimates.json` was modified at
/// or after `since`, sorted by id.
///
/// # Errors
/// An unreadable folder, or a fresh `estimates.json`/`benchmark.json` that is missing or malformed.
pub fn collect(root: &Path, since: SystemTime) -> Result<Vec<BenchRow>> {
    let mut new_dirs = Vec::new();
    find_new_dirs(root, &mut new_dirs)?;
    let mut rows = Vec::new();
    for dir in new_dirs {
        let estimates_path = dir.join("estimates.json");
        let modified = match std::fs::metadata(&estimates_path) {
            Ok(meta) => meta.modified().with_context(|| format!("mtime of {}", estimates_path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("reading {}", estimates_path.display())),
        };
        if modified < since {
            continue;
        }
        let estimates: Estimates = read_json(&estimates_path)?;
        let id: BenchmarkId = read_json(&dir.join("benchmark.json"))?;
        let median_ns = estimates.median.point_estimate;
        if !(median_ns.is_finite() && median_ns > 0.0) {
            bail!(
                "{}: median point estimate {median_ns} ns is not a positive number",
                estimates_path.display()
            );
        }
        let (throughput_per_s, throughput_unit) = match id.throughput {
            Some(t) => {
                let (n, unit) = t.per_iteration();
                (Some(n as f64 / (median_ns * 1e-9)), Some(unit.to_string()))
            }
            None => (None, None),
        };
        rows.push(BenchRow { benchmark: id.full_id, median_ns, throughput_per_s, throughput_unit });
    }
    rows.sort_by(|a, b| a.benchmark.cmp(&b.benchmark));
    Ok(rows)
}

/// Collects every folder named `new` below `dir` (criterion's latest-run folders).
fn find_new_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if !entry.file_type().with_context(|| format!("type of {}", entry.path().display()))?.is_dir() {
            continue;
        }
        let path = entry.path();
        if entry.file_name() == "new" {
            out.push(path);
        } else if entry.file_name() != "report" {
            find_new_dirs(&path, out)?;
        }
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// A duration in ns as `(value, unit)`, scaled to ns, µs, ms or s.
pub fn scale_time(ns: f64) -> (f64, &'static str) {
    if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    }
}

/// A rate such as `69.28 K elements/s` or `2.50 GB/s` (decimal prefixes).
pub fn format_rate(per_s: f64, unit: &str) -> String {
    let (value, prefix) = if per_s >= 1e9 {
        (per_s / 1e9, "G")
    } else if per_s >= 1e6 {
        (per_s / 1e6, "M")
    } else if per_s >= 1e3 {
        (per_s / 1e3, "K")
    } else {
        (per_s, "")
    };
    match unit {
        "bytes/s" => format!("{value:.2} {prefix}B/s"),
        "bits/s" => format!("{value:.2} {prefix}bit/s"),
        _ if prefix.is_empty() => format!("{value:.2} {unit}"),
        _ => format!("{value:.2} {prefix} {unit}"),
    }
}

/// The summary table.
pub fn render(rows: &[BenchRow]) -> String {
    let mut table = Table::new(&[
        ("benchmark", Align::Left),
        ("median", Align::Right),
        ("unit", Align::Left),
        ("throughput", Align::Right),
    ]);
    for r in rows {
        let (value, unit) = scale_time(r.median_ns);
        let throughput = match (r.throughput_per_s, &r.throughput_unit) {
            (Some(rate), Some(unit)) => format_rate(rate, unit),
            _ => "-".to_string(),
        };
        table.push(vec![r.benchmark.clone(), format!("{value:.2}"), unit.to_string(), throughput]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,
        "upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":
        {"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":MEDIAN,
        "standard_error":0.1},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,
        "lower_bound":1.0,"upper_bound":3.0},"point_estimate":0.5,"standard_error":0.1},"slope":null,
        "std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},
        "point_estimate":0.5,"standard_error":0.1}}"#;

    /// Writes a criterion-style `<group>/<function>/<sub>/` folder.
    fn fake(root: &Path, group: &str, function: &str, sub: &str, median_ns: f64, throughput: &str) {
        let dir = root.join(group).join(function).join(sub);
        let ok = fs::create_dir_all(&dir)
            .and_then(|_| {
                fs::write(dir.join("estimates.json"), ESTIMATES.replace("MEDIAN", &median_ns.to_string()))
            })
            .and_then(|_| {
                fs::write(
                    dir.join("benchmark.json"),
                    format!(
                        r#"{{"group_id":"{group}","function_id":"{function}","value_str":null,
                        "throughput":{throughput},"full_id":"{group}/{function}",
                        "directory_name":"{group}/{function}","title":"{group}/{function}"}}"#
                    ),
                )
            });
        if let Err(e) = ok {
            panic!("writing fake criterion files in {}: {e}", dir.display());
        }
    }

    #[test]
    fn reads_fresh_medians_and_throughputs_only() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path().join("criterion");
        // An old run, stamped an hour ago: must be skipped.
        fake(&root, "optim_step", "sgd", "new", 1_000.0, "null");
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(root.join("optim_step/sgd/new/estimates.json"))?
            .set_modified(hour_ago)?;
        let since = SystemTime::now() - Duration::from_secs(60);
        fake(&root, "optim_step", "adam", "new", 12_500.0, "null");
        fake(&root, "optim_step", "adam", "base", 99.0, "null");
        fake(&root, "bleu", "corpus_10k", "new", 144_341_787.0, r#"{"Elements":10000}"#);
        fake(&root, "io", "read", "new", 2_000_000.0, r#"{"BytesDecimal":4000000}"#);
        fs::create_dir_all(root.join("report"))?;

        let rows = collect(&root, since)?;
        let ids: Vec<&str> = rows.iter().map(|r| r.benchmark.as_str()).collect();
        assert_eq!(ids, ["bleu/corpus_10k", "io/read", "optim_step/adam"]);

        assert!((rows[0].median_ns - 144_341_787.0).abs() < 1e-6);
        let rate = rows[0].throughput_per_s.unwrap_or(f64::NAN);
        assert!((rate - 10_000.0 / 0.144_341_787).abs() < 1e-6, "{rate}");
        assert_eq!(rows[0].throughput_unit.as_deref(), Some("elements/s"));

        let rate = rows[1].throughput_per_s.unwrap_or(f64::NAN);
        assert!((rate - 2e9).abs() < 1e-3, "{rate}");
        assert_eq!(rows[1].throughput_unit.as_deref(), Some("bytes/s"));

        assert!((rows[2].median_ns - 12_500.0).abs() < 1e-9);
        assert_eq!(rows[2].throughput_per_s, None);
        assert_eq!(
            serde_json::to_value(&rows[2])?,
            serde_json::json!({"benchmark": "optim_step/adam", "median_ns": 12500.0,
                               "throughput_per_s": null, "throughput_unit": null})
        );

        let text = render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2], "bleu/corpus_10k  144.34  ms    69.28 K elements/s", "{text}");
        assert_eq!(lines[3], "io/read            2.00  ms             2.00 GB/s", "{text}");
        assert_eq!(lines[4], "optim_step/adam   12.50  µs                     -", "{text}");
        Ok(())
    }

    #[test]
    fn malformed_fresh_estimates_name_the_file() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        fake(tmp.path(), "g", "f", "new", 5.0, "null");
        fs::write(tmp.path().join("g/f/new/estimates.json"), r#"{"mean": {}}"#)?;
        let err = collect(tmp.path(), SystemTime::UNIX_EPOCH).map(|_| ()).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("parsing") && text.contains("g/f/new/estimates.json"), "{text}");
        assert!(text.contains("missing field `median`"), "{text}");
        Ok(())
    }

    #[test]
    fn missing_criterion_folder_gives_no_rows() -> Result<()> {
        let tmp = tempfile::tempdir()?;
        assert!(collect(&tmp.path().join("criterion"), SystemTime::UNIX_EPOCH)?.is_empty());
        Ok(())
    }

    #[test]
    fn units_scale() {
        assert_eq!(scale_time(850.0), (850.0, "ns"));
        assert_eq!(scale_time(12_500.0), (12.5, "µs"));
        assert_eq!(scale_time(3.5e6), (3.5, "ms"));
        assert_eq!(scale_time(2.0e9), (2.0, "s"));
        assert_eq!(format_rate(69_280.0, "elements/s"), "69.28 K elements/s");
        assert_eq!(format_rate(2.5e9, "bytes/s"), "2.50 GB/s");
        assert_eq!(format_rate(12.0, "elements/s"), "12.00 elements/s");
    }
}
