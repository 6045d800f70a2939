//! Object detection (sheet 20): boxes and IoU ([`boxes`]), non-max suppression and soft-NMS
//! ([`nms`](mod@nms)), anchor boxes ([`anchors`]), YOLO target encoding, decoding and loss ([`yolo`]),
//! mAP evaluation in the VOC and COCO styles ([`map`]), and a generated shapes data set
//! ([`shapes`]).
//!
//! ```
//! use dls_vision::detect::boxes::{BBox, Detection};
//! use dls_vision::detect::nms::{nms, NmsConfig};
//! // The course's IoU example: (2, 1, 4, 3) and (1, 2, 3, 4) overlap in a 1x1 square.
//! let (a, b) = (BBox::new(2.0, 1.0, 4.0, 3.0), BBox::new(1.0, 2.0, 3.0, 4.0));
//! assert!((a.iou(&b) - 1.0 / 7.0).abs() < 1e-7);
//! let dets = [
//!     Detection { bbox: BBox::new(0.0, 0.0, 10.0, 10.0), score: 0.9, class: 0 },
//!     Detection { bbox: BBox::new(1.0, 1.0, 11.0, 11.0), score: 0.8, class: 0 }, // IoU 0.68: dropped
//!     Detection { bbox: BBox::new(20.0, 20.0, 30.0, 30.0), score: 0.7, class: 0 },
//! ];
//! let kept = nms(&dets, &NmsConfig { iou_threshold: 0.5, score_threshold: 0.5, ..Default::default() })?;
//! assert_eq!(kept.len(), 2);
//! assert_eq!(kept[1].score, 0.7);
//! # Ok::<(), dls_vision::Error>(())
//! ```

pub mod anchors;
pub mod boxes;
pub mod detector;
pub mod map;
pub mod nms;
pub mod shapes;
pub mod yolo;

pub use anchors::{best_anchor, kmeans_anchors, shape_iou, Anchor};
pub use boxes::{BBox, CenterBox, Detection};
pub use detector::{DetectionScores, Detector, DetectorConfig};
pub use map::{average_precision, coco_map, mean_average_precision, ApMethod, MapReport, Scored};
pub use nms::{nms, soft_nms, NmsConfig, NmsMode, SoftNmsConfig, SoftNmsMethod};
pub use yolo::{decode, encode_targets, yolo_loss, Truth, YoloHead, YoloLossConfig, YoloTargets};
