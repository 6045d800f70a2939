//! Bias/variance diagnosis on the course's numbers, and error-analysis tallies.

use dls_foundations::diagnose::{diagnose, diagnose_with, ErrorAnalysis, ErrorRates, TagCount, Verdict};
use dls_foundations::Error;

const TOL: f64 = 1e-12;

fn rates(human: f64, train: f64, train_dev: Option<f64>, dev: f64, test: Option<f64>) -> ErrorRates {
    ErrorRates { human, train, train_dev, dev, test }
}

#[test]
fn high_avoidable_bias() -> anyhow::Result<()> {
    // Sheet 05: human 1 %, train 8 %, dev 10 % -> focus on bias.
    let d = diagnose(&rates(0.01, 0.08, None, 0.10, None))?;
    assert!((d.avoidable_bias - 0.07).abs() < TOL);
    assert!((d.variance - 0.02).abs() < TOL);
    assert_eq!(d.data_mismatch, None);
    assert_eq!(d.dev_overfitting, None);
    assert_eq!(d.verdict, Verdict::HighAvoidableBias);
    assert!(d.advice.iter().any(|a| a.contains("bigger network")));
    Ok(())
}

#[test]
fn high_variance() -> anyhow::Result<()> {
    // Human 7.5 %, train 8 %, dev 10 % -> bias 0.5 %, variance 2 %.
    let d = diagnose(&rates(0.075, 0.08, None, 0.10, None))?;
    assert!((d.avoidable_bias - 0.005).abs() < TOL);
    assert!((d.variance - 0.02).abs() < TOL);
    assert_eq!(d.verdict, Verdict::HighVariance);
    assert!(d.advice.iter().any(|a| a.contains("more training data")));
    assert!(d.advice.iter().any(|a| a.contains("dropout")));
    Ok(())
}

#[test]
fn data_mismatch_with_train_dev_set() -> anyhow::Result<()> {
    // Sheet 12: human 0 %, train 1 %, train-dev 1.5 %, dev 10 %.
    let d = diagnose(&rates(0.0, 0.01, Some(0.015), 0.10, None))?;
    assert!((d.variance - 0.005).abs() < TOL);
    assert!((d.data_mismatch.unwrap_or(f64::NAN) - 0.085).abs() < TOL);
    assert_eq!(d.verdict, Verdict::DataMismatch);
    assert!(d.advice.iter().any(|a| a.contains("artificial data synthesis")));

    // Train-dev 9.5 %: the gap is between train and train-dev, so variance.
    let d = diagnose(&rates(0.075, 0.08, Some(0.095), 0.10, None))?;
    assert!((d.variance - 0.015).abs() < TOL);
    assert!((d.data_mismatch.unwrap_or(f64::NAN) - 0.005).abs() < TOL);
    assert_eq!(d.verdict, Verdict::HighVariance);
    Ok(())
}

#[test]
fn dev_overfitting_and_balanced() -> anyhow::Result<()> {
    let d = diagnose(&rates(0.04, 0.045, Some(0.05), 0.055, Some(0.09)))?;
    assert!((d.dev_overfitting.unwrap_or(f64::NAN) - 0.035).abs() < TOL);
    assert_eq!(d.verdict, Verdict::DevOverfitting);
    assert_eq!(d.advice, vec!["get a bigger dev set".to_string()]);

    // All gaps 0.2 % or less: balanced at the default threshold, variance at a tighter one.
    let r = rates(0.005, 0.006, None, 0.008, None);
    assert_eq!(diagnose(&r)?.verdict, Verdict::Balanced);
    assert_eq!(diagnose_with(&r, 0.001)?.verdict, Verdict::HighVariance);
    // Equal gaps: bias first.
    assert_eq!(diagnose(&rates(0.0, 0.25, None, 0.5, None))?.verdict, Verdict::HighAvoidableBias);
    Ok(())
}

#[test]
fn beating_human_level_is_noted() -> anyhow::Result<()> {
    let d = diagnose(&rates(0.05, 0.03, None, 0.04, None))?;
    assert!((d.avoidable_bias + 0.02).abs() < TOL);
    assert_eq!(d.verdict, Verdict::HighVariance);
    assert!(d.advice.iter().any(|a| a.contains("below the human-level estimate")));
    Ok(())
}

#[test]
fn invalid_rates_name_the_field() {
    let cases = [
        (rates(-0.1, 0.08, None, 0.1, None), "human"),
        (rates(0.01, f64::NAN, None, 0.1, None), "train"),
        (rates(0.01, 0.08, Some(1.5), 0.1, None), "train_dev"),
        (rates(0.01, 0.08, None, f64::INFINITY, None), "dev"),
        (rates(0.01, 0.08, None, 0.1, Some(-0.0001)), "test"),
    ];
    for (r, field) in cases {
        match diagnose(&r) {
            Err(Error::Invalid { what, .. }) => assert!(what.contains(&format!("`{field}`")), "{what}"),
            other => panic!("{field}: expected Invalid, got {other:?}"),
        }
    }
    let ok = rates(0.01, 0.08, None, 0.1, None);
    assert!(matches!(diagnose_with(&ok, -1.0), Err(Error::Invalid { .. })));
}

#[test]
fn report_table() -> anyhow::Result<()> {
    let d = diagnose(&rates(0.0, 0.01, Some(0.015), 0.10, Some(0.101)))?;
    let text = d.to_string();
    assert!(text.contains("training-dev"));
    assert!(text.contains("1.50%"));
    assert!(text.contains("8.50%  data mismatch"), "{text}");
    assert!(text.contains("verdict: data mismatch"));
    assert!(text.lines().any(|l| l.starts_with("test") && l.contains("10.10%")));
    Ok(())
}

#[test]
fn error_analysis_tallies() {
    let mut ea = ErrorAnalysis::new();
    ea.record(3, &["dog", "blurry"]);
    ea.record(7, &["great cat"]);
    ea.record(9, &["blurry"]);
    ea.record(12, &["great cat", "blurry"]);
    ea.record(20, &["mislabelled"]);
    ea.record(3, &["dog"]); // the same example again: not counted twice
    ea.record(25, &[]);
    assert_eq!(ea.total_examined(), 6);
    let table = ea.table();
    let expected = [("blurry", 3), ("great cat", 2), ("dog", 1), ("mislabelled", 1)];
    assert_eq!(table.len(), expected.len());
    for (row, (tag, count)) in table.iter().zip(expected) {
        assert_eq!(
            row,
            &TagCount { tag: tag.to_string(), count, share_of_errors: count as f64 / 6.0 },
            "row for {tag}"
        );
    }
    assert!((ea.ceiling("blurry") - 0.5).abs() < TOL);
    assert_eq!(ea.ceiling("unknown"), 0.0);
    assert!((ea.error_after_fixing("dog", 0.12) - 0.10).abs() < TOL);
    assert_eq!(ea.examples_with("great cat"), vec![7, 12]);
    let text = ea.to_string();
    assert!(text.lines().nth(1).is_some_and(|l| l.starts_with("blurry") && l.ends_with("50.0%")), "{text}");
    assert!(text.contains("examined: 6"));
    assert_eq!(ErrorAnalysis::new().ceiling("dog"), 0.0);
}
