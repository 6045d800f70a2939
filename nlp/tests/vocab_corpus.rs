//! Tokeniser, vocabulary and the verse-file reader.

use dls_nlp::corpus::{parse_verses, read_verses};
use dls_nlp::vocab::{Tokenizer, Vocab, UNK};
use dls_nlp::Error;

#[test]
fn tokenizer_normalises_and_drops_punctuation() {
    let tok = Tokenizer::new();
    assert_eq!(
        tok.words("“Let there be LIGHT,” and ﬁre.").unwrap(),
        ["let", "there", "be", "light", "and", "fire"]
    );
    assert!(tok.words("  ... !").unwrap().is_empty());
}

#[test]
fn vocabulary_sorts_by_count_then_word_and_filters() {
    let s = vec![vec!["b", "a", "c", "a"], vec!["b", "d", "a"]];
    let v = Vocab::build(&s, 2).unwrap();
    assert_eq!(v.words(), ["a", "b"]);
    assert_eq!(v.counts(), [3, 2]);
    assert_eq!((v.total(), v.id("b"), v.id("c")), (5, Some(1), None));
    assert_eq!(v.encode(&["c", "b", "a"]), [1, 0]);
    let all = Vocab::build(&s, 1).unwrap();
    assert_eq!(all.words(), ["a", "b", "c", "d"]);
    assert!(matches!(Vocab::build(&s, 4), Err(Error::Empty(_))));
}

#[test]
fn word_level_tokenizer_maps_words_and_unknowns() {
    let tok = Tokenizer::new();
    let v = Vocab::build(&[tok.words("the light the dark").unwrap()], 1).unwrap();
    let wl = tok.with_vocab(&v).unwrap();
    let enc = wl.encode("The LIGHT shone", false).unwrap();
    assert_eq!(enc.get_ids(), [0, 2, 3]);
    assert_eq!(enc.get_tokens(), ["the", "light", UNK]);
}

#[test]
fn verse_files_parse_and_report_bad_lines() {
    let v =
        parse_verses("1Ki 2:3\tKeep the charge.\r\n\nGen 1:1\tIn the beginning.\n".as_bytes(), "t").unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!((v[0].book(), v[0].text.as_str()), ("1Ki", "Keep the charge."));
    match parse_verses("Gen 1:1\tok\nno tab here\n".as_bytes(), "t") {
        Err(Error::Format { line: Some(2), message, .. }) => assert!(message.contains("no tab")),
        other => panic!("{other:?}"),
    }
    match parse_verses(&b"Gen 1:1\tok\nGen 1:2\t\xff\n"[..], "t") {
        Err(Error::Format { line: Some(2), message, .. }) => {
            assert!(message.contains("invalid UTF-8 at byte 8"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_shipped_excerpt_reads_from_gzip() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/bible-excerpt.txt.gz");
    let verses = read_verses(path).unwrap();
    assert_eq!(verses.len(), 4000);
    assert_eq!(verses[0].reference, "Gen 1:1");
    assert_eq!(verses[3999].reference, "Num 10:11");
    assert!(matches!(read_verses("/nonexistent/file.gz"), Err(Error::Io { .. })));
}
