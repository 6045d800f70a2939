//! BLEU against sacrebleu 2.6.0: tokeniser strings, corpus and sentence scores.
//!
//! The expected values in `fixtures/bleu_cases.json` were produced by the script below (a venv
//! with `pip install sacrebleu==2.6.0`; the Bible verses are the public-domain World English
//! Bible, copied into the fixture so the tests need nothing else):
//!
//! ```text
//! python gen_bleu_fixture.py ../shared/data/text/web-en.txt.gz nlp/tests/fixtures/bleu_cases.json
//! ```
//!
// """Writes nlp/tests/fixtures/bleu_cases.json from sacrebleu 2.6.0 (pip install sacrebleu==2.6.0).
//
// Usage: python gen_bleu_fixture.py ../shared/data/text/web-en.txt.gz nlp/tests/fixtures/bleu_cases.json
// """
// import gzip, json, logging, random, sys
//
// import sacrebleu
// from sacrebleu.metrics import BLEU
//
// logging.getLogger("sacrebleu").setLevel(logging.ERROR)
// assert sacrebleu.__version__ == "2.6.0", sacrebleu.__version__
//
//
// def perturb(words, rng, rate):
//     """Drops, swaps, duplicates and replaces words of a verse (a stand-in for MT output)."""
//     fillers = ["the", "and", "of", "people", "said", "Lord", "land", "they", "him", "."]
//     out = []
//     for w in words:
//         r = rng.random()
//         if r < rate * 0.3:
//             continue  # drop
//         if r < rate * 0.5:
//             out.append(rng.choice(fillers))  # replace
//         elif r < rate * 0.6:
//             out.extend([w, w])  # duplicate
//         else:
//             out.append(w)
//     for _ in range(int(len(out) * rate * 0.3)):
//         if len(out) > 1:
//             i = rng.randrange(len(out) - 1)
//             out[i], out[i + 1] = out[i + 1], out[i]
//     if rng.random() < 0.3 and out:
//         out[0] = out[0].lower()
//     return " ".join(out)
//
//
// def bible_corpus(path, n=30):
//     with gzip.open(path, "rt", encoding="utf-8") as f:
//         verses = [line.rstrip("\n").split("\t", 1)[1] for line in f]
//     picked = [verses[(i * 937 + 11) % len(verses)] for i in range(n)]
//     rng = random.Random(28)
//     hyps = [perturb(v.split(), rng, 0.35) for v in picked]
//     ref2 = [perturb(v.split(), rng, 0.15) for v in picked]
//     return {"hyps": hyps, "refs": [picked, ref2]}
//
//
// TRICKY = [
//     ("It costs $1,000.50, not 1.000,50 €.", "It costs $1,000.50 -- not €1.000,50.", "The price is $1,000.50."),
//     ("&quot;Hello&quot; said the man &amp; his dog &lt;3 &gt; &amp;lt;", "\"Hello,\" said the man & his dog.", "&quot;Hi&quot; said a man"),
//     ("The well-known 1990-2000 period<skipped> ended.", "The well- known 1990 - 2000 era ended.", "The well-known period 1990-2000 ended."),
//     ("Line one-\nline two\nline three", "Line oneline two line three", "Line one line two"),
//     ("Version 3.14 of e.g. U.S.A. items, 5,6 and 7.", "Version 3.14 of the U.S.A. items: 5, 6 and 7.", "version 3 . 14 , e.g."),
//     ("«Bonjour», dit-il… Ça coûte 5€ — vraiment?!", "« Bonjour » dit-il... Ça coûte 5 € – vraiment ?", "«Bonjour», dit-il. Ça coûte 5€!"),
//     ("x ≥ 2 ± 0.5, ∑ © ™ ° 100% ½ Ⅻ", "x≥2±0.5 ∑©™° 100 % ½Ⅻ", "x ≥ 2"),
//     ("3.5% of 1,234 people (aged 18-25) said: \"no.\"", "3.5 % of 1,234 people (aged 18 - 25) said \"no\".", "Of 1,234 people 3.5% said no."),
//     ("tab\tseparated\u00a0nbsp\u2009thin\u3000ideographic\u001funit\u200bzw", "tab separated nbsp thin ideographic unit\u200bzw", "tab separated"),
//     ("ΟΔΥΣΣΕΥΣ ΚΑΙ ΑΣ İstanbul ŞEHİR STRASSE Straße", "Οδυσσευς και ας İstanbul şehir strasse Straße", "ΟΔΥΣΣΕΥΣ"),
//     ("Don't stop 'til it's done; rock'n'roll!", "Don't stop until it is done; rock 'n' roll!", "don't stop"),
//     ("   ends with spaces   \t ", "ends with spaces", "  ends  with  spaces"),
//     ("٣.١٤ and ٣،١٤ and 3.14, ٣٫١٤.", "٣.١٤ and ٣، ١٤ and 3.14 , ٣٫١٤ .", "3.14"),
//     ("Wait... what?! ...yes. 2010. .5 5. ,5 5,", "Wait ... what ? ! ... yes . 2010 . .5", "wait what yes 2010"),
//     ("[citation needed] {braces} <tags> a/b a\\b a|b a~b a^b a_b a`b a@b a#b", "[ citation needed ] { braces } < tags > a / b", "citation needed"),
//     ("", "An empty hypothesis gets nothing.", "Nothing at all."),
//     ("¿Qué? ¡Sí! «Ja» „Nein“ ‹oui› 『はい』 【注】", "¿ Qué ? ¡ Sí ! « Ja » „ Nein “", "Qué Sí Ja Nein"),
//     ("a-1 1-a 1-1 -1 1- a--b 2.-3 x.,y", "a - 1 1 - a 1 - 1", "a-1 1-a"),
// ]
//
// CJK = [
//     ("我喜欢吃苹果。", "我很喜欢吃苹果！", "我爱吃苹果。"),
//     ("今日は良い天気ですね。", "今日はいい天気ですね。", "良い天気です。"),
//     ("北京是中国的首都", "中国的首都是北京", "北京是首都"),
//     ("GPT-4 模型在 2023 年发布。", "GPT-4模型于2023年发布。", "模型 发布"),
//     ("안녕하세요 세계", "안녕 세계", "세계여 안녕하세요"),
//     ("東京タワーは333メートルです", "東京タワーの高さは３３３メートル", "東京タワー"),
// ]
//
// SMALL = {
//     "empty_hyps": {"hyps": ["", ""], "refs": [["one two three", "four five"], ["one two", "six"]]},
//     "no_match": {"hyps": ["alpha beta gamma", "delta epsilon"], "refs": [["one two three four", "five six"], ["seven eight", "nine ten eleven"]]},
//     "long_hyp": {
//         "hyps": ["the cat sat on the mat and then it sat on the chair and then it slept", "a b c d e f g h"],
//         "refs": [["the cat sat on the mat", "a b c"], ["a cat sat on a mat today", "a b c d"]],
//     },
//     # hypothesis lengths 4 and 5 sit half-way between the two references: the shorter one counts.
//     "length_tie": {
//         "hyps": ["w x y z", "p q r s t"],
//         "refs": [["w x y z a b", "p q r s t u v"], ["w x", "p q r"]],
//     },
//     "short_orders": {"hyps": ["yes", "no way"], "refs": [["yes", "no way"], ["yes indeed", "no"]]},
//     "empty_ref_line": {"hyps": ["something here", "the same words"], "refs": [["", "the same words"], ["something", ""]]},
// }
//
//
// def columns(rows):
//     return {"hyps": [r[0] for r in rows], "refs": [[r[1] for r in rows], [r[2] for r in rows]]}
//
//
// def stats_of(bleu, hyps, refs):
//     stats = bleu._extract_corpus_statistics(hyps, refs)
//     total = [sum(col) for col in zip(*stats)]
//     o = bleu.max_ngram_order
//     return total[0], total[1], total[2:2 + o], total[2 + o:]
//
//
// def result(bleu, score, hyps, refs, smooth):
//     sys_len, ref_len, counts, totals = stats_of(bleu, hyps, refs)
//     assert (sys_len, ref_len) == (score.sys_len, score.ref_len)
//     if smooth != "add-k":
//         assert list(counts) == list(score.counts) and list(totals) == list(score.totals)
//     return {
//         "score": score.score, "bp": score.bp, "ratio": score.ratio, "sys_len": score.sys_len,
//         "ref_len": score.ref_len, "counts": counts, "totals": totals,
//         "precisions": list(score.precisions), "signature": str(bleu.get_signature()), "line": str(score),
//     }
//
//
// def main(bible_path, out_path):
//     corpora = {"bible": bible_corpus(bible_path), "tricky": columns(TRICKY), "cjk": columns(CJK), **SMALL}
//     corpus_cases, sentence_cases = [], []
//     for name, c in corpora.items():
//         for tok in ["13a", "intl", "char", "none"]:
//             for smooth in ["exp", "floor", "add-k", "none"]:
//                 for nrefs in (1, 2):
//                     for lc, eff in [(False, False)] + ([(True, False), (False, True)] if smooth == "exp" else []):
//                         refs = c["refs"][:nrefs]
//                         bleu = BLEU(tokenize=tok, smooth_method=smooth, lowercase=lc, effective_order=eff)
//                         s = bleu.corpus_score(c["hyps"], refs)
//                         case = {"corpus": name, "tokenize": tok, "smooth": smooth, "nrefs": nrefs,
//                                 "lowercase": lc, "effective_order": eff}
//                         case.update(result(bleu, s, c["hyps"], refs, smooth))
//                         corpus_cases.append(case)
//     sentence_sets = [("tricky", range(len(TRICKY))), ("cjk", range(len(CJK))), ("bible", range(8)),
//                      ("short_orders", range(2)), ("no_match", range(1)), ("length_tie", range(2))]
//     for name, idx in sentence_sets:
//         c = corpora[name]
//         for i in idx:
//             hyp = c["hyps"][i]
//             for tok in ["13a", "intl", "char", "none"]:
//                 for smooth, value in [("exp", None), ("floor", None), ("floor", 0.5), ("add-k", None), ("add-k", 0.5), ("none", None)]:
//                     for eff in (True, False):
//                         if tok != "13a" and (value is not None or not eff):
//                             continue
//                         refs = [r[i] for r in c["refs"]]
//                         bleu = BLEU(tokenize=tok, smooth_method=smooth, smooth_value=value, effective_order=eff)
//                         s = bleu.sentence_score(hyp, refs)
//                         case = {"corpus": name, "index": i, "tokenize": tok, "smooth": smooth,
//                                 "smooth_value": value, "effective_order": eff}
//                         case.update(result(bleu, s, [hyp], [[r] for r in refs], smooth))
//                         for key in ("line", "signature", "ratio", "precisions"):
//                             del case[key]
//                         sentence_cases.append(case)
//     lines = []
//     for c in corpora.values():
//         for line in c["hyps"] + [r for stream in c["refs"] for r in stream]:
//             if line not in lines:
//                 lines.append(line)
//     tok = {t: sacrebleu.metrics.bleu._get_tokenizer(t)() for t in ["13a", "intl", "char", "none"]}
//     tokenize_cases = [{"input": l, "lower": l.lower(), **{t: f(l) for t, f in tok.items()}} for l in lines]
//     out = {"sacrebleu_version": sacrebleu.__version__, "corpora": corpora, "tokenize": tokenize_cases,
//            "corpus_cases": corpus_cases, "sentence_cases": sentence_cases}
//     with open(out_path, "w", encoding="utf-8") as f:  # one case per line, for readable diffs
//         f.write("{\n")
//         for i, (key, value) in enumerate(out.items()):
//             f.write(f"{json.dumps(key)}: ")
//             if isinstance(value, list):
//                 f.write("[\n" + ",\n".join(json.dumps(v, ensure_ascii=False) for v in value) + "\n]")
//             else:
//                 f.write(json.dumps(value, ensure_ascii=False))
//             f.write(",\n" if i + 1 < len(out) else "\n}\n")
//     print(len(tokenize_cases), len(corpus_cases), len(sentence_cases))
//
//
// if __name__ == "__main__":
//     main(sys.argv[1], sys.argv[2])

