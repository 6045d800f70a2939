//! Parallel verse files, the by-chapter split and length shards (`dls_nlp::translate`).

use std::io::Write;

use dls_nlp::classify::Reference;
use dls_nlp::translate::{length_shards, parse_pairs, read_pairs, split_chapters};
use dls_nlp::Error;

fn refs(chapters: &[(&str, u32, u32)]) -> Vec<Reference> {
    chapters
        .iter()
        .flat_map(|&(book, chapter, verses)| {
            (1..=verses).map(move |verse| Reference { book: book.to_string(), chapter, verse })
        })
        .collect()
}

#[test]
fn parses_plain_and_gzip_files() -> anyhow::Result<()> {
    let text = "Gen 1:1\tIn the beginning.\tEN el principio.\r\n\n1John 5:7\tFor there are three.\tPorque tres son.\n";
    let pairs = parse_pairs(text.as_bytes(), "inline")?;
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[1].reference, Reference { book: "1John".into(), chapter: 5, verse: 7 });
    assert_eq!(
        (pairs[0].source.as_str(), pairs[0].target.as_str()),
        ("In the beginning.", "EN el principio.")
    );

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("pairs.tsv.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes())?;
    std::fs::write(&path, gz.finish()?)?;
    assert_eq!(read_pairs(&path)?, pairs);
    Ok(())
}

#[test]
fn bad_lines_name_the_line_and_the_fault() {
    let cases = [
        ("Gen 1:1\tonly english\n", 1, "expected 3 tab-separated fields"),
        ("Gen 1:1\ta\tb\n\nGen 1:2\ta\tb\tc\n", 3, "found 4"),
        ("Gen 1\ta\tb\n", 1, "no colon"),
        ("Gen 1:1\ta\t  \n", 1, "Gen 1:1: empty target text"),
        ("Gen 1:1\t\tb\n", 1, "empty source text"),
    ];
    for (text, line, needle) in cases {
        match parse_pairs(text.as_bytes(), "bad.tsv") {
            Err(Error::Format { path, line: Some(l), message }) => {
                assert_eq!((path.as_str(), l), ("bad.tsv", line), "{text:?}");
                assert!(message.contains(needle), "{text:?}: {message}");
            }
            other => panic!("{text:?}: expected a format error, got {other:?}"),
        }
    }
    let bytes = [b'G', b'e', b'n', b' ', b'1', b':', b'1', b'\t', 0xff, b'\t', b'b'];
    assert!(matches!(parse_pairs(&bytes, "x"), Err(Error::Format { line: Some(1), .. })));
    assert!(matches!(parse_pairs(b"\n\n", "x"), Err(Error::Empty(_))));
    assert!(matches!(parse_pairs(&[0x1f, 0x8b, 1, 2, 3], "x"), Err(Error::Io { .. })));
    assert!(matches!(read_pairs("/no/such/file.tsv"), Err(Error::Io { .. })));
}

#[test]
fn split_keeps_chapters_whole_and_counts_only_kept_verses() -> anyhow::Result<()> {
    // Eight chapters of five verses; every third verse is too long (not kept).
    let refs = refs(&(1..=8).map(|c| ("Ps", c, 5)).collect::<Vec<_>>());
    let keep: Vec<bool> = (0..refs.len()).map(|i| i % 3 != 2).collect();
    let split = split_chapters(&refs, &keep, 4, 6, 7)?;
    assert_eq!((split.dev.len(), split.test.len()), (4, 6));
    let chapter = |i: &usize| refs[*i].chapter;
    for part in [&split.train, &split.dev, &split.test] {
        assert!(part.iter().all(|&i| keep[i]));
        assert!(part.windows(2).all(|w| w[0] < w[1]));
    }
    // No chapter appears in two parts.
    for (a, b) in [(&split.train, &split.dev), (&split.train, &split.test), (&split.dev, &split.test)] {
        assert!(a.iter().all(|i| !b.iter().any(|j| chapter(i) == chapter(j))));
    }
    // Kept verses are all assigned except the ones past a held-out part's cut.
    let kept = keep.iter().filter(|&&k| k).count();
    let dealt = split.train.len() + split.dev.len() + split.test.len();
    assert!(dealt <= kept && kept - dealt < 2 * 4, "{dealt} of {kept}");
    // Same seed, same split; another seed, another one.
    assert_eq!(split_chapters(&refs, &keep, 4, 6, 7)?, split);
    assert_ne!(split_chapters(&refs, &keep, 4, 6, 8)?, split);
    Ok(())
}

#[test]
fn split_errors_and_short_parts() -> anyhow::Result<()> {
    let refs = refs(&[("Jude", 1, 3)]);
    assert!(matches!(
        split_chapters(&refs, &[true, true], 1, 1, 0),
        Err(Error::Length { expected: 3, got: 2, .. })
    ));
    assert!(matches!(split_chapters(&[], &[], 1, 1, 0), Err(Error::Empty(_))));
    // One chapter cannot fill both parts: test takes what it asks for, dev and train stay empty.
    let split = split_chapters(&refs, &[true; 3], 5, 2, 0)?;
    assert_eq!((split.train.len(), split.dev.len(), split.test), (0, 0, vec![0, 1]));
    Ok(())
}

#[test]
fn shards_group_similar_lengths_and_cover_every_item() -> anyhow::Result<()> {
    let lengths: Vec<usize> = (0..23).map(|i| (i * 7) % 11).collect();
    let shards = length_shards(&lengths, 5, 3)?;
    assert_eq!(shards.iter().map(Vec::len).sum::<usize>(), 23);
    assert_eq!(shards.len(), 5);
    let mut all: Vec<usize> = shards.concat();
    all.sort_unstable();
    assert_eq!(all, (0..23).collect::<Vec<_>>());
    // Shards are contiguous runs of the sorted lengths: their ranges do not interleave.
    let mut ranges: Vec<(usize, usize)> = shards
        .iter()
        .map(|s| {
            let l = s.iter().map(|&i| lengths[i]);
            (l.clone().min().unwrap_or(0), l.max().unwrap_or(0))
        })
        .collect();
    ranges.sort_unstable();
    assert!(ranges.windows(2).all(|w| w[0].1 <= w[1].0), "{ranges:?}");
    assert_eq!(length_shards(&lengths, 5, 3)?, shards);
    assert_ne!(length_shards(&lengths, 5, 4)?, shards);
    assert!(matches!(length_shards(&lengths, 0, 3), Err(Error::Invalid { .. })));
    assert!(length_shards(&[], 4, 0)?.is_empty());
    Ok(())
}
