//! Convolution arithmetic (sheets 14–16): output sizes for any kernel, stride, padding and
//! dilation, and the padding that TensorFlow's `SAME` mode adds.
//!
//! `out = floor((n + pad_before + pad_after - dilation (k - 1) - 1) / stride) + 1`; the course's
//! `floor((n + 2p - f) / s) + 1` is the case `dilation = 1`, symmetric `p`.
//!
//! ```
//! use dls_vision::conv::{output_size, Padding};
//! // A 6x6 image and a 3x3 edge filter: VALID gives 4x4, SAME keeps 6x6.
//! assert_eq!(output_size(6, 3, 1, 1, Padding::Valid)?, 4);
//! assert_eq!(output_size(6, 3, 1, 1, Padding::Same)?, 6);
//! // AlexNet's first layer: 227 with an 11x11 kernel at stride 4 gives 55.
//! assert_eq!(output_size(227, 11, 4, 1, Padding::Valid)?, 55);
//! # Ok::<(), dls_vision::Error>(())
//! ```

use crate::{Error, Result};

/// How a convolution pads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// No padding: only positions where the whole kernel fits.
    Valid,
    /// TensorFlow's SAME: `ceil(n / stride)` outputs, padding split with the extra pixel after.
    Same,
    /// Explicit padding before and after.
    Explicit {
        /// Pixels added before (top or left).
        before: usize,
        /// Pixels added after (bottom or right).
        after: usize,
    },
}

/// Padding `(before, after)` that `padding` adds along one axis of size `n`.
///
/// # Errors
/// [`Error::Invalid`] for a zero kernel, stride or dilation.
pub fn padding_amounts(
    n: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<(usize, usize)> {
    check(kernel, stride, dilation)?;
    Ok(match padding {
        Padding::Valid => (0, 0),
        Padding::Explicit { before, after } => (before, after),
        Padding::Same => {
            let effective = dilation * (kernel - 1) + 1;
            let out = n.div_ceil(stride);
            let total = ((out.saturating_sub(1)) * stride + effective).saturating_sub(n);
            (total / 2, total - total / 2)
        }
    })
}

/// Output size along one axis of size `n`.
///
/// # Errors
/// [`Error::Invalid`] for a zero kernel, stride or dilation, or a dilated kernel larger than the
/// padded input.
pub fn output_size(
    n: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    padding: Padding,
) -> Result<usize> {
    let (before, after) = padding_amounts(n, kernel, stride, dilation, padding)?;
    let padded = n + before + after;
    let effective = dilation * (kernel - 1) + 1;
    if effective > padded {
        return Err(Error::Invalid {
            what: "convolution".into(),
            message: format!("kernel spans {effective} pixels but the padded input has {padded}"),
        });
    }
    Ok((padded - effective) / stride + 1)
}

fn check(kernel: usize, stride: usize, dilation: usize) -> Result<()> {
    if kernel == 0 || stride == 0 || dilation == 0 {
        return Err(Error::Invalid {
            what: "convolution".into(),
            message: format!("kernel {kernel}, stride {stride} and dilation {dilation} must all be > 0"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_cases() {
        // The course: n=6, f=3, p=1, s=1 -> 6; n=7, f=3, s=2, p=0 -> 3.
        assert_eq!(output_size(6, 3, 1, 1, Padding::Explicit { before: 1, after: 1 }).unwrap(), 6);
        assert_eq!(output_size(7, 3, 2, 1, Padding::Valid).unwrap(), 3);
        // LeNet-5: 32 -> conv5 -> 28 -> pool2/2 -> 14 -> conv5 -> 10.
        assert_eq!(output_size(32, 5, 1, 1, Padding::Valid).unwrap(), 28);
        assert_eq!(output_size(28, 2, 2, 1, Padding::Valid).unwrap(), 14);
        // ResNet stem: 224, 7x7 stride 2 padding 3 -> 112; 3x3 stride 2 pool padding 1 -> 56.
        assert_eq!(output_size(224, 7, 2, 1, Padding::Explicit { before: 3, after: 3 }).unwrap(), 112);
        assert_eq!(output_size(112, 3, 2, 1, Padding::Explicit { before: 1, after: 1 }).unwrap(), 56);
        // Dilation 2 makes a 3x3 kernel span 5 pixels.
        assert_eq!(output_size(10, 3, 1, 2, Padding::Valid).unwrap(), 6);
    }

    #[test]
    fn same_padding_follows_tensorflow() {
        // TF: out = ceil(n / s); pad_total = max((out - 1) s + k - n, 0), extra pixel after.
        assert_eq!(padding_amounts(5, 3, 2, 1, Padding::Same).unwrap(), (1, 1));
        assert_eq!(padding_amounts(6, 3, 2, 1, Padding::Same).unwrap(), (0, 1));
        assert_eq!(padding_amounts(224, 7, 2, 1, Padding::Same).unwrap(), (2, 3));
        for n in 1..40 {
            for s in 1..4 {
                for k in 1..6 {
                    assert_eq!(
                        output_size(n, k, s, 1, Padding::Same).unwrap(),
                        n.div_ceil(s),
                        "n={n} k={k} s={s}"
                    );
                }
            }
        }
    }

    #[test]
    fn impossible_shapes_are_errors() {
        assert!(matches!(output_size(2, 5, 1, 1, Padding::Valid), Err(Error::Invalid { .. })));
        assert!(matches!(output_size(8, 3, 0, 1, Padding::Valid), Err(Error::Invalid { .. })));
        assert!(matches!(output_size(8, 0, 1, 1, Padding::Same), Err(Error::Invalid { .. })));
    }
}
