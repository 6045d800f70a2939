//! Beam-search error analysis as the course teaches it (sheet 27). For a dev example whose beam
//! output `ŷ` differs from the reference `y*`, compare the model's scores of the two:
//!
//! - `score(y*) > score(ŷ)`: the model prefers the reference, but the search did not find it: a
//!   **search** error (a wider beam may help);
//! - `score(y*) ≤ score(ŷ)`: the model itself prefers the wrong output: a **model** error (more
//!   data, regularisation, another architecture).
//!
//! Scores are the length-normalised log-probabilities of [`LengthPenalty::score`], the same
//! objective the beam ranks by. The tally says which part to work on.
//!
//! ```
//! use dls_nlp::seq2seq::analysis::{Attribution, BeamErrorTally};
//! use dls_nlp::seq2seq::search::{beam_search, BeamConfig, LengthPenalty, TableScorer};
//! // Greedy-like width 1 misses the better sequence [2, 0]: a search error.
//! let scorer = TableScorer::new(3, vec![
//!     (vec![], vec![0.0, 0.6, 0.4]),
//!     (vec![1], vec![0.3, 0.35, 0.35]),
//!     (vec![2], vec![0.9, 0.05, 0.05]),
//! ])?;
//! let cfg = BeamConfig { width: 1, max_len: 2, eos: 0, penalty: LengthPenalty::None };
//! let out = &beam_search(&scorer, &cfg)?[0];
//! let mut tally = BeamErrorTally::default();
//! let case = tally.record(0, &scorer, &[2, 0], out, cfg.penalty)?;
//! assert_eq!(case.map(|c| c.attribution), Some(Attribution::Search));
//! assert_eq!((tally.examples, tally.search, tally.model), (1, 1, 0));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use serde::{Deserialize, Serialize};

use super::search::{sequence_log_prob, Hypothesis, LengthPenalty, Scorer};
use crate::Result;

/// Whom to blame for a wrong output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Attribution {
    /// The model scores the reference higher: the search missed it.
    Search,
    /// The model scores the wrong output at least as high as the reference.
    Model,
}

/// One wrong output, analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorCase {
    /// Position of the example in the dev set.
    pub index: usize,
    /// Normalised score of the reference.
    pub reference_score: f64,
    /// Normalised score of the beam output.
    pub output_score: f64,
    /// The verdict.
    pub attribution: Attribution,
}

/// The error-analysis tally over a dev set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BeamErrorTally {
    /// Examples looked at.
    pub examples: usize,
    /// Errors blamed on the search.
    pub search: usize,
    /// Errors blamed on the model.
    pub model: usize,
    /// Every wrong example.
    pub cases: Vec<ErrorCase>,
}

impl BeamErrorTally {
    /// Records example `index` with reference tokens `reference` (the end token included, as the
    /// model produces it) and the beam's best `output`; returns the analysis when the output is
    /// wrong, `None` when it equals the reference.
    ///
    /// # Errors
    /// The scorer's errors while scoring the reference (such as an empty reference).
    pub fn record<S: Scorer>(
        &mut self,
        index: usize,
        scorer: &S,
        reference: &[u32],
        output: &Hypothesis,
        penalty: LengthPenalty,
    ) -> Result<Option<ErrorCase>> {
        self.examples += 1;
        if output.tokens == reference {
            return Ok(None);
        }
        let reference_score = penalty.score(sequence_log_prob(scorer, reference)?, reference.len());
        let output_score = penalty.score(output.log_prob, output.tokens.len());
        let attribution =
            if reference_score > output_score { Attribution::Search } else { Attribution::Model };
        match attribution {
            Attribution::Search => self.search += 1,
            Attribution::Model => self.model += 1,
        }
        let case = ErrorCase { index, reference_score, output_score, attribution };
        self.cases.push(case.clone());
        Ok(Some(case))
    }

    /// Wrong outputs seen.
    pub fn errors(&self) -> usize {
        self.search + self.model
    }

    /// A one-line summary: `"3 errors in 1000 examples: search 1 (33%), model 2 (67%)"`.
    pub fn summary(&self) -> String {
        let pct = |k: usize| if self.errors() == 0 { 0.0 } else { 100.0 * k as f64 / self.errors() as f64 };
        format!(
            "{} errors in {} examples: search {} ({:.0}%), model {} ({:.0}%)",
            self.errors(),
            self.examples,
            self.search,
            pct(self.search),
            self.model,
            pct(self.model)
        )
    }
}
