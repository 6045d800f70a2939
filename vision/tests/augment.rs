//! Data augmentation: known values of each transformation, crop offsets from a fixed seed checked
//! by content, colour-jitter statistics, the pipeline and learner wrapper, and errors.

use candle_core::{DType, Device, Tensor};
use dls_foundations::data::Dataset;
use dls_foundations::train::{Evaluation, Learner};
use dls_foundations::SeededRng;
use dls_vision::augment::{
    adjust_brightness, adjust_contrast, adjust_saturation, flip_horizontal, flip_where, grayscale,
    pad_and_crop, Augment, Augmented, ColorJitter, Step,
};
use dls_vision::Error;

fn t(v: &[f32], shape: (usize, usize, usize, usize)) -> Tensor {
    Tensor::from_slice(v, shape, &Device::Cpu).unwrap()
}

fn flat(x: &Tensor) -> Vec<f32> {
    x.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn flips_mirror_columns() {
    let x = t(&[1., 2., 3., 4., 5., 6.], (1, 1, 2, 3));
    assert_eq!(flat(&flip_horizontal(&x).unwrap()), [3., 2., 1., 6., 5., 4.]);
    // Two images of two channels; only the second is flipped.
    let x = Tensor::arange(0f32, 8.0, &Device::Cpu).unwrap().reshape((2, 2, 1, 2)).unwrap();
    assert_eq!(flat(&flip_where(&x, &[false, true]).unwrap()), [0., 1., 2., 3., 5., 4., 7., 6.]);
    assert!(matches!(flip_where(&x, &[true]), Err(Error::Invalid { .. })));
}

#[test]
fn crops_of_the_padded_image_have_known_values() {
    let x = t(&[1., 2., 3., 4., 5., 6.], (1, 1, 2, 3));
    assert_eq!(flat(&pad_and_crop(&x, 1, &[(0, 0)]).unwrap()), [0., 0., 0., 0., 1., 2.]);
    assert_eq!(flat(&pad_and_crop(&x, 1, &[(2, 2)]).unwrap()), [5., 6., 0., 0., 0., 0.]);
    assert_eq!(flat(&pad_and_crop(&x, 1, &[(1, 1)]).unwrap()), [1., 2., 3., 4., 5., 6.]);
    assert_eq!(flat(&pad_and_crop(&x, 2, &[(0, 3)]).unwrap()), [0., 0., 0., 0., 0., 0.]);
    assert!(matches!(pad_and_crop(&x, 1, &[(3, 0)]), Err(Error::Invalid { .. })));
    assert!(matches!(pad_and_crop(&x, 1, &[(0, 0), (0, 0)]), Err(Error::Invalid { .. })));
}

#[test]
fn random_crop_offsets_from_a_fixed_seed_are_found_by_content() {
    // Every pixel of every image holds a distinct positive value, so the offset of each crop can be
    // read back from its content: the only (dy, dx) whose explicit crop matches.
    let (n, h, w, pad) = (200, 4, 5, 2);
    let x =
        Tensor::arange(1f32, (n * h * w + 1) as f32, &Device::Cpu).unwrap().reshape((n, 1, h, w)).unwrap();
    let aug = Augment::new(7).then(Step::Crop { pad }).unwrap();
    let y = aug.apply(&x).unwrap();
    assert_eq!(y.dims(), x.dims());
    let mut seen = [[0usize; 5]; 2];
    for i in 0..n {
        let xi = x.narrow(0, i, 1).unwrap();
        let yi = flat(&y.narrow(0, i, 1).unwrap());
        let mut found = Vec::new();
        for dy in 0..=2 * pad {
            for dx in 0..=2 * pad {
                if flat(&pad_and_crop(&xi, pad, &[(dy, dx)]).unwrap()) == yi {
                    found.push((dy, dx));
                }
            }
        }
        assert_eq!(found.len(), 1, "image {i}: {found:?}");
        seen[0][found[0].0] += 1;
        seen[1][found[0].1] += 1;
    }
    // Both offsets take all five values, roughly uniformly (40 expected each).
    for counts in seen {
        assert!(counts.iter().all(|&c| (20..=60).contains(&c)), "{counts:?}");
    }
    // The same seed gives the same crops; another seed other crops.
    let again = Augment::new(7).then(Step::Crop { pad }).unwrap().apply(&x).unwrap();
    assert_eq!(flat(&again), flat(&y));
    let other = Augment::new(8).then(Step::Crop { pad }).unwrap().apply(&x).unwrap();
    assert_ne!(flat(&other), flat(&y));
}

#[test]
fn colour_adjustments_have_known_values() {
    let dev = Device::Cpu;
    // Brightness 2 doubles and clamps at 1.
    let x = t(&[0.2, 0.6], (1, 1, 1, 2));
    assert!(close(&flat(&adjust_brightness(&x, &[2.0]).unwrap()), &[0.4, 1.0]));
    // Contrast 0.5 halves the distance to the mean grey level 0.5.
    let x = t(&[0.0, 1.0], (1, 1, 1, 2));
    assert!(close(&flat(&adjust_contrast(&x, &[0.5]).unwrap()), &[0.25, 0.75]));
    // Pure red (1, 0, 0) has grey level 0.299; saturation 0 turns it grey, 0.5 half-way.
    let red = t(&[1.0, 0.0, 0.0], (1, 3, 1, 1));
    assert!(close(&flat(&grayscale(&red).unwrap()), &[0.299]));
    assert!(close(&flat(&adjust_saturation(&red, &[0.0]).unwrap()), &[0.299, 0.299, 0.299]));
    assert!(close(&flat(&adjust_saturation(&red, &[0.5]).unwrap()), &[0.6495, 0.1495, 0.1495]));
    // Contrast of a colour image blends with the mean of its grey levels: (0.299 + 0.587) / 2.
    let two = Tensor::new(&[1f32, 0.0, 0.0, 1.0, 0.0, 0.0], &dev).unwrap().reshape((1, 3, 1, 2)).unwrap();
    let m = 0.443f32;
    assert!(close(&flat(&adjust_contrast(&two, &[0.0]).unwrap()), &[m; 6]));
    // Saturation leaves grey images alone; contrast needs 1 or 3 channels.
    assert_eq!(flat(&adjust_saturation(&x, &[0.0]).unwrap()), [0.0, 1.0]);
    let two_channels = t(&[0.1, 0.2], (1, 2, 1, 1));
    assert!(matches!(adjust_contrast(&two_channels, &[1.0]), Err(Error::Invalid { .. })));
    assert!(matches!(adjust_brightness(&x, &[1.0, 2.0]), Err(Error::Invalid { .. })));
}

#[test]
fn jitter_factors_are_uniform_in_range() {
    // A flat image at 0.5: brightness b gives 0.5 b, so the factors can be read back. Uniform on
    // [0.5, 1.5]: mean 1, standard deviation 1 / sqrt(12) = 0.2887.
    let n = 2000;
    let x = Tensor::full(0.5f32, (n, 1, 2, 2), &Device::Cpu).unwrap();
    let jitter = ColorJitter { brightness: 0.5, ..Default::default() };
    let y = Augment::new(3).then(Step::Jitter(jitter)).unwrap().apply(&x).unwrap();
    let f: Vec<f64> = flat(&y).chunks(4).map(|c| f64::from(c[0]) * 2.0).collect();
    let mean = f.iter().sum::<f64>() / n as f64;
    let std = (f.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    assert!(f.iter().all(|v| (0.5..=1.5).contains(v)));
    assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
    assert!((std - 0.2887).abs() < 0.01, "std {std}");
    // Contrast c scales each image's spread around its mean by c: from images [0.25, 0.75] the
    // spread 0.5 c gives c back, uniform on [0.8, 1.2] for strength 0.2.
    let v: Vec<f32> = (0..n).flat_map(|_| [0.25f32, 0.75]).collect();
    let x = Tensor::from_vec(v, (n, 1, 1, 2), &Device::Cpu).unwrap();
    let jitter = ColorJitter { contrast: 0.2, ..Default::default() };
    let y = Augment::new(4).then(Step::Jitter(jitter)).unwrap().apply(&x).unwrap();
    let c: Vec<f64> = flat(&y).chunks(2).map(|p| f64::from(p[1] - p[0]) * 2.0).collect();
    let mean = c.iter().sum::<f64>() / n as f64;
    assert!(c.iter().all(|v| (0.8 - 1e-6..=1.2 + 1e-6).contains(v)));
    assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
    assert!(c.iter().any(|v| *v < 0.85) && c.iter().any(|v| *v > 1.15));
}

#[test]
fn pipelines_are_seeded_and_validate_their_input() {
    let x = Tensor::arange(0f32, 2.0 * 3.0 * 4.0 * 4.0, &Device::Cpu).unwrap().reshape((2, 3, 4, 4)).unwrap();
    let x = (x / 96.0).unwrap();
    let make = |seed| {
        let jitter = ColorJitter { brightness: 0.3, contrast: 0.3, saturation: 0.3 };
        Augment::new(seed)
            .then(Step::Flip { p: 0.5 })
            .unwrap()
            .then(Step::Crop { pad: 1 })
            .unwrap()
            .then(Step::Jitter(jitter))
            .unwrap()
    };
    let a = make(1);
    assert_eq!(a.steps().len(), 3);
    let (y1, y2) = (a.apply(&x).unwrap(), a.apply(&x).unwrap());
    assert_ne!(flat(&y1), flat(&y2), "the stream moves on between batches");
    assert_eq!(flat(&make(1).apply(&x).unwrap()), flat(&y1));
    assert!(flat(&y1).iter().all(|v| (0.0..=1.0).contains(v)));
    // Wrong rank, wrong channel count for colour, bad steps.
    let flat_batch = x.flatten_from(1).unwrap();
    for bad in [&flat_batch, &x.narrow(0, 0, 1).unwrap().squeeze(0).unwrap()] {
        assert!(matches!(a.apply(bad), Err(Error::Invalid { .. })), "{:?}", bad.dims());
        assert!(matches!(flip_horizontal(bad), Err(Error::Invalid { .. })));
        assert!(matches!(pad_and_crop(bad, 1, &[]), Err(Error::Invalid { .. })));
    }
    let four = Tensor::zeros((1, 4, 2, 2), DType::F32, &Device::Cpu).unwrap();
    assert!(matches!(a.apply(&four), Err(Error::Invalid { .. })));
    assert!(matches!(Augment::new(0).then(Step::Flip { p: 1.5 }), Err(Error::Invalid { .. })));
    let bad = ColorJitter { brightness: -0.1, ..Default::default() };
    assert!(matches!(Augment::new(0).then(Step::Jitter(bad)), Err(Error::Invalid { .. })));
}

/// A learner whose "loss" is the batch it was given, to see what the fit loop would train on.
struct Echo;

impl Learner for Echo {
    fn loss(&self, x: &Tensor, _: &Tensor) -> dls_foundations::Result<Tensor> {
        Ok(x.clone())
    }

    fn evaluate(&self, data: &Dataset) -> dls_foundations::Result<Evaluation> {
        Ok(Evaluation { loss: data.len() as f64, accuracy: 1.0 })
    }

    fn rngs(&self) -> Vec<SeededRng> {
        vec![SeededRng::new(0)]
    }
}

#[test]
fn augmented_learner_trains_on_augmented_batches_and_evaluates_on_clean_ones() {
    let x = t(&[1., 2., 3., 4., 5., 6.], (1, 1, 2, 3));
    let y = Tensor::new(&[0u32], &Device::Cpu).unwrap();
    let learner = Augmented::new(Echo, Augment::new(0).then(Step::Flip { p: 1.0 }).unwrap());
    assert_eq!(flat(&learner.loss(&x, &y).unwrap()), [3., 2., 1., 6., 5., 4.]);
    let data = Dataset::new(x.clone(), y.clone()).unwrap();
    assert_eq!(learner.evaluate(&data).unwrap().loss, 1.0);
    assert_eq!(learner.rngs().len(), 2);
    let err = learner.loss(&x.flatten_all().unwrap(), &y);
    assert!(matches!(err, Err(dls_foundations::Error::Invalid { .. })));
}
