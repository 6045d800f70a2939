//! Word-vector files: round trips, files written by gensim 4.4.0, and malformed files.

use dls_nlp::vectors::io::{self, Format};
use dls_nlp::vectors::KeyedVectors;
use dls_nlp::Error;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/vectors").join(name)
}

fn sample() -> KeyedVectors {
    let words = ["the", "café", "god"].map(String::from).to_vec();
    KeyedVectors::new(words, 3, vec![0.5, -1.25, 2.0, 1e-3, 3.0, -0.75, 0.0, 0.1, 0.2]).unwrap()
}

// Written by gensim 4.4.0:
//   kv = KeyedVectors(vector_size=3)
//   kv.add_vectors(["the", "café", "god"], np.array([[0.5, -1.25, 2.0], [1e-3, 3.0, -0.75], [0.0, 0.1, 0.2]], dtype=np.float32))
//   kv.save_word2vec_format("gensim.bin", binary=True); kv.save_word2vec_format("gensim.txt", binary=False)
#[test]
fn files_written_by_gensim_load() {
    let want = sample();
    for (file, format) in [("gensim.bin", Format::Word2VecBinary), ("gensim.txt", Format::Word2VecText)] {
        let kv = io::load(fixture(file), None).unwrap();
        assert_eq!(kv.words(), want.words(), "{file}");
        assert_eq!(kv.data(), want.data(), "{file}");
        assert_eq!(Format::guess(&fixture(file), &std::fs::read(fixture(file)).unwrap()), format);
    }
}

#[test]
fn hand_written_binary_without_newlines_loads() {
    // gensim 4's layout: no newline after a vector; the C tool's: a newline. Both parse.
    for sep in [&b""[..], &b"\n"[..]] {
        let mut bytes = b"2 2\n".to_vec();
        for (w, v) in [("a", [1.0f32, -2.0]), ("bé", [0.25, 4.0])] {
            bytes.extend_from_slice(w.as_bytes());
            bytes.push(b' ');
            v.iter().for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
            bytes.extend_from_slice(sep);
        }
        let kv = io::parse_word2vec_binary(&bytes, "hand").unwrap();
        assert_eq!(kv.vector("bé").unwrap(), &[0.25, 4.0]);
        assert_eq!(kv.vector("a").unwrap(), &[1.0, -2.0]);
    }
}

#[test]
fn all_formats_round_trip_exactly() {
    let kv = sample();
    let dir = tempfile::tempdir().unwrap();
    for (name, format) in
        [("v.bin", Format::Word2VecBinary), ("v.txt", Format::Word2VecText), ("g.txt", Format::GloveText)]
    {
        let path = dir.path().join(name);
        io::save(&kv, &path, format).unwrap();
        let back = io::load(&path, None).unwrap();
        assert_eq!(back.words(), kv.words());
        assert_eq!(back.data(), kv.data());
    }
}

fn format_err(result: dls_nlp::Result<KeyedVectors>) -> (Option<usize>, String) {
    match result {
        Err(Error::Format { line, message, .. }) => (line, message),
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn malformed_text_files_name_the_line() {
    let cases: [(&[u8], Option<usize>, &str); 6] = [
        (b"2 2\na 1 2\nb 3\n", Some(3), "expected 2 values"),
        (b"3 2\na 1 2\nb 3 4\n", None, "promises 3 vectors, found 2"),
        (b"1 2\na 1 2\nb 3 4\n", Some(3), "more vectors"),
        (b"2 2\na 1 x\n", Some(2), "\"x\" is not a number"),
        (b"two 2\n", Some(1), "not a number"),
        (b"1 2\na 1 2\n\xffb 3 4\n", Some(3), "invalid UTF-8 at byte 10"),
    ];
    for (bytes, line, msg) in cases {
        let (got_line, got_msg) = format_err(io::parse_word2vec_text(bytes, "bad.txt"));
        assert_eq!(got_line, line, "{got_msg}");
        assert!(got_msg.contains(msg), "{got_msg:?} should contain {msg:?}");
    }
    let (line, msg) = format_err(io::parse_glove_text(b"a 1 2 3\nb 1 2\n", "bad.glove"));
    assert_eq!(line, Some(2));
    assert!(msg.contains("expected 3 values"), "{msg}");
}

#[test]
fn malformed_binary_files_name_the_byte() {
    let good = io::to_word2vec_binary(&sample());
    // Truncated inside the last vector: header 4 bytes, "the " + 12, "\n", "café " (6) + 12, "\n" (byte 39), "god " (40..44) + 12.
    let (_, msg) = format_err(io::parse_word2vec_binary(&good[..good.len() - 3], "cut.bin"));
    assert!(msg.contains("vector 2 (\"god\") truncated at byte 44"), "{msg}");
    // A header promising more than the file can hold is refused before allocating.
    let (_, msg) = format_err(io::parse_word2vec_binary(b"1000000000 300\nx ", "huge.bin"));
    assert!(msg.contains("header promises 1000000000 vectors"), "{msg}");
    // Bad UTF-8 in the second word (starts at byte 4 + 16 + 1 = 21).
    let mut bad = good.clone();
    bad[21] = 0xff;
    let (_, msg) = format_err(io::parse_word2vec_binary(&bad, "utf8.bin"));
    assert!(msg.contains("vector 1: word is not UTF-8 at byte 21"), "{msg}");
    let (line, _) = format_err(io::parse_word2vec_binary(b"3 x\n", "hdr.bin"));
    assert_eq!(line, Some(1));
    let (_, msg) = format_err(io::parse_word2vec_binary(&[good.as_slice(), b"zz"].concat(), "tail.bin"));
    assert!(msg.contains("after the last vector at byte 57"), "{msg}");
}

#[test]
fn duplicate_words_are_rejected() {
    let (_, msg) = format_err(io::parse_word2vec_text(b"2 1\na 1\na 2\n", "dup.txt"));
    assert!(msg.contains("\"a\" appears twice"), "{msg}");
}
