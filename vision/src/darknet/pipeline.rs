//! The whole detection pipeline on one photo: letterbox, network, decode every head, NMS, and
//! boxes mapped back to the photo's pixels.

use image::DynamicImage;

use super::letterbox::letterbox;
use super::network::Darknet;
use crate::detect::{decode, nms, Detection, NmsConfig};
use crate::{Error, Result};

/// Detects objects in `img` with `net`: candidates scoring at least `cfg.score_threshold` from
/// every head, then NMS by `cfg`; boxes in `img`'s pixels, highest score first.
///
/// # Errors
/// [`Error::Invalid`] when the network does not take 3-channel input, and as [`nms()`].
pub fn detect_image(net: &Darknet, img: &DynamicImage, cfg: &NmsConfig) -> Result<Vec<Detection>> {
    let (c, h, w) = net.input();
    if c != 3 {
        return Err(Error::Invalid {
            what: "darknet input".into(),
            message: format!("a photo is 3-channel RGB but the network takes {c} channels"),
        });
    }
    let too_big =
        |_| Error::Invalid { what: "darknet input".into(), message: format!("{w}x{h} is too large") };
    let size = (u32::try_from(w).map_err(too_big)?, u32::try_from(h).map_err(too_big)?);
    let (x, lb) = letterbox(img, size)?;
    let outputs = net.forward(&x.unsqueeze(0)?)?;
    let mut candidates = Vec::new();
    for (out, head) in outputs.iter().zip(net.heads()) {
        candidates.extend(decode(out, head, cfg.score_threshold)?.into_iter().flatten());
    }
    Ok(nms(&candidates, cfg)?.into_iter().map(|d| Detection { bbox: lb.to_original(&d.bbox), ..d }).collect())
}
