//! A seeded synthetic corpus for benchmarks: references drawn from a Zipfian vocabulary and
//! hypotheses that perturb them like a mediocre translation system (BLEU around 40-50).

use dls_foundations::SeededRng;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, Zipf};

use crate::{Error, Result};

/// Words in the synthetic vocabulary.
const VOCAB: usize = 8_000;

/// Punctuation and number-like tokens mixed in so the 13a rules have work to do.
const EXTRAS: [&str; 8] = [",", "1,000.5", "(", ")", "--", "\"quoted\"", "3.14", "well-known"];

/// `n` (hypothesis, reference) pairs of 5 to 40 words, the same for the same `seed`.
///
/// # Errors
/// [`Error::Invalid`] should the Zipf distribution reject its constant parameters (it does not).
pub fn synthetic_corpus(n: usize, seed: u64) -> Result<(Vec<String>, Vec<String>)> {
    let rng = SeededRng::new(seed);
    let mut rng = rng.lock();
    let vocab: Vec<String> = (0..VOCAB)
        .map(|i| {
            let len = rng.random_range(2..10);
            let mut w: String = (0..len).map(|_| char::from(b'a' + rng.random_range(0..26u8))).collect();
            if i % 17 == 0 {
                w[..1].make_ascii_uppercase();
            }
            w
        })
        .collect();
    let zipf = Zipf::new(VOCAB as f64, 1.1).map_err(|e| Error::invalid("zipf", e.to_string()))?;
    let word = |rng: &mut dyn RngCore| -> String {
        if rng.random_bool(0.08) {
            EXTRAS[rng.random_range(0..EXTRAS.len())].to_string()
        } else {
            // Zipf samples lie in 1..=VOCAB.
            let rank = zipf.sample(rng) as usize;
            vocab[rank.clamp(1, VOCAB) - 1].clone()
        }
    };
    let (mut hyps, mut refs) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let len = rng.random_range(5..=40);
        let reference: Vec<String> = (0..len).map(|_| word(&mut *rng)).collect();
        let mut hyp = Vec::with_capacity(len + 4);
        for w in &reference {
            match rng.random_range(0..100) {
                0..=7 => {}                                    // drop
                8..=17 => hyp.push(word(&mut *rng)),           // substitute
                18..=20 => hyp.extend([w.clone(), w.clone()]), // repeat
                _ => hyp.push(w.clone()),
            }
        }
        for _ in 0..len / 8 {
            if hyp.len() > 1 {
                let i = rng.random_range(0..hyp.len() - 1);
                hyp.swap(i, i + 1);
            }
        }
        hyps.push(hyp.join(" ") + ".");
        refs.push(reference.join(" ") + ".");
    }
    Ok((hyps, refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_corpus() -> Result<()> {
        let (h1, r1) = synthetic_corpus(50, 3)?;
        let (h2, r2) = synthetic_corpus(50, 3)?;
        assert_eq!((h1.len(), r1.len()), (50, 50));
        assert_eq!((&h1, &r1), (&h2, &r2));
        assert_ne!(synthetic_corpus(50, 4)?.1, r1);
        let score = super::super::corpus_bleu(&h1, &[r1])?;
        assert!(score.score > 20.0 && score.score < 70.0, "{}", score.score);
        Ok(())
    }
}
