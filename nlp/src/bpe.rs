//! Byte-pair-encoding subword vocabularies (Sennrich et al., 2016) trained with the `tokenizers`
//! crate, for the translation models.
//!
//! Text is NFKC-normalised (case kept) and split at spaces SentencePiece-style: each word gets a
//! leading `▁`, so decoding joins the pieces and turns `▁` back into spaces, and
//! `decode(encode(s)) == s` for normalised text with single spaces. The special tokens come first,
//! with fixed ids: `<pad>` 0, `<s>` 1, `</s>` 2, `<unk>` 3 (characters never seen in training map
//! to `<unk>`). With `add_special`, [`Bpe::encode`] wraps a sentence as `<s> ... </s>`.
//!
//! ```
//! use dls_nlp::bpe::{Bpe, Config};
//! let text = ["the lower the newer", "the newest and the lowest"].repeat(20);
//! let bpe = Bpe::train(text.iter(), &Config { vocab_size: 40, ..Config::default() })?;
//! assert_eq!((bpe.pad_id(), bpe.bos_id(), bpe.eos_id(), bpe.unk_id()), (0, 1, 2, 3));
//! let ids = bpe.encode("the newest", true)?;
//! assert_eq!((ids[0], ids[ids.len() - 1]), (1, 2));
//! assert_eq!(bpe.decode(&ids, true)?, "the newest");
//! assert!(bpe.vocab_size() <= 40);
//! # Ok::<(), dls_nlp::Error>(())
//! ```

use std::path::Path;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{BpeTrainer, BPE};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::normalizers::NFKC;
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{AddedToken, Tokenizer};

use crate::{Error, Result};

/// The padding token (id 0).
pub const PAD: &str = "<pad>";
/// The start-of-sentence token (id 1).
pub const BOS: &str = "<s>";
/// The end-of-sentence token (id 2).
pub const EOS: &str = "</s>";
/// The unknown-character token (id 3).
pub const UNK: &str = "<unk>";
/// The special tokens in id order.
pub const SPECIALS: [&str; 4] = [PAD, BOS, EOS, UNK];

fn tok_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::invalid(what, e.to_string())
}

/// Training settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Largest vocabulary, special tokens and the initial characters included.
    pub vocab_size: usize,
    /// Pairs seen fewer times are not merged.
    pub min_frequency: u64,
    /// Most distinct initial characters kept (the rarest beyond it become `<unk>`).
    pub limit_alphabet: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Self { vocab_size: 8000, min_frequency: 2, limit_alphabet: Some(1000) }
    }
}

/// A trained BPE tokenizer with the special tokens of the module docs.
#[derive(Clone, Debug)]
pub struct Bpe {
    tokenizer: Tokenizer,
}

impl Bpe {
    fn untrained(config: &Config) -> Result<(Tokenizer, TrainerWrapper)> {
        if config.vocab_size <= SPECIALS.len() {
            return Err(Error::invalid(
                "vocab_size",
                format!("must exceed the {} special tokens, got {}", SPECIALS.len(), config.vocab_size),
            ));
        }
        let model = BPE::builder().unk_token(UNK.to_string()).build().map_err(|e| tok_err("bpe model", e))?;
        let mut tokenizer = Tokenizer::new(model);
        let metaspace = Metaspace::new('▁', PrependScheme::Always, true);
        tokenizer.with_normalizer(Some(NFKC)).map_err(|e| tok_err("bpe normalizer", e))?;
        tokenizer
            .with_pre_tokenizer(Some(metaspace.clone()))
            .with_decoder(Some(DecoderWrapper::Metaspace(metaspace)));
        let specials = SPECIALS.iter().map(|t| AddedToken::from(t.to_string(), true)).collect();
        let mut builder = BpeTrainer::builder()
            .vocab_size(config.vocab_size)
            .min_frequency(config.min_frequency)
            .show_progress(false)
            .special_tokens(specials);
        if let Some(limit) = config.limit_alphabet {
            builder = builder.limit_alphabet(limit);
        }
        Ok((tokenizer, TrainerWrapper::BpeTrainer(builder.build())))
    }

    /// Adds the `<s> $A </s>` template and checks the special tokens' ids.
    fn finish(mut tokenizer: Tokenizer, name: &str) -> Result<Self> {
        for (id, token) in SPECIALS.iter().enumerate() {
            let got = tokenizer.token_to_id(token);
            if got != Some(id as u32) {
                return Err(Error::format(
                    name,
                    None,
                    format!("special token {token} should have id {id}, found {got:?}"),
                ));
            }
        }
        if !matches!(tokenizer.get_model(), ModelWrapper::BPE(_)) {
            return Err(Error::format(name, None, "the tokenizer's model is not BPE"));
        }
        let template = TemplateProcessing::builder()
            .try_single(format!("{BOS} $A {EOS}"))
            .map_err(|e| tok_err("template", e))?
            .special_tokens(vec![(BOS, 1), (EOS, 2)])
            .build()
            .map_err(|e| tok_err("template", e))?;
        tokenizer.with_post_processor(Some(template));
        Ok(Self { tokenizer })
    }

