//! `cargo xtask tour`: each domain's flagship example, run on data that ships with the project, and
//! one results table.
//!
//! Every figure in the table is read from the JSON file the example wrote in this invocation (each
//! example takes `--json PATH`); nothing is hard-coded here. A later domain adds rows to [`TASKS`].

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Serialize;

use crate::table::{Align, Table};

/// One row of the tour: an example, how to run it, and which figure of its JSON to show.
#[derive(Debug, Clone, Copy)]
pub struct Task {
    /// Domain (`foundations`, later `vision`, `sequence`, `nlp`); `--only` filters on it.
    pub domain: &'static str,
    /// Stable task id (the `task` field of the JSON rows).
    pub id: &'static str,
    /// Cargo package holding the example.
    pub package: &'static str,
    /// Example name (`<package>/examples/<example>.rs`).
    pub example: &'static str,
    /// Extra arguments for the full run.
    pub args: &'static [&'static str],
    /// Extra arguments with `--quick`.
    pub quick_args: &'static [&'static str],
    /// Key of the figure shown, in the example's JSON object.
    pub metric: &'static str,
    /// What the example trains on, for the `data` column.
    pub data: &'static str,
    /// A text figure of the JSON (sampled names, say) printed under the progress line.
    pub show: Option<&'static str>,
    /// Pretrained weights the example needs, by folder name: looked for in `$DLS_DATA/NAME`,
    /// `~/.cache/dls-rs/NAME` and `../shared/data/weights/NAME`; passed as `--weights DIR` (and an
    /// `--out` picture in the tour's scratch folder) when found, the task skipped with a line
    /// saying where to put them when not. The large weight files are not in the repository.
    pub weights: Option<&'static str>,
}

/// The tour, in the order it runs.
pub const TASKS: &[Task] = &[
    Task {
        domain: "foundations",
        id: "planar",
        package: "dls-foundations",
        example: "planar",
        args: &[],
        quick_args: &["--iterations", "3000"],
        metric: "shallow_accuracy",
        data: "flower (400, course points)",
        show: None,
        weights: None,
    },
    Task {
        domain: "foundations",
        id: "initialization",
        package: "dls-foundations",
        example: "initialization",
        args: &[],
        quick_args: &["--iterations", "5000"],
        metric: "he_accuracy",
        data: "circles (300, generated)",
        show: None,
        weights: None,
    },
    Task {
        domain: "foundations",
        id: "optimizers",
        package: "dls-foundations",
        example: "optimizers",
        args: &[],
        quick_args: &["--epochs", "1500"],
        metric: "adam_accuracy",
        data: "moons (300, generated)",
        show: None,
        weights: None,
    },
    Task {
        domain: "foundations",
        id: "mlp-digits",
        package: "dls-foundations",
        example: "mlp",
        args: &[],
        quick_args: &["--epochs", "15"],
        metric: "test_accuracy",
        data: "digits 8x8 (1797, shipped)",
        show: None,
        weights: None,
    },
    Task {
        domain: "vision",
        id: "lenet5-digits",
        package: "dls-vision",
        example: "lenet5",
        args: &[],
        quick_args: &["--epochs", "8"],
        metric: "test_accuracy",
        data: "digits 8x8 upscaled to 32x32 (1797, shipped)",
        show: None,
        weights: None,
    },
    Task {
        domain: "vision",
        id: "shapes-detector",
        package: "dls-vision",
        example: "shapes_detector",
        args: &[],
        quick_args: &["--train", "1000", "--epochs", "6"],
        metric: "map50",
        data: "coloured shapes on noise (2000 generated, 64x64)",
        show: None,
        weights: None,
    },
    Task {
        domain: "vision",
        id: "yolo-tiny",
        package: "dls-vision",
        example: "yolo_tiny",
        args: &["--image", "vision/data/coffee.jpg"],
        quick_args: &["--image", "vision/data/coffee.jpg"],
        metric: "top_score",
        data: "coffee.jpg (shipped), darknet COCO weights (not shipped)",
        show: Some("top_class"),
        weights: Some("yolov3-tiny"),
    },
    Task {
        domain: "sequence",
        id: "char-lm-names",
        package: "dls-sequence",
        example: "char_lm",
        args: &["--samples", "3"],
        quick_args: &["--epochs", "5", "--samples", "3"],
        metric: "dev_perplexity",
        data: "names (1516, shipped)",
        show: Some("samples"),
        weights: None,
    },
    Task {
        domain: "nlp",
        id: "word2vec-bible",
        package: "dls-nlp",
        example: "word2vec",
        args: &["--sg", "1", "--epochs", "10", "--threads", "1"],
        quick_args: &["--sg", "1", "--epochs", "3", "--threads", "1"],
        metric: "words_per_second",
        data: "Bible excerpt (Genesis-Numbers, ~100k words, shipped)",
        show: Some("neighbours"),
        weights: None,
    },
    Task {
        domain: "nlp",
        id: "dates-nmt",
        package: "dls-nlp",
        example: "dates",
        args: &[],
        quick_args: &["--train", "4000", "--epochs", "2"],
        metric: "exact_match_beam",
        data: "human-written dates to ISO (10k generated)",
        show: None,
        weights: None,
    },
];

