//! sacrebleu's tokenisers (`13a`, `intl`, `char`, `none`), reproduced character for character.
//!
//! Each tokeniser is a few regular-expression substitutions in sacrebleu. Every one of them
//! matches either one character or a fixed pair of characters, so `re.sub`'s leftmost,
//! non-overlapping scan is reproduced exactly by walking the characters once per rule: a pair
//! that matches is rewritten and both its characters are consumed, otherwise one character is
//! copied. The rules are applied in sacrebleu's order, each to the previous rule's output.

use std::fmt;
use std::str::FromStr;

use super::unicode::{is_number, is_punctuation, is_symbol, py_split};
use crate::{Error, Result};

/// The tokeniser applied to hypotheses and references before counting n-grams.
///
/// The variants are named after sacrebleu's `--tokenize` values; `Mteval13a` is `13a`, the
/// default (the mteval-v13a rules used by WMT).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Tokenizer {
    /// `13a`: mteval-v13a. Unescapes `&quot; &amp; &lt; &gt;`, drops `<skipped>`, joins
    /// hyphenated line breaks, then splits off ASCII punctuation; periods and commas stay inside
    /// numbers (`1,000.5`) and a dash after a digit is split off.
    #[default]
    Mteval13a,
    /// `intl`: mteval-v14's international rules. Splits off every Unicode punctuation mark not
    /// between digits and every Unicode symbol.
    Intl,
    /// `char`: every character is a token (whitespace is dropped), for languages without spaces.
    Char,
    /// `none`: the text is split on whitespace as it is.
    None,
}

impl Tokenizer {
    /// All tokenisers, in the order of their names in sacrebleu's help.
    pub const ALL: [Tokenizer; 4] = [Tokenizer::Mteval13a, Tokenizer::Intl, Tokenizer::Char, Tokenizer::None];

    /// sacrebleu's name for the tokeniser, as it appears in the signature (`13a`, `intl`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Tokenizer::Mteval13a => "13a",
            Tokenizer::Intl => "intl",
            Tokenizer::Char => "char",
            Tokenizer::None => "none",
        }
    }

    /// Tokenises one line; the result equals sacrebleu's `tokenizer(line)` string.
    ///
    /// Tokens are separated by single spaces, except for `char`, which (like sacrebleu) puts a
    /// space between every two characters, spaces included. sacrebleu strips trailing
    /// whitespace and lowercases before calling the tokeniser; [`super::Bleu`] does the same.
    pub fn tokenize(self, line: &str) -> String {
        let (mut a, mut b) = (String::new(), String::new());
        let words = self.words(line, &mut a, &mut b);
        if matches!(self, Tokenizer::Char | Tokenizer::None) {
            return words.to_owned(); // sacrebleu does not re-join these
        }
        let mut out = String::with_capacity(words.len());
        for (i, word) in py_split(words).enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
        out
    }

    /// The tokenised line before sacrebleu's final `' '.join(line.split())`: splitting it on
    /// whitespace gives the tokens. `a` and `b` are working space.
    pub(crate) fn words<'a>(self, line: &'a str, a: &'a mut String, b: &'a mut String) -> &'a str {
        match self {
            Tokenizer::Mteval13a => thirteen_a(line, a, b),
            Tokenizer::Intl => intl(line, a, b),
            Tokenizer::Char => {
                a.clear();
                for (i, c) in line.chars().enumerate() {
                    if i > 0 {
                        a.push(' ');
                    }
                    a.push(c);
                }
                a
            }
            Tokenizer::None => line,
        }
    }
}

impl fmt::Display for Tokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tokenizer {
    type Err = Error;

    /// Parses sacrebleu's name (`13a`, `intl`, `char`, `none`).
    fn from_str(s: &str) -> Result<Self> {
        Tokenizer::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| {
            Error::invalid(
                "tokenizer",
                format!("unknown tokenizer {s:?}, expected one of 13a, intl, char, none"),
            )
        })
    }
}

/// The 13a rules: mteval-v13a's language-independent part, then sacrebleu's `TokenizerRegexp`.
///
/// Every character these rules look at is ASCII, so they run on bytes: a multi-byte character
/// never matches `[.,-0-9]` or the punctuation class, and its last byte is a "non-digit" exactly
/// when the character is, so matches fall where `re.sub` puts them and slices between them are
/// always on character boundaries.
fn thirteen_a<'a>(line: &str, a: &'a mut String, b: &'a mut String) -> &'a str {
    let (mut escapes, mut periods, mut dashes) = (false, false, false);
    for &byte in line.as_bytes() {
        match byte {
            b'<' | b'\n' | b'&' => escapes = true,
            b'.' | b',' => periods = true,
            b'-' => dashes = true,
            _ => {}
        }
    }
    let unescaped;
    let mut text = line;
    if escapes {
        let mut t = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
        if t.contains('&') {
            t = t.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
        }
        unescaped = t;
        text = &unescaped;
    }
    // Rule 1 (on " {text} "): `[\{-\~\[-\` -\&\(-\+\:-\@\/]` -> ` \1 `.
    pad_punctuation(text, a);
    if periods {
        // Rule 2: `([^0-9])([\.,])` -> `\1 \2 `: a period or comma not preceded by a digit.
        pair_bytes(a, b, Rule::NonDigitPeriod);
        // Rule 3: `([\.,])([^0-9])` -> ` \1 \2`: a period or comma not followed by a digit.
        pair_bytes(b, a, Rule::PeriodNonDigit);
    }
    if dashes {
        // Rule 4: `([0-9])(-)` -> `\1 \2 `: a dash preceded by a digit.
        pair_bytes(a, b, Rule::DigitDash);
        return b;
    }
    a
}

