//! The date-normalisation data: calendar arithmetic, every format, seeded generation and the two
//! character vocabularies.

use std::collections::HashSet;

use dls_nlp::dates::{encode_pairs, generate, CharVocab, Date, DateFormat, EOS, PAD, UNK};
use dls_nlp::Error;

#[test]
fn days_since_epoch_match_python() -> anyhow::Result<()> {
    // python3: (date(y, m, d) - date(1970, 1, 1)).days and .strftime('%A')
    let cases = [
        ((1970, 1, 1), 0, 3),       // Thursday
        ((2000, 3, 1), 11017, 2),   // Wednesday
        ((1950, 1, 1), -7305, 6),   // Sunday
        ((2049, 12, 31), 29219, 4), // Friday
        ((1900, 2, 28), -25509, 2), // Wednesday
        ((2007, 7, 10), 13704, 1),  // Tuesday (the course's example)
    ];
    for ((y, m, d), days, weekday) in cases {
        let date = Date::new(y, m, d)?;
        assert_eq!(date.days(), days, "{date:?}");
        assert_eq!(date.weekday(), weekday, "{date:?}");
        assert_eq!(Date::from_days(days), date);
    }
    Ok(())
}

#[test]
fn every_day_round_trips_and_is_valid() -> anyhow::Result<()> {
    let first = Date::new(1950, 1, 1)?.days();
    let mut prev = Date::from_days(first - 1);
    for days in first..=Date::new(2049, 12, 31)?.days() {
        let d = Date::from_days(days);
        assert_eq!(d.days(), days);
        assert_eq!(Date::new(d.year, d.month, d.day)?, d);
        assert!(d > prev);
        prev = d;
    }
    Ok(())
}

#[test]
fn impossible_dates_are_rejected() -> anyhow::Result<()> {
    assert!(Date::new(2000, 2, 29).is_ok()); // 2000 is a leap year (divisible by 400)
    for (y, m, d) in [(1900, 2, 29), (2001, 2, 29), (2001, 4, 31), (2001, 13, 1), (2001, 0, 1), (2001, 1, 0)]
    {
        match Date::new(y, m, d) {
            Err(Error::Invalid { what, .. }) => assert_eq!(what, "date"),
            other => panic!("{y}-{m}-{d}: expected an invalid-date error, got {other:?}"),
        }
    }
    Ok(())
}

#[test]
fn every_format_renders_as_documented() -> anyhow::Result<()> {
    let d = Date::new(2001, 7, 3)?; // a Tuesday
    let expected = [
        "3 July 2001",
        "03 July 2001",
        "3 july 2001",
        "Tuesday, 3 July 2001",
        "Tue, 3 Jul 2001",
        "7/3/01",
        "07/03/2001",
        "03.07.2001",
        "03.07.01",
        "july 3rd 2001",
        "July 3, 2001",
        "Jul 3, 2001",
        "3 Jul 2001",
        "3 JUL 2001",
        "3 Jul 01",
        "the 3rd of July, 2001",
        "3-7-2001",
        "2001-07-03",
    ];
    for (f, want) in DateFormat::ALL.iter().zip(expected) {
        assert_eq!(f.render(d), want, "{f:?}");
    }
    assert_eq!(DateFormat::UsShort.render(Date::new(1968, 5, 30)?), "5/30/68");
    assert_eq!(DateFormat::WeekdayDayMonthYear.render(Date::new(2007, 7, 10)?), "Tuesday, 10 July 2007");
    Ok(())
}

#[test]
fn ordinals_follow_english() -> anyhow::Result<()> {
    let want = [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (30, "30th"),
        (31, "31st"),
    ];
    for (day, ord) in want {
        assert_eq!(DateFormat::LowerOrdinal.render(Date::new(2001, 1, day)?), format!("january {ord} 2001"));
    }
    Ok(())
}

#[test]
fn generation_is_seeded_and_covers_every_format() -> anyhow::Result<()> {
    let a = generate(2000, 5);
    assert_eq!(a, generate(2000, 5));
    assert_ne!(a, generate(2000, 6));
    let formats: HashSet<_> = a.iter().map(|p| p.format).collect();
    assert_eq!(formats.len(), DateFormat::ALL.len());
    for p in &a {
        assert!((1950..=2049).contains(&p.date.year), "{p:?}");
        assert_eq!(p.iso, p.date.iso());
        assert_eq!(p.human, p.format.render(p.date));
        assert!(p.human.len() <= 30, "{p:?}");
    }
    // Years are spread over the century: both halves appear often.
    let before_2000 = a.iter().filter(|p| p.date.year < 2000).count();
    assert!((800..1200).contains(&before_2000), "{before_2000}");
    Ok(())
}

#[test]
fn vocabularies_encode_and_decode() -> anyhow::Result<()> {
    let (human, machine) = (CharVocab::human(), CharVocab::machine());
    assert_eq!(human.len(), 2 + 5 + 10 + 52);
    assert_eq!(machine.len(), 3 + 11);
    let ids = human.encode("Tue, 3 Jul 2001")?;
    assert!(ids.iter().all(|&i| i != PAD && i != UNK));
    assert_eq!(human.decode(&ids)?, "Tue, 3 Jul 2001");
    // Unknown characters become <unk> on the human side and are errors on the machine side.
    assert_eq!(human.encode("é")?, vec![UNK]);
    assert!(matches!(machine.encode("2001/07/03"), Err(Error::Invalid { .. })));
    let iso = machine.encode("2001-07-03")?;
    assert_eq!(iso.len(), 10);
    let mut with_eos = iso.clone();
    with_eos.push(EOS);
    assert_eq!(machine.decode(&with_eos)?, "2001-07-03");
    assert!(matches!(machine.decode(&[99]), Err(Error::Invalid { .. })));
    let (src, tgt) = encode_pairs(&generate(10, 1), &human, &machine)?;
    assert_eq!((src.len(), tgt.len()), (10, 10));
    assert!(tgt.iter().all(|t| t.len() == 10));
    Ok(())
}