/// Options of `cargo xtask tour`.
#[derive(Args, Debug)]
pub struct TourArgs {
    /// Shorter runs (fewer iterations or epochs) for a fast look.
    #[arg(long)]
    quick: bool,
    /// Run only this domain's tasks.
    #[arg(long, value_name = "DOMAIN")]
    only: Option<String>,
    /// Also write the table as a JSON array of rows here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Show each example's own output, indented under its progress line.
    #[arg(long, short)]
    verbose: bool,
}

/// One row of the results table (and of the `--json` array).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Domain of the task.
    pub domain: String,
    /// Stable task id.
    pub task: String,
    /// What the example trained on.
    pub data: String,
    /// Key of the figure shown.
    pub metric: String,
    /// The figure, as the example wrote it.
    pub value: f64,
    /// Wall time of the example process, rounded to 0.01 s.
    pub seconds: f64,
}

/// The tasks of `only` (all of them when `None`).
///
/// # Errors
/// An unknown domain, naming the known ones.
pub fn select(only: Option<&str>) -> Result<Vec<Task>> {
    let Some(domain) = only else { return Ok(TASKS.to_vec()) };
    let chosen: Vec<Task> = TASKS.iter().filter(|t| t.domain == domain).copied().collect();
    if chosen.is_empty() {
        let mut known: Vec<&str> = TASKS.iter().map(|t| t.domain).collect();
        known.dedup();
        bail!("unknown domain `{domain}` for --only; known domains: {}", known.join(", "));
    }
    Ok(chosen)
}

/// Builds the table row of `task` from the JSON object its example wrote.
///
/// # Errors
/// The JSON is not an object, or its `task.metric` key is missing or not a finite number.
pub fn row_from_figures(task: &Task, figures: &serde_json::Value, seconds: f64) -> Result<Row> {
    let Some(object) = figures.as_object() else {
        bail!("task `{}`: the example's JSON is not an object (got {})", task.id, kind(figures));
    };
    let Some(raw) = object.get(task.metric) else {
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        bail!(
            "task `{}`: the example's JSON has no key `{}` (keys: {})",
            task.id,
            task.metric,
            keys.join(", ")
        );
    };
    let value = match raw.as_f64() {
        Some(v) if v.is_finite() => v,
        _ => bail!("task `{}`: key `{}` is not a finite number (got {raw})", task.id, task.metric),
    };
    Ok(Row {
        domain: task.domain.to_string(),
        task: task.id.to_string(),
        data: task.data.to_string(),
        metric: task.metric.to_string(),
        value,
        seconds: (seconds * 100.0).round() / 100.0,
    })
}

/// A JSON value's kind, for error messages.
fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The results as a table.
pub fn render(rows: &[Row]) -> String {
    let mut table = Table::new(&[
        ("domain", Align::Left),
        ("task", Align::Left),
        ("data", Align::Left),
        ("metric", Align::Left),
        ("value", Align::Right),
        ("seconds", Align::Right),
    ]);
    for r in rows {
        table.push(vec![
            r.domain.clone(),
            r.task.clone(),
            r.data.clone(),
            r.metric.clone(),
            format!("{:.4}", r.value),
            format!("{:.2}", r.seconds),
        ]);
    }
    table.render()
}

/// A task that did not produce a row.
struct Failure {
    label: String,
    message: String,
    stderr: String,
}

