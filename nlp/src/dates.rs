//! The course's date-normalisation data (sheet 28): human-written dates in many formats ("3 May
//! 1979", "Tuesday, 10 July 2007", "5/30/68", "10.07.2007", "july 3rd 2001", ...) paired with
//! the ISO form `YYYY-MM-DD`, drawn from a seeded stream, and the character vocabularies of both
//! sides.
//!
//! Dates are uniform over 1950-01-01 ..= 2049-12-31, so a two-digit year is never ambiguous
//! (`50`–`99` are 19xx, `00`–`49` are 20xx). Numeric formats follow one convention per separator:
//! slashes are American (month/day/year), dots and dashes European (day.month.year), and
//! `YYYY-MM-DD` itself is one of the inputs. [`DateFormat::ALL`] lists every format with an example.
//!
//! ```
//! use dls_nlp::dates::{generate, Date, DateFormat};
//! let d = Date::new(2007, 7, 10)?;
//! assert_eq!(DateFormat::WeekdayDayMonthYear.render(d), "Tuesday, 10 July 2007");
//! assert_eq!(DateFormat::UsShort.render(Date::new(1968, 5, 30)?), "5/30/68");
//! assert_eq!(d.iso(), "2007-07-10");
//! let pairs = generate(100, 7);
//! assert_eq!(pairs.len(), 100);
//! assert!(pairs.iter().all(|p| p.iso.len() == 10));
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::collections::HashMap;

use dls_foundations::SeededRng;
use rand::Rng;

use crate::{Error, Result};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// First and last day generated, as days since 1970-01-01.
const FIRST_YEAR: i64 = 1950;
const LAST_YEAR: i64 = 2049;

/// A day of the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year (four digits here).
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// The date `year-month-day`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the month or day does not exist.
    pub fn new(year: i64, month: u32, day: u32) -> Result<Self> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(Error::invalid("date", format!("{year}-{month:02}-{day:02} does not exist")));
        }
        Ok(Self { year, month, day })
    }

    /// Days since 1970-01-01 (negative before), by the usual shift to a March-based year.
    pub fn days(self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01 (the inverse of [`Date::days`]).
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day }
    }

    /// Day of the week, 0 = Monday ... 6 = Sunday (1970-01-01 was a Thursday).
    pub fn weekday(self) -> usize {
        (self.days() + 3).rem_euclid(7) as usize
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    fn month_name(self) -> &'static str {
        MONTHS[(self.month as usize + 11) % 12]
    }

    fn month_abbrev(self) -> &'static str {
        &self.month_name()[..3]
    }

    fn weekday_name(self) -> &'static str {
        WEEKDAYS[self.weekday()]
    }

    fn yy(self) -> i64 {
        self.year.rem_euclid(100)
    }

    fn ordinal(self) -> String {
        let suffix = match (self.day % 10, self.day % 100) {
            (_, 11..=13) => "th",
            (1, _) => "st",
            (2, _) => "nd",
            (3, _) => "rd",
            _ => "th",
        };
        format!("{}{suffix}", self.day)
    }
}

/// The human formats generated (examples for 3 July 2001, a Tuesday).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateFormat {
    /// `3 July 2001`
    DayMonthYear,
    /// `03 July 2001`
    PaddedDayMonthYear,
    /// `3 july 2001`
    LowerDayMonthYear,
    /// `Tuesday, 3 July 2001`
    WeekdayDayMonthYear,
    /// `Tue, 3 Jul 2001`
    ShortWeekday,
    /// `7/3/01` (month/day/year)
    UsShort,
    /// `07/03/2001`
    UsLong,
    /// `03.07.2001` (day.month.year)
    Dotted,
    /// `03.07.01`
    DottedShort,
    /// `july 3rd 2001`
    LowerOrdinal,
    /// `July 3, 2001`
    MonthDayComma,
    /// `Jul 3, 2001`
    AbbrevMonthDayComma,
    /// `3 Jul 2001`
    DayAbbrevYear,
    /// `3 JUL 2001`
    DayUpperAbbrevYear,
    /// `3 Jul 01`
    DayAbbrevShortYear,
    /// `the 3rd of July, 2001`
    TheOrdinalOf,
    /// `3-7-2001` (day-month-year)
    Dashed,
    /// `2001-07-03`
    Iso,
}

impl DateFormat {
    /// Every format, in declaration order.
    pub const ALL: [DateFormat; 18] = [
        DateFormat::DayMonthYear,
        DateFormat::PaddedDayMonthYear,
        DateFormat::LowerDayMonthYear,
        DateFormat::WeekdayDayMonthYear,
        DateFormat::ShortWeekday,
        DateFormat::UsShort,
        DateFormat::UsLong,
        DateFormat::Dotted,
        DateFormat::DottedShort,
        DateFormat::LowerOrdinal,
        DateFormat::MonthDayComma,
        DateFormat::AbbrevMonthDayComma,
        DateFormat::DayAbbrevYear,
        DateFormat::DayUpperAbbrevYear,
        DateFormat::DayAbbrevShortYear,
        DateFormat::TheOrdinalOf,
        DateFormat::Dashed,
        DateFormat::Iso,
    ];

