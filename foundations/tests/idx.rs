//! The IDX reader: round trips, the MNIST folder loader, and a folder of bad files that must each
//! be rejected with a format error naming the file.
//!
//! `tests/bad_idx/` holds the output of [`bad_cases`]; regenerate it with
//! `DLS_WRITE_BAD_IDX=1 cargo test -p dls-foundations --test idx`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use candle_core::Device;
use dls_foundations::data::{encode_idx, load_mnist_dir, parse_idx, read_idx, IdxArray};
use dls_foundations::Error;
use flate2::{write::GzEncoder, Compression};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).and_then(|_| enc.finish()).unwrap_or_default()
}

/// An unsigned-byte IDX header for `dims`.
fn header(ndim: u8, dims: &[u32]) -> Vec<u8> {
    let mut h = vec![0, 0, 0x08, ndim];
    for d in dims {
        h.extend_from_slice(&d.to_be_bytes());
    }
    h
}

fn with_data(mut h: Vec<u8>, n: usize) -> Vec<u8> {
    h.extend((0..n).map(|i| i as u8));
    h
}

/// Every bad file in `tests/bad_idx/`, by name.
fn bad_cases() -> Vec<(&'static str, Vec<u8>)> {
    let valid = with_data(header(2, &[10, 10]), 100);
    let mut truncated_gz = gzip(&valid);
    truncated_gz.truncate(truncated_gz.len() / 2);
    let mut bad_crc = gzip(&valid);
    let crc_at = bad_crc.len() - 8;
    bad_crc[crc_at] ^= 0xff;
    let mut bad_magic = with_data(header(1, &[2]), 2);
    bad_magic[0] = 1;
    let mut f32_type = with_data(header(1, &[1]), 4);
    f32_type[2] = 0x0D;
    let mut unknown_type = with_data(header(1, &[2]), 2);
    unknown_type[2] = 0x07;
    let mut bomb = header(3, &[4, 1000, 1000]);
    bomb.resize(bomb.len() + 8_000_000, 0);
    vec![
        ("empty.idx", vec![]),
        ("short_magic.idx", vec![0, 0, 8]),
        ("bad_magic.idx", bad_magic),
        ("f32_type.idx", f32_type),
        ("unknown_type.idx", unknown_type),
        ("ndim_zero.idx", vec![0, 0, 8, 0]),
        ("ndim_five.idx", with_data(header(5, &[1, 1, 1, 1, 1]), 1)),
        ("truncated_header.idx", vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0]),
        ("truncated_data.idx", with_data(header(1, &[3]), 2)),
        ("trailing_data.idx", with_data(header(1, &[3]), 4)),
        ("overflow_dims.idx", with_data(header(4, &[u32::MAX; 4]), 4)),
        ("claims_2pow31_in_100_bytes.idx", with_data(header(1, &[1 << 31]), 92)),
        ("truncated.gz", truncated_gz),
        ("bad_crc.gz", bad_crc),
        ("gzip_garbage.gz", vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255, 1, 2, 3, 4, 5]),
        ("gzip_declares_more.gz", gzip(&with_data(header(3, &[1000, 28, 28]), 100))),
        ("gzip_short_data.gz", gzip(&with_data(header(1, &[100]), 50))),
        ("gzip_trailing_data.gz", gzip(&with_data(header(1, &[4]), 8))),
        ("gzip_truncated_header.gz", gzip(&[0, 0, 8, 2, 0, 0])),
        ("gzip_bomb_8mb_for_4mb.gz", gzip(&bomb)),
    ]
}

fn bad_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("bad_idx")
}

fn assert_format_error(result: dls_foundations::Result<IdxArray>, name: &str) {
    match result {
        Err(Error::Format { path, message, .. }) => {
            assert!(path.ends_with(name), "{name}: the error should name the file, got {path:?}");
            assert!(!message.is_empty(), "{name}");
        }
        Err(other) => panic!("{name}: expected Error::Format, got {other:?}"),
        Ok(a) => panic!("{name}: accepted as {:?}", a.dims),
    }
}

#[test]
fn generated_bad_cases_are_rejected_in_memory() -> Result<()> {
    let cases = bad_cases();
    if std::env::var_os("DLS_WRITE_BAD_IDX").is_some() {
        std::fs::create_dir_all(bad_dir())?;
        for (name, bytes) in &cases {
            std::fs::write(bad_dir().join(name), bytes)?;
        }
    }
    for (name, bytes) in cases {
        assert_format_error(parse_idx(&bytes, name), name);
    }
    Ok(())
}

#[test]
fn every_file_in_bad_idx_is_rejected() -> Result<()> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(bad_dir())? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        assert_format_error(read_idx(&path), &name);
        names.push(name);
    }
    names.sort();
    let mut expected: Vec<String> = bad_cases().into_iter().map(|(n, _)| n.to_string()).collect();
    expected.sort();
    assert_eq!(names, expected, "tests/bad_idx is out of date: regenerate it (see the file header)");
    Ok(())
}

