//! Small data sets that ship with the crate (the digits) and seeded 2-D generators (flower,
//! moons, circles), so every example and test runs without a download.
//!
//! ```
//! use dls_foundations::datasets::{digits, moons};
//! # fn main() -> dls_foundations::Result<()> {
//! let d = digits()?;
//! assert_eq!(d.len(), 1797);
//! let m = moons(100, 0.1, 3)?;
//! assert_eq!(m.y.dims(), &[100, 1]);
//! # Ok(())
//! # }
//! ```

pub mod digits;
mod numpy_rng;
pub mod planar;

pub use digits::{digits, DIGITS_CLASSES, DIGITS_FEATURES, DIGITS_ROWS};
pub use planar::{circles, flower, flower_course, moons};