    /// `date` written in this format.
    pub fn render(self, d: Date) -> String {
        let (y, m, day) = (d.year, d.month, d.day);
        match self {
            DateFormat::DayMonthYear => format!("{day} {} {y}", d.month_name()),
            DateFormat::PaddedDayMonthYear => format!("{day:02} {} {y}", d.month_name()),
            DateFormat::LowerDayMonthYear => format!("{day} {} {y}", d.month_name().to_lowercase()),
            DateFormat::WeekdayDayMonthYear => format!("{}, {day} {} {y}", d.weekday_name(), d.month_name()),
            DateFormat::ShortWeekday => format!("{}, {day} {} {y}", &d.weekday_name()[..3], d.month_abbrev()),
            DateFormat::UsShort => format!("{m}/{day}/{:02}", d.yy()),
            DateFormat::UsLong => format!("{m:02}/{day:02}/{y}"),
            DateFormat::Dotted => format!("{day:02}.{m:02}.{y}"),
            DateFormat::DottedShort => format!("{day:02}.{m:02}.{:02}", d.yy()),
            DateFormat::LowerOrdinal => format!("{} {} {y}", d.month_name().to_lowercase(), d.ordinal()),
            DateFormat::MonthDayComma => format!("{} {day}, {y}", d.month_name()),
            DateFormat::AbbrevMonthDayComma => format!("{} {day}, {y}", d.month_abbrev()),
            DateFormat::DayAbbrevYear => format!("{day} {} {y}", d.month_abbrev()),
            DateFormat::DayUpperAbbrevYear => format!("{day} {} {y}", d.month_abbrev().to_uppercase()),
            DateFormat::DayAbbrevShortYear => format!("{day} {} {:02}", d.month_abbrev(), d.yy()),
            DateFormat::TheOrdinalOf => format!("the {} of {}, {y}", d.ordinal(), d.month_name()),
            DateFormat::Dashed => format!("{day}-{m}-{y}"),
            DateFormat::Iso => d.iso(),
        }
    }
}

/// One generated example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatePair {
    /// The human-written date.
    pub human: String,
    /// `YYYY-MM-DD`.
    pub iso: String,
    /// The date.
    pub date: Date,
    /// The format `human` is written in.
    pub format: DateFormat,
}

/// `n` examples from the stream `seed`: a uniform day of 1950–2049 in a uniform format.
pub fn generate(n: usize, seed: u64) -> Vec<DatePair> {
    let rng = SeededRng::new(seed);
    let mut rng = rng.lock();
    let first = Date { year: FIRST_YEAR, month: 1, day: 1 }.days();
    let last = Date { year: LAST_YEAR, month: 12, day: 31 }.days();
    (0..n)
        .map(|_| {
            let date = Date::from_days(rng.random_range(first..=last));
            let format = DateFormat::ALL[rng.random_range(0..DateFormat::ALL.len())];
            DatePair { human: format.render(date), iso: date.iso(), date, format }
        })
        .collect()
}

/// A character vocabulary: special tokens first (ids `0..specials`), then one id per character.
#[derive(Clone, Debug)]
pub struct CharVocab {
    specials: Vec<&'static str>,
    chars: Vec<char>,
    index: HashMap<char, u32>,
    unknown: Option<u32>,
}

/// Padding id of both vocabularies.
pub const PAD: u32 = 0;
/// Unknown-character id of [`CharVocab::human`].
pub const UNK: u32 = 1;
/// Start id of [`CharVocab::machine`].
pub const BOS: u32 = 1;
/// End id of [`CharVocab::machine`].
pub const EOS: u32 = 2;

impl CharVocab {
    fn build(specials: Vec<&'static str>, chars: &str, unknown: Option<u32>) -> Self {
        let chars: Vec<char> = chars.chars().collect();
        let index = chars.iter().enumerate().map(|(i, &c)| (c, (specials.len() + i) as u32)).collect();
        Self { specials, chars, index, unknown }
    }

    /// The source side: `<pad>` (0), `<unk>` (1), then space, `,-./`, digits and both cases of the
    /// Latin letters; characters outside it encode as `<unk>`.
    pub fn human() -> Self {
        let chars = " ,-./0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        Self::build(vec!["<pad>", "<unk>"], chars, Some(UNK))
    }

    /// The target side: `<pad>` (0), `<bos>` (1), `<eos>` (2), then `-` and the digits.
    pub fn machine() -> Self {
        Self::build(vec!["<pad>", "<bos>", "<eos>"], "-0123456789", None)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.specials.len() + self.chars.len()
    }

    /// Whether there are no ids (never, with the constructors here).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The ids of `text`'s characters.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a character outside a vocabulary without `<unk>`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        text.chars()
            .map(|c| match (self.index.get(&c), self.unknown) {
                (Some(&id), _) => Ok(id),
                (None, Some(unk)) => Ok(unk),
                (None, None) => Err(Error::invalid("character", format!("{c:?} is not in the vocabulary"))),
            })
            .collect()
    }

    /// The text of `ids`, special tokens skipped.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an id past the vocabulary.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        let mut out = String::with_capacity(ids.len());
        for &id in ids {
            let i = id as usize;
            if i >= self.len() {
                return Err(Error::invalid(
                    "id",
                    format!("{id} is outside the vocabulary of {}", self.len()),
                ));
            }
            if let Some(&c) = i.checked_sub(self.specials.len()).and_then(|k| self.chars.get(k)) {
                out.push(c);
            }
        }
        Ok(out)
    }
}

/// One id sequence per example.
pub type IdLists = Vec<Vec<u32>>;

/// `pairs` as source and target id lists (human and machine vocabularies).
///
/// # Errors
/// [`Error::Invalid`] for an ISO string with a character outside the machine vocabulary.
pub fn encode_pairs(
    pairs: &[DatePair],
    human: &CharVocab,
    machine: &CharVocab,
) -> Result<(IdLists, IdLists)> {
    let src = pairs.iter().map(|p| human.encode(&p.human)).collect::<Result<Vec<_>>>()?;
    let tgt = pairs.iter().map(|p| machine.encode(&p.iso)).collect::<Result<Vec<_>>>()?;
    Ok((src, tgt))
}
