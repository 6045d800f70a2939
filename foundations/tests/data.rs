//! Datasets, mini-batches, splits, standardization, CSV and the shipped data sets.

use std::collections::HashSet;

use anyhow::Result;
use candle_core::{DType, Device, Tensor};
use dls_foundations::data::{
    class_labels, parse_csv_f32, read_csv_f32, read_csv_f32_from, train_dev_split, train_dev_test,
    train_dev_test_stratified, Dataset, Standardizer,
};
use dls_foundations::datasets::{circles, digits, flower, moons};
use dls_foundations::{Error, SeededRng};

/// Rows 0..n with x[i] = [i, 10 i] and y[i] = i, so every row carries its own id.
fn numbered(n: u32) -> Result<Dataset> {
    let x: Vec<f32> = (0..n).flat_map(|i| [i as f32, 10.0 * i as f32]).collect();
    let x = Tensor::from_vec(x, (n as usize, 2), &Device::Cpu)?;
    let y = Tensor::arange(0u32, n, &Device::Cpu)?;
    Ok(Dataset::new(x, y)?)
}

/// The row ids of an epoch, batch by batch.
fn epoch(ds: &Dataset, batch: usize, rng: Option<&SeededRng>) -> Result<Vec<Vec<u32>>> {
    let mut out = Vec::new();
    for b in ds.batches(batch, rng)? {
        let (x, y) = b?;
        let ids = y.to_vec1::<u32>()?;
        // x travels with y: column 0 holds the row id.
        let x0: Vec<u32> = x.to_vec2::<f32>()?.iter().map(|r| r[0] as u32).collect();
        assert_eq!(x0, ids);
        out.push(ids);
    }
    Ok(out)
}

#[test]
fn digits_loads_with_ten_balanced_classes() -> Result<()> {
    let ds = digits()?;
    assert_eq!(ds.x.dims(), &[1797, 64]);
    assert_eq!(ds.y.dims(), &[1797]);
    assert_eq!(ds.x.dtype(), DType::F32);
    assert_eq!(ds.y.dtype(), DType::U32);
    assert_eq!(ds.x.min_all()?.to_scalar::<f32>()?, 0.0);
    assert_eq!(ds.x.max_all()?.to_scalar::<f32>()?, 16.0);
    let mut counts = [0usize; 10];
    for label in ds.y.to_vec1::<u32>()? {
        counts[label as usize] += 1;
    }
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    // scikit-learn's load_digits: np.bincount(y) == [178 182 177 183 181 182 181 179 174 180]
    assert_eq!(counts, [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]);
    // The first image is a 0 whose top-left pixels are 0, 0, 5, 13, 9, 1 (first row of the CSV).
    let first = ds.x.get(0)?.to_vec1::<f32>()?;
    assert_eq!(&first[..6], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0]);
    assert_eq!(ds.y.get(0)?.to_scalar::<u32>()?, 0);
    Ok(())
}

#[test]
fn batches_have_the_right_sizes_in_order() -> Result<()> {
    let ds = numbered(10)?;
    let b = ds.batches(4, None)?;
    assert_eq!(b.len(), 3);
    assert_eq!(b.num_batches(), 3);
    assert_eq!(epoch(&ds, 4, None)?, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    assert_eq!(epoch(&ds, 10, None)?.len(), 1);
    assert_eq!(epoch(&ds, 64, None)?, vec![(0..10).collect::<Vec<u32>>()]);
    let mut it = ds.batches(3, None)?;
    it.next();
    assert_eq!((it.len(), it.num_batches()), (3, 4));
    Ok(())
}

#[test]
fn shuffled_batches_cover_every_row_once_and_follow_the_seed() -> Result<()> {
    let ds = numbered(10)?;
    let rng = SeededRng::new(5);
    let e1 = epoch(&ds, 4, Some(&rng))?;
    assert_eq!(e1.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 2]);
    let mut all: Vec<u32> = e1.concat();
    assert_ne!(all, (0..10).collect::<Vec<u32>>(), "a shuffle of 10 rows should not be the identity");
    all.sort_unstable();
    assert_eq!(all, (0..10).collect::<Vec<u32>>());
    // The next epoch on the same stream draws a new order...
    let e2 = epoch(&ds, 4, Some(&rng))?;
    assert_ne!(e1, e2);
    // ...and a fresh stream with the same seed replays both epochs.
    let again = SeededRng::new(5);
    assert_eq!(epoch(&ds, 4, Some(&again))?, e1);
    assert_eq!(epoch(&ds, 4, Some(&again))?, e2);
    // A different seed gives a different order.
    assert_ne!(epoch(&ds, 4, Some(&SeededRng::new(6)))?, e1);
    Ok(())
}

