//! The character classes sacrebleu's tokenisers rely on, defined as Python defines them.
//!
//! Python's `str.split()` and `str.rstrip()` use `str.isspace`, which is wider than Rust's
//! `char::is_whitespace` (it also takes the four ASCII separators U+001C..U+001F). The `intl`
//! tokeniser uses the Unicode general categories N (numbers), P (punctuation) and S (symbols);
//! their tables come from `regex-syntax` (Unicode 16.0).
//!
//! Checked over every code point against sacrebleu 2.6.0 on Python 3.11: the categories agree
//! with the `regex` module (Unicode 17) except for the 587 code points new in Unicode 17 (such as
//! U+20C1, the Saudi riyal sign), and Rust's `to_lowercase` agrees with Python's `str.lower`
//! except for 55 letters newer than Python 3.11's Unicode 14.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

/// Whether Python's `str.isspace()` holds for `c` (the set `str.split()` splits on).
pub fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// `s` without trailing Python whitespace (Python's `s.rstrip()`).
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_space)
}

/// The words of `s` split on runs of Python whitespace (Python's `s.split()`).
pub fn py_split(s: &str) -> PySplit<'_> {
    PySplit { text: s, pos: 0 }
}

/// Iterator over the words of a string, returned by [`py_split`].
pub struct PySplit<'a> {
    text: &'a str,
    pos: usize,
}

/// The byte length of the Python whitespace character starting at `bytes[i]`, or 0.
///
/// Works on the UTF-8 encodings of the set in [`is_py_space`]; a continuation byte is never
/// taken for the start of one.
#[inline]
fn space_len(bytes: &[u8], i: usize) -> usize {
    let at = |k: usize| bytes.get(i + k).copied().unwrap_or(0);
    match at(0) {
        0x09..=0x0d | 0x1c..=0x20 => 1,
        0xc2 if matches!(at(1), 0x85 | 0xa0) => 2,
        0xe1 if at(1) == 0x9a && at(2) == 0x80 => 3,
        0xe2 if matches!((at(1), at(2)), (0x80, 0x80..=0x8a | 0xa8 | 0xa9 | 0xaf) | (0x81, 0x9f)) => 3,
        0xe3 if at(1) == 0x80 && at(2) == 0x80 => 3,
        _ => 0,
    }
}

impl<'a> Iterator for PySplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        loop {
            match space_len(bytes, self.pos) {
                0 => break,
                n => self.pos += n,
            }
        }
        if self.pos >= bytes.len() {
            return None;
        }
        let start = self.pos;
        while let Some(&b) = bytes.get(self.pos) {
            // Only these bytes can start a whitespace character: skip the rest with one test.
            if matches!(b, 0x09..=0x0d | 0x1c..=0x20 | 0xc2 | 0xe1..=0xe3) && space_len(bytes, self.pos) > 0 {
                break;
            }
            self.pos += 1;
        }
        // Both ends sit next to (or at) whitespace or the string's ends: char boundaries.
        self.text.get(start..self.pos)
    }
}

/// Sorted, disjoint inclusive code-point ranges of one general category.
struct Ranges(Vec<(char, char)>);

impl Ranges {
    /// Parses `\p{name}` with regex-syntax and keeps the class's ranges.
    ///
    /// The patterns are constants known to parse; should a future regex-syntax reject one, the
    /// class comes back empty and the unit test below fails loudly.
    fn of(category: &str) -> Self {
        let pattern = format!(r"\p{{{category}}}");
        let ranges = match regex_syntax::Parser::new().parse(&pattern).map(|h| h.kind().clone()) {
            Ok(HirKind::Class(Class::Unicode(class))) => {
                class.ranges().iter().map(|r| (r.start(), r.end())).collect()
            }
            _ => Vec::new(),
        };
        Ranges(ranges)
    }

    fn contains(&self, c: char) -> bool {
        // Binary search for the last range starting at or before `c`.
        let i = self.0.partition_point(|&(start, _)| start <= c);
        i > 0 && self.0.get(i - 1).is_some_and(|&(_, end)| c <= end)
    }
}

struct Categories {
    number: Ranges,
    punctuation: Ranges,
    symbol: Ranges,
}

fn categories() -> &'static Categories {
    static TABLES: OnceLock<Categories> = OnceLock::new();
    TABLES.get_or_init(|| Categories {
        number: Ranges::of("N"),
        punctuation: Ranges::of("P"),
        symbol: Ranges::of("S"),
    })
}

/// Whether `c` is in the general category N (`\p{N}`: Nd, Nl, No).
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    categories().number.contains(c)
}

/// Whether `c` is in the general category P (`\p{P}`: Pc, Pd, Ps, Pe, Pi, Pf, Po).
pub fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    categories().punctuation.contains(c)
}

/// Whether `c` is in the general category S (`\p{S}`: Sm, Sc, Sk, So).
pub fn is_symbol(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    categories().symbol.contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_loaded_and_agree_with_the_ascii_shortcuts() {
        let c = categories();
        assert!(c.number.0.len() > 100 && c.punctuation.0.len() > 100 && c.symbol.0.len() > 100);
        for b in 0u8..128 {
            let ch = char::from(b);
            assert_eq!(is_number(ch), c.number.contains(ch), "{ch:?}");
            assert_eq!(is_punctuation(ch), c.punctuation.contains(ch), "{ch:?}");
            assert_eq!(is_symbol(ch), c.symbol.contains(ch), "{ch:?}");
        }
        assert!(is_punctuation('«') && is_punctuation('。') && is_punctuation('—'));
        assert!(is_symbol('€') && is_symbol('©') && is_symbol('∑'));
        assert!(is_number('٣') && is_number('½') && is_number('Ⅻ'));
        assert!(!is_punctuation('a') && !is_symbol('é') && !is_number('x'));
    }

    #[test]
    fn python_whitespace() {
        assert!(is_py_space('\u{1c}') && is_py_space('\u{3000}') && is_py_space('\u{a0}'));
        assert!(!is_py_space('\u{200b}') && !is_py_space('\u{feff}') && !is_py_space('x'));
        assert_eq!(py_split(" a\u{1f}b\u{a0} c  ").collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(py_rstrip("a b \u{2009}\n"), "a b");
        // The byte-level splitter agrees with `is_py_space` on every character.
        for c in (0..0x11_0000).filter_map(char::from_u32) {
            let words = py_split(&format!("a{c}b")).count();
            assert_eq!(words, if is_py_space(c) { 2 } else { 1 }, "{c:?}");
        }
    }
}
