//! Segment statistics: n-gram matches clipped by the references, and the closest reference length.
//!
//! Tokens are interned to integer ids (starting at 1) and an n-gram of up to four tokens is packed
//! into one unsigned integer, one id per lane, so n-grams are counted by sorting plain integers:
//! no string is allocated per n-gram. The order of an n-gram is the number of its non-zero lanes.

use std::collections::HashMap;

use super::unicode::py_split;
use super::MAX_ORDER;

/// Sufficient statistics of BLEU for one segment or, summed, for a corpus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BleuStats {
    /// Number of hypothesis tokens.
    pub sys_len: u64,
    /// Length of the reference closest to the hypothesis (the shorter one on a tie).
    pub ref_len: u64,
    /// Matched n-grams of each order (index 0 is unigrams), clipped by the references.
    pub counts: [u64; MAX_ORDER],
    /// Hypothesis n-grams of each order.
    pub totals: [u64; MAX_ORDER],
}

impl std::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, other: Self) {
        self.sys_len += other.sys_len;
        self.ref_len += other.ref_len;
        for n in 0..MAX_ORDER {
            self.counts[n] += other.counts[n];
            self.totals[n] += other.totals[n];
        }
    }
}

/// An n-gram packed into an unsigned integer, one token id per lane (ids start at 1, so the
/// order of an n-gram is its number of non-zero lanes).
trait Packed: Copy + Ord {
    /// Bits per lane; ids must be below `1 << LANE`.
    const LANE: u32;
    fn pack(ids: &[u32]) -> Self;
    fn order(self) -> usize;
}

macro_rules! packed {
    ($t:ty, $lane:expr) => {
        impl Packed for $t {
            const LANE: u32 = $lane;
            fn pack(ids: &[u32]) -> Self {
                ids.iter().enumerate().fold(0, |k, (i, &id)| k | (<$t>::from(id) << (Self::LANE * i as u32)))
            }
            fn order(self) -> usize {
                (<$t>::BITS - self.leading_zeros()).div_ceil(Self::LANE) as usize
            }
        }
    };
}
packed!(u32, 8);
packed!(u64, 16);
packed!(u128, 32);

/// Sorted n-gram lists of one segment, for one key width.
struct Lists<K> {
    keys: Vec<K>,
    ref_runs: Vec<(K, u32)>,
    hyp_runs: Vec<(K, u32)>,
}

impl<K> Default for Lists<K> {
    fn default() -> Self {
        Self { keys: Vec::new(), ref_runs: Vec::new(), hyp_runs: Vec::new() }
    }
}

impl<K: Packed> Lists<K> {
    /// Every n-gram of order 1..=`order` of `ids`, sorted, as `(key, multiplicity)` runs.
    fn runs(keys: &mut Vec<K>, ids: &[u32], order: usize, runs: &mut Vec<(K, u32)>) {
        keys.clear();
        for n in 1..=order {
            keys.extend(ids.windows(n).map(K::pack));
        }
        keys.sort_unstable();
        for chunk in keys.chunk_by(|a, b| a == b) {
            if let Some(&key) = chunk.first() {
                runs.push((key, chunk.len() as u32));
            }
        }
    }

    /// Adds the clipped matches and totals of `hyp` against `refs` to `stats`.
    fn count(&mut self, refs: &[&[u32]], hyp: &[u32], order: usize, stats: &mut BleuStats) {
        // Reference n-grams: for each distinct n-gram, its largest count over the references.
        self.ref_runs.clear();
        for ids in refs {
            Self::runs(&mut self.keys, ids, order, &mut self.ref_runs);
        }
        if refs.len() > 1 {
            self.ref_runs.sort_unstable();
            // Sorted by (key, count): the last entry of each key holds its maximum count.
            self.ref_runs.dedup_by(|later, earlier| {
                let same = later.0 == earlier.0;
                if same {
                    earlier.1 = later.1;
                }
                same
            });
        }
        self.hyp_runs.clear();
        Self::runs(&mut self.keys, hyp, order, &mut self.hyp_runs);
        let mut refs = self.ref_runs.iter().peekable();
        for &(key, count) in &self.hyp_runs {
            let n = key.order() - 1;
            stats.totals[n] += u64::from(count);
            while refs.next_if(|r| r.0 < key).is_some() {}
            if let Some(&&(_, ref_count)) = refs.peek().filter(|r| r.0 == key) {
                stats.counts[n] += u64::from(count.min(ref_count));
            }
        }
    }
}

