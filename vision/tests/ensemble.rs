//! Multi-crop averaging and ensembles, checked with fake models whose outputs are known exactly.

use candle_core::{DType, Device, ModuleT, Tensor};
use dls_vision::ensemble::{
    accuracy, average_probabilities, majority_vote, mean_softmax, CropSet, MultiCrop,
};
use dls_vision::Error;

/// Turns each crop into probabilities `[s / 200, 1 - s / 200]`, `s` the sum of its pixels (the
/// logits are the logs of those, so the softmax gives them back exactly).
struct CropSum;

impl ModuleT for CropSum {
    fn forward_t(&self, x: &Tensor, _: bool) -> candle_core::Result<Tensor> {
        let p = (x.flatten_from(1)?.sum_keepdim(1)? / 200.0)?;
        Tensor::cat(&[p.log()?, p.affine(-1.0, 1.0)?.log()?], 1)
    }
}

/// Returns fixed logits (the logs of the given probabilities), whatever the input.
struct Fixed(Tensor);

impl Fixed {
    fn new(probs: &[[f64; 3]]) -> Self {
        let flat: Vec<f64> = probs.iter().flatten().copied().collect();
        Self(Tensor::from_vec(flat, (probs.len(), 3), &Device::Cpu).unwrap().log().unwrap())
    }
}

impl ModuleT for Fixed {
    fn forward_t(&self, _: &Tensor, _: bool) -> candle_core::Result<Tensor> {
        Ok(self.0.clone())
    }
}

/// One 4x4 image holding 1, 2, ..., 16 row by row.
fn image() -> Tensor {
    Tensor::arange(1f64, 17.0, &Device::Cpu).unwrap().reshape((1, 1, 4, 4)).unwrap()
}

fn sums(crops: &[Tensor]) -> Vec<f64> {
    crops.iter().map(|c| c.sum_all().unwrap().to_scalar::<f64>().unwrap()).collect()
}

#[test]
fn crops_come_from_corners_centre_and_mirror_image() {
    // 3x3 crops of the 4x4 image: top-left rows 0-2 cols 0-2 sum to 54, top-right 63,
    // bottom-left 90, bottom-right 99, centre (offset floor(1 / 2) = 0) 54; the mirror image's
    // crops swap left and right.
    let ten = MultiCrop { size: 3, pad: 0, crops: CropSet::Ten };
    let crops = ten.crops(&image()).unwrap();
    assert_eq!(sums(&crops), [54., 63., 90., 99., 54., 63., 54., 99., 90., 63.]);
    assert_eq!(
        crops[5].flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        [4., 3., 2., 8., 7., 6., 12., 11., 10.]
    );
    // Padding by 1 with full-size crops: shifted images, the centre crop is the image (136).
    let padded = MultiCrop { size: 4, pad: 1, crops: CropSet::Five };
    assert_eq!(sums(&padded.crops(&image()).unwrap()), [54., 63., 90., 99., 136.]);
}

#[test]
fn multi_crop_averages_the_crops_probabilities_exactly() {
    let five = MultiCrop { size: 3, pad: 0, crops: CropSet::Five };
    let p = five.predict(&CropSum, &image()).unwrap().to_vec2::<f64>().unwrap();
    // (54 + 63 + 90 + 99 + 54) / 5 / 200 = 0.36
    assert!((p[0][0] - 0.36).abs() < 1e-12 && (p[0][1] - 0.64).abs() < 1e-12, "{p:?}");
    let ten = MultiCrop { crops: CropSet::Ten, ..five };
    let p = ten.predict(&CropSum, &image()).unwrap().to_vec2::<f64>().unwrap();
    // (360 + 369) / 10 / 200 = 0.3645
    assert!((p[0][0] - 0.3645).abs() < 1e-12, "{p:?}");
    let padded = MultiCrop { size: 4, pad: 1, crops: CropSet::Five };
    let p = padded.predict(&CropSum, &image()).unwrap().to_vec2::<f64>().unwrap();
    // (54 + 63 + 90 + 99 + 136) / 5 / 200 = 0.442
    assert!((p[0][0] - 0.442).abs() < 1e-12, "{p:?}");
    // Two images at once: the second is the first plus 1 everywhere (9 more per 3x3 crop).
    let two = Tensor::cat(&[image(), (image() + 1.0).unwrap()], 0).unwrap();
    let p = five.predict(&CropSum, &two).unwrap().to_vec2::<f64>().unwrap();
    assert!((p[1][0] - 0.405).abs() < 1e-12, "{p:?}");
}

#[test]
fn ensembles_average_and_vote() {
    let a = Fixed::new(&[[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]);
    let b = Fixed::new(&[[0.1, 0.6, 0.3], [0.2, 0.2, 0.6]]);
    let c = Fixed::new(&[[0.5, 0.1, 0.4], [0.1, 0.8, 0.1]]);
    let x = Tensor::zeros((2, 1, 1, 1), DType::F64, &Device::Cpu).unwrap();
    let models: [&dyn ModuleT; 3] = [&a, &b, &c];
    let p = average_probabilities(&models, &x).unwrap().to_vec2::<f64>().unwrap();
    let expected = [[1.3 / 3.0, 0.9 / 3.0, 0.8 / 3.0], [0.4 / 3.0, 1.2 / 3.0, 1.4 / 3.0]];
    for (row, want) in p.iter().zip(expected) {
        for (got, want) in row.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{p:?}");
        }
    }
    // Votes: image 0 gets 0, 1, 0 -> 0; image 1 gets 2, 2, 1 -> 2.
    assert_eq!(majority_vote(&models, &x).unwrap(), [0, 2]);
    // A one-one tie goes to the class with the higher mean probability.
    let d = Fixed::new(&[[0.1, 0.8, 0.1], [0.1, 0.2, 0.7]]);
    let tie: [&dyn ModuleT; 2] = [&a, &d];
    // Image 0: a votes 0 (mean 0.4), d votes 1 (mean 0.5) -> 1; image 1: both vote 2.
    assert_eq!(majority_vote(&tie, &x).unwrap(), [1, 2]);
    assert_eq!(accuracy(&average_probabilities(&models, &x).unwrap(), &[0, 1]).unwrap(), 0.5);
}

#[test]
fn bad_inputs_are_errors() {
    let x = image();
    let none: [&dyn ModuleT; 0] = [];
    assert!(matches!(average_probabilities(&none, &x), Err(Error::Invalid { .. })));
    let a = Fixed::new(&[[0.7, 0.2, 0.1]]);
    let b = Fixed::new(&[[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]]);
    let mixed: [&dyn ModuleT; 2] = [&a, &b];
    assert!(matches!(majority_vote(&mixed, &x), Err(Error::Invalid { .. })));
    assert!(matches!(mean_softmax(std::slice::from_ref(&x)), Err(Error::Invalid { .. })));
    let big = MultiCrop { size: 5, pad: 0, crops: CropSet::Five };
    assert!(matches!(big.crops(&x), Err(Error::Invalid { .. })));
    assert!(matches!(big.crops(&x.flatten_all().unwrap()), Err(Error::Invalid { .. })));
    let probs = Tensor::new(&[[0.2f64, 0.8]], &Device::Cpu).unwrap();
    assert!(matches!(accuracy(&probs, &[0, 1]), Err(Error::Invalid { .. })));
}
