//! Character vocabularies for character-level language models (sheet 24's dinosaur names).
//!
//! Id 0 is reserved for the end-of-sequence marker (the course's `"\n"`); the other characters
//! are sorted so the same text always gives the same ids.
//!
//! ```
//! use dls_sequence::vocab::CharVocab;
//! let v = CharVocab::from_text("anna\nbob\n")?;
//! assert_eq!(v.len(), 5); // the end marker, then a, b, n, o
//! let ids = v.encode("nab")?;
//! assert_eq!(v.decode(&ids)?, "nab");
//! # Ok::<(), dls_sequence::Error>(())
//! ```

use std::collections::{BTreeSet, HashMap};

use crate::{Error, Result};

/// The end-of-sequence character, id 0.
pub const END: char = '\n';

/// A bijection between the characters of a text and ids `0..len`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharVocab {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
}

impl CharVocab {
    /// The vocabulary of every character in `text`, plus the end marker.
    ///
    /// # Errors
    /// [`Error::Empty`] when `text` holds no character other than line breaks.
    pub fn from_text(text: &str) -> Result<Self> {
        let set: BTreeSet<char> = text.chars().filter(|&c| c != END).collect();
        if set.is_empty() {
            return Err(Error::Empty("no characters to build a vocabulary from".into()));
        }
        let chars: Vec<char> = std::iter::once(END).chain(set).collect();
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
        Ok(Self { chars, ids })
    }

    /// Number of ids, the end marker included.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Always false: a vocabulary holds at least the end marker and one character.
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Ids of the characters of `text`.
    ///
    /// # Errors
    /// [`Error::UnknownChar`] naming the first character not in the vocabulary and its position.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .enumerate()
            .map(|(position, ch)| self.ids.get(&ch).copied().ok_or(Error::UnknownChar { ch, position }))
            .collect()
    }

    /// The text of `ids`.
    ///
    /// # Errors
    /// [`Error::UnknownId`] for an id `>= len()`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| self.chars.get(id as usize).copied().ok_or(Error::UnknownId { id, size: self.len() }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_round_trip() {
        let v = CharVocab::from_text("Zoe\nAnna\n").unwrap();
        assert_eq!(v.decode(&[0, 1, 2]).unwrap(), "\nAZ");
        // Sorted: "\n" A Z a e n o.
        assert_eq!(v.encode("Anna\n").unwrap(), vec![1, 5, 5, 3, 0]);
        assert_eq!(v, CharVocab::from_text("Anna\nZoe").unwrap());
    }

    #[test]
    fn unknown_input_is_an_error() {
        let v = CharVocab::from_text("abc").unwrap();
        assert!(matches!(v.encode("abx"), Err(Error::UnknownChar { ch: 'x', position: 2 })));
        assert!(matches!(v.decode(&[9]), Err(Error::UnknownId { id: 9, size: 4 })));
        assert!(matches!(CharVocab::from_text("\n\n"), Err(Error::Empty(_))));
    }
}
