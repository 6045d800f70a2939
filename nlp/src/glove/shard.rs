//! Co-occurrence record files: the binary format of the reference tool's `cooccurrence.bin`, sorted
//! shards spilled to a temporary directory, and their k-way merge.
//!
//! A file is a sequence of 16-byte little-endian records `(i32 row, i32 col, f64 value)` with 1-based
//! word ids, as GloVe's `cooccur` writes them (so its `shuffle` and `glove` tools read ours, and we
//! read theirs). In memory ids are 0-based ([`Cooccurrence`]).
//!
//! ```
//! use dls_nlp::glove::{shard, Cooccurrence};
//! let records = vec![Cooccurrence { row: 0, col: 2, value: 1.5 }];
//! let bytes = shard::to_bytes(&records);
//! assert_eq!(bytes.len(), 16);
//! assert_eq!(&bytes[..8], &[1, 0, 0, 0, 3, 0, 0, 0]);
//! assert_eq!(shard::from_bytes(&bytes, "inline")?, records);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Cooccurrence;
use crate::{Error, Result};

/// Bytes per record on disk.
pub const RECORD_BYTES: usize = 16;

fn encode(r: &Cooccurrence, out: &mut [u8; RECORD_BYTES]) {
    out[..4].copy_from_slice(&(r.row.wrapping_add(1)).to_le_bytes());
    out[4..8].copy_from_slice(&(r.col.wrapping_add(1)).to_le_bytes());
    out[8..].copy_from_slice(&r.value.to_le_bytes());
}

/// Decodes one record found at byte `offset` of `name`.
fn decode(b: &[u8; RECORD_BYTES], name: &str, offset: u64) -> Result<Cooccurrence> {
    let id = |k: usize, what: &str| -> Result<u32> {
        let v = i32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
        if v < 1 {
            return Err(Error::format(
                name,
                None,
                format!("record at byte {offset}: {what} id {v}, expected a 1-based id >= 1"),
            ));
        }
        Ok(v as u32 - 1)
    };
    let value = f64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    if !(value.is_finite() && value > 0.0) {
        return Err(Error::format(
            name,
            None,
            format!("record at byte {offset}: count {value} is not a positive finite number"),
        ));
    }
    Ok(Cooccurrence { row: id(0, "row")?, col: id(4, "column")?, value })
}

/// The records in the binary format.
pub fn to_bytes(records: &[Cooccurrence]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD_BYTES);
    let mut buf = [0u8; RECORD_BYTES];
    for r in records {
        encode(r, &mut buf);
        out.extend_from_slice(&buf);
    }
    out
}

/// Parses the binary format; `name` labels errors.
///
/// # Errors
/// [`Error::Format`] with the byte offset for a length that is not a whole number of records, an id
/// below 1 or a count that is not positive and finite.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<Vec<Cooccurrence>> {
    check_length(bytes.len() as u64, name)?;
    let mut out = Vec::with_capacity(bytes.len() / RECORD_BYTES);
    for (k, chunk) in bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let mut b = [0u8; RECORD_BYTES];
        b.copy_from_slice(chunk);
        out.push(decode(&b, name, (k * RECORD_BYTES) as u64)?);
    }
    Ok(out)
}

fn check_length(len: u64, name: &str) -> Result<()> {
    let rest = len % RECORD_BYTES as u64;
    if rest != 0 {
        return Err(Error::format(
            name,
            None,
            format!(
                "length {len} is not a whole number of {RECORD_BYTES}-byte records: truncated record at byte {}",
                len - rest
            ),
        ));
    }
    Ok(())
}

/// Reads a record file.
///
/// # Errors
/// [`Error::Io`] if it cannot be read, and the errors of [`from_bytes`].
pub fn read(path: impl AsRef<Path>) -> Result<Vec<Cooccurrence>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, &path.display().to_string())
}