/// Runs the tour.
pub fn run(args: &TourArgs) -> Result<()> {
    let start = Instant::now();
    let tasks = select(args.only.as_deref())?;
    let mut packages: Vec<&str> = tasks.iter().map(|t| t.package).collect();
    packages.sort_unstable();
    packages.dedup();
    for package in &packages {
        eprintln!("building the examples of {package} (release)");
        let status = crate::cargo()
            .args(["build", "--release", "-p", package, "--examples"])
            .status()
            .with_context(|| format!("running `cargo build` for {package}"))?;
        if !status.success() {
            bail!("`cargo build --release -p {package} --examples` failed ({status})");
        }
    }
    let target = crate::target_dir()?;
    let scratch = target.join("xtask").join("tour");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;

    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        let label = format!("{}/{}", task.domain, task.id);
        eprintln!("[{}/{}] {label} ...", i + 1, tasks.len());
        let weights = match task.weights {
            Some(name) => match find_weights(name, &weight_places(name)) {
                Some(dir) => Some(dir),
                None => {
                    let places: Vec<String> =
                        weight_places(name).iter().map(|p| p.display().to_string()).collect();
                    eprintln!(
                        "      skipped: no {name} weights in {}; run `cargo xtask download {name}` (or put \
                         darknet's {name}.cfg, {name}.weights and coco.names in one of them; they are not in the \
                         repository)",
                        places.join(", ")
                    );
                    continue;
                }
            },
            None => None,
        };
        match run_task(task, &target, &scratch, args, weights.as_deref()) {
            Ok(row) => {
                eprintln!("      {} = {:.4} in {:.2} s", row.metric, row.value, row.seconds);
                rows.push(row);
            }
            Err(TaskError { message, stderr }) => {
                eprintln!("      FAILED: {message}");
                failures.push(Failure { label, message, stderr });
            }
        }
    }

    println!();
    print!("{}", render(&rows));
    if let Some(path) = &args.json {
        crate::write_json_atomically(path, &rows)?;
        println!("rows written to {}", path.display());
    }
    for f in &failures {
        eprintln!("\ntask {} failed: {}", f.label, f.message);
        if !f.stderr.trim().is_empty() {
            eprintln!("{}", indent(f.stderr.trim_end(), "  | "));
        }
    }
    println!("total time {:.1} s", start.elapsed().as_secs_f64());
    if !failures.is_empty() {
        let names: Vec<&str> = failures.iter().map(|f| f.label.as_str()).collect();
        bail!("{} of {} tasks failed: {}", failures.len(), tasks.len(), names.join(", "));
    }
    Ok(())
}

/// Why one task failed, with the example's stderr.
struct TaskError {
    message: String,
    stderr: String,
}

impl TaskError {
    fn new(message: impl std::fmt::Display, stderr: &[u8]) -> Self {
        Self { message: format!("{message:#}"), stderr: String::from_utf8_lossy(stderr).into_owned() }
    }
}

/// Runs one example and reads its row from the JSON it wrote.
fn run_task(
    task: &Task,
    target: &Path,
    scratch: &Path,
    args: &TourArgs,
    weights: Option<&Path>,
) -> Result<Row, TaskError> {
    let exe = target.join("release").join("examples").join(format!(
        "{}{}",
        task.example,
        std::env::consts::EXE_SUFFIX
    ));
    let json = scratch.join(format!("{}-{}.json", task.domain, task.id));
    // A stale file from an earlier tour must never be read as this run's figures.
    if let Err(e) = std::fs::remove_file(&json) {
        if e.kind() != std::io::ErrorKind::NotFound {
            return Err(TaskError::new(format!("removing stale {}: {e}", json.display()), &[]));
        }
    }
    let extra = if args.quick { task.quick_args } else { task.args };
    let mut extra: Vec<std::ffi::OsString> = extra.iter().map(Into::into).collect();
    if let Some(dir) = weights {
        extra.extend(["--weights".into(), dir.into(), "--out".into()]);
        extra.push(scratch.join(format!("{}-{}.png", task.domain, task.id)).into());
    }
    let started = Instant::now();
    let output = Command::new(&exe)
        .args(&extra)
        .arg("--json")
        .arg(&json)
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| TaskError::new(format!("starting {}: {e}", exe.display()), &[]))?;
    let seconds = started.elapsed().as_secs_f64();
    if args.verbose {
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !stdout.trim().is_empty() {
            eprintln!("{}", indent(stdout.trim_end(), "      "));
        }
    }
    if !output.status.success() {
        return Err(TaskError::new(
            format!("{} exited with {}", exe.display(), output.status),
            &output.stderr,
        ));
    }
    let text = std::fs::read_to_string(&json).map_err(|e| {
        TaskError::new(format!("the example did not write {}: {e}", json.display()), &output.stderr)
    })?;
    let figures: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| TaskError::new(format!("parsing {}: {e}", json.display()), &output.stderr))?;
    if let Some(key) = task.show {
        match figures.get(key).and_then(|v| v.as_str()) {
            Some(text) if text.contains('\n') => eprintln!("      {key}:\n{}", indent(text, "        ")),
            Some(text) => eprintln!("      {key}: {text}"),
            None => {}
        }
    }
    row_from_figures(task, &figures, seconds).map_err(|e| TaskError::new(e, &output.stderr))
}

