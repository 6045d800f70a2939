//! Data plumbing for translating Bible verses (sheet 28's real task): reading verse-aligned
//! parallel text, a held-out split by whole chapters, and length-sorted training shards.
//!
//! The file format is `reference<TAB>source<TAB>target` per line, gzip-compressed or not, as in
//! `../shared/data/text/bible-en-es.tsv.gz` (English World English Bible, Spanish Reina-Valera
//! 1909). Neighbouring verses share names and phrasing, so [`split_chapters`] keeps every chapter
//! in one part only; [`length_shards`] groups sentences of similar length so a mini-batch is
//! padded little.
//!
//! ```
//! use dls_nlp::translate::{parse_pairs, split_chapters};
//! // Six chapters of Ruth, two verses each.
//! let text: String = (1..=6)
//!     .flat_map(|c| (1..=2).map(move |v| format!("Ruth {c}:{v}\tIn the days.\tEn los días.\n")))
//!     .collect();
//! let pairs = parse_pairs(text.as_bytes(), "inline")?;
//! assert_eq!(pairs[3].target, "En los días.");
//! let refs: Vec<_> = pairs.iter().map(|p| p.reference.clone()).collect();
//! let split = split_chapters(&refs, &vec![true; refs.len()], 2, 4, 0)?;
//! assert_eq!((split.train.len(), split.dev.len(), split.test.len()), (6, 2, 4));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;

use dls_foundations::SeededRng;

use crate::classify::{parse_reference, ChapterSplit, Reference};
use crate::{Error, Result};

/// One aligned verse: its reference, the source-language text and the target-language text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersePair {
    /// Book, chapter and verse (`"Gen 1:1"`).
    pub reference: Reference,
    /// Source-language text.
    pub source: String,
    /// Target-language text.
    pub target: String,
}

/// Parses `reference<TAB>source<TAB>target` lines (gzip-compressed or not), skipping blank lines.
/// `name` labels errors.
///
/// # Errors
/// [`Error::Format`] naming `name` and the 1-based line for invalid UTF-8, a line without exactly
/// three tab-separated fields, an empty source or target, or a malformed reference;
/// [`Error::Io`] for a corrupt gzip stream; [`Error::Empty`] when no line holds a pair.
pub fn parse_pairs(bytes: &[u8], name: &str) -> Result<Vec<VersePair>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut plain).map_err(|e| Error::io(name, e))?;
        return parse_pairs(&plain, name);
    }
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = Some(i + 1);
        let text = std::str::from_utf8(raw)
            .map_err(|e| Error::format(name, line, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split('\t').collect();
        let [reference, source, target] = fields[..] else {
            return Err(Error::format(
                name,
                line,
                format!(
                    "expected 3 tab-separated fields `ref<TAB>source<TAB>target`, found {}",
                    fields.len()
                ),
            ));
        };
        let reference = parse_reference(reference).map_err(|e| Error::format(name, line, e.to_string()))?;
        let (source, target) = (source.trim(), target.trim());
        if source.is_empty() || target.is_empty() {
            let side = if source.is_empty() { "source" } else { "target" };
            return Err(Error::format(name, line, format!("{reference}: empty {side} text")));
        }
        out.push(VersePair { reference, source: source.to_string(), target: target.to_string() });
    }
    if out.is_empty() {
        return Err(Error::Empty(format!("{name}: no verse pairs")));
    }
    Ok(out)
}

/// Reads a parallel verse file (gzip or plain) with [`parse_pairs`].
///
/// # Errors
/// [`Error::Io`] naming the file if it cannot be read, and the errors of [`parse_pairs`].
pub fn read_pairs(path: impl AsRef<Path>) -> Result<Vec<VersePair>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_pairs(&bytes, &path.display().to_string())
}

/// Splits verses into train, dev and test by whole chapters: the chapters are shuffled with a
/// seeded stream and dealt to the test part until it holds `test` kept verses, then to the dev
/// part until it holds `dev`; the remaining chapters are the training part. Only verses with
/// `keep[i]` enter any part; a held-out part's last chapter is cut at the count, and its verses
/// past the cut are left out of every part (so no training verse neighbours a held-out one).
/// Each part's indices ascend; a part may come out short if the kept verses run out.
///
/// # Errors
/// [`Error::Length`] when `keep` and `refs` differ in length; [`Error::Empty`] for no verses.
pub fn split_chapters(
    refs: &[Reference],
    keep: &[bool],
    dev: usize,
    test: usize,
    seed: u64,
) -> Result<ChapterSplit> {
    if keep.len() != refs.len() {
        return Err(Error::length("keep mask", refs.len(), keep.len()));
    }
    if refs.is_empty() {
        return Err(Error::Empty("chapter split: no verses".into()));
    }
    let mut chapters: Vec<Vec<usize>> = Vec::new();
    let mut slot: HashMap<(&str, u32), usize> = HashMap::new();
    for (i, r) in refs.iter().enumerate() {
        let c = *slot.entry((r.book.as_str(), r.chapter)).or_insert_with(|| {
            chapters.push(Vec::new());
            chapters.len() - 1
        });
        if keep[i] {
            chapters[c].push(i);
        }
    }
    let mut order: Vec<usize> = (0..chapters.len()).collect();
    order.shuffle(&mut *SeededRng::new(seed).lock());
    let mut split = ChapterSplit::default();
    let mut rest = order.into_iter();
    for (part, want) in [(&mut split.test, test), (&mut split.dev, dev)] {
        while part.len() < want {
            let Some(c) = rest.next() else { break };
            part.extend(chapters[c].iter().take(want - part.len()));
        }
    }
    split.train = rest.flat_map(|c| chapters[c].iter().copied()).collect();
    for part in [&mut split.train, &mut split.dev, &mut split.test] {
        part.sort_unstable();
    }
    Ok(split)
}

/// Groups the items `0..lengths.len()` into shards of at most `shard` items of similar length:
/// the items are shuffled (seeded), stably sorted by length, cut into shards, and the shards
/// shuffled. Every item is in exactly one shard. Padding a shard to its longest item then
/// wastes little; a new seed per epoch gives a new grouping.
///
/// # Errors
/// [`Error::Invalid`] for a zero shard size.
pub fn length_shards(lengths: &[usize], shard: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if shard == 0 {
        return Err(Error::invalid("shard size", "must be > 0"));
    }
    let rng = SeededRng::new(seed);
    let mut items: Vec<usize> = (0..lengths.len()).collect();
    items.shuffle(&mut *rng.lock());
    items.sort_by_key(|&i| lengths[i]);
    let mut shards: Vec<Vec<usize>> = items.chunks(shard).map(<[usize]>::to_vec).collect();
    shards.shuffle(&mut *rng.lock());
    Ok(shards)
}
