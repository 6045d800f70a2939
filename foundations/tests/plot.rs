//! Learning-curve SVGs.

use dls_foundations::plot::learning_curves;
use dls_foundations::Error;

/// The text of every `<text>` element.
fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|s| s.split_once('>'))
        .map(|(_, rest)| rest.split("</text>").next().unwrap_or_default().trim().to_string())
        .collect()
}

/// Polylines drawn with the curves' 2-pixel stroke (curve segments and legend marks; the axes
/// and mesh use thinner lines).
fn curves(svg: &str) -> usize {
    svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(r#"stroke-width="2""#)).count()
}

#[test]
fn writes_an_svg_with_a_legend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("curves.svg");
    let train = [0.9, 0.5, 0.3, 0.2, 0.15];
    let dev = [0.95, 0.6, 0.45, 0.42, 0.41];
    learning_curves(&path, "cost per epoch", "epoch", &[("train cost", &train[..]), ("dev cost", &dev[..])])?;
    let svg = std::fs::read_to_string(&path)?;
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    let texts = texts(&svg);
    for text in ["train cost", "dev cost", "cost per epoch", "epoch"] {
        assert!(texts.iter().any(|t| t == text), "missing text {text} in {texts:?}");
    }
    // Epochs are labelled as whole numbers.
    for epoch in ["1", "2", "3", "4", "5"] {
        assert!(texts.iter().any(|t| t == epoch), "missing x label {epoch} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t == "1.5"), "{texts:?}");
    // Two curves and two legend marks, in two different colours.
    assert_eq!(curves(&svg), 4);
    // One dot per point.
    assert_eq!(svg.matches("<circle").count(), 10);
    // No temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path())?.count(), 1);
    Ok(())
}

#[test]
fn non_finite_values_are_skipped() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("gap.svg");
    let loss = [1.0, 0.5, f64::NAN, 0.3, f64::INFINITY, 0.2];
    let flat = [0.4, 0.4, 0.4];
    learning_curves(&path, "a <b> & c", "step", &[("loss", &loss[..]), ("flat", &flat[..])])?;
    let svg = std::fs::read_to_string(&path)?;
    // loss splits into runs [1.0, 0.5], [0.3], [0.2]; flat is one run; plus two legend marks.
    assert_eq!(curves(&svg), 6);
    assert_eq!(svg.matches("<circle").count(), 7);
    assert!(svg.contains("a &lt;b&gt; &amp; c"));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    Ok(())
}

#[test]
fn empty_input_is_an_error() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("none.svg");
    assert!(matches!(learning_curves(&path, "t", "epoch", &[]), Err(Error::Empty(_))));
    let empty: [f64; 0] = [];
    assert!(matches!(
        learning_curves(&path, "t", "epoch", &[("a", &empty[..]), ("b", &[f64::NAN][..])]),
        Err(Error::Empty(_))
    ));
    assert!(!path.exists());
    let missing_dir = dir.path().join("no/such/dir/x.svg");
    assert!(matches!(
        learning_curves(&missing_dir, "t", "epoch", &[("a", &[1.0][..])]),
        Err(Error::Io { .. })
    ));
    Ok(())
}
