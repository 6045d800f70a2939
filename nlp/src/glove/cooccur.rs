//! Co-occurrence counting with `1 / distance` weighting over a symmetric window, bounded in memory.
//!
//! For every position `i` of a sentence and every earlier position `j` with `d = i - j <= window`,
//! both `X[w_i][w_j]` and `X[w_j][w_i]` grow by `1 / d` (the reference tool's symmetric mode); a word
//! next to itself adds `2 / d` to its diagonal entry. Windows do not cross sentences.
//!
//! [`Counter`] keeps the counts in a hash map. When the map reaches [`Config::max_entries`] pairs it
//! is sorted and written to a shard file in a private temporary directory and emptied; at the end
//! the shards (and what is left in memory) are merged ([`shard::merge`]), summing equal pairs. The
//! result is the same as counting in memory, up to the order of floating-point additions.
//!
//! ```
//! use dls_nlp::glove::cooccur::{Config, Counter};
//! let mut counter = Counter::new(Config { window: 2, max_entries: 2, ..Default::default() })?;
//! counter.add_sentence(&[0, 1, 2])?;
//! assert!(counter.shards() > 0); // 6 entries do not fit in a budget of 2
//! let counts = counter.finish()?;
//! assert_eq!(counts.len(), 6);
//! assert_eq!((counts[1].row, counts[1].col, counts[1].value), (0, 2, 0.5));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::shard::{self, SpillDir};
use crate::{Error, Result};

/// One non-zero entry `X[row][col] = value` of the co-occurrence matrix (0-based word ids).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Cooccurrence {
    /// The centre word's id.
    pub row: u32,
    /// The context word's id.
    pub col: u32,
    /// The distance-weighted count.
    pub value: f64,
}

impl Cooccurrence {
    /// The sort key: row-major `(row, col)` packed into one integer.
    pub fn key(&self) -> u64 {
        (u64::from(self.row) << 32) | u64::from(self.col)
    }

    /// The record for a packed key and a value.
    pub fn from_key(key: u64, value: f64) -> Self {
        Self { row: (key >> 32) as u32, col: key as u32, value }
    }
}

/// Counting settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Context words on each side of the centre word (GloVe's `window_size`).
    pub window: usize,
    /// Distinct pairs held in memory before a shard is spilled to disk; each costs about 32 bytes,
    /// so the default 4 Mi pairs is about 128 MiB.
    pub max_entries: usize,
    /// Where the shard directory is created (the system's temporary directory when `None`).
    pub temp_dir: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self { window: 10, max_entries: 1 << 22, temp_dir: None }
    }
}

type Map = HashMap<u64, f64, foldhash::fast::FixedState>;

/// Accumulates weighted co-occurrence counts sentence by sentence, spilling sorted shards to disk when
/// the in-memory map is full (see the module docs).
pub struct Counter {
    config: Config,
    map: Map,
    spill: Option<SpillDir>,
    shards: Vec<PathBuf>,
    tokens: u64,
}

impl Counter {
    /// An empty counter.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a zero window or a zero memory budget.
    pub fn new(config: Config) -> Result<Self> {
        if config.window == 0 {
            return Err(Error::invalid("window", "must be at least 1"));
        }
        if config.max_entries == 0 {
            return Err(Error::invalid("max_entries", "the memory budget must hold at least one pair"));
        }
        let capacity = config.max_entries.min(1 << 16);
        Ok(Self {
            config,
            map: Map::with_capacity_and_hasher(capacity, foldhash::fast::FixedState::default()),
            spill: None,
            shards: Vec::new(),
            tokens: 0,
        })
    }

    /// Adds the pairs of one sentence of word ids.
    ///
    /// # Errors
    /// [`Error::Io`] if a shard cannot be written.
    pub fn add_sentence(&mut self, ids: &[u32]) -> Result<()> {
        self.tokens += ids.len() as u64;
        for (i, &centre) in ids.iter().enumerate() {
            let lo = i.saturating_sub(self.config.window);
            for (j, &context) in ids.iter().enumerate().take(i).skip(lo) {
                let w = 1.0 / (i - j) as f64;
                self.add(centre, context, w)?;
                self.add(context, centre, w)?;
            }
        }
        Ok(())
    }

    #[inline]
    fn add(&mut self, row: u32, col: u32, w: f64) -> Result<()> {
        *self.map.entry((u64::from(row) << 32) | u64::from(col)).or_insert(0.0) += w;
        if self.map.len() >= self.config.max_entries {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the in-memory counts and writes them to a new shard.
    fn spill(&mut self) -> Result<()> {
        if self.map.is_empty() {
            return Ok(());
        }
        if self.spill.is_none() {
            self.spill = Some(SpillDir::new(self.config.temp_dir.as_deref())?);
        }
        let Some(dir) = self.spill.as_mut() else { return Ok(()) };
        let path = dir.next_path();
        let mut writer = shard::Writer::create(&path)?;
        for r in self.sorted() {
            writer.push(&r)?;
        }
        writer.finish()?;
        self.shards.push(path);
        Ok(())
    }

    /// Drains the map into records sorted by `(row, col)`.
    fn sorted(&mut self) -> Vec<Cooccurrence> {
        let mut entries: Vec<(u64, f64)> = self.map.drain().collect();
        entries.sort_unstable_by_key(|e| e.0);
        entries.into_iter().map(|(k, v)| Cooccurrence::from_key(k, v)).collect()
    }

    /// Shards spilled to disk so far.
    pub fn shards(&self) -> usize {
        self.shards.len()
    }

    /// Words counted so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Hands every non-zero count to `sink`, in `(row, col)` order, merging the shards; the shard
    /// directory is removed afterwards.
    ///
    /// # Errors
    /// [`Error::Io`] or [`Error::Format`] if a shard cannot be written or read back, and whatever
    /// `sink` returns.
    pub fn drain_into(mut self, mut sink: impl FnMut(Cooccurrence) -> Result<()>) -> Result<()> {
        if self.shards.is_empty() {
            return self.sorted().into_iter().try_for_each(sink);
        }
        self.spill()?;
        shard::merge(&self.shards, &mut sink)
    }

    /// All non-zero counts in memory, sorted by `(row, col)`.
    ///
    /// # Errors
    /// As [`Counter::drain_into`].
    pub fn finish(self) -> Result<Vec<Cooccurrence>> {
        let mut out = Vec::new();
        self.drain_into(|r| {
            out.push(r);
            Ok(())
        })?;
        Ok(out)
    }

    /// Streams the merged counts to `path` in the binary format of [`shard`] (GloVe's
    /// `cooccurrence.bin`) and returns how many were written.
    ///
    /// # Errors
    /// As [`Counter::drain_into`], and [`Error::Io`] if `path` cannot be written.
    pub fn finish_to_file(self, path: impl AsRef<Path>) -> Result<u64> {
        let mut writer = shard::Writer::create(path)?;
        self.drain_into(|r| writer.push(&r))?;
        writer.finish()
    }
}

/// Counts the co-occurrences of `sentences` (word ids) with `config`, returning them sorted.
///
/// # Errors
/// As [`Counter::new`] and [`Counter::finish`].
pub fn count(sentences: &[Vec<u32>], config: &Config) -> Result<Vec<Cooccurrence>> {
    let mut counter = Counter::new(config.clone())?;
    for s in sentences {
        counter.add_sentence(s)?;
    }
    counter.finish()
}
