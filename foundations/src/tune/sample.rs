//! Drawing trials from a search space: the full grid, or seeded random samples.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::space::{Domain, SearchSpace, Trial, Value};
use crate::{Error, Result};

/// The largest grid [`grid`] builds; bigger ones are almost certainly a mistake.
const MAX_GRID: usize = 1_000_000;

/// The values a grid takes along one hyperparameter.
fn axis(domain: &Domain, points: usize) -> Vec<Value> {
    match domain {
        Domain::Float { lo, hi, scale } => {
            if points == 1 {
                return vec![Value::Float(Domain::float_at(*lo, *hi, *scale, 0.5))];
            }
            (0..points)
                .map(|i| Value::Float(Domain::float_at(*lo, *hi, *scale, i as f64 / (points - 1) as f64)))
                .collect()
        }
        Domain::Int { lo, hi } => {
            let span = i128::from(*hi) - i128::from(*lo);
            if span < points as i128 {
                return (*lo..=*hi).map(Value::Int).collect();
            }
            let mut out: Vec<i64> = if points == 1 {
                vec![((i128::from(*lo) + i128::from(*hi)) / 2) as i64]
            } else {
                (0..points)
                    .map(|i| {
                        let step = (span as f64) * i as f64 / (points - 1) as f64;
                        (i128::from(*lo) + step.round() as i128).clamp(i128::from(*lo), i128::from(*hi))
                            as i64
                    })
                    .collect()
            };
            out.dedup();
            out.into_iter().map(Value::Int).collect()
        }
        Domain::Choice(options) => options.iter().cloned().map(Value::Choice).collect(),
    }
}

/// Every combination of hyperparameter values (the first hyperparameter varies slowest).
///
/// Floats take `points_per_float` values evenly spaced on their scale, both ends included (a
/// log grid on `[1e-4, 1e-1]` with 4 points is 1e-4, 1e-3, 1e-2, 1e-1; one point gives the
/// middle of the scale). Integers take every value when there are at most `points_per_float`
/// of them, else `points_per_float` evenly spaced ones. Choices take every option. Ids count
/// from 0.
///
/// # Errors
/// The space's [`SearchSpace::validate`] errors; [`Error::Invalid`] when `points_per_float`
/// is 0 or the grid would have more than a million trials.
pub fn grid(space: &SearchSpace, points_per_float: usize) -> Result<Vec<Trial>> {
    space.validate()?;
    if points_per_float == 0 {
        return Err(Error::invalid("grid points_per_float", "expected at least 1"));
    }
    let axes: Vec<(&str, Vec<Value>)> =
        space.params().iter().map(|(n, d)| (n.as_str(), axis(d, points_per_float))).collect();
    let mut total = 1usize;
    for (_, values) in &axes {
        total = total.saturating_mul(values.len());
    }
    if total > MAX_GRID {
        return Err(Error::invalid("grid", format!("{total} trials is more than the limit of {MAX_GRID}")));
    }
    let mut trials = Vec::with_capacity(total);
    for id in 0..total {
        // Mixed-radix digits of `id`, the last hyperparameter fastest.
        let mut rest = id;
        let mut values = BTreeMap::new();
        for (name, options) in axes.iter().rev() {
            let n = options.len().max(1);
            if let Some(v) = options.get(rest % n) {
                values.insert(name.to_string(), v.clone());
            }
            rest /= n;
        }
        trials.push(Trial { id, values });
    }
    Ok(trials)
}

/// Draws one value of `domain` from `rng`.
pub(crate) fn sample(domain: &Domain, rng: &mut ChaCha8Rng) -> Value {
    match domain {
        Domain::Float { lo, hi, scale } => {
            let u: f64 = rng.random();
            Value::Float(Domain::float_at(*lo, *hi, *scale, u))
        }
        Domain::Int { lo, hi } => Value::Int(rng.random_range(*lo..=*hi)),
        Domain::Choice(options) => {
            let i = rng.random_range(0..options.len().max(1));
            Value::Choice(options.get(i).cloned().unwrap_or_default())
        }
    }
}

/// `n` trials with every hyperparameter drawn independently and uniformly on its scale, from a
/// ChaCha8 stream seeded with `seed` (the same seed gives the same trials). Ids count from 0.
///
/// # Errors
/// The space's [`SearchSpace::validate`] errors; [`Error::Invalid`] when `n` is 0.
pub fn random(space: &SearchSpace, n: usize, seed: u64) -> Result<Vec<Trial>> {
    space.validate()?;
    if n == 0 {
        return Err(Error::invalid("random search n", "expected at least 1 trial"));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok((0..n)
        .map(|id| {
            let values = space.params().iter().map(|(name, d)| (name.clone(), sample(d, &mut rng))).collect();
            Trial { id, values }
        })
        .collect())
}
