//! BPE subword vocabularies: training, special tokens, encode/decode round trips, save/load, and
//! clear errors for bad input.

use dls_nlp::bpe::{Bpe, Config, SPECIALS};
use dls_nlp::Error;

const TEXT: &str = "In the beginning God created the heavens and the earth.
The earth was formless and empty. Darkness was on the surface of the deep.
God's Spirit was hovering over the surface of the waters.
God said, \"Let there be light,\" and there was light.
God saw the light, and saw that it was good. God divided the light from the darkness.
God called the light \"day\", and the darkness he called \"night\".
There was evening and there was morning, the first day.";

fn lines() -> Vec<&'static str> {
    TEXT.lines().collect::<Vec<_>>().repeat(5)
}

fn config() -> Config {
    Config { vocab_size: 120, ..Config::default() }
}

#[test]
fn trains_a_vocabulary_with_fixed_special_ids() {
    let bpe = Bpe::train(lines().iter(), &config()).unwrap();
    for (id, token) in SPECIALS.iter().enumerate() {
        assert_eq!(bpe.token_to_id(token), Some(id as u32));
        assert_eq!(bpe.id_to_token(id as u32).as_deref(), Some(*token));
    }
    assert_eq!(bpe.vocab_size(), 120);
    // Frequent words become single pieces with the word-start marker.
    assert_eq!(bpe.tokens("the light").unwrap(), ["▁the", "▁light"]);
    // A word never seen is spelled from learned pieces.
    let pieces = bpe.tokens("lightday").unwrap();
    assert!(pieces.len() >= 2 && pieces[0] == "▁light", "{pieces:?}");
}

#[test]
fn encode_decode_round_trip() {
    let bpe = Bpe::train(lines().iter(), &config()).unwrap();
    for s in ["God saw the light.", "the deep waters were dark", "Darkness, evening, \"night\".", "fog"] {
        let ids = bpe.encode(s, false).unwrap();
        assert!(!ids.contains(&bpe.unk_id()), "{s}: {ids:?}");
        assert_eq!(bpe.decode(&ids, false).unwrap(), s);
        let wrapped = bpe.encode(s, true).unwrap();
        assert_eq!(wrapped.len(), ids.len() + 2);
        assert_eq!((wrapped[0], wrapped[wrapped.len() - 1]), (bpe.bos_id(), bpe.eos_id()));
        assert_eq!(&wrapped[1..wrapped.len() - 1], ids.as_slice());
        assert_eq!(bpe.decode(&wrapped, true).unwrap(), s);
    }
    // A character never seen in training becomes <unk>.
    let ids = bpe.encode("God ž", false).unwrap();
    assert_eq!(ids.last(), Some(&bpe.unk_id()));
    assert!(bpe.decode(&[bpe.vocab_size() as u32], false).is_err());
}

#[test]
fn save_load_and_files() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("a.txt");
    std::fs::write(&corpus, lines().join("\n")).unwrap();
    let from_files = Bpe::train_from_files(&[&corpus], &config()).unwrap();
    let from_iter = Bpe::train(lines().iter(), &config()).unwrap();
    let s = "and God said, let the earth bring forth grass.";
    assert_eq!(from_files.encode(s, true).unwrap(), from_iter.encode(s, true).unwrap());

    let path = dir.path().join("tokenizer.json");
    from_files.save(&path).unwrap();
    let loaded = Bpe::load(&path).unwrap();
    assert_eq!(loaded.vocab_size(), from_files.vocab_size());
    assert_eq!(loaded.encode(s, true).unwrap(), from_files.encode(s, true).unwrap());
    assert_eq!(loaded.decode(&loaded.encode(s, true).unwrap(), true).unwrap(), s);
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.txt");
    assert!(
        matches!(Bpe::train_from_files(&[&missing], &config()), Err(Error::Io { path, .. }) if path == missing)
    );
    assert!(matches!(Bpe::load(&missing), Err(Error::Io { path, .. }) if path == missing));
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9 au lait").unwrap();
    let err = Bpe::train_from_files(&[&latin1], &config()).unwrap_err().to_string();
    assert!(err.contains("latin1.txt") && err.contains("invalid UTF-8 at byte 3"), "{err}");
    let corrupt = dir.path().join("corrupt.json");
    std::fs::write(&corrupt, "{\"model\": ").unwrap();
    let err = Bpe::load(&corrupt).unwrap_err().to_string();
    assert!(err.contains("corrupt.json") && err.contains("not a tokenizer JSON file"), "{err}");
    // A valid tokenizer JSON without our special tokens (a word-level model) is refused by name.
    let vocab = dls_nlp::vocab::Vocab::build(&[vec!["a", "b"]], 1).unwrap();
    let word_level = dls_nlp::vocab::Tokenizer::new().with_vocab(&vocab).unwrap();
    let other = dir.path().join("word-level.json");
    word_level.save(&other, false).unwrap();
    let err = Bpe::load(&other).unwrap_err().to_string();
    assert!(err.contains("special token <pad> should have id 0"), "{err}");
    assert!(matches!(
        Bpe::train(lines().iter(), &Config { vocab_size: 4, ..config() }),
        Err(Error::Invalid { what, .. }) if what == "vocab_size"
    ));
    assert!(matches!(Bpe::train(["", ""].iter(), &config()), Err(Error::Empty(_))));
    assert!(matches!(Bpe::train_from_files::<&str>(&[], &config()), Err(Error::Empty(_))));
}
