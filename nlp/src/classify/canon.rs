//! Verse references (`Gen 1:1`) and the section of the canon each of the 66 books belongs to.
//!
//! The books are named by the OSIS abbreviations that `web-en.txt.gz` uses (`Gen`, `1Sam`, `Matt`,
//! `Rev`, ...). That file also holds the deuterocanonical books (`Tob`, `Sir`, `1Macc`, ...): they
//! are known but belong to none of the seven sections, so [`book_section`] answers `None` for them
//! and an error only for a book it has never heard of.
//!
//! ```
//! use dls_nlp::classify::canon::{parse_labelled, Section};
//! let lines = "Ps 23:1\tYahweh is my shepherd.\nSir 1:1\tAll wisdom comes from the Lord.\n";
//! let (verses, deuterocanonical) = parse_labelled(lines.as_bytes(), "inline")?;
//! assert_eq!((verses.len(), deuterocanonical), (1, 1));
//! assert_eq!((verses[0].reference.chapter, verses[0].section), (23, Section::WisdomPoetry));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::fmt;
use std::io::Read;
use std::path::Path;

use crate::{Error, Result};

/// A section of the 66-book canon: the seven labels of the verse classifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// Genesis to Deuteronomy.
    Law,
    /// Joshua to Esther.
    History,
    /// Job, Psalms, Proverbs, Ecclesiastes, Song of Songs.
    WisdomPoetry,
    /// Isaiah to Malachi (major and minor prophets, Lamentations included).
    Prophets,
    /// Matthew, Mark, Luke, John and Acts.
    GospelsActs,
    /// Romans to Jude.
    Letters,
    /// Revelation.
    Revelation,
}

impl Section {
    /// All seven sections in canon order; a section's class id is its position here.
    pub const ALL: [Section; 7] = [
        Section::Law,
        Section::History,
        Section::WisdomPoetry,
        Section::Prophets,
        Section::GospelsActs,
        Section::Letters,
        Section::Revelation,
    ];

    /// The class id, `0..7`, in canon order.
    pub fn id(self) -> u32 {
        self as u32
    }

    /// The section with class id `id`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an id `>= 7`.
    pub fn from_id(id: u32) -> Result<Self> {
        Section::ALL
            .get(id as usize)
            .copied()
            .ok_or_else(|| Error::invalid("section id", format!("{id} is out of range 0..7")))
    }

    /// The section's name (`"Wisdom and Poetry"`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Section::Law => "Law",
            Section::History => "History",
            Section::WisdomPoetry => "Wisdom and Poetry",
            Section::Prophets => "Prophets",
            Section::GospelsActs => "Gospels and Acts",
            Section::Letters => "Letters",
            Section::Revelation => "Revelation",
        }
    }

    /// A short label for tables (`"Wisdom"`, `"Gospels"`, ...).
    pub fn short_name(self) -> &'static str {
        match self {
            Section::Law => "Law",
            Section::History => "History",
            Section::WisdomPoetry => "Wisdom",
            Section::Prophets => "Prophets",
            Section::GospelsActs => "Gospels",
            Section::Letters => "Letters",
            Section::Revelation => "Rev",
        }
    }
}

impl fmt::Display for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The 66 books in canon order with their sections (OSIS abbreviations).
pub const BOOKS: [(&str, Section); 66] = {
    use Section::*;
    [
        ("Gen", Law),
        ("Exod", Law),
        ("Lev", Law),
        ("Num", Law),
        ("Deut", Law),
        ("Josh", History),
        ("Judg", History),
        ("Ruth", History),
        ("1Sam", History),
        ("2Sam", History),
        ("1Kgs", History),
        ("2Kgs", History),
        ("1Chr", History),
        ("2Chr", History),
        ("Ezra", History),
        ("Neh", History),
        ("Esth", History),
        ("Job", WisdomPoetry),
        ("Ps", WisdomPoetry),
        ("Prov", WisdomPoetry),
        ("Eccl", WisdomPoetry),
        ("Song", WisdomPoetry),
        ("Isa", Prophets),
        ("Jer", Prophets),
        ("Lam", Prophets),
        ("Ezek", Prophets),
        ("Dan", Prophets),
        ("Hos", Prophets),
        ("Joel", Prophets),
        ("Amos", Prophets),
        ("Obad", Prophets),
        ("Jonah", Prophets),
        ("Mic", Prophets),
        ("Nah", Prophets),
        ("Hab", Prophets),
        ("Zeph", Prophets),
        ("Hag", Prophets),
        ("Zech", Prophets),
        ("Mal", Prophets),
        ("Matt", GospelsActs),
        ("Mark", GospelsActs),
        ("Luke", GospelsActs),
        ("John", GospelsActs),
        ("Acts", GospelsActs),
        ("Rom", Letters),
        ("1Cor", Letters),
        ("2Cor", Letters),
        ("Gal", Letters),
        ("Eph", Letters),
        ("Phil", Letters),
        ("Col", Letters),
        ("1Thess", Letters),
        ("2Thess", Letters),
        ("1Tim", Letters),
        ("2Tim", Letters),
        ("Titus", Letters),
        ("Phlm", Letters),
        ("Heb", Letters),
        ("Jas", Letters),
        ("1Pet", Letters),
        ("2Pet", Letters),
        ("1John", Letters),
        ("2John", Letters),
        ("3John", Letters),
        ("Jude", Letters),
        ("Rev", Revelation),
    ]
};