/// Where a task's weights folder `name` may be, in the order searched.
fn weight_places(name: &str) -> Vec<PathBuf> {
    let mut places = Vec::new();
    if let Some(root) = std::env::var_os("DLS_DATA").filter(|r| !r.is_empty()) {
        places.push(PathBuf::from(root).join(name));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        places.push(PathBuf::from(home).join(".cache").join("dls-rs").join(name));
    }
    places.push(crate::workspace_root().join("..").join("shared").join("data").join("weights").join(name));
    places
}

/// The first of `places` holding `NAME.weights` and `NAME.cfg`.
fn find_weights(name: &str, places: &[PathBuf]) -> Option<PathBuf> {
    places
        .iter()
        .find(|p| p.join(format!("{name}.weights")).is_file() && p.join(format!("{name}.cfg")).is_file())
        .cloned()
}

/// Each line of `text` with `prefix` in front.
fn indent(text: &str, prefix: &str) -> String {
    text.lines().map(|l| format!("{prefix}{l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(id: &str) -> Task {
        match TASKS.iter().find(|t| t.id == id) {
            Some(t) => *t,
            None => panic!("no task {id}"),
        }
    }

    #[test]
    fn row_reads_the_metric_and_rounds_seconds() -> Result<()> {
        let figures = json!({"logreg_accuracy": 0.47, "shallow_accuracy": 0.9075, "seconds": 2.0});
        let row = row_from_figures(&task("planar"), &figures, 12.3449)?;
        assert_eq!(row.domain, "foundations");
        assert_eq!(row.task, "planar");
        assert_eq!(row.data, "flower (400, course points)");
        assert_eq!(row.metric, "shallow_accuracy");
        assert!((row.value - 0.9075).abs() < 1e-12);
        assert!((row.seconds - 12.34).abs() < 1e-12);
        let back = serde_json::to_value(&row)?;
        assert_eq!(
            back,
            json!({"domain": "foundations", "task": "planar", "data": "flower (400, course points)",
                   "metric": "shallow_accuracy", "value": 0.9075, "seconds": 12.34})
        );
        Ok(())
    }

    #[test]
    fn missing_metric_names_the_task_and_the_key() {
        let figures = json!({"train_accuracy": 0.99, "dev_accuracy": 0.97});
        let err = match row_from_figures(&task("mlp-digits"), &figures, 1.0) {
            Ok(row) => panic!("expected an error, got {row:?}"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("task `mlp-digits`"), "{err}");
        assert!(err.contains("no key `test_accuracy`"), "{err}");
        assert!(err.contains("dev_accuracy, train_accuracy"), "{err}");
    }

    #[test]
    fn non_numeric_metric_and_non_object_are_errors() {
        let t = task("optimizers");
        let err = row_from_figures(&t, &json!({"adam_accuracy": "high"}), 1.0).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("key `adam_accuracy` is not a finite number"), "{err}");
        let err = row_from_figures(&t, &json!([0.9]), 1.0).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("not an object (got an array)"), "{err}");
    }

    #[test]
    fn only_filters_by_domain_and_rejects_unknown_ones() -> Result<()> {
        assert_eq!(select(None)?.len(), TASKS.len());
        let foundations = select(Some("foundations"))?;
        let ids: Vec<&str> = foundations.iter().map(|t| t.id).collect();
        assert_eq!(ids, ["planar", "initialization", "optimizers", "mlp-digits"]);
        let err = select(Some("astrology")).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("unknown domain `astrology`"), "{err}");
        assert!(err.contains("known domains: foundations"), "{err}");
        Ok(())
    }

    #[test]
    fn task_ids_are_unique_and_examples_exist() {
        let root = crate::workspace_root();
        for (i, t) in TASKS.iter().enumerate() {
            assert!(TASKS[i + 1..].iter().all(|u| (u.domain, u.id) != (t.domain, t.id)), "{}", t.id);
            let dir = t.package.trim_start_matches("dls-");
            let source = root.join(dir).join("examples").join(format!("{}.rs", t.example));
            assert!(source.is_file(), "{} missing", source.display());
        }
    }

    /// Runs `planar` through a shell script standing in for the example binary.
    #[cfg(unix)]
    fn run_fake(script: &str) -> Result<Result<Row, TaskError>> {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir()?;
        let examples = tmp.path().join("release/examples");
        std::fs::create_dir_all(&examples)?;
        let exe = examples.join("planar");
        std::fs::write(&exe, format!("#!/bin/sh\n{script}\n"))?;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
        let scratch = tmp.path().join("scratch");
        std::fs::create_dir_all(&scratch)?;
        // A stale file from an earlier run must not be read.
        std::fs::write(scratch.join("foundations-planar.json"), r#"{"shallow_accuracy": 0.1}"#)?;
        let args = TourArgs { quick: true, only: None, json: None, verbose: false };
        Ok(run_task(&task("planar"), tmp.path(), &scratch, &args, None))
    }

    #[cfg(unix)]
    #[test]
    fn runs_the_example_with_quick_args_and_reads_its_json() -> Result<()> {
        // Writes the JSON only when called exactly as `--iterations 3000 --json PATH`.
        let script =
            r#"[ "$1 $2 $3" = "--iterations 3000 --json" ] && echo '{"shallow_accuracy": 0.905}' > "$4""#;
        let row = match run_fake(script)? {
            Ok(row) => row,
            Err(e) => panic!("fake example failed: {} / {}", e.message, e.stderr),
        };
        assert!((row.value - 0.905).abs() < 1e-12);
        assert!(row.seconds >= 0.0 && row.seconds < 10.0);
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn failing_example_reports_status_and_stderr_and_ignores_stale_json() -> Result<()> {
        let Err(e) = run_fake("echo 'no flower today' >&2; exit 3")? else { panic!("expected a failure") };
        assert!(e.message.contains("exited with") && e.message.contains('3'), "{}", e.message);
        assert_eq!(e.stderr.trim(), "no flower today");
        let Err(e) = run_fake("exit 0")? else { panic!("a stale JSON file was read") };
        assert!(e.message.contains("did not write"), "{}", e.message);
        Ok(())
    }

    #[test]
    fn table_has_one_line_per_row() {
        let row = Row {
            domain: "foundations".into(),
            task: "planar".into(),
            data: "flower (400, course points)".into(),
            metric: "shallow_accuracy".into(),
            value: 0.9075,
            seconds: 12.34,
        };
        let text = render(&[row]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("domain       task    data"), "{}", lines[0]);
        assert!(lines[2].ends_with("shallow_accuracy  0.9075    12.34"), "{}", lines[2]);
    }

    #[test]
    fn weights_are_found_only_where_cfg_and_weights_both_are() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let (empty, half, full) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
        for d in [&empty, &half, &full] {
            std::fs::create_dir_all(d)?;
        }
        std::fs::write(half.join("net.weights"), b"x")?;
        std::fs::write(full.join("net.weights"), b"x")?;
        std::fs::write(full.join("net.cfg"), b"[net]")?;
        let places = vec![empty.clone(), half.clone(), full.clone()];
        assert_eq!(find_weights("net", &places), Some(full));
        assert_eq!(find_weights("net", &places[..2]), None);
        assert_eq!(find_weights("other", &places), None);
        // The yolo-tiny row asks for weights by the name the example's files carry.
        assert_eq!(task("yolo-tiny").weights, Some("yolov3-tiny"));
        Ok(())
    }
}