    /// Trains on an iterator of texts (sentences or lines).
    ///
    /// # Errors
    /// [`Error::Invalid`] for a vocabulary size not above the 4 special tokens or if `tokenizers`
    /// fails; [`Error::Empty`] if the texts hold no characters.
    pub fn train<I, S>(texts: I, config: &Config) -> Result<Self>
    where
        I: Iterator<Item = S> + Send,
        S: AsRef<str> + Send,
    {
        let (mut tokenizer, mut trainer) = Self::untrained(config)?;
        tokenizer.train(&mut trainer, texts).map_err(|e| tok_err("bpe training", e))?;
        if tokenizer.get_vocab_size(true) <= SPECIALS.len() {
            return Err(Error::Empty("bpe training: the texts hold no characters".into()));
        }
        Self::finish(tokenizer, "trained tokenizer")
    }

    /// Trains on UTF-8 text files, one text per line.
    ///
    /// # Errors
    /// [`Error::Io`] naming a file that cannot be read, [`Error::Format`] for one that is not
    /// UTF-8, and the errors of [`Bpe::train`].
    pub fn train_from_files<P: AsRef<Path>>(files: &[P], config: &Config) -> Result<Self> {
        if files.is_empty() {
            return Err(Error::Empty("bpe training: no files given".into()));
        }
        let mut texts = Vec::with_capacity(files.len());
        for path in files {
            let path = path.as_ref();
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let text = String::from_utf8(bytes).map_err(|e| {
                let at = e.utf8_error().valid_up_to();
                Error::format(path.display().to_string(), None, format!("invalid UTF-8 at byte {at}"))
            })?;
            texts.push(text);
        }
        Self::train(texts.iter().flat_map(|t| t.lines()), config)
    }

    /// Loads a tokenizer saved by [`Bpe::save`] (the `tokenizers` JSON format).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be read, [`Error::Format`] if it is not a tokenizer JSON,
    /// its model is not BPE, or its special tokens are missing or have other ids.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let tokenizer: Tokenizer = text
            .parse()
            .map_err(|e| Error::format(&name, None, format!("not a tokenizer JSON file: {e}")))?;
        Self::finish(tokenizer, &name)
    }

    /// Saves the tokenizer as `tokenizers` JSON (loadable by the Python `tokenizers` package too).
    ///
    /// # Errors
    /// [`Error::Io`] if the file cannot be written.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let json = self.tokenizer.to_string(true).map_err(|e| tok_err("tokenizer JSON", e))?;
        std::fs::write(path, json).map_err(|e| Error::io(path, e))
    }

    /// The ids of `text`, wrapped in `<s> ... </s>` when `add_special`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `tokenizers` fails.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>> {
        let enc = self.tokenizer.encode(text, add_special).map_err(|e| tok_err("bpe encode", e))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The subword pieces of `text` (without special tokens).
    ///
    /// # Errors
    /// [`Error::Invalid`] if `tokenizers` fails.
    pub fn tokens(&self, text: &str) -> Result<Vec<String>> {
        let enc = self.tokenizer.encode(text, false).map_err(|e| tok_err("bpe encode", e))?;
        Ok(enc.get_tokens().to_vec())
    }

    /// The text of `ids`, special tokens dropped when `skip_special`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an id outside the vocabulary.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String> {
        let n = self.vocab_size();
        if let Some(bad) = ids.iter().find(|&&i| i as usize >= n) {
            return Err(Error::invalid("ids", format!("id {bad} is outside the vocabulary of {n}")));
        }
        self.tokenizer.decode(ids, skip_special).map_err(|e| tok_err("bpe decode", e))
    }

    /// The vocabulary size, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// The id of a piece, if in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tokenizer.token_to_id(token)
    }

    /// The piece of an id, if in the vocabulary.
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// The id of `<pad>` (0).
    pub fn pad_id(&self) -> u32 {
        0
    }

    /// The id of `<s>` (1).
    pub fn bos_id(&self) -> u32 {
        1
    }

    /// The id of `</s>` (2).
    pub fn eos_id(&self) -> u32 {
        2
    }

    /// The id of `<unk>` (3).
    pub fn unk_id(&self) -> u32 {
        3
    }

    /// The underlying `tokenizers` tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}