/// The bytes of 13a's first rule: ASCII punctuation other than `' , - .`, and the space.
const PUNCTUATION_13A: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = matches!(c, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/');
        b += 1;
    }
    table
};

/// `text[from..to]`; callers only cut next to ASCII bytes, which are always char boundaries.
fn cut(text: &str, from: usize, to: usize) -> &str {
    text.get(from..to).unwrap_or_default()
}

/// `" " + text + " "` with every byte of 13a's punctuation class surrounded by spaces.
fn pad_punctuation(text: &str, out: &mut String) {
    out.clear();
    out.push(' ');
    let mut copied = 0;
    for (j, &byte) in text.as_bytes().iter().enumerate() {
        if PUNCTUATION_13A[usize::from(byte)] {
            out.push_str(cut(text, copied, j));
            out.extend([' ', char::from(byte), ' ']);
            copied = j + 1;
        }
    }
    out.push_str(cut(text, copied, text.len()));
    out.push(' ');
}

/// The two-character rules of 13a.
#[derive(Clone, Copy)]
enum Rule {
    /// `([^0-9])([\.,])` -> `\1 \2 `
    NonDigitPeriod,
    /// `([\.,])([^0-9])` -> ` \1 \2`
    PeriodNonDigit,
    /// `([0-9])(-)` -> `\1 \2 `
    DigitDash,
}

/// Length of the UTF-8 sequence starting with `lead`.
fn utf8_len(lead: u8) -> usize {
    match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

/// Applies one two-character rule of 13a as `re.sub` scans (leftmost first, a match consumes
/// both characters). Each rule has an ASCII trigger byte (`.`/`,` or `-`); the other character is
/// tested by its byte next to the trigger, which decides "digit or not" for any character.
fn pair_bytes(text: &str, out: &mut String, rule: Rule) {
    out.clear();
    let bytes = text.as_bytes();
    let (mut copied, mut free) = (0, 0); // bytes before `free` belong to an earlier match
    for (j, &byte) in bytes.iter().enumerate() {
        match rule {
            Rule::NonDigitPeriod | Rule::DigitDash => {
                // The pair is (character ending at j - 1, trigger at j).
                let trigger = match rule {
                    Rule::DigitDash => byte == b'-',
                    _ => byte == b'.' || byte == b',',
                };
                if !trigger || j == 0 || j - 1 < free {
                    continue;
                }
                let before_is_digit = bytes.get(j - 1).is_some_and(u8::is_ascii_digit);
                if before_is_digit != matches!(rule, Rule::DigitDash) {
                    continue;
                }
                out.push_str(cut(text, copied, j));
                out.extend([' ', char::from(byte), ' ']);
                copied = j + 1;
                free = j + 1;
            }
            Rule::PeriodNonDigit => {
                // The pair is (trigger at j, character starting at j + 1).
                if !(byte == b'.' || byte == b',') || j < free {
                    continue;
                }
                let Some(&next) = bytes.get(j + 1) else { break };
                if next.is_ascii_digit() {
                    continue;
                }
                out.push_str(cut(text, copied, j));
                out.extend([' ', char::from(byte), ' ']);
                copied = j + 1;
                free = j + 1 + utf8_len(next);
            }
        }
    }
    out.push_str(cut(text, copied, text.len()));
}

/// The intl rules (sacrebleu's `TokenizerV14International`).
fn intl<'a>(line: &str, a: &'a mut String, b: &'a mut String) -> &'a str {
    // `(\P{N})(\p{P})` -> `\1 \2 `: punctuation preceded by a non-number.
    pair_chars(line, a, |x, y| !is_number(x) && is_punctuation(y), Spacing::After);
    // `(\p{P})(\P{N})` -> ` \1 \2`: punctuation followed by a non-number.
    pair_chars(a, b, |x, y| is_punctuation(x) && !is_number(y), Spacing::Before);
    // `(\p{S})` -> ` \1 `: every symbol.
    a.clear();
    for c in b.chars() {
        if is_symbol(c) {
            a.extend([' ', c, ' ']);
        } else {
            a.push(c);
        }
    }
    a
}

/// Where a pair rule of intl inserts its spaces.
#[derive(Clone, Copy)]
enum Spacing {
    /// `\1 \2 `
    After,
    /// ` \1 \2`
    Before,
}

/// A two-character rule applied as `re.sub` scans: leftmost first, a match consumes both
/// characters, no overlaps.
fn pair_chars(input: &str, out: &mut String, matches: impl Fn(char, char) -> bool, spacing: Spacing) {
    out.clear();
    let mut chars = input.chars().peekable();
    while let Some(x) = chars.next() {
        match chars.next_if(|&y| matches(x, y)) {
            Some(y) => match spacing {
                Spacing::After => out.extend([x, ' ', y, ' ']),
                Spacing::Before => out.extend([' ', x, ' ', y]),
            },
            None => out.push(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_a_basics() {
        let t = Tokenizer::Mteval13a;
        assert_eq!(t.tokenize("Hello, world!"), "Hello , world !");
        assert_eq!(t.tokenize("It costs $1,000.50."), "It costs $ 1,000.50 .");
        assert_eq!(t.tokenize("&quot;Yes&quot; &amp; no"), "\" Yes \" & no");
        assert_eq!(t.tokenize("1990-2000 well-known"), "1990 - 2000 well-known");
        assert_eq!(t.tokenize("a.. b"), "a . . b");
    }

    #[test]
    fn names_round_trip() {
        for t in Tokenizer::ALL {
            assert_eq!(t.name().parse::<Tokenizer>().ok(), Some(t));
        }
        let err = "v14".parse::<Tokenizer>().err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("unknown tokenizer \"v14\""), "{err}");
    }
}
