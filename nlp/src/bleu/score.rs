//! From sufficient statistics to a BLEU score: smoothing, brevity penalty, the signature.
//!
//! [`score_from_stats`] follows sacrebleu's `BLEU.compute_bleu` operation for operation (same
//! order of floating-point operations, the same `log(0)` floor of `-9999999999`), so scores agree
//! with sacrebleu to the last few bits.

use std::fmt;
use std::str::FromStr;

use super::ngram::BleuStats;
use super::tokenize::Tokenizer;
use crate::{Error, Result};

/// The sacrebleu version this implementation reproduces and names in its signatures.
pub const SACREBLEU_VERSION: &str = "2.6.0";

/// How zero n-gram matches are smoothed (Chen and Cherry, 2014, as named by sacrebleu).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Smooth {
    /// No smoothing: any order without a match makes the score 0.
    None,
    /// Method 1: an order with no match gets precision `value / total` (sacrebleu's default 0.1).
    Floor(f64),
    /// Method 2: `k` is added to the matches and totals of orders 2 and up (default 1).
    AddK(f64),
    /// Method 3 (NIST, mteval-v13a): the i-th order without a match gets `1 / (2^i * total)`.
    #[default]
    Exp,
}

impl Smooth {
    /// sacrebleu's default value for `floor`.
    pub const FLOOR_DEFAULT: f64 = 0.1;
    /// sacrebleu's default value for `add-k`.
    pub const ADD_K_DEFAULT: f64 = 1.0;

    /// sacrebleu's name for the method (`none`, `floor`, `add-k`, `exp`).
    pub fn name(self) -> &'static str {
        match self {
            Smooth::None => "none",
            Smooth::Floor(_) => "floor",
            Smooth::AddK(_) => "add-k",
            Smooth::Exp => "exp",
        }
    }

    /// The method called `name`, with `value` (or sacrebleu's default) for `floor` and `add-k`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an unknown name or a value that is negative or not finite.
    pub fn from_name(name: &str, value: Option<f64>) -> Result<Self> {
        let smooth = match name {
            "none" => Smooth::None,
            "floor" => Smooth::Floor(value.unwrap_or(Self::FLOOR_DEFAULT)),
            "add-k" => Smooth::AddK(value.unwrap_or(Self::ADD_K_DEFAULT)),
            "exp" => Smooth::Exp,
            _ => {
                return Err(Error::invalid(
                    "smoothing method",
                    format!("unknown method {name:?}, expected one of none, floor, add-k, exp"),
                ))
            }
        };
        smooth.validate()?;
        Ok(smooth)
    }

    /// Checks that the smoothing value is finite and not negative.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the method and the value.
    pub fn validate(self) -> Result<()> {
        match self {
            Smooth::Floor(v) | Smooth::AddK(v) if !(v.is_finite() && v >= 0.0) => Err(Error::invalid(
                "smoothing value",
                format!("{} needs a finite value >= 0, got {v}", self.name()),
            )),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Smooth {
    /// The signature's form: `exp`, `none`, `floor[0.10]`, `add-k[1.00]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Smooth::Floor(v) | Smooth::AddK(v) => write!(f, "{}[{v:.2}]", self.name()),
            _ => f.write_str(self.name()),
        }
    }
}

impl FromStr for Smooth {
    type Err = Error;

    /// Parses a method name with its default value.
    fn from_str(s: &str) -> Result<Self> {
        Smooth::from_name(s, None)
    }
}

/// What sacrebleu's signature records about a BLEU computation.
#[derive(Clone, Debug, PartialEq)]
pub struct Signature {
    /// Number of reference streams.
    pub nrefs: usize,
    /// Whether text was lowercased (`case:lc`) or not (`case:mixed`).
    pub lowercase: bool,
    /// Whether the effective order was used (`eff:yes`).
    pub effective_order: bool,
    /// The tokeniser.
    pub tokenizer: Tokenizer,
    /// The smoothing method.
    pub smooth: Smooth,
}

impl fmt::Display for Signature {
    /// sacrebleu's long signature, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:{SACREBLEU_VERSION}",
            self.nrefs,
            if self.lowercase { "lc" } else { "mixed" },
            if self.effective_order { "yes" } else { "no" },
            self.tokenizer,
            self.smooth,
        )
    }
}

/// A BLEU score with the statistics behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScore {
    /// BLEU, between 0 and 100.
    pub score: f64,
    /// Matched n-grams of each order (clipped by the references), before any smoothing.
    ///
    /// sacrebleu's `BLEUScore.counts` shows `count + k` for orders 2 and up under `add-k`; these
    /// are the raw counts.
    pub counts: Vec<u64>,
    /// Hypothesis n-grams of each order, before any smoothing (see [`BleuScore::counts`]).
    pub totals: Vec<u64>,
    /// Smoothed n-gram precisions, in percent (all 0 when nothing matched).
    pub precisions: Vec<f64>,
    /// Brevity penalty, `exp(1 - ref_len / sys_len)` when the hypothesis is shorter, else 1.
    pub bp: f64,
    /// `sys_len / ref_len` (0 when `ref_len` is 0).
    pub ratio: f64,
    /// Number of hypothesis tokens.
    pub sys_len: u64,
    /// Sum of the closest reference lengths.
    pub ref_len: u64,
    signature: Signature,
}

impl BleuScore {
    /// sacrebleu's signature string, e.g. `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0`.
    pub fn signature(&self) -> String {
        self.signature.to_string()
    }

    /// The settings behind the score, as a structure.
    pub fn signature_parts(&self) -> &Signature {
        &self.signature
    }
}