/// Maps tokens to ids and keeps the buffers reused from one segment to the next.
///
/// Tokens get corpus-wide ids from a hash map, then per-segment ids (1, 2, ... in order of first
/// appearance) so that a segment with at most 255 distinct tokens packs its n-grams into `u32`s,
/// one with at most 65,535 into `u64`s, any other into `u128`s.
#[derive(Default)]
pub(crate) struct Counter {
    ids: HashMap<Box<str>, u32, foldhash::fast::FixedState>,
    /// Per-segment id of each corpus-wide id, valid where `stamp` equals `segment`.
    local: Vec<u32>,
    stamp: Vec<u32>,
    segment: u32,
    distinct: u32,
    /// Per-segment ids of the references, then of the hypothesis; `ends` closes each text.
    seq: Vec<u32>,
    ends: Vec<usize>,
    narrow: Lists<u32>,
    medium: Lists<u64>,
    wide: Lists<u128>,
}

impl Counter {
    /// Appends the per-segment ids of the whitespace-separated tokens of `text` to `self.seq`.
    fn intern(&mut self, text: &str) {
        for word in py_split(text) {
            let global = match self.ids.get(word) {
                Some(&id) => id as usize,
                None => {
                    let id = self.ids.len();
                    self.ids.insert(word.into(), id as u32);
                    self.local.push(0);
                    self.stamp.push(0);
                    id
                }
            };
            if let (Some(local), Some(stamp)) = (self.local.get_mut(global), self.stamp.get_mut(global)) {
                if *stamp != self.segment {
                    *stamp = self.segment;
                    self.distinct += 1;
                    *local = self.distinct;
                }
                self.seq.push(*local);
            }
        }
        self.ends.push(self.seq.len());
    }

    /// The statistics of one hypothesis against its references (already tokenised strings).
    pub(crate) fn segment<'a>(
        &mut self,
        hyp: &str,
        refs: impl Iterator<Item = &'a str>,
        order: usize,
    ) -> BleuStats {
        // A new stamp invalidates every per-segment id (stamps start at 1; 0 is never current).
        self.segment = self.segment.wrapping_add(1).max(1);
        if self.segment == 1 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
        }
        self.distinct = 0;
        self.seq.clear();
        self.ends.clear();
        for reference in refs {
            self.intern(reference);
        }
        self.intern(hyp);

        let mut texts: Vec<&[u32]> = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for &end in &self.ends {
            texts.push(self.seq.get(start..end).unwrap_or_default());
            start = end;
        }
        let (hyp, refs) = match texts.split_last() {
            Some((hyp, refs)) => (*hyp, refs),
            None => (&[][..], &[][..]),
        };
        let ref_lens: Vec<u64> = refs.iter().map(|r| r.len() as u64).collect();
        let sys_len = hyp.len() as u64;
        let mut stats =
            BleuStats { sys_len, ref_len: closest_ref_len(sys_len, &ref_lens), ..Default::default() };
        if self.distinct < 1 << u32::LANE {
            self.narrow.count(refs, hyp, order, &mut stats);
        } else if self.distinct < 1 << u64::LANE {
            self.medium.count(refs, hyp, order, &mut stats);
        } else {
            self.wide.count(refs, hyp, order, &mut stats);
        }
        stats
    }
}

/// sacrebleu's closest reference length: the smallest |hyp - ref|, the shorter reference on a tie
/// (0 for an empty list, which callers rule out).
pub(crate) fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None;
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((d, l)) if d < diff || (d == diff && l <= len) => Some((d, l)),
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, len)| len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_reference_prefers_the_shorter_on_a_tie() {
        assert_eq!(closest_ref_len(10, &[12, 8]), 8);
        assert_eq!(closest_ref_len(10, &[8, 12]), 8);
        assert_eq!(closest_ref_len(10, &[13, 7, 11]), 11);
        assert_eq!(closest_ref_len(0, &[3, 2]), 2);
    }

    #[test]
    fn counts_are_clipped_by_the_maximum_over_references() {
        let mut c = Counter::default();
        // "the" appears 3 times in the hypothesis, at most 2 times in one reference.
        let s = c.segment("the the the cat", ["the cat the", "the the dog sat"].into_iter(), 4);
        assert_eq!(s.sys_len, 4);
        assert_eq!(s.ref_len, 4);
        assert_eq!(s.totals, [4, 3, 2, 1]);
        // unigrams: the 2 + cat 1; bigrams: "the the" 1, "the cat" 1; trigrams: "the the cat" 0.
        assert_eq!(s.counts, [3, 2, 0, 0]);
        assert_eq!(u128::pack(&[1]).order(), 1);
        assert_eq!(u128::pack(&[1, 2, 3, 5]), 1 | 2 << 32 | 3 << 64 | 5u128 << 96);
        assert_eq!((u32::pack(&[255, 1]).order(), u64::pack(&[9, 9, 9]).order()), (2, 3));
    }
}