#[test]
fn batch_size_zero_is_invalid() -> Result<()> {
    let ds = numbered(3)?;
    match ds.batches(0, None) {
        Err(Error::Invalid { what, .. }) => assert_eq!(what, "batch_size"),
        other => panic!("expected Invalid batch_size, got {other:?}"),
    }
    Ok(())
}

#[test]
fn train_dev_test_is_a_seeded_partition() -> Result<()> {
    let ds = numbered(100)?;
    let s = train_dev_test(&ds, 0.15, 0.25, 9)?;
    assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (60, 15, 25));
    let ids = |d: &Dataset| -> Result<Vec<u32>> { Ok(d.y.to_vec1::<u32>()?) };
    let (tr, dv, te) = (ids(&s.train)?, ids(&s.dev)?, ids(&s.test)?);
    let mut all: Vec<u32> = [tr.clone(), dv.clone(), te.clone()].concat();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<u32>>(), "parts must be disjoint and cover every row");
    // x still matches y after the split.
    let x0: Vec<u32> = s.dev.x.to_vec2::<f32>()?.iter().map(|r| r[0] as u32).collect();
    assert_eq!(x0, dv);
    let again = train_dev_test(&ds, 0.15, 0.25, 9)?;
    assert_eq!(ids(&again.test)?, te);
    assert_eq!(ids(&again.train)?, tr);
    let other = train_dev_test(&ds, 0.15, 0.25, 10)?;
    assert_ne!(ids(&other.test)?, te);
    Ok(())
}

#[test]
fn bad_split_fractions_are_rejected() -> Result<()> {
    let ds = numbered(10)?;
    for (dev, test) in [(-0.1, 0.2), (0.2, 1.0), (0.5, 0.5), (f64::NAN, 0.1)] {
        assert!(matches!(train_dev_test(&ds, dev, test, 0), Err(Error::Invalid { .. })), "{dev} {test}");
    }
    match train_dev_test(&ds, 0.0, 0.2, 0) {
        Err(Error::Empty(m)) => assert!(m.starts_with("dev part"), "{m}"),
        other => panic!("expected an empty dev part, got {other:?}"),
    }
    match train_dev_test(&ds, 0.2, 0.01, 0) {
        Err(Error::Empty(m)) => assert!(m.starts_with("test part"), "{m}"),
        other => panic!("expected an empty test part, got {other:?}"),
    }
    Ok(())
}

#[test]
fn stratified_split_keeps_class_proportions() -> Result<()> {
    // 80 rows of class 0, 20 of class 1, as f32 binary targets [n, 1].
    let x = Tensor::arange(0f32, 100., &Device::Cpu)?.reshape((100, 1))?;
    let y: Vec<f32> = (0..100).map(|i| if i < 80 { 0.0 } else { 1.0 }).collect();
    let ds = Dataset::new(x, Tensor::from_vec(y, (100, 1), &Device::Cpu)?)?;
    let s = train_dev_test_stratified(&ds, 0.1, 0.2, 3)?;
    let ones = |d: &Dataset| -> Result<f32> { Ok(d.y.sum_all()?.to_scalar::<f32>()?) };
    assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (70, 10, 20));
    assert_eq!((ones(&s.train)?, ones(&s.dev)?, ones(&s.test)?), (14.0, 2.0, 4.0));
    let mut rows: Vec<u32> = [&s.train, &s.dev, &s.test]
        .iter()
        .map(|d| Ok(d.x.flatten_all()?.to_vec1::<f32>()?.into_iter().map(|v| v as u32).collect::<Vec<_>>()))
        .collect::<Result<Vec<_>>>()?
        .concat();
    rows.sort_unstable();
    assert_eq!(rows, (0..100).collect::<Vec<u32>>());
    // Digits: every class keeps about 20% in the test part.
    let d = digits()?;
    let s = train_dev_test_stratified(&d, 0.1, 0.2, 0)?;
    let mut per_class = [0usize; 10];
    for c in class_labels(&s.test.y)? {
        per_class[c as usize] += 1;
    }
    assert!(per_class.iter().all(|&k| (34..=37).contains(&k)), "{per_class:?}");
    // Sparse, huge class ids are fine; fractional labels are not class ids.
    let y: Vec<u32> = (0..20).map(|i| if i % 2 == 0 { 4_000_000_000 } else { 3 }).collect();
    let ds = Dataset::new(Tensor::zeros((20, 1), DType::F32, &Device::Cpu)?, Tensor::new(y, &Device::Cpu)?)?;
    let s = train_dev_test_stratified(&ds, 0.2, 0.2, 1)?;
    assert_eq!((s.train.len(), s.dev.len(), s.test.len()), (12, 4, 4));
    let half = Tensor::new(&[0.5f32, 1.0], &Device::Cpu)?;
    assert!(matches!(class_labels(&half), Err(Error::Invalid { .. })));
    Ok(())
}

