//! Face recognition (sheet 21): embedding distances, triplet loss with online mining,
//! verification and identification, the TF.js weight format face-api's models ship in, and
//! face-api's two networks built from those weights: the Tiny Face Detector
//! ([`TinyFaceDetector`]) and the 128-d face recognition ResNet ([`FaceRecognitionNet`]).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use dls_vision::face::{l2_normalize, verify, Distance};
//! let e = l2_normalize(&Tensor::new(&[[3f32, 4.], [4., 3.]], &Device::Cpu)?)?;
//! let (same, d) = verify(&e.get(0)?, &e.get(1)?, 0.1, Distance::SquaredEuclidean)?;
//! // (0.6, 0.8) vs (0.8, 0.6): 0.04 + 0.04.
//! assert!(same && (d - 0.08).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod distance;
mod manifest;
mod recognition;
mod tfjs;
mod tiny_detector;
mod triplet;
mod verify;

pub use distance::{l2_normalize, pairwise_distances, Distance, SQRT_EPSILON};
pub use manifest::{Manifest, Quantization, TensorEntry, TfjsDtype, WeightGroup};
pub use recognition::{
    crop_face, FaceRecognitionNet, RecognitionConfig, RECOGNITION_MEAN_RGB, SAME_PERSON_DISTANCE,
};
pub use tfjs::TfjsWeights;
pub use tiny_detector::{
    decode_faces, square_input, DetectConfig, FaceBox, Placement, SquareAlign, TinyDetectorConfig,
    TinyFaceDetector, MAX_SQUARE_SIDE, TINY_FACE_ANCHORS, TINY_FACE_MEAN_RGB,
};
pub use triplet::{
    mine_batch_hard, mine_batch_semi_hard, mined_triplet_loss, triplet_loss, MinedLoss, Mining, Triplet,
    TripletConfig,
};
pub use verify::{
    accuracy_at, auc, best_threshold, roc_curve, verify, Gallery, Match, RocPoint, ThresholdChoice,
};
