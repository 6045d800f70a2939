//! A train/dev/test split of verses that keeps whole chapters together.
//!
//! Neighbouring verses of one chapter share names, places and phrasing; splitting verse by verse
//! would put near-copies of test verses in the training set and flatter the classifier. Here a
//! chapter goes to one part only. Chapters are shuffled with a seeded stream within each section
//! and dealt out until each part holds its fraction of that section's verses, so every section is
//! represented in proportion in every part.
//!
//! ```
//! use dls_nlp::classify::{chapter_split, parse_labelled};
//! // Ten chapters of Genesis, three verses each.
//! let lines: String = (1..=10).flat_map(|c| (1..=3).map(move |v| format!("Gen {c}:{v}\tText.\n"))).collect();
//! let (verses, _) = parse_labelled(lines.as_bytes(), "inline")?;
//! let split = chapter_split(&verses, 0.2, 0.2, 0)?;
//! assert_eq!((split.train.len(), split.dev.len(), split.test.len()), (18, 6, 6));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use rand::seq::SliceRandom;

use dls_foundations::SeededRng;

use crate::classify::canon::{LabelledVerse, Section};
use crate::{Error, Result};

/// Indices into the verse list, by part, each ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChapterSplit {
    /// Training verses.
    pub train: Vec<usize>,
    /// Development verses (model selection).
    pub dev: Vec<usize>,
    /// Test verses.
    pub test: Vec<usize>,
}

/// Splits `verses` into train, dev and test by whole chapters, about `dev` and `test` of each
/// section's verses going to the dev and test parts (a part may overshoot its share by less than
/// one chapter). The same seed gives the same split.
///
/// # Errors
/// [`Error::Invalid`] unless `0 <= dev`, `0 <= test` and `dev + test < 1`; [`Error::Empty`] for
/// no verses.
pub fn chapter_split(verses: &[LabelledVerse], dev: f64, test: f64, seed: u64) -> Result<ChapterSplit> {
    if !(dev >= 0.0 && test >= 0.0 && dev + test < 1.0) {
        return Err(Error::invalid(
            "split fractions",
            format!("need dev >= 0, test >= 0 and dev + test < 1, got dev {dev}, test {test}"),
        ));
    }
    if verses.is_empty() {
        return Err(Error::Empty("chapter split: no verses".into()));
    }
    // Chapters of each section in order of first appearance, with their verse indices.
    let mut chapters: Vec<Vec<Vec<usize>>> = vec![Vec::new(); Section::ALL.len()];
    let mut slot: HashMap<(&str, u32), (usize, usize)> = HashMap::new();
    for (i, v) in verses.iter().enumerate() {
        let s = v.section.id() as usize;
        let key = (v.reference.book.as_str(), v.reference.chapter);
        let list = &mut chapters[s];
        let &mut (sec, k) = slot.entry(key).or_insert_with(|| {
            list.push(Vec::new());
            (s, list.len() - 1)
        });
        if let Some(c) = chapters.get_mut(sec).and_then(|l| l.get_mut(k)) {
            c.push(i);
        }
    }
    let rng = SeededRng::new(seed);
    let mut split = ChapterSplit::default();
    for mut section in chapters {
        let total: usize = section.iter().map(Vec::len).sum();
        let (want_test, want_dev) = (test * total as f64, dev * total as f64);
        section.shuffle(&mut *rng.lock());
        let (mut n_test, mut n_dev) = (0usize, 0usize);
        for chapter in section {
            if (n_test as f64) < want_test {
                n_test += chapter.len();
                split.test.extend(chapter);
            } else if (n_dev as f64) < want_dev {
                n_dev += chapter.len();
                split.dev.extend(chapter);
            } else {
                split.train.extend(chapter);
            }
        }
    }
    split.train.sort_unstable();
    split.dev.sort_unstable();
    split.test.sort_unstable();
    Ok(split)
}
