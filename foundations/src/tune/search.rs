//! Running trials in parallel, ranking them, and coarse-to-fine search.

use std::cmp::Ordering;
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use super::sample::random;
use super::space::{fmt_float, Domain, SearchSpace, Trial, Value};
use crate::{Error, Result};

/// A trial and how it scored. **Higher scores are better**; a NaN score ranks below every other.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrialResult {
    /// The trial that was run.
    pub trial: Trial,
    /// What the objective returned (higher is better).
    pub score: f64,
    /// Wall-clock seconds the objective took.
    pub seconds: f64,
}

impl TrialResult {
    fn to_json(&self) -> serde_json::Value {
        let mut row = self.trial.to_json();
        if let Some(obj) = row.as_object_mut() {
            obj.insert("score".into(), serde_json::json!(self.score));
            obj.insert("seconds".into(), serde_json::json!(self.seconds));
        }
        row
    }
}

/// Best-first order of two scores: higher first, NaN last.
fn by_score(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.total_cmp(&a),
    }
}

/// Sorts results best first (highest score first, NaN last, ties by trial id).
pub fn sort_by_score(results: &mut [TrialResult]) {
    results.sort_by(|a, b| by_score(a.score, b.score).then(a.trial.id.cmp(&b.trial.id)));
}

/// Runs the objective `f` on every trial on a private rayon pool of `threads` threads.
///
/// Results come back sorted by trial id, so they are the same whatever `threads` is (apart
/// from the measured seconds). `f` returns a score, higher being better; NaN counts as worst.
///
/// # Errors
/// [`Error::Invalid`] for `threads == 0` or a pool that cannot be built, [`Error::Empty`] for no
/// trials, and when `f` fails on some trial, an [`Error::Invalid`] naming the lowest failing
/// trial id and carrying its error's message.
pub fn run_trials<F>(trials: Vec<Trial>, threads: usize, f: F) -> Result<Vec<TrialResult>>
where
    F: Fn(&Trial) -> Result<f64> + Sync,
{
    if threads == 0 {
        return Err(Error::invalid("run_trials threads", "expected at least 1"));
    }
    if trials.is_empty() {
        return Err(Error::Empty("run_trials: no trials".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| Error::invalid("run_trials thread pool", e.to_string()))?;
    let mut outcomes: Vec<(usize, Result<TrialResult>)> = pool.install(|| {
        trials
            .into_par_iter()
            .map(|trial| {
                let start = Instant::now();
                let outcome = f(&trial);
                let seconds = start.elapsed().as_secs_f64();
                (trial.id, outcome.map(|score| TrialResult { trial, score, seconds }))
            })
            .collect()
    });
    outcomes.sort_by_key(|(id, _)| *id);
    outcomes
        .into_iter()
        .map(|(id, r)| r.map_err(|e| Error::invalid(format!("trial {id}"), e.to_string())))
        .collect()
}

/// Every round of a [`coarse_to_fine`] search.
#[derive(Clone, Debug, Serialize)]
pub struct SearchReport {
    /// All trials of all rounds, sorted by id (round `r` holds ids `r * per_round ..`).
    pub results: Vec<TrialResult>,
    /// The best trial of the whole search.
    pub best: TrialResult,
    /// The space searched in each round (the first is the one given).
    pub spaces: Vec<SearchSpace>,
}

impl SearchReport {
    /// An aligned text table of every trial, best first: rank, id, score, seconds, then one
    /// column per hyperparameter.
    pub fn table(&self) -> String {
        let mut sorted = self.results.clone();
        sort_by_score(&mut sorted);
        let names: Vec<String> = self
            .spaces
            .first()
            .map_or_else(Vec::new, |s| s.params().iter().map(|(n, _)| n.clone()).collect());
        let mut rows: Vec<Vec<String>> = vec![["rank", "id", "score", "seconds"]
            .iter()
            .map(|s| s.to_string())
            .chain(names.iter().cloned())
            .collect()];
        for (rank, r) in sorted.iter().enumerate() {
            let mut row = vec![
                (rank + 1).to_string(),
                r.trial.id.to_string(),
                fmt_float(r.score),
                format!("{:.3}", r.seconds),
            ];
            row.extend(names.iter().map(|n| r.trial.values.get(n).map_or("-".into(), Value::to_string)));
            rows.push(row);
        }
        let cols = rows.first().map_or(0, Vec::len);
        let widths: Vec<usize> = (0..cols)
            .map(|c| rows.iter().filter_map(|r| r.get(c)).map(String::len).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in &rows {
            let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:>w$}")).collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
        out
    }

    /// The report as JSON: `{"best": row, "results": [row, ..], "spaces": [..]}` where a row is
    /// `{"id", "values": {name: value}, "score", "seconds"}` (a NaN score becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        let results: Vec<serde_json::Value> = self.results.iter().map(TrialResult::to_json).collect();
        let spaces = serde_json::to_value(&self.spaces).unwrap_or(serde_json::Value::Null);
        serde_json::json!({ "best": self.best.to_json(), "results": results, "spaces": spaces })
    }
}

/// Shrinks `current` to the region spanned by `top` (on each float's scale, with a margin of a
/// quarter of that span plus a tenth of the current width), never leaving `original`.
fn shrink(original: &SearchSpace, current: &SearchSpace, top: &[&TrialResult]) -> SearchSpace {
    let mut next = SearchSpace::new();
    for (name, domain) in current.params() {
        let seen: Vec<&Value> = top.iter().filter_map(|r| r.trial.values.get(name)).collect();
        let new = match (domain, original.get(name)) {
            (Domain::Float { lo, hi, scale }, Some(Domain::Float { lo: olo, hi: ohi, .. })) => {
                let ts: Vec<f64> = seen
                    .iter()
                    .filter_map(|v| match v {
                        Value::Float(x) => Some(scale.forward(*x)),
                        _ => None,
                    })
                    .collect();
                let (tmin, tmax) =
                    ts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| (a.min(t), b.max(t)));
                let width = (scale.forward(*hi) - scale.forward(*lo)).abs();
                let margin = 0.25 * (tmax - tmin) + 0.1 * width;
                let (a, b) = (scale.inverse(tmin - margin), scale.inverse(tmax + margin));
                let (nlo, nhi) = (a.min(b).max(*olo), a.max(b).min(*ohi));
                if ts.is_empty() || nlo.partial_cmp(&nhi) != Some(Ordering::Less) {
                    domain.clone()
                } else {
                    Domain::Float { lo: nlo, hi: nhi, scale: *scale }
                }
            }
            (Domain::Int { lo, hi }, Some(Domain::Int { lo: olo, hi: ohi })) => {
                let is: Vec<i64> = seen
                    .iter()
                    .filter_map(|v| match v {
                        Value::Int(i) => Some(*i),
                        _ => None,
                    })
                    .collect();
                match (is.iter().min(), is.iter().max()) {
                    (Some(&mn), Some(&mx)) => {
                        let span = (mx as f64) - (mn as f64);
                        let margin = (0.25 * span + 0.1 * ((*hi as f64) - (*lo as f64))).ceil() as i64;
                        Domain::Int {
                            lo: mn.saturating_sub(margin).max(*olo),
                            hi: mx.saturating_add(margin).min(*ohi),
                        }
                    }
                    _ => domain.clone(),
                }
            }
            (Domain::Choice(options), _) => {
                let kept: Vec<String> = options
                    .iter()
                    .filter(|o| seen.iter().any(|v| matches!(v, Value::Choice(c) if c == *o)))
                    .cloned()
                    .collect();
                if kept.is_empty() {
                    domain.clone()
                } else {
                    Domain::Choice(kept)
                }
            }
            _ => domain.clone(),
        };
        next = next.with(name, new);
    }
    next
}

/// Coarse-to-fine random search: `rounds` rounds of `per_round` random trials each. After each
/// round, every float and integer domain shrinks to the range spanned by the best `keep_top`
/// trials so far (on its scale, with a margin), and every choice to the options those trials used.
/// Round `r` samples with a seed derived from `seed` and `r`, so the search is deterministic when
/// `f` is. Higher scores are better.
///
/// # Errors
/// The space's validation errors; [`Error::Invalid`] when `rounds` or `per_round` is 0 or
/// `keep_top` is not in `1..=per_round`; any error of [`run_trials`].
#[allow(clippy::too_many_arguments)]
pub fn coarse_to_fine<F>(
    space: &SearchSpace,
    rounds: usize,
    per_round: usize,
    keep_top: usize,
    seed: u64,
    threads: usize,
    f: F,
) -> Result<SearchReport>
where
    F: Fn(&Trial) -> Result<f64> + Sync,
{
    space.validate()?;
    if rounds == 0 || per_round == 0 {
        return Err(Error::invalid(
            "coarse_to_fine",
            format!("rounds and per_round must be at least 1, got {rounds} and {per_round}"),
        ));
    }
    if keep_top == 0 || keep_top > per_round {
        return Err(Error::invalid(
            "coarse_to_fine keep_top",
            format!("expected 1..={per_round}, got {keep_top}"),
        ));
    }
    let mut current = space.clone();
    let mut spaces = Vec::with_capacity(rounds);
    let mut results: Vec<TrialResult> = Vec::with_capacity(rounds * per_round);
    for round in 0..rounds {
        let round_seed = seed.wrapping_add((round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut trials = random(&current, per_round, round_seed)?;
        for t in &mut trials {
            t.id += round * per_round;
        }
        results.extend(run_trials(trials, threads, &f)?);
        spaces.push(current.clone());
        let mut ranked: Vec<&TrialResult> = results.iter().collect();
        ranked.sort_by(|a, b| by_score(a.score, b.score).then(a.trial.id.cmp(&b.trial.id)));
        ranked.truncate(keep_top);
        current = shrink(space, &current, &ranked);
    }
    let mut sorted = results.clone();
    sort_by_score(&mut sorted);
    let best = sorted.into_iter().next().ok_or_else(|| Error::Empty("coarse_to_fine: no results".into()))?;
    Ok(SearchReport { results, best, spaces })
}
