//! Hyperparameter search: grids, seeded sampling on the right scale, parallel trials and
//! coarse-to-fine refinement.

use std::collections::BTreeSet;

use dls_foundations::tune::{
    coarse_to_fine, grid, random, run_trials, sort_by_score, Domain, Scale, SearchSpace, Trial, TrialResult,
};
use dls_foundations::Error;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

fn floats(trials: &[Trial], name: &str) -> anyhow::Result<Vec<f64>> {
    Ok(trials.iter().map(|t| t.get_f64(name)).collect::<Result<_, _>>()?)
}

#[test]
fn log_grid_hits_every_decade() -> anyhow::Result<()> {
    let space = SearchSpace::new().float("lr", 1e-4, 1e-1, Scale::Log10);
    let lrs = floats(&grid(&space, 4)?, "lr")?;
    let expected = [1e-4, 1e-3, 1e-2, 1e-1];
    assert_eq!(lrs.len(), 4);
    for (got, want) in lrs.iter().zip(expected) {
        assert!(close(*got, want, 1e-12), "{got} vs {want}");
    }
    Ok(())
}

#[test]
fn linear_beta_and_int_grids() -> anyhow::Result<()> {
    let lin = floats(&grid(&SearchSpace::new().float("p", 0.0, 1.0, Scale::Linear), 5)?, "p")?;
    assert_eq!(lin, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    let beta =
        floats(&grid(&SearchSpace::new().float("beta", 0.9, 0.999, Scale::OneMinusLog10), 3)?, "beta")?;
    for (got, want) in beta.iter().zip([0.9, 0.99, 0.999]) {
        assert!(close(*got, want, 1e-12), "{got} vs {want}");
    }
    let mid = floats(&grid(&SearchSpace::new().float("lr", 1e-4, 1e-2, Scale::Log10), 1)?, "lr")?;
    assert!(close(mid[0], 1e-3, 1e-15));

    let small: Vec<i64> = grid(&SearchSpace::new().int("k", 1, 3), 5)?
        .iter()
        .map(|t| t.get_i64("k"))
        .collect::<Result<_, _>>()?;
    assert_eq!(small, vec![1, 2, 3]);
    let wide: Vec<i64> = grid(&SearchSpace::new().int("h", 16, 256), 4)?
        .iter()
        .map(|t| t.get_i64("h"))
        .collect::<Result<_, _>>()?;
    assert_eq!(wide, vec![16, 96, 176, 256]);
    Ok(())
}

#[test]
fn grid_is_the_cartesian_product() -> anyhow::Result<()> {
    let space = SearchSpace::new()
        .float("lr", 1e-4, 1e-1, Scale::Log10)
        .int("hidden", 16, 256)
        .choice("act", &["relu", "tanh"]);
    let trials = grid(&space, 4)?;
    assert_eq!(trials.len(), 4 * 4 * 2);
    assert_eq!(trials.iter().map(|t| t.id).collect::<Vec<_>>(), (0..32).collect::<Vec<_>>());
    // The last hyperparameter varies fastest.
    assert_eq!(trials[0].get_str("act")?, "relu");
    assert_eq!(trials[1].get_str("act")?, "tanh");
    assert_eq!(trials[1].get_i64("hidden")?, 16);
    assert_eq!(trials[2].get_i64("hidden")?, 96);
    assert!(close(trials[8].get_f64("lr")?, 1e-3, 1e-12));
    let distinct: BTreeSet<String> = trials.iter().map(|t| t.to_string()).collect();
    assert_eq!(distinct.len(), 32);
    Ok(())
}

#[test]
fn random_is_in_range_and_seeded() -> anyhow::Result<()> {
    let space = SearchSpace::new()
        .float("lr", 1e-4, 1e-1, Scale::Log10)
        .float("keep", 0.5, 0.9, Scale::Linear)
        .int("layers", 1, 3)
        .choice("act", &["relu", "tanh", "sigmoid"]);
    let a = random(&space, 300, 11)?;
    assert_eq!(a, random(&space, 300, 11)?);
    assert_ne!(a, random(&space, 300, 12)?);
    let mut layers = BTreeSet::new();
    let mut acts = BTreeSet::new();
    for t in &a {
        assert!((1e-4..=1e-1).contains(&t.get_f64("lr")?));
        assert!((0.5..=0.9).contains(&t.get_f64("keep")?));
        layers.insert(t.get_i64("layers")?);
        acts.insert(t.get_str("act")?.to_string());
    }
    assert_eq!(layers, BTreeSet::from([1, 2, 3]));
    assert_eq!(acts.len(), 3);
    Ok(())
}

#[test]
fn log_sampling_spreads_over_decades() -> anyhow::Result<()> {
    let space = SearchSpace::new().float("lr", 1e-4, 1e-1, Scale::Log10);
    let lrs = floats(&random(&space, 3000, 5)?, "lr")?;
    let mut per_decade = [0usize; 3];
    for lr in lrs {
        let decade = ((lr.log10() + 4.0).floor() as usize).min(2);
        per_decade[decade] += 1;
    }
    // A uniform draw on the values would put about 90 % in the top decade.
    for (d, &n) in per_decade.iter().enumerate() {
        assert!((850..=1150).contains(&n), "decade {d}: {n} of 3000");
    }
    Ok(())
}

#[test]
fn beta_sampling_is_uniform_in_one_minus_beta_exponent() -> anyhow::Result<()> {
    let space = SearchSpace::new().float("beta", 0.9, 0.999, Scale::OneMinusLog10);
    let betas = floats(&random(&space, 2000, 3)?, "beta")?;
    assert!(betas.iter().all(|b| (0.9..=0.999).contains(b)));
    let low = betas.iter().filter(|&&b| b < 0.99).count();
    // Half between 0.9 and 0.99, half between 0.99 and 0.999 (a linear draw would give 91 %).
    assert!((850..=1150).contains(&low), "{low} of 2000 below 0.99");
    Ok(())
}

#[test]
fn invalid_spaces_are_rejected() {
    let bad = [
        (SearchSpace::new().float("lr", 0.0, 1e-1, Scale::Log10), "lr"),
        (SearchSpace::new().float("x", 2.0, 1.0, Scale::Linear), "x"),
        (SearchSpace::new().float("x", 0.0, f64::NAN, Scale::Linear), "x"),
        (SearchSpace::new().float("beta", 0.9, 1.0, Scale::OneMinusLog10), "beta"),
        (SearchSpace::new().int("h", 5, 4), "h"),
        (SearchSpace::new().choice("act", &[]), "act"),
        (SearchSpace::new().choice("act", &["relu", "relu"]), "act"),
    ];
    for (space, name) in bad {
        match space.validate() {
            Err(Error::Invalid { what, .. }) => assert!(what.contains(name), "{what}"),
            other => panic!("{name}: expected Invalid, got {other:?}"),
        }
        assert!(matches!(random(&space, 3, 0), Err(Error::Invalid { .. })));
    }
    assert!(matches!(SearchSpace::new().validate(), Err(Error::Empty(_))));
    let ok = SearchSpace::new().int("h", 1, 2);
    assert!(matches!(random(&ok, 0, 0), Err(Error::Invalid { .. })));
    assert!(matches!(grid(&ok, 0), Err(Error::Invalid { .. })));
    assert_eq!(ok.get("h"), Some(&Domain::Int { lo: 1, hi: 2 }));
}

#[test]
fn trial_accessors_name_missing_values() -> anyhow::Result<()> {
    let t = grid(&SearchSpace::new().int("h", 4, 4).choice("act", &["relu"]), 2)?.remove(0);
    assert_eq!(t.get_f64("h")?, 4.0);
    match t.get_f64("lr") {
        Err(Error::Invalid { message, .. }) => assert!(message.contains("`lr`"), "{message}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert!(matches!(t.get_i64("act"), Err(Error::Invalid { .. })));
    assert!(matches!(t.get_str("h"), Err(Error::Invalid { .. })));
    let json = t.to_json();
    assert_eq!(json["values"]["h"], 4);
    assert_eq!(json["values"]["act"], "relu");
    Ok(())
}

fn objective(t: &Trial) -> dls_foundations::Result<f64> {
    let lr = t.get_f64("lr")?;
    let h = t.get_i64("h")? as f64;
    Ok(-(lr.log10() + 2.5).powi(2) - (h - 100.0).powi(2) / 1e4)
}

fn space_2d() -> SearchSpace {
    SearchSpace::new().float("lr", 1e-4, 1e-1, Scale::Log10).int("h", 16, 256)
}

#[test]
fn parallel_trials_match_sequential() -> anyhow::Result<()> {
    let trials = random(&space_2d(), 40, 9)?;
    let one = run_trials(trials.clone(), 1, objective)?;
    let four = run_trials(trials, 4, objective)?;
    let key = |r: &[TrialResult]| r.iter().map(|x| (x.trial.clone(), x.score)).collect::<Vec<_>>();
    assert_eq!(key(&one), key(&four));
    assert_eq!(one.iter().map(|r| r.trial.id).collect::<Vec<_>>(), (0..40).collect::<Vec<_>>());
    assert!(one.iter().all(|r| r.seconds >= 0.0));
    Ok(())
}

#[test]
fn failing_trial_is_named_and_nan_ranks_last() -> anyhow::Result<()> {
    let trials = random(&space_2d(), 8, 1)?;
    let failing = |t: &Trial| {
        if t.id == 5 || t.id == 3 {
            Err(Error::invalid("objective", "diverged"))
        } else {
            Ok(1.0)
        }
    };
    match run_trials(trials.clone(), 3, failing) {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "trial 3");
            assert!(message.contains("diverged"), "{message}");
        }
        other => panic!("expected the trial 3 error, got {other:?}"),
    }
    assert!(matches!(run_trials(trials.clone(), 0, objective), Err(Error::Invalid { .. })));
    assert!(matches!(run_trials(Vec::new(), 1, objective), Err(Error::Empty(_))));

    let scores = [0.5, f64::NAN, 2.0, -1.0];
    let mut results = run_trials(trials[..4].to_vec(), 2, |t: &Trial| Ok(scores[t.id]))?;
    sort_by_score(&mut results);
    assert_eq!(results.iter().map(|r| r.trial.id).collect::<Vec<_>>(), vec![2, 0, 3, 1]);
    Ok(())
}

#[test]
fn coarse_to_fine_finds_the_maximum() -> anyhow::Result<()> {
    let space = space_2d();
    let report = coarse_to_fine(&space, 4, 16, 4, 21, 2, objective)?;
    assert_eq!(report.results.len(), 64);
    assert_eq!(report.spaces.len(), 4);
    let lr = report.best.trial.get_f64("lr")?;
    assert!((lr.log10() + 2.5).abs() < 0.3, "best lr {lr}");
    let h = report.best.trial.get_i64("h")?;
    assert!((h - 100).abs() < 60, "best h {h}");
    // The later rounds search a narrower log range.
    let width = |s: &SearchSpace| match s.get("lr") {
        Some(Domain::Float { lo, hi, .. }) => hi.log10() - lo.log10(),
        _ => f64::NAN,
    };
    assert!(width(&report.spaces[3]) < 0.5 * width(&report.spaces[0]));
    // Deterministic for a deterministic objective, whatever the thread count.
    let again = coarse_to_fine(&space, 4, 16, 4, 21, 1, objective)?;
    assert_eq!(again.best.trial, report.best.trial);
    assert_eq!(again.best.score, report.best.score);

    let table = report.table();
    let first_row = table.lines().nth(1).unwrap_or_default();
    assert!(first_row.trim_start().starts_with(&format!("1  {:>2}", report.best.trial.id)), "{table}");
    assert_eq!(table.lines().count(), 65);
    let json = report.to_json();
    assert_eq!(json["best"]["id"], report.best.trial.id);
    assert_eq!(json["results"].as_array().map(Vec::len), Some(64));
    Ok(())
}

#[test]
fn coarse_to_fine_rejects_bad_settings() {
    let space = space_2d();
    assert!(matches!(coarse_to_fine(&space, 0, 4, 1, 0, 1, objective), Err(Error::Invalid { .. })));
    assert!(matches!(coarse_to_fine(&space, 2, 4, 5, 0, 1, objective), Err(Error::Invalid { .. })));
    assert!(matches!(coarse_to_fine(&space, 2, 4, 0, 0, 1, objective), Err(Error::Invalid { .. })));
}