/// Deuterocanonical and apocryphal books of `web-en.txt.gz`: known, but outside the 66.
pub const DEUTEROCANON: [&str; 14] = [
    "Tob", "Jdt", "EsthGr", "Wis", "Sir", "Bar", "1Macc", "2Macc", "1Esd", "PrMan", "AddPs", "3Macc", "2Esd",
    "4Macc",
];

/// The section of `book` (an OSIS abbreviation): `Some` for the 66 books, `None` for a
/// deuterocanonical book listed in [`DEUTEROCANON`].
///
/// # Errors
/// [`Error::Invalid`] naming the book when it is neither.
pub fn book_section(book: &str) -> Result<Option<Section>> {
    if let Some((_, s)) = BOOKS.iter().find(|(b, _)| *b == book) {
        return Ok(Some(*s));
    }
    if DEUTEROCANON.contains(&book) {
        return Ok(None);
    }
    Err(Error::invalid(
        "book",
        format!("unknown book {book:?} (expected an OSIS abbreviation such as \"Gen\")"),
    ))
}

/// A parsed verse reference: book, chapter and verse.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// The book's abbreviation (`"1Sam"`).
    pub book: String,
    /// Chapter number (from 1).
    pub chapter: u32,
    /// Verse number (from 1).
    pub verse: u32,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}:{}", self.book, self.chapter, self.verse)
    }
}

/// Parses `Book chapter:verse` (`"1Sam 3:10"`). Only the shape is checked, not the book.
///
/// # Errors
/// [`Error::Invalid`] quoting the reference when it has no space, no colon, or a chapter or verse
/// that is not a positive integer.
pub fn parse_reference(reference: &str) -> Result<Reference> {
    let bad = |why: &str| Error::invalid("verse reference", format!("{reference:?}: {why}"));
    let (book, place) = reference
        .trim()
        .rsplit_once(' ')
        .ok_or_else(|| bad("expected `Book chapter:verse`, found no space"))?;
    let book = book.trim();
    if book.is_empty() {
        return Err(bad("empty book name"));
    }
    let (chapter, verse) =
        place.split_once(':').ok_or_else(|| bad("expected `chapter:verse`, found no colon"))?;
    let number = |s: &str, what: &str| match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad(&format!("{what} {s:?} is not a positive integer"))),
    };
    Ok(Reference {
        book: book.to_string(),
        chapter: number(chapter, "chapter")?,
        verse: number(verse, "verse")?,
    })
}

/// A verse of the 66 books with its parsed reference and section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledVerse {
    /// Book, chapter and verse.
    pub reference: Reference,
    /// The section of the book (the class to predict).
    pub section: Section,
    /// The verse's text.
    pub text: String,
}

/// Parses `reference<TAB>text` lines (gzip-compressed or not) into labelled verses, skipping empty
/// lines and the verses of deuterocanonical books. Returns the verses in order and how many
/// deuterocanonical verses were skipped. `name` labels errors.
///
/// # Errors
/// [`Error::Format`] naming `name` and the 1-based line for invalid UTF-8, a line without a tab, a
/// malformed reference or an unknown book; [`Error::Io`] if reading (or gunzipping) fails.
pub fn parse_labelled(bytes: &[u8], name: &str) -> Result<(Vec<LabelledVerse>, usize)> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(bytes).read_to_end(&mut plain).map_err(|e| Error::io(name, e))?;
        return parse_labelled(&plain, name);
    }
    let mut out = Vec::new();
    let mut skipped = 0;
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = Some(i + 1);
        let text = std::str::from_utf8(raw)
            .map_err(|e| Error::format(name, line, format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            continue;
        }
        let (reference, verse) = text
            .split_once('\t')
            .ok_or_else(|| Error::format(name, line, "expected `reference<TAB>text`, found no tab"))?;
        let reference = parse_reference(reference).map_err(|e| Error::format(name, line, e.to_string()))?;
        match book_section(&reference.book).map_err(|e| Error::format(name, line, e.to_string()))? {
            Some(section) => out.push(LabelledVerse { reference, section, text: verse.to_string() }),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Reads a verse file (gzip or plain) with [`parse_labelled`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, and the errors of [`parse_labelled`].
pub fn read_labelled(path: impl AsRef<Path>) -> Result<(Vec<LabelledVerse>, usize)> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_labelled(&bytes, &path.display().to_string())
}