use std::collections::HashMap;

use dls_nlp::bleu::{corpus_bleu, sentence_bleu, Bleu, BleuConfig, Smooth, Tokenizer};
use dls_nlp::Error;
use serde::Deserialize;

const FIXTURE: &str = include_str!("fixtures/bleu_cases.json");
const TOL: f64 = 1e-9;

#[derive(Deserialize)]
struct Fixture {
    sacrebleu_version: String,
    corpora: HashMap<String, Corpus>,
    tokenize: Vec<TokenizeCase>,
    corpus_cases: Vec<Case>,
    sentence_cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Corpus {
    hyps: Vec<String>,
    refs: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct TokenizeCase {
    input: String,
    lower: String,
    #[serde(rename = "13a")]
    thirteen_a: String,
    intl: String,
    char: String,
    none: String,
}

/// One sacrebleu result; corpus cases use `nrefs` and `lowercase`, sentence cases `index`.
#[derive(Deserialize)]
struct Case {
    corpus: String,
    tokenize: String,
    smooth: String,
    #[serde(default)]
    smooth_value: Option<f64>,
    effective_order: bool,
    #[serde(default)]
    lowercase: bool,
    #[serde(default)]
    nrefs: usize,
    #[serde(default)]
    index: usize,
    score: f64,
    bp: f64,
    sys_len: u64,
    ref_len: u64,
    counts: Vec<u64>,
    totals: Vec<u64>,
    #[serde(default)]
    precisions: Option<Vec<f64>>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(default)]
    line: Option<String>,
}

impl Case {
    fn bleu(&self) -> anyhow::Result<Bleu> {
        Ok(Bleu::new(BleuConfig {
            tokenizer: self.tokenize.parse()?,
            smooth: Smooth::from_name(&self.smooth, self.smooth_value)?,
            lowercase: self.lowercase,
            effective_order: self.effective_order,
            max_ngram_order: 4,
        })?)
    }

