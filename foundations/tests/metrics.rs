//! Metrics against hand-computed examples.

use candle_core::{Device, Tensor};
use dls_foundations::metrics::{
    accuracy, accuracy_from_logits, argmax_rows, binary_scores, BinaryScores, ConfusionMatrix,
};
use dls_foundations::Error;

const TOL: f64 = 1e-12;

#[test]
fn accuracy_counts_matches() -> anyhow::Result<()> {
    assert!((accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2])? - 0.75).abs() < TOL);
    assert!(matches!(accuracy(&[0, 1], &[0]), Err(Error::Shape { .. })));
    assert!(matches!(accuracy(&[], &[]), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn argmax_and_logit_accuracy() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let logits =
        Tensor::new(&[[0.1f32, 2.0, -1.0], [3.0, 0.0, 0.5], [0.0, 0.1, 0.2], [1.0, 1.0, 0.0]], &dev)?;
    // Ties go to the lowest index (row 3).
    assert_eq!(argmax_rows(&logits)?, vec![1, 0, 2, 0]);
    let labels = Tensor::new(&[1u32, 0, 1, 1], &dev)?;
    assert!((accuracy_from_logits(&logits, &labels)? - 0.5).abs() < TOL);
    let labels64 = Tensor::new(&[1i64, 0, 2, 0], &dev)?;
    assert!((accuracy_from_logits(&logits, &labels64)? - 1.0).abs() < TOL);

    // Binary: positive when logit > 0; labels [n, 1] or [n].
    let z = Tensor::new(&[[2.0f32], [-1.0], [0.0], [0.3]], &dev)?;
    let y = Tensor::new(&[[1.0f32], [0.0], [1.0], [0.0]], &dev)?;
    assert!((accuracy_from_logits(&z, &y)? - 0.5).abs() < TOL);
    assert!((accuracy_from_logits(&z, &y.flatten_all()?)? - 0.5).abs() < TOL);
    Ok(())
}

#[test]
fn logit_accuracy_rejects_bad_input() -> anyhow::Result<()> {
    let dev = Device::Cpu;
    let logits = Tensor::new(&[[0.1f32, 2.0], [3.0, 0.0]], &dev)?;
    let short = Tensor::new(&[1u32], &dev)?;
    assert!(matches!(accuracy_from_logits(&logits, &short), Err(Error::Shape { .. })));
    let out_of_range = Tensor::new(&[1u32, 2], &dev)?;
    match accuracy_from_logits(&logits, &out_of_range) {
        Err(Error::Invalid { message, .. }) => assert!(message.contains("label 1 is 2"), "{message}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    let float_labels = Tensor::new(&[1.0f32, 0.0], &dev)?;
    assert!(matches!(accuracy_from_logits(&logits, &float_labels), Err(Error::Invalid { .. })));
    let z = Tensor::new(&[[1.0f32], [2.0]], &dev)?;
    let not_binary = Tensor::new(&[[1.0f32], [0.5]], &dev)?;
    assert!(matches!(accuracy_from_logits(&z, &not_binary), Err(Error::Invalid { .. })));
    let rank1 = Tensor::new(&[1.0f32, 2.0], &dev)?;
    assert!(matches!(argmax_rows(&rank1), Err(Error::Shape { .. })));
    let empty = Tensor::zeros((0, 3), candle_core::DType::F32, &dev)?;
    let no_labels = Tensor::zeros(0, candle_core::DType::U32, &dev)?;
    assert!(matches!(accuracy_from_logits(&empty, &no_labels), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn confusion_matrix_of_a_known_case() -> anyhow::Result<()> {
    // truth: 0 0 0 1 1 2 2 2 2 ; pred: 0 1 0 1 2 2 2 0 2
    let truth = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    let pred = [0, 1, 0, 1, 2, 2, 2, 0, 2];
    let cm = ConfusionMatrix::from_predictions(&pred, &truth, 3)?;
    let expected = [[2, 1, 0], [0, 1, 1], [1, 0, 3]];
    for (t, row) in expected.iter().enumerate() {
        for (p, &n) in row.iter().enumerate() {
            assert_eq!(cm.get(t, p)?, n, "cell ({t}, {p})");
        }
    }
    assert_eq!(cm.total(), 9);
    assert!((cm.accuracy() - 6.0 / 9.0).abs() < TOL);
    // class 0: tp 2, predicted 3, actual 3 -> P = R = F1 = 2/3
    // class 1: tp 1, predicted 2, actual 2 -> 1/2
    // class 2: tp 3, predicted 4, actual 4 -> 3/4
    let p = [2.0 / 3.0, 0.5, 0.75];
    for (c, &v) in p.iter().enumerate() {
        assert!((cm.precision(c)? - v).abs() < TOL);
        assert!((cm.recall(c)? - v).abs() < TOL);
        assert!((cm.f1(c)? - v).abs() < TOL);
    }
    assert!((cm.macro_f1() - (2.0 / 3.0 + 0.5 + 0.75) / 3.0).abs() < TOL);
    Ok(())
}

#[test]
fn confusion_matrix_asymmetric_precision_recall() -> anyhow::Result<()> {
    // Class 1 predicted for everything: precision 2/4, recall 1; class 0 never predicted -> 0.
    let mut cm = ConfusionMatrix::new(2);
    for t in [0, 0, 1, 1] {
        cm.add(1, t)?;
    }
    assert!((cm.precision(1)? - 0.5).abs() < TOL);
    assert!((cm.recall(1)? - 1.0).abs() < TOL);
    assert!((cm.f1(1)? - 2.0 / 3.0).abs() < TOL);
    assert_eq!(cm.precision(0)?, 0.0);
    assert_eq!(cm.recall(0)?, 0.0);
    assert_eq!(cm.f1(0)?, 0.0);
    assert!((cm.macro_f1() - 1.0 / 3.0).abs() < TOL);
    Ok(())
}

#[test]
fn confusion_matrix_errors_and_display() -> anyhow::Result<()> {
    let mut cm = ConfusionMatrix::new(2);
    assert!(matches!(cm.add(2, 0), Err(Error::Invalid { .. })));
    assert!(matches!(cm.get(0, 5), Err(Error::Invalid { .. })));
    assert!(matches!(cm.precision(2), Err(Error::Invalid { .. })));
    assert!(matches!(ConfusionMatrix::from_predictions(&[0], &[0, 1], 2), Err(Error::Shape { .. })));
    assert!(matches!(ConfusionMatrix::from_predictions(&[], &[], 2), Err(Error::Empty(_))));
    assert_eq!(cm.accuracy(), 0.0);

    let cm =
        ConfusionMatrix::from_predictions(&[0, 1, 1, 1], &[0, 1, 1, 0], 2)?.with_labels(&["cat", "dog"])?;
    let text = cm.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, ["truth \\ pred  cat  dog", "cat             1    1", "dog             0    2"]);
    assert!(matches!(cm.with_labels(&["a"]), Err(Error::Shape { .. })));
    Ok(())
}

#[test]
fn binary_scores_and_edge_cases() -> anyhow::Result<()> {
    // tp 2, fp 1, fn 2 -> P 2/3, R 1/2, F1 4/7
    let pred = [true, true, true, false, false, false];
    let truth = [true, true, false, true, true, false];
    let s = binary_scores(&pred, &truth)?;
    assert!((s.precision - 2.0 / 3.0).abs() < TOL);
    assert!((s.recall - 0.5).abs() < TOL);
    assert!((s.f1 - 4.0 / 7.0).abs() < TOL);

    // Predicts no positives: precision defined as 0, recall 0, F1 0.
    let none = binary_scores(&[false, false], &[true, false])?;
    assert_eq!(none, BinaryScores { precision: 0.0, recall: 0.0, f1: 0.0 });
    // No actual positives: recall 0; precision 0 as every predicted positive is wrong.
    let no_pos = binary_scores(&[true, false], &[false, false])?;
    assert_eq!(no_pos, BinaryScores { precision: 0.0, recall: 0.0, f1: 0.0 });
    // Perfect.
    let perfect = binary_scores(&[true, false], &[true, false])?;
    assert_eq!(perfect, BinaryScores { precision: 1.0, recall: 1.0, f1: 1.0 });

    assert!(matches!(binary_scores(&[true], &[true, false]), Err(Error::Shape { .. })));
    assert!(matches!(binary_scores(&[], &[]), Err(Error::Empty(_))));
    Ok(())
}