/// Streams records to a file (buffered).
pub struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl Writer {
    /// Creates (or truncates) `path`.
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        Ok(Self { out: BufWriter::with_capacity(1 << 16, file), path, written: 0 })
    }

    /// Appends one record.
    ///
    /// # Errors
    /// [`Error::Io`] if writing fails.
    pub fn push(&mut self, r: &Cooccurrence) -> Result<()> {
        let mut buf = [0u8; RECORD_BYTES];
        encode(r, &mut buf);
        self.out.write_all(&buf).map_err(|e| Error::io(&self.path, e))?;
        self.written += 1;
        Ok(())
    }

    /// Flushes the file and returns how many records were written.
    ///
    /// # Errors
    /// [`Error::Io`] if flushing fails.
    pub fn finish(mut self) -> Result<u64> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))?;
        Ok(self.written)
    }
}

/// Reads a record file one record at a time.
struct Reader {
    input: BufReader<File>,
    name: String,
    offset: u64,
}

impl Reader {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        let name = path.display().to_string();
        check_length(len, &name)?;
        Ok(Self { input: BufReader::with_capacity(1 << 16, file), name, offset: 0 })
    }

    fn next(&mut self) -> Result<Option<Cooccurrence>> {
        let mut b = [0u8; RECORD_BYTES];
        match self.input.read_exact(&mut b) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(Error::io(&self.name, e)),
        }
        let r = decode(&b, &self.name, self.offset)?;
        self.offset += RECORD_BYTES as u64;
        Ok(Some(r))
    }
}

/// Merges files each sorted by `(row, col)`, summing the values of equal pairs, and hands the merged
/// records to `sink` in `(row, col)` order.
///
/// # Errors
/// The readers' errors, [`Error::Format`] if a file is not sorted, and whatever `sink` returns.
pub fn merge(paths: &[PathBuf], mut sink: impl FnMut(Cooccurrence) -> Result<()>) -> Result<()> {
    let mut readers = paths.iter().map(|p| Reader::open(p)).collect::<Result<Vec<_>>>()?;
    let mut heap = BinaryHeap::with_capacity(readers.len());
    for (k, r) in readers.iter_mut().enumerate() {
        if let Some(c) = r.next()? {
            heap.push(Reverse((c.key(), k, c.value.to_bits())));
        }
    }
    let mut current: Option<Cooccurrence> = None;
    while let Some(Reverse((key, k, bits))) = heap.pop() {
        let rec = Cooccurrence::from_key(key, f64::from_bits(bits));
        match current.as_mut() {
            Some(c) if c.key() == key => c.value += rec.value,
            _ => {
                if let Some(done) = current.replace(rec) {
                    sink(done)?;
                }
            }
        }
        if let Some(reader) = readers.get_mut(k) {
            if let Some(next) = reader.next()? {
                if next.key() < key {
                    return Err(Error::format(
                        reader.name.clone(),
                        None,
                        format!("records not sorted at byte {}", reader.offset - RECORD_BYTES as u64),
                    ));
                }
                heap.push(Reverse((next.key(), k, next.value.to_bits())));
            }
        }
    }
    if let Some(done) = current {
        sink(done)?;
    }
    Ok(())
}

/// A private temporary directory for shards, removed (with its files) when dropped.
pub(crate) struct SpillDir {
    path: PathBuf,
    next: usize,
}

impl SpillDir {
    /// Creates a fresh directory under `base` (the system's temporary directory when `None`).
    pub(crate) fn new(base: Option<&Path>) -> Result<Self> {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let base = base.map_or_else(std::env::temp_dir, Path::to_path_buf);
        for _ in 0..100 {
            let n = SERIAL.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!("dls-glove-{}-{n}-{nanos}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path, next: 0 }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&path, e)),
            }
        }
        Err(Error::invalid("temp_dir", format!("could not create a fresh directory in {}", base.display())))
    }

    /// The path for the next shard file.
    pub(crate) fn next_path(&mut self) -> PathBuf {
        self.next += 1;
        self.path.join(format!("shard-{:05}.bin", self.next))
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