#[test]
fn specific_errors_say_what_is_wrong() {
    let message = |bytes: &[u8]| match parse_idx(bytes, "x") {
        Err(Error::Format { message, offset, .. }) => (message, offset),
        other => panic!("expected a format error, got {other:?}"),
    };
    let (m, off) = message(&with_data(header(1, &[3]), 2));
    assert!(m.contains("truncated data") && m.contains("declare 3") && m.contains("found 2"), "{m}");
    assert_eq!(off, Some(8));
    let (m, _) = message(&with_data(header(1, &[3]), 4));
    assert!(m.contains("trailing data"), "{m}");
    let (m, off) = message(&[0, 0, 0x0C, 1, 0, 0, 0, 0]);
    assert!(m.contains("0x0c") && m.contains("i32"), "{m}");
    assert_eq!(off, Some(2));
    let (m, _) = message(&with_data(header(4, &[u32::MAX; 4]), 0));
    assert!(m.contains("overflow"), "{m}");
    let (m, _) = message(&gzip(&with_data(header(1, &[100]), 50)));
    assert!(m.contains("truncated data"), "{m}");
}

#[test]
fn round_trips_raw_and_gzip() -> Result<()> {
    // Written by hand: 00 00 08 02, dims 2 and 3 big-endian, then 6 bytes.
    let bytes = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 10, 20, 30, 40, 50, 255];
    let a = parse_idx(&bytes, "hand")?;
    assert_eq!(a.dims, vec![2, 3]);
    assert_eq!(a.data, vec![10, 20, 30, 40, 50, 255]);
    assert_eq!(encode_idx(&a)?, bytes.to_vec());
    assert_eq!(parse_idx(&gzip(&bytes), "hand.gz")?, a);
    let t = a.to_tensor(&Device::Cpu)?;
    assert_eq!(t.dims(), &[2, 3]);
    assert_eq!(t.to_vec2::<u8>()?[1], vec![40, 50, 255]);

    let dir = tempfile::tempdir()?;
    for dims in [vec![5], vec![2, 3, 4], vec![1, 2, 3, 2], vec![0]] {
        let n: usize = dims.iter().product();
        let a = IdxArray { dims: dims.clone(), data: (0..n).map(|i| (i * 7) as u8).collect() };
        let raw = encode_idx(&a)?;
        let plain = dir.path().join("a.bin");
        std::fs::write(&plain, &raw)?;
        assert_eq!(read_idx(&plain)?, a, "{dims:?} raw");
        // The name says nothing: a gzip file is detected by its magic bytes.
        let zipped = dir.path().join("a-ubyte");
        std::fs::write(&zipped, gzip(&raw))?;
        assert_eq!(read_idx(&zipped)?, a, "{dims:?} gzip");
    }
    assert!(matches!(encode_idx(&IdxArray { dims: vec![3], data: vec![1] }), Err(Error::Invalid { .. })));
    match read_idx(dir.path().join("nope")) {
        Err(Error::Io { path, .. }) => assert!(path.ends_with("nope")),
        other => panic!("expected an io error, got {other:?}"),
    }
    Ok(())
}

fn write_images(path: &Path, n: u32, fill: impl Fn(u32) -> u8, gz: bool) -> Result<()> {
    let mut bytes = header(3, &[n, 28, 28]);
    for i in 0..n {
        bytes.extend(std::iter::repeat_n(fill(i), 28 * 28));
    }
    std::fs::write(path, if gz { gzip(&bytes) } else { bytes })?;
    Ok(())
}

fn write_labels(path: &Path, labels: &[u8], gz: bool) -> Result<()> {
    let mut bytes = header(1, &[labels.len() as u32]);
    bytes.extend_from_slice(labels);
    std::fs::write(path, if gz { gzip(&bytes) } else { bytes })?;
    Ok(())
}

#[test]
fn loads_a_fake_mnist_folder() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    write_images(&d.join("train-images-idx3-ubyte.gz"), 3, |i| [0, 51, 255][i as usize], true)?;
    write_labels(&d.join("train-labels-idx1-ubyte"), &[7, 2, 9], false)?;
    write_images(&d.join("t10k-images-idx3-ubyte"), 2, |i| 102 * i as u8, false)?;
    write_labels(&d.join("t10k-labels.idx1-ubyte.gz"), &[1, 0], true)?;
    let (train, test) = load_mnist_dir(d)?;
    assert_eq!(train.x.dims(), &[3, 1, 28, 28]);
    assert_eq!(train.y.to_vec1::<u32>()?, vec![7, 2, 9]);
    assert_eq!(test.x.dims(), &[2, 1, 28, 28]);
    assert_eq!(test.y.to_vec1::<u32>()?, vec![1, 0]);
    let means = train.x.flatten_from(1)?.mean(1)?.to_vec1::<f32>()?;
    let want = [0.0, 0.2, 1.0];
    assert!(means.iter().zip(want).all(|(m, w)| (m - w).abs() < 1e-6), "{means:?}");

    // Counts that disagree are a format error on the labels file.
    write_labels(&d.join("train-labels-idx1-ubyte"), &[7, 2], false)?;
    match load_mnist_dir(d) {
        Err(Error::Format { path, message, .. }) => {
            assert!(path.ends_with("train-labels-idx1-ubyte"), "{path}");
            assert!(message.contains("3 images"), "{message}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
    // A missing file names what was expected.
    std::fs::remove_file(d.join("t10k-labels.idx1-ubyte.gz"))?;
    write_labels(&d.join("train-labels-idx1-ubyte"), &[7, 2, 9], false)?;
    match load_mnist_dir(d) {
        Err(Error::Io { path, source }) => {
            assert!(path.ends_with("t10k-labels-idx1-ubyte"), "{path:?}");
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected a missing-file error, got {other:?}"),
    }
    Ok(())
}