    fn describe(&self) -> String {
        format!(
            "{} #{} tok={} smooth={}({:?}) nrefs={} lc={} eff={}",
            self.corpus,
            self.index,
            self.tokenize,
            self.smooth,
            self.smooth_value,
            self.nrefs,
            self.lowercase,
            self.effective_order
        )
    }

    /// Compares a score with the case, returning a description of every disagreement.
    fn check(&self, got: &dls_nlp::bleu::BleuScore) -> Vec<String> {
        let mut bad = Vec::new();
        let who = self.describe();
        if (got.score - self.score).abs() > TOL {
            bad.push(format!("{who}: score {} != sacrebleu {}", got.score, self.score));
        }
        if (got.bp - self.bp).abs() > TOL {
            bad.push(format!("{who}: bp {} != sacrebleu {}", got.bp, self.bp));
        }
        if (got.sys_len, got.ref_len) != (self.sys_len, self.ref_len) {
            bad.push(format!(
                "{who}: lengths {:?} != {:?}",
                (got.sys_len, got.ref_len),
                (self.sys_len, self.ref_len)
            ));
        }
        if got.counts != self.counts || got.totals != self.totals {
            bad.push(format!(
                "{who}: counts {:?}/{:?} != {:?}/{:?}",
                got.counts, got.totals, self.counts, self.totals
            ));
        }
        if let Some(precisions) = &self.precisions {
            if got.precisions.iter().zip(precisions).any(|(g, e)| (g - e).abs() > TOL) {
                bad.push(format!("{who}: precisions {:?} != {precisions:?}", got.precisions));
            }
        }
        if let Some(signature) = &self.signature {
            if &got.signature() != signature {
                bad.push(format!("{who}: signature {} != {signature}", got.signature()));
            }
        }
        if let Some(line) = &self.line {
            if &got.to_string() != line {
                bad.push(format!("{who}: line {got} != {line}"));
            }
        }
        bad
    }
}

fn fixture() -> anyhow::Result<Fixture> {
    let f: Fixture = serde_json::from_str(FIXTURE)?;
    anyhow::ensure!(
        f.sacrebleu_version == dls_nlp::bleu::SACREBLEU_VERSION,
        "fixture from another sacrebleu"
    );
    Ok(f)
}

fn report(bad: &[String], checked: usize) {
    assert!(bad.is_empty(), "{} of {checked} cases disagree with sacrebleu:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn tokenizers_produce_sacrebleus_strings() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut bad = Vec::new();
    for case in &f.tokenize {
        for (tok, expected) in [
            (Tokenizer::Mteval13a, &case.thirteen_a),
            (Tokenizer::Intl, &case.intl),
            (Tokenizer::Char, &case.char),
            (Tokenizer::None, &case.none),
        ] {
            let got = tok.tokenize(&case.input);
            if &got != expected {
                bad.push(format!("{tok} on {:?}:\n  got      {got:?}\n  expected {expected:?}", case.input));
            }
        }
        if case.input.to_lowercase() != case.lower {
            bad.push(format!(
                "lowercase of {:?}: {:?} != {:?}",
                case.input,
                case.input.to_lowercase(),
                case.lower
            ));
        }
    }
    assert!(f.tokenize.len() > 150);
    report(&bad, f.tokenize.len());
    Ok(())
}

#[test]
fn corpus_scores_match_sacrebleu() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut bad = Vec::new();
    for case in &f.corpus_cases {
        let corpus = &f.corpora[&case.corpus];
        let score = case.bleu()?.corpus_score(&corpus.hyps, &corpus.refs[..case.nrefs])?;
        bad.extend(case.check(&score));
    }
    assert!(f.corpus_cases.len() > 400);
    report(&bad, f.corpus_cases.len());
    Ok(())
}

#[test]
fn sentence_scores_match_sacrebleu() -> anyhow::Result<()> {
    let f = fixture()?;
    let mut bad = Vec::new();
    for case in &f.sentence_cases {
        let corpus = &f.corpora[&case.corpus];
        let refs: Vec<&str> = corpus.refs.iter().map(|stream| stream[case.index].as_str()).collect();
        let score = case.bleu()?.sentence_score(&corpus.hyps[case.index], &refs)?;
        bad.extend(case.check(&score));
    }
    assert!(f.sentence_cases.len() > 800);
    report(&bad, f.sentence_cases.len());
    Ok(())
}

#[test]
fn default_functions_use_sacrebleus_defaults() -> anyhow::Result<()> {
    let f = fixture()?;
    let bible = &f.corpora["bible"];
    let corpus = corpus_bleu(&bible.hyps, &bible.refs[..1])?;
    // sacrebleu: BLEU = 53.41 on these 30 verses (`13a`, `exp`, one reference).
    let expected = f.corpus_cases.iter().find(|c| {
        c.corpus == "bible"
            && c.tokenize == "13a"
            && c.smooth == "exp"
            && c.nrefs == 1
            && !c.lowercase
            && !c.effective_order
    });
    let expected = expected.ok_or_else(|| anyhow::anyhow!("no default bible case"))?;
    assert!((corpus.score - expected.score).abs() < TOL, "{} vs {}", corpus.score, expected.score);
    let sentence = sentence_bleu(&bible.hyps[0], &[&bible.refs[0][0], &bible.refs[1][0]])?;
    assert_eq!(sentence.signature(), "nrefs:2|case:mixed|eff:yes|tok:13a|smooth:exp|version:2.6.0");
    Ok(())
}

#[test]
fn bad_input_gets_named_errors() -> anyhow::Result<()> {
    let bleu = Bleu::new(BleuConfig::default())?;
    let hyps = ["a b c", "d e f"];
    match bleu.corpus_score(&hyps, &[vec!["a b c", "d e f"], vec!["a b c"]]) {
        Err(Error::Length { what, expected: 2, got: 1 }) => {
            assert!(what.contains("reference stream 1"), "{what}")
        }
        other => panic!("expected a length error, got {other:?}"),
    }
    let no_refs: [[&str; 2]; 0] = [];
    assert!(matches!(bleu.corpus_score(&hyps, &no_refs), Err(Error::Empty(m)) if m.contains("reference")));
    let no_hyps: [&str; 0] = [];
    assert!(
        matches!(bleu.corpus_score(&no_hyps, &[no_hyps]), Err(Error::Empty(m)) if m.contains("hypotheses"))
    );
    let none: [&str; 0] = [];
    assert!(matches!(bleu.sentence_score("a b", &none), Err(Error::Empty(_))));
    let config = BleuConfig { max_ngram_order: 5, ..BleuConfig::default() };
    let err = Bleu::new(config).err().map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(err, "invalid max_ngram_order: expected 1..=4, got 5");
    let config = BleuConfig { smooth: Smooth::AddK(f64::NAN), ..BleuConfig::default() };
    assert!(matches!(Bleu::new(config), Err(Error::Invalid { .. })));
    Ok(())
}

#[test]
fn lower_orders_and_stats_reuse() -> anyhow::Result<()> {
    // BLEU-2 on a pair with 3/4 unigram and 1/3 bigram matches: sqrt(0.75 * 1/3) = 0.5.
    let bleu = Bleu::new(BleuConfig { max_ngram_order: 2, ..BleuConfig::default() })?;
    let score = bleu.corpus_score(&["a b c d"], &[["a b x d"]])?;
    assert!((score.score - 50.0).abs() < 1e-12, "{}", score.score);
    assert_eq!((score.counts.clone(), score.totals.clone()), (vec![3, 1], vec![4, 3]));
    // Summing segment statistics gives the corpus score.
    let bleu = Bleu::new(BleuConfig::default())?;
    let hyps = ["the cat sat", "on the mat today"];
    let refs = [["the cat sat down", "on a mat today"]];
    let mut sum = bleu.corpus_stats(&hyps[..1], &[&refs[0][..1]])?;
    sum += bleu.corpus_stats(&hyps[1..], &[&refs[0][1..]])?;
    assert_eq!(bleu.score_stats(&sum, 1), bleu.corpus_score(&hyps, &refs)?);
    Ok(())
}
