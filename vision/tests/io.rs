//! Image I/O on tiny fixtures (made with Python's zlib and struct; see the fixture names) and the
//! edge filters on a real edge.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use dls_vision::edges::{detect, magnitude, Direction};
use dls_vision::io::{
    decode_image, encode_png, normalize, read_image, write_png, ColorMode, DecodeLimits, IMAGENET_MEAN,
    IMAGENET_STD,
};
use dls_vision::Error;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
fn decodes_png_to_chw_in_unit_range() {
    // tiny.png: 5 wide, 4 high; red = 50 * column, green = 60 * row, blue = 7.
    let t = read_image(fixture("tiny.png"), ColorMode::Rgb, &DecodeLimits::default()).unwrap();
    assert_eq!(t.dims(), &[3, 4, 5]);
    let v = t.to_vec3::<f32>().unwrap();
    assert!((v[0][2][3] - 150.0 / 255.0).abs() < 1e-6);
    assert!((v[1][2][3] - 120.0 / 255.0).abs() < 1e-6);
    assert!((v[2][0][0] - 7.0 / 255.0).abs() < 1e-6);
    let gray = read_image(fixture("tiny.png"), ColorMode::Gray, &DecodeLimits::default()).unwrap();
    assert_eq!(gray.dims(), &[1, 4, 5]);
}

#[test]
fn png_round_trip_is_exact_for_8_bit_values() {
    let t = read_image(fixture("tiny.png"), ColorMode::Rgb, &DecodeLimits::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.png");
    write_png(&t, &path).unwrap();
    let back = read_image(&path, ColorMode::Rgb, &DecodeLimits::default()).unwrap();
    let diff = (back - &t).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-7, "{diff}");
}

#[test]
fn a_header_declaring_a_huge_image_is_refused() {
    // huge_header.png declares 100000 x 100000 RGB (30 GB of pixels) in 68 bytes.
    let err = read_image(fixture("huge_header.png"), ColorMode::Rgb, &DecodeLimits::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Image { .. }), "{msg}");
    assert!(msg.contains("huge_header.png") && msg.contains("limits"), "{msg}");
    // Tighter limits refuse even the tiny image.
    let small = DecodeLimits { max_width: 4, ..DecodeLimits::default() };
    assert!(matches!(read_image(fixture("tiny.png"), ColorMode::Rgb, &small), Err(Error::Image { .. })));
}

#[test]
fn bad_files_fail_with_their_name() {
    for name in ["truncated.png", "not_an_image.png"] {
        let err = read_image(fixture(name), ColorMode::Rgb, &DecodeLimits::default()).unwrap_err();
        assert!(matches!(err, Error::Image { .. }) && err.to_string().contains(name), "{err}");
    }
    let missing = read_image(fixture("absent.png"), ColorMode::Rgb, &DecodeLimits::default()).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }) && missing.to_string().contains("absent.png"));
    assert!(decode_image(&[], "empty", ColorMode::Rgb, &DecodeLimits::default()).is_err());
    let wrong = Tensor::zeros((2, 4, 4), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(encode_png(&wrong, "x"), Err(Error::Invalid { .. })));
}

#[test]
fn normalize_uses_per_channel_statistics() {
    let x = Tensor::ones((3, 1, 2), DType::F32, &Device::Cpu).unwrap();
    let y = normalize(&x, &IMAGENET_MEAN, &IMAGENET_STD).unwrap().to_vec3::<f32>().unwrap();
    assert!((y[0][0][1] - (1.0 - 0.485) / 0.229).abs() < 1e-5);
    assert!((y[2][0][0] - (1.0 - 0.406) / 0.225).abs() < 1e-5);
    assert!(matches!(normalize(&x, &[0.5], &[1.0]), Err(Error::Invalid { .. })));
}

#[test]
fn vertical_filter_finds_the_edge_of_the_fixture() {
    // edge.png: 8x8, columns 0-3 at 200, 4-7 at 20.
    let gray = read_image(fixture("edge.png"), ColorMode::Gray, &DecodeLimits::default()).unwrap();
    let gray = gray.unsqueeze(0).unwrap();
    let v = detect(&gray, Direction::Vertical, false).unwrap();
    assert_eq!(v.dims(), &[1, 1, 6, 6]);
    // Windows straddling columns 3|4 see 3 * (200 - 20) / 255.
    let row = v.get(0).unwrap().get(0).unwrap().get(2).unwrap().to_vec1::<f32>().unwrap();
    let e = 3.0 * 180.0 / 255.0;
    let want = [0.0, 0.0, e, e, 0.0, 0.0];
    assert!(row.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-5), "{row:?}");
    let h = detect(&gray, Direction::Horizontal, false).unwrap();
    assert!(h.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-6);
    let m = magnitude(&gray).unwrap();
    assert_eq!(m.dims(), &[1, 1, 8, 8]);
    assert_eq!(m.max_all().unwrap().to_scalar::<f32>().unwrap(), 1.0);
    assert!(matches!(magnitude(&gray.squeeze(0).unwrap()), Err(Error::Invalid { .. })));
}