impl fmt::Display for BleuScore {
    /// sacrebleu's score line: `BLEU = 31.21 66.7/40.0/28.6/16.7 (BP = 1.000 ratio = 1.000 hyp_len = 9 ref_len = 9)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BLEU = {:.2} ", self.score)?;
        for (i, p) in self.precisions.iter().enumerate() {
            write!(f, "{}{p:.1}", if i > 0 { "/" } else { "" })?;
        }
        write!(
            f,
            " (BP = {:.3} ratio = {:.3} hyp_len = {} ref_len = {})",
            self.bp, self.ratio, self.sys_len, self.ref_len
        )
    }
}

/// sacrebleu's `my_log`: the natural log, with `log(0)` floored at `-9999999999`.
fn floored_log(x: f64) -> f64 {
    if x == 0.0 {
        -9_999_999_999.0
    } else {
        x.ln()
    }
}

/// BLEU from corpus statistics, exactly as sacrebleu's `BLEU.compute_bleu`.
///
/// `order` (1..=4) is the maximum n-gram order; `signature` says how the statistics were made.
pub(crate) fn score_from_stats(stats: &BleuStats, order: usize, signature: Signature) -> BleuScore {
    let (sys_len, ref_len) = (stats.sys_len, stats.ref_len);
    let counts = stats.counts[..order].to_vec();
    let totals = stats.totals[..order].to_vec();
    let bp = if sys_len < ref_len {
        if sys_len > 0 {
            (1.0 - ref_len as f64 / sys_len as f64).exp()
        } else {
            0.0
        }
    } else {
        1.0
    };
    let ratio = if ref_len > 0 { sys_len as f64 / ref_len as f64 } else { 0.0 };
    let mut precisions = vec![0.0; order];
    let mut score = 0.0;

    // sacrebleu stops early, with every precision at 0, when no n-gram of any order matched.
    if counts.iter().any(|&c| c > 0) {
        let smooth = signature.smooth;
        let mut smooth_mteval = 1.0;
        let mut eff_order = order;
        for n in 0..order {
            let (mut correct, mut total) = (counts[n] as f64, totals[n] as f64);
            if let (Smooth::AddK(k), true) = (smooth, n > 0) {
                correct += k;
                total += k;
            }
            if total == 0.0 {
                break;
            }
            if signature.effective_order {
                eff_order = n + 1;
            }
            precisions[n] = if correct == 0.0 {
                match smooth {
                    Smooth::Exp => {
                        smooth_mteval *= 2.0;
                        100.0 / (smooth_mteval * total)
                    }
                    Smooth::Floor(value) => 100.0 * value / total,
                    _ => 0.0,
                }
            } else {
                100.0 * correct / total
            };
        }
        let log_sum = precisions[..eff_order].iter().fold(0.0, |acc, &p| acc + floored_log(p));
        score = bp * (log_sum / eff_order as f64).exp();
    }

    BleuScore { score, counts, totals, precisions, bp, ratio, sys_len, ref_len, signature }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(smooth: Smooth, effective_order: bool) -> Signature {
        Signature { nrefs: 1, lowercase: false, effective_order, tokenizer: Tokenizer::Mteval13a, smooth }
    }

    #[test]
    fn signature_strings() {
        assert_eq!(
            sig(Smooth::Exp, false).to_string(),
            "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"
        );
        assert_eq!(Smooth::Floor(0.1).to_string(), "floor[0.10]");
        assert_eq!(Smooth::AddK(1.0).to_string(), "add-k[1.00]");
    }

    #[test]
    fn perfect_match_scores_100_and_no_match_scores_0() {
        let stats = BleuStats { sys_len: 5, ref_len: 5, counts: [5, 4, 3, 2], totals: [5, 4, 3, 2] };
        let s = score_from_stats(&stats, 4, sig(Smooth::Exp, false));
        assert!((s.score - 100.0).abs() < 1e-12);
        let zero = BleuStats { sys_len: 3, ref_len: 6, counts: [0; 4], totals: [3, 2, 1, 0] };
        let s = score_from_stats(&zero, 4, sig(Smooth::Exp, false));
        assert_eq!(s.score, 0.0);
        assert!((s.bp - (-1.0f64).exp()).abs() < 1e-15);
        assert_eq!(
            s.to_string(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.368 ratio = 0.500 hyp_len = 3 ref_len = 6)"
        );
    }

    #[test]
    fn exp_smoothing_halves_each_missing_order() {
        // 3 of 4 unigrams, 1 of 3 bigrams, no trigram (of 2), no 4-gram (of 1).
        let stats = BleuStats { sys_len: 4, ref_len: 4, counts: [3, 1, 0, 0], totals: [4, 3, 2, 1] };
        let s = score_from_stats(&stats, 4, sig(Smooth::Exp, false));
        let expected = [75.0, 100.0 / 3.0, 100.0 / (2.0 * 2.0), 100.0 / (4.0 * 1.0)];
        for (p, e) in s.precisions.iter().zip(expected) {
            assert!((p - e).abs() < 1e-12);
        }
        let geo = expected.iter().map(|p: &f64| p.ln()).sum::<f64>() / 4.0;
        assert!((s.score - geo.exp()).abs() < 1e-9);
    }

    #[test]
    fn bad_smoothing_values_are_named() {
        let err = Smooth::from_name("floor", Some(-1.0)).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(err, "invalid smoothing value: floor needs a finite value >= 0, got -1");
        assert!(Smooth::from_name("lin", None).is_err());
    }
}