#[test]
fn train_dev_split_carves_a_seeded_hold_out() -> Result<()> {
    let ds = numbered(50)?;
    let (tr, td) = train_dev_split(&ds, 0.2, 1)?;
    assert_eq!((tr.len(), td.len()), (40, 10));
    let a: HashSet<u32> = tr.y.to_vec1::<u32>()?.into_iter().collect();
    let b: HashSet<u32> = td.y.to_vec1::<u32>()?.into_iter().collect();
    assert!(a.is_disjoint(&b));
    assert_eq!(a.len() + b.len(), 50);
    let (_, td2) = train_dev_split(&ds, 0.2, 1)?;
    assert_eq!(td2.y.to_vec1::<u32>()?, td.y.to_vec1::<u32>()?);
    assert!(matches!(train_dev_split(&ds, 1.0, 1), Err(Error::Invalid { .. })));
    assert!(matches!(train_dev_split(&ds, 0.001, 1), Err(Error::Empty(_))));
    Ok(())
}

#[test]
fn standardizer_fits_on_train_only() -> Result<()> {
    // Feature 0: 1, 2, 3, 6 (mean 3, population std sqrt(3.5)); feature 1 constant 7.
    let train = Tensor::new(&[[1f32, 7.], [2., 7.], [3., 7.], [6., 7.]], &Device::Cpu)?;
    let s = Standardizer::fit(&train)?;
    assert_eq!(s.mean().to_vec1::<f32>()?, vec![3.0, 7.0]);
    let std = s.std().to_vec1::<f32>()?;
    assert!((std[0] - 3.5f32.sqrt()).abs() < 1e-6, "{std:?}");
    assert_eq!(std[1], 1.0, "a constant feature's std becomes 1");
    let z = s.transform(&train)?;
    let mean = z.mean(0)?.to_vec1::<f32>()?;
    let var = z.sqr()?.mean(0)?.to_vec1::<f32>()?;
    assert!(mean.iter().all(|m| m.abs() < 1e-6), "{mean:?}");
    assert!((var[0] - 1.0).abs() < 1e-5, "{var:?}");
    assert_eq!(var[1], 0.0, "the constant feature stays 0");
    // Test data uses the training statistics: (10 - 3) / sqrt(3.5) and (7 - 7) / 1.
    let t = s.transform(&Tensor::new(&[[10f32, 7.]], &Device::Cpu)?)?.to_vec2::<f32>()?;
    assert!((t[0][0] - 7.0 / 3.5f32.sqrt()).abs() < 1e-5, "{t:?}");
    assert_eq!(t[0][1], 0.0);
    match s.transform(&Tensor::zeros((2, 3), DType::F32, &Device::Cpu)?) {
        Err(Error::Shape { .. }) => {}
        other => panic!("expected a shape error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn standardizer_handles_image_shaped_features() -> Result<()> {
    // [n, 1, 2, 2] images: statistics per pixel.
    let x = Tensor::arange(0f32, 16., &Device::Cpu)?.reshape((4, 1, 2, 2))?;
    let (s, z) = Standardizer::fit_transform(&x)?;
    assert_eq!(s.mean().dims(), &[1, 2, 2]);
    assert_eq!(s.mean().flatten_all()?.to_vec1::<f32>()?, vec![6.0, 7.0, 8.0, 9.0]);
    assert_eq!(z.dims(), &[4, 1, 2, 2]);
    assert!(matches!(
        s.transform(&Tensor::zeros((4, 4), DType::F32, &Device::Cpu)?),
        Err(Error::Shape { .. })
    ));
    Ok(())
}

#[test]
fn planar_sets_are_seeded_and_balanced() -> Result<()> {
    for (name, a, b, c) in [
        ("flower", flower(401, 1)?, flower(401, 1)?, flower(401, 2)?),
        ("moons", moons(401, 0.2, 1)?, moons(401, 0.2, 1)?, moons(401, 0.2, 2)?),
        ("circles", circles(401, 0.1, 0.5, 1)?, circles(401, 0.1, 0.5, 1)?, circles(401, 0.1, 0.5, 2)?),
    ] {
        assert_eq!(a.x.dims(), &[401, 2], "{name}");
        assert_eq!(a.y.dims(), &[401, 1], "{name}");
        assert_eq!(a.y.sum_all()?.to_scalar::<f32>()?, 201.0, "{name}: class 1 gets n - n/2");
        let ys = a.y.flatten_all()?.to_vec1::<f32>()?;
        assert!(ys.iter().all(|&v| v == 0.0 || v == 1.0), "{name}");
        assert_eq!(a.x.to_vec2::<f32>()?, b.x.to_vec2::<f32>()?, "{name}: same seed");
        assert_ne!(a.x.to_vec2::<f32>()?, c.x.to_vec2::<f32>()?, "{name}: different seed");
    }
    // The flower's radius |4 sin 4t| is at most 4 plus a little noise.
    let f = flower(400, 0)?;
    let r_max = f.x.sqr()?.sum(1)?.sqrt()?.max_all()?.to_scalar::<f32>()?;
    assert!(r_max > 3.0 && r_max < 5.5, "{r_max}");
    // Noise-free circles: class 1 exactly on radius `factor`.
    let c = circles(10, 0.0, 0.3, 0)?;
    let r = c.x.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
    for (r, y) in r.iter().zip(c.y.flatten_all()?.to_vec1::<f32>()?) {
        let want = if y == 1.0 { 0.3 } else { 1.0 };
        assert!((r - want).abs() < 1e-6, "{r} vs {want}");
    }
    assert!(matches!(moons(1, 0.1, 0), Err(Error::Invalid { .. })));
    assert!(matches!(moons(10, -0.1, 0), Err(Error::Invalid { .. })));
    assert!(matches!(circles(10, 0.1, 1.0, 0), Err(Error::Invalid { .. })));
    Ok(())
}

#[test]
fn csv_reads_numbers_and_reports_lines() -> Result<()> {
    let rows = read_csv_f32_from("x,y\r\n1, 2\r\n\r\n3.5,-4e1\r\n".as_bytes(), true, "t.csv")?;
    assert_eq!(rows, vec![vec![1.0, 2.0], vec![3.5, -40.0]]);
    match parse_csv_f32(b"1,2\n3,4\n5\n", false, "ragged.csv") {
        Err(Error::Format { path, offset, message }) => {
            assert_eq!(path, "ragged.csv");
            assert_eq!(offset, Some(8));
            assert!(message.contains("line 3") && message.contains("expected 2"), "{message}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    match parse_csv_f32(b"1,2\n3,abc\n", false, "bad.csv") {
        Err(Error::Format { message, .. }) => assert!(message.contains("line 2, column 2"), "{message}"),
        other => panic!("expected a format error, got {other:?}"),
    }
    // From a file, gzip-compressed, detected by content.
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("plain.txt");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, b"a,b\n1,2\n")?;
    std::fs::write(&path, gz.finish()?)?;
    assert_eq!(read_csv_f32(&path, true)?, vec![vec![1.0, 2.0]]);
    match read_csv_f32(dir.path().join("missing.csv"), false) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("missing.csv")),
        other => panic!("expected an io error, got {other:?}"),
    }
    Ok(())
}

#[test]
fn to_device_keeps_the_data() -> Result<()> {
    let ds = numbered(4)?;
    let moved = ds.to_device(&Device::Cpu)?;
    assert_eq!(moved.y.to_vec1::<u32>()?, vec![0, 1, 2, 3]);
    assert_eq!(moved.feature_dims(), &[2]);
    Ok(())
}

#[test]
fn course_flower_matches_the_notebook_points() {
    // The course notebook's data, printed with NumPy (seed 1, legacy RandomState):
    //   X[0] = [1.20444229, 3.57611415], X[1] = [0.1587099, -1.4821709], X[2] = [0.0952472, -1.27995533]
    let ds = dls_foundations::datasets::flower_course().unwrap();
    assert_eq!(ds.x.dims(), &[400, 2]);
    let x = ds.x.to_vec2::<f32>().unwrap();
    let want = [[1.204_442_3_f32, 3.576_114_2], [0.158_709_9, -1.482_170_9], [0.095_247_2, -1.279_955_3]];
    for (row, w) in x.iter().zip(want) {
        assert!((row[0] - w[0]).abs() < 1e-5 && (row[1] - w[1]).abs() < 1e-5, "{row:?} vs {w:?}");
    }
}
